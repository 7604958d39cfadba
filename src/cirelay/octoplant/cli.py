"""cirelay-octoplant's command line."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict, Optional, Tuple, Union

import click
import urllib3

from cirelay import __version__
from cirelay.cli import EXIT_CODES_HELP, CirelayGroup, JsonArg, not_empty, with_options
from cirelay.cli_wait import wait_options
from cirelay.errors import require
from cirelay.octoplant.client import (
    _INSECURE_WARNING,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PICKUP_TIMEOUT,
    OctoplantClient,
    _size,
    check_ca_file,
    check_output,
    order_outcome,
    order_state,
)
from cirelay.octoplant.options import DEFAULT_KIND, EXPORT_KINDS, build_contents
from cirelay.output import emit, log, md_table
from cirelay.waiting import WaitSettings


class ExportKind(click.ParamType):
    """One export kind by name (case-insensitive), e.g. projectTree."""

    name = "KIND"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        for kind in EXPORT_KINDS:
            if str(value).lower() == kind.lower():
                return kind
        self.fail(
            f"unknown export kind {value!r}; known kinds: {', '.join(EXPORT_KINDS)} "
            "(--raw-contents sends others as they are)",
            param,
            ctx,
        )


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --url, --username, --client-id, --ca-bundle and --insecure (password and secret: environment only).

    The command gets `make_client`, which checks them and makes the client (exit 2 on a bad setting),
    so it can check its own options first.
    """

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        url: Optional[str],
        username: Optional[str],
        client_id: str,
        ca_bundle: Optional[str],
        insecure: bool,
        **kwargs: Any,
    ) -> Any:
        def make_client() -> OctoplantClient:
            return connect(url, username, client_id, ca_bundle, insecure)

        return command(*args, make_client=make_client, **kwargs)

    options = [
        click.option(
            "--insecure",
            is_flag=True,
            envvar="OCTOPLANT_INSECURE",
            show_envvar=True,
            help="Do not verify the server's TLS certificate (says so on stderr every run).",
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(exists=True, dir_okay=False),
            envvar="OCTOPLANT_CA_BUNDLE",
            show_envvar=True,
            help="CA certificates (PEM) that signed the server's certificate; REQUESTS_CA_BUNDLE works too.",
        ),
        click.option(
            "--client-id",
            default=DEFAULT_CLIENT_ID,
            show_default=True,
            envvar="OCTOPLANT_CLIENT_ID",
            show_envvar=True,
            help="OAuth2 client id. The secret comes from OCTOPLANT_CLIENT_SECRET (default: the vendor's public one).",
        ),
        click.option(
            "--username",
            envvar="OCTOPLANT_USERNAME",
            show_envvar=True,
            help="octoplant user. Its password comes from OCTOPLANT_PASSWORD only.",
        ),
        click.option(
            "--url",
            envvar="OCTOPLANT_URL",
            show_envvar=True,
            help="octoplant server with the API port, e.g. https://octoplant.example.com:64023.",
        ),
    ]
    return with_options(wrapper, options)


output_option = click.option(
    "-o",
    "--output",
    "path",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    envvar="OCTOPLANT_OUTPUT",
    show_envvar=True,
    help="Where to save the ZIP; it appears there only once complete and checked.",
)


def connect(
    url: Optional[str], username: Optional[str], client_id: str, ca_bundle: Optional[str], insecure: bool
) -> OctoplantClient:
    """The client for the connection options; exit 2 on a missing or malformed setting."""
    url = require(url, "--url", "OCTOPLANT_URL")
    if not url.startswith(("https://", "http://")):
        raise click.UsageError(f"--url must start with https:// or http://, got {url!r}")
    username = require(username, "--username", "OCTOPLANT_USERNAME")
    password = os.environ.get("OCTOPLANT_PASSWORD") or ""
    if not password:
        raise click.UsageError("missing OCTOPLANT_PASSWORD: set it in the environment (never on the command line)")
    client_secret = os.environ.get("OCTOPLANT_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
    verify: Union[bool, str] = True
    if insecure:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # one line of ours instead
        log(_INSECURE_WARNING.format(url=url))
        verify = False
    elif ca_bundle:
        check_ca_file(ca_bundle, "--ca-bundle (OCTOPLANT_CA_BUNDLE)")
        verify = ca_bundle
    elif url.startswith("https://"):
        # requests takes these itself; a wrong path would only show as a traceback at the first request.
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            if os.environ.get(name):
                check_ca_file(os.environ[name], name)
                break
    return OctoplantClient(
        url, username=username, password=password, client_id=client_id, client_secret=client_secret, verify=verify
    )


def _emit_order(order: Dict[str, Any]) -> None:
    _outcome, description = order_outcome(order)
    emit(
        order,
        outputs={"order": order.get("name"), "state": order_state(order), "done": bool(order.get("done"))},
        summary={"order": order.get("name"), "state": description},
    )


SUMMARY_MEMBERS = 20  # ZIP members listed in the job summary; the result JSON has them all


def _emit_download(result: Dict[str, Any]) -> None:
    members = list(result["members"])
    listed = md_table(["member"], [[m] for m in members[:SUMMARY_MEMBERS]])
    if len(members) > SUMMARY_MEMBERS:
        listed += f"\n… and {len(members) - SUMMARY_MEMBERS} more (the result JSON lists them all).\n"
    emit(
        result,
        outputs={"path": result["path"], "sha256": result["sha256"], "order": result["name"]},
        summary={
            "status": "succeeded",
            "file": result["path"],
            "size": f"{_size(int(result['bytes']))} ({int(result['bytes']):,} bytes)",
            "sha256": result["sha256"],
            "members": len(members),
            "order": result["name"],
        },
        title=f"octoplant export {result['name']}: {os.path.basename(str(result['path']))}",
        details=listed,
    )


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-octoplant")
def cli() -> None:
    """Order octoplant exports and keep the ZIP (octoplant Export API)."""


@cli.command()
@connection_options
@click.option(
    "--contents",
    "kinds",
    type=ExportKind(),
    multiple=True,
    envvar="OCTOPLANT_CONTENTS",
    show_envvar=True,
    help=f"An export kind to include, repeatable (default {DEFAULT_KIND}): {', '.join(EXPORT_KINDS)}.",
)
@click.option(
    "--contents-json",
    type=JsonArg(dict),
    envvar="OCTOPLANT_CONTENTS_JSON",
    show_envvar=True,
    help="The exportContents object with options (JSON, @file or -), e.g. "
    '{"projectTree": {"exportType": "EXPORT_TYPE_JSON"}}; checked against the vendor\'s swagger.',
)
@click.option(
    "--option",
    "option_specs",
    metavar="KIND.NAME=VALUE",
    multiple=True,
    envvar="OCTOPLANT_OPTION",
    show_envvar=True,
    help="One option of a kind, repeatable, checked against the swagger: projectTree.exportType=json, "
    "componentLog.componentId=ID, eventLog.timeStampFilter.filterFrom=2023-10-01T00:00:00Z.",
)
@click.option(
    "--raw-contents",
    type=JsonArg(dict),
    envvar="OCTOPLANT_RAW_CONTENTS",
    show_envvar=True,
    help="exportContents entries sent as they are, unchecked (kinds or options of a newer server); "
    "merged last, over the others.",
)
@output_option
@wait_options(wait_flag=False, cancel_default=True, poll_max=10)
@click.option(
    "--pickup-timeout",
    type=click.FloatRange(min=0),
    default=PICKUP_TIMEOUT,
    show_default=True,
    envvar="OCTOPLANT_PICKUP_TIMEOUT",
    show_envvar=True,
    help="Give up (exit 1, cancelling it) on an order still STATE_UNSPECIFIED, not picked up by the "
    "export service, after this many seconds.",
)
def export(
    *,
    make_client: Callable[[], OctoplantClient],
    kinds: Tuple[str, ...],
    contents_json: Optional[Dict[str, Any]],
    option_specs: Tuple[str, ...],
    raw_contents: Optional[Dict[str, Any]],
    path: str,
    waiting: WaitSettings,
    pickup_timeout: float,
) -> None:
    """Order an export, wait for it, and save the checked ZIP as the -o FILE."""
    contents = build_contents(kinds, contents_json, option_specs, raw_contents)
    check_output(path)
    result = make_client().export(contents, path, waiting, pickup_timeout)
    _emit_download(result)


@cli.group()
def order() -> None:
    """Look at, cancel or download an export order by name."""


@order.command("status")
@connection_options
@click.argument("name", callback=not_empty)
def order_status(*, make_client: Callable[[], OctoplantClient], name: str) -> None:
    """Print the state of export order NAME (exit 0 whatever the state)."""
    _emit_order(make_client().get_order(name))


@order.command("cancel")
@connection_options
@click.argument("name", callback=not_empty)
def order_cancel(*, make_client: Callable[[], OctoplantClient], name: str) -> None:
    """Cancel export order NAME and print its state afterwards."""
    _emit_order(make_client().cancel_order(name))


@order.command("download")
@connection_options
@click.argument("name", callback=not_empty)
@output_option
def order_download(*, make_client: Callable[[], OctoplantClient], name: str, path: str) -> None:
    """Download the ZIP of finished export order NAME as the -o FILE."""
    check_output(path)
    _emit_download(make_client().download(name, path))
