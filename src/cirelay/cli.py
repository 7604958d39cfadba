"""Click helpers every platform's command line shares: JSON and NAME=VALUE arguments, wait options, the group."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
from typing import Any, Callable, List, Optional

import click

from cirelay.errors import EXIT_INTERRUPTED, EXIT_USAGE, CirelayError, InputError, WaitInterrupted
from cirelay.output import annotation, current_title, emit, log, set_context, show_result


def parse_json_text(text: str, source: str) -> Any:
    """json.loads with an error that names the source and the position."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")


class JsonArg(click.ParamType):
    """A JSON value given inline ('{"a":1}'), from a file ('@file.json') or from stdin ('-')."""

    name = "JSON"

    def __init__(self, kind: Optional[type] = None) -> None:
        self.kind = kind

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if not isinstance(value, str):
            return value
        source = "the value"
        try:
            if value == "-":
                value, source = sys.stdin.read(), "stdin"
            elif value.startswith("@"):
                source = value[1:]
                with open(source, encoding="utf-8") as handle:
                    value = handle.read()
        except OSError as exc:
            self.fail(f"cannot read {source}: {exc.strerror}", param, ctx)
        except UnicodeDecodeError as exc:
            self.fail(f"{source} is not UTF-8 text (byte {exc.start})", param, ctx)
        try:
            data = parse_json_text(value, source)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)
        if self.kind is not None and not isinstance(data, self.kind):
            wanted = {"dict": "object", "list": "array"}.get(self.kind.__name__, self.kind.__name__)
            self.fail(f"expected a JSON {wanted}, got {type(data).__name__}", param, ctx)
        return data


class KeyValue(click.ParamType):
    """NAME=VALUE, split at the first '='."""

    name = "NAME=VALUE"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, tuple):
            return value
        name, sep, val = str(value).partition("=")
        if not sep or not name.strip():
            self.fail(f"expected NAME=VALUE, got {value!r}", param, ctx)
        return (name.strip(), val)


def with_options(command: Callable[..., Any], options: List[Callable[[Any], Any]]) -> Callable[..., Any]:
    """Apply click options to a command; listed in reverse, as the decorators would stand above it."""
    for option in options:
        command = option(command)
    return command


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the API or the remote task failed; 2 bad input or usage; "
    "3 timed out waiting; 130 interrupted."
)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def not_empty(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """An identifier given as "" (an unset CI variable) is exit 2, not a request to another route."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


_SECRET_OPTION = re.compile(r"(secret|password|token)$", re.IGNORECASE)  # --client-secret, not --token-cache


def rerun_hint(exit_code: int) -> None:
    """In CircleCI, end a failed step saying what failed and how to run it again by hand.

    CircleCI shows a step's last lines first; the command is quoted as it ran, with the value of
    any option whose name says secret, password or token replaced by ***.
    """
    if os.environ.get("CIRCLECI") != "true":
        return
    args, hide = [], False
    for arg in sys.argv[1:]:
        name = arg.split("=", 1)[0]
        if hide:
            args.append("***")
        elif arg.startswith("--") and "=" in arg and _SECRET_OPTION.search(name):
            args.append(f"{name}=***")
        else:
            args.append(arg)
        hide = arg.startswith("-") and "=" not in arg and bool(_SECRET_OPTION.search(arg))
    script = os.path.basename(sys.argv[0]) or "cirelay"
    log(f"{current_title()} failed (exit {exit_code}). To run it again with the same inputs:")
    log(f"  {shlex.join(['python', script, *args]) if script.endswith('.py') else shlex.join([script, *args])}")


def platform_of(ctx: click.Context) -> str:
    """'port' whether the script runs as port.py, as cirelay-port or under another name ending so."""
    name = ctx.find_root().info_name or ""
    name = name.rsplit("/", 1)[-1]
    name = name[: -len(".py")] if name.endswith(".py") else name
    return name[len("cirelay-") :] if name.startswith("cirelay-") else name


class CirelayCommand(click.Command):
    """A command whose InputError (raised by click-free code) is shown as click's own usage error.

    A value given as "" on the command line is refused (exit 2 naming it) for every option and
    argument: in CI it is an unset variable (`--link "$BUILD_URL"`), and sent on it would name
    another route or write an empty field.
    """

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        rest = super().parse_args(ctx, args)
        for param in self.get_params(ctx):
            given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
            if param.name is None or ctx.get_parameter_source(param.name) not in given:
                continue
            value = ctx.params.get(param.name)
            values = value if isinstance(value, tuple) and param.multiple else (value,)
            if any(isinstance(v, str) and not v.strip() for v in values):
                raise click.BadParameter("must not be empty", ctx=ctx, param=param)
        return rest

    def invoke(self, ctx: click.Context) -> Any:
        set_context(platform_of(ctx), " ".join(ctx.command_path.split()[1:]))
        try:
            return super().invoke(ctx)
        except InputError as exc:
            annotation("error", exc.message)
            if exc.param_hint is not None:
                raise click.BadParameter(exc.message, ctx=ctx, param_hint=exc.param_hint)
            raise click.UsageError(exc.message, ctx=ctx)


class CirelayGroup(click.Group):
    """Turns CirelayError into 'Error: …' and its exit code, SIGTERM/Ctrl-C into 130.

    Its subcommands are CirelayCommands and its subgroups CirelayGroups.
    """

    command_class = CirelayCommand
    group_class = type  # subgroups made with @group.group() are of this class too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with each one's whole first sentence, wrapped, never cut off with '...'."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        """A group called without its subcommand shows its help on stderr and exits 2, a usage error.

        (click 8.2 does the same; 8.1, pinned for Python 3.9, would exit 0 as if something ran.)
        """
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), err=True, color=ctx.color)
            ctx.exit(EXIT_USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return super().invoke(ctx)
        except CirelayError as exc:
            if exc.result is not None:
                show_result(exc.result)
            log(f"Error: {exc.message}")
            annotation("error", exc.message)
            rerun_hint(exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            if isinstance(exc, WaitInterrupted) and exc.result is not None:
                emit(exc.result)  # the last state seen, unless the command showed it already
            log("Interrupted.")
            ctx.exit(EXIT_INTERRUPTED)
