"""cirelay-emulators: run the API emulators on 127.0.0.1 and show what they hold.

    cirelay-emulators serve [--env-file F] [--platform P]... [--format sh|dotenv] [--detach]
    cirelay-emulators fixtures [--platform P]...

`serve` starts the emulators (all four, or those named), each on a free port of 127.0.0.1. Once every one
listens it writes the environment a script needs to reach them to the env file (atomically: a reader sees the
whole file or none) and prints the same lines on stdout:

    export PORT_BASE_URL='http://127.0.0.1:40123'
    ...
    export CIRELAY_EMULATORS_PID='4242'

so `. F` (or `eval`) makes them the shell's. In the foreground (the default) it then serves until SIGTERM or
Ctrl-C and exits 0. `--detach` is for `eval "$(cirelay-emulators serve --detach)"`: a command substitution
waits for its command to close stdout, so the emulators go on serving in a background process of their own
session and the command returns once they listen; stop them with `kill "$CIRELAY_EMULATORS_PID"`.
`--format dotenv` writes plain NAME=value lines instead (for $GITHUB_ENV, docker --env-file).

`fixtures` prints, as JSON, what each emulator holds when it starts: Port's blueprints, entities, actions and
runs, Zadig's projects, workflows and seeded commit, CodeArts' project and pipelines, octoplant's export kinds,
and every emulator's credentials (fake ones, made for the emulators).

Standard library only (argparse, not click): the emulators run on a bare Python, as a CI runner's.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
from typing import Dict, List, Optional

from cirelay.emulators import PLATFORMS, fixtures, start_all

PID_VARIABLE = "CIRELAY_EMULATORS_PID"


def env_lines(env: Dict[str, str], style: str = "sh") -> str:
    """The environment as `export NAME='value'` lines (sh) or NAME=value lines (dotenv)."""
    lines = []
    for name, value in env.items():
        if style == "dotenv":
            if "\n" in value or "\r" in value:
                raise ValueError(f"{name} holds a line break, which a dotenv file cannot carry")
            lines.append(f"{name}={value}\n")
        else:
            lines.append(f"export {name}={shlex.quote(value)}\n")
    return "".join(lines)


def write_atomically(path: str, text: str) -> None:
    """Write text to path so that a reader sees the whole file or none (temp file + rename, same folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=".emulators-", suffix=".env", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _serve(args: argparse.Namespace, ready_fd: Optional[int] = None) -> int:
    """Start, publish the environment, serve until SIGTERM/SIGINT. ready_fd: the detached child's pipe."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    servers, env, started = start_all(args.platform)
    try:
        env[PID_VARIABLE] = str(os.getpid())
        text = env_lines(env, args.format)
        if args.env_file:
            write_atomically(args.env_file, text)
        where = f" (env in {args.env_file})" if args.env_file else ""
        print(f"emulators listening: {', '.join(started)}{where}", file=sys.stderr, flush=True)
        if ready_fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            os.write(ready_fd, text.encode("utf-8"))
            os.close(ready_fd)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # let go of the caller's pipes: `$(…)` ends when the last writer closes
                os.dup2(devnull, fd)
            os.close(devnull)
        while not stop.wait(0.5):
            pass
    finally:
        for server in servers:
            server.stop()
    return 0


def _detach(args: argparse.Namespace) -> int:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a session of its own, so it outlives the caller's shell and its process group
        os.close(read_fd)
        os.setsid()
        code = 1
        try:
            code = _serve(args, ready_fd=write_fd)
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    if not chunks:
        os.waitpid(pid, 0)
        print("cirelay-emulators: the emulators did not start (see above)", file=sys.stderr)
        return 1
    sys.stdout.write(b"".join(chunks).decode("utf-8"))
    sys.stdout.flush()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cirelay-emulators",
        description="Emulators of the Port, Zadig, CodeArts and octoplant APIs on 127.0.0.1, for trying cirelay "
        "locally and for tests.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="start the emulators, print their environment as export lines, serve until stopped",
        description="Start the emulators; once all listen, write `export NAME=value` lines to --env-file and print "
        "them on stdout; serve until SIGTERM or Ctrl-C (exit 0). With --detach, return once they listen "
        f'(for eval "$(cirelay-emulators serve --detach)"); stop them with kill "${PID_VARIABLE}".',
    )
    serve.add_argument("--env-file", metavar="FILE", help="also write the lines here (atomically, once all listen)")
    serve.add_argument(
        "--platform", action="append", choices=PLATFORMS, help="only this emulator (repeatable; default: all)"
    )
    serve.add_argument(
        "--format",
        choices=("sh", "dotenv"),
        default="sh",
        help="sh: export NAME='value' (default); dotenv: NAME=value, for $GITHUB_ENV or docker --env-file",
    )
    serve.add_argument("--detach", action="store_true", help="serve in the background; return once all listen")
    shown = sub.add_parser("fixtures", help="print what each emulator holds, as JSON")
    shown.add_argument("--platform", action="append", choices=PLATFORMS, help="only this emulator (repeatable)")
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "fixtures":
        print(json.dumps(fixtures(args.platform), indent=2))
        return 0
    if args.detach:
        return _detach(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
