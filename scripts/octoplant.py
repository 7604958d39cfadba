#!/usr/bin/env python3
"""cirelay-octoplant: order an export from an octoplant server, wait for it, keep the ZIP.

Talks to the octoplant Export API: signs in with the OAuth2 password grant
(POST /v1/oauth2/token), orders an export (POST /v1/order), polls the order
(GET /v1/order/{name}) and streams the finished ZIP (GET /v1/order/{name}/download) into a
temporary file beside the target, checks every member's CRC, then moves it into place.

Environment:
  OCTOPLANT_URL            server address and API port, e.g. https://octoplant.example.com:64023
  OCTOPLANT_USERNAME       octoplant user
  OCTOPLANT_PASSWORD       its password (read from the environment only)
  OCTOPLANT_CLIENT_ID      OAuth2 client id (default: public-api)
  OCTOPLANT_CLIENT_SECRET  OAuth2 client secret (default: the secret the vendor documents for public-api)
  OCTOPLANT_CA_BUNDLE      CA file for a server whose certificate comes from its own CA
                           (REQUESTS_CA_BUNDLE works too)

Usage:
  python octoplant.py export --contents projectTree --contents jobList -o export.zip
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import signal
import ssl
import sys
import tempfile
import threading
import time
import uuid
import zipfile
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union
from urllib.parse import quote, quote_plus

import click
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_CLIENT_ID = "public-api"
# Not a secret of anyone's: the vendor documents this client secret for the public-api client
# (octoplant "How to use the Export API", section Authorization). Still never printed.
DEFAULT_CLIENT_SECRET = "ff99971a-f8c3-4d21-5345-f7cb021b4b54"  # noqa: S105

# The export kinds of exportContents, each sent as {"<kind>": {}} by --contents.
EXPORT_KINDS = (
    "projectTree",
    "jobList",
    "jobResults",
    "unequalJobResults",
    "userManagement",
    "componentTypes",
    "componentLog",
    "eventLog",
    "adminLog",
    "standardLibraryManagement",
    "componentsWithStdLibAssignments",
    "assetState",
    "usageInformation",
)
DEFAULT_KIND = "projectTree"

STATE_PENDING = "STATE_PENDING"
STATE_RUNNING = "STATE_RUNNING"
STATE_SUCCEEDED = "STATE_SUCCEEDED"
STATE_FAILED = "STATE_FAILED"
STATE_UNSPECIFIED = "STATE_UNSPECIFIED"  # "returned for invalid GetOperation calls": an error here

# google.rpc.Code, as the vendor's sample spells them.
GRPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)

POLL_START = 1.0  # seconds before the first re-poll; ×1.5 up to --poll-max (10 s)
POLL_FACTOR = 1.5
CHUNK_SIZE = 1 << 20  # bytes read from the socket at a time: memory stays flat whatever the ZIP's size
PROGRESS_UNKNOWN_STEP = 16 << 20  # a progress line every 16 MiB when the server sends no length
MiB = 1 << 20

_SIGN_IN_REFUSED = (
    "octoplant refused the sign-in: check OCTOPLANT_USERNAME, OCTOPLANT_PASSWORD and the client id/secret"
)
_SIGN_IN_MESSAGES = {400: f"{_SIGN_IN_REFUSED} (HTTP 400)", 401: f"{_SIGN_IN_REFUSED} (HTTP 401)"}
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a token must be to go into an Authorization header
_OUTPUT_HINT = "'-o' / '--output'"
_INSECURE_WARNING = "warning: --insecure: TLS certificates are NOT verified for {url}; credentials may be exposed"

# --- cirelay plumbing: begin (identical in every script; tests/test_plumbing.py checks) ---
__version__ = "0.1.0"
USER_AGENT = f"cirelay/{__version__}"

# Exit codes, the same for every script (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the API or the remote task failed
EXIT_USAGE = 2  # bad input or usage (click's own usage errors use 2 too)
EXIT_TIMEOUT = 3  # gave up waiting; the remote task may still be running
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM, after cleanup

RETRY_ATTEMPTS = 5
RETRY_AFTER_CAP = 120.0  # seconds; a longer Retry-After is shortened to this
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds; CIRELAY_TIMEOUT overrides
_API_MESSAGE_KEYS = ("message", "error_msg", "errorMsg", "description", "error_description", "error")
_STATUS_SENTENCES = {
    401: "authentication failed (HTTP 401): check the credentials",
    403: "permission denied (HTTP 403): the credentials lack access to this resource",
    404: "not found (HTTP 404)",
    409: "conflict (HTTP 409)",
    422: "the request was refused as invalid (HTTP 422)",
    429: "rate limited (HTTP 429) and still limited after retrying",
}


class CirelayError(Exception):
    """The one error every script raises: a message for people, plus what the API said."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        url: Optional[str] = None,
        api_message: Optional[str] = None,
        result: Any = None,
        exit_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.api_message = api_message
        self.result = result  # printed on stdout before the error (final task state, partial results)
        if exit_code is not None:
            self.exit_code = exit_code


class WaitTimeout(CirelayError):
    exit_code = EXIT_TIMEOUT


class _CappedRetry(Retry):
    """urllib3 Retry whose Retry-After is honoured but never longer than RETRY_AFTER_CAP."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP)


def _timeout_from_env() -> Tuple[float, float]:
    raw = os.environ.get("CIRELAY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        parts = [float(p) for p in raw.split(",")]
    except ValueError:
        raise click.UsageError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")
    if len(parts) == 1 and parts[0] > 0:
        return (min(DEFAULT_TIMEOUT[0], parts[0]), parts[0])
    if len(parts) == 2 and min(parts) > 0:
        return (parts[0], parts[1])
    raise click.UsageError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")


class _Session(requests.Session):
    """A requests.Session that applies the default timeout in one place."""

    timeout: Tuple[float, float] = DEFAULT_TIMEOUT

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def make_session(retry_unsafe: bool = True) -> requests.Session:
    """A session with retries, timeouts and the cirelay User-Agent.

    retry_unsafe=False keeps POST/PATCH from being sent twice: only connection failures
    (nothing reached the server) are retried. Use it for requests that create something.
    """
    methods = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
    if retry_unsafe:
        methods |= {"POST", "PATCH"}
    retry = _CappedRetry(
        total=RETRY_ATTEMPTS - 1,
        connect=RETRY_ATTEMPTS - 1,
        read=RETRY_ATTEMPTS - 1 if retry_unsafe else 0,
        status=RETRY_ATTEMPTS - 1,
        other=0,
        backoff_factor=0.5,  # 0.5 s, 1 s, 2 s, 4 s between the five attempts
        status_forcelist=(
            429,  # rate limited: wait (Retry-After) and try again
            500,  # internal error: often a passing fault behind a load balancer
            502,  # bad gateway: the proxy could not reach the backend
            503,  # unavailable: deploys, overload
            504,  # gateway timeout: the backend was slow this once
        ),
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last answer back so its message can be shown
    )
    session = _Session()
    session.timeout = _timeout_from_env()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _api_message(body: Any) -> Optional[str]:
    """The API's own error text from a decoded body, whatever key it uses."""
    if not isinstance(body, dict):
        return None
    for key in _API_MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, (str, int)) and value != "":
            detail = body.get("description")
            # Zadig says {message, description}: keep both.
            if key == "message" and isinstance(detail, str) and detail and detail != value:
                return f"{value}: {detail}"
            return str(value)
        if isinstance(value, dict):  # {"error": {"code": …, "message": …}}
            nested = _api_message(value)
            if nested:
                return nested
    return None


def decode_json(response: requests.Response) -> Any:
    """response.json(), or a CirelayError that shows what came back instead."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        text = response.text[:200].strip()
        raise CirelayError(
            f"expected JSON from {response.request.method} {response.url}, got {response.status_code} {text!r}",
            status=response.status_code,
            url=response.url,
        )


def raise_for_status(response: requests.Response, messages: Optional[Dict[int, str]] = None) -> None:
    """Raise CirelayError for a 4xx/5xx: our sentence for known codes, then the API's own words."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text[:200].strip() or None
    api = _api_message(body) if not isinstance(body, str) else body
    sentence = (messages or {}).get(response.status_code) or _STATUS_SENTENCES.get(response.status_code)
    method = response.request.method if response.request is not None else "?"
    where = f"{method} {response.url}"
    parts = [p for p in (sentence, api) if p]
    if not parts:
        parts = [f"HTTP {response.status_code} {response.reason or ''}".strip()]
    raise CirelayError(
        f"{': '.join(parts)} ({response.status_code}, {where})",
        status=response.status_code,
        url=response.url,
        api_message=api,
    )


def api_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    messages: Optional[Dict[int, str]] = None,
    **kwargs: Any,
) -> Any:
    """Send one request; return the decoded JSON body or raise CirelayError."""
    try:
        response = session.request(method, url, **kwargs)
    except requests.exceptions.RetryError as exc:
        raise CirelayError(f"{method} {url} kept failing after {RETRY_ATTEMPTS} attempts: {exc}", url=url)
    except requests.exceptions.InvalidHeader:
        # requests quotes the offending header value, which may be a credential: never show it.
        raise CirelayError(f"could not send {method} {url}: a header holds characters HTTP cannot carry", url=url)
    except requests.exceptions.RequestException as exc:
        raise CirelayError(f"could not complete {method} {url}: {type(exc).__name__}: {exc}", url=url)
    raise_for_status(response, messages)
    return decode_json(response)


def redact(exc: CirelayError, *secrets: Optional[str]) -> CirelayError:
    """The error with every secret we sent blanked out, in case the server quoted our request back."""
    message = exc.message
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
                message = message.replace(form, "***")
    if message == exc.message:
        return exc
    return CirelayError(message, status=exc.status, url=exc.url, result=exc.result, exit_code=exc.exit_code)


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


def require(value: Optional[str], option: str, envvar: str) -> str:
    """A required setting that usually comes from the CI context: exit 2 naming both."""
    if value is None or value == "":
        raise click.UsageError(f"missing {option}: pass it or set {envvar}")
    return value


def log(message: str) -> None:
    """Everything for people goes to stderr; stdout carries only the result."""
    click.echo(message, err=True)


def mask(secret: Optional[str]) -> None:
    """Ask GitHub Actions to hide a secret made at run time (a token) from every log."""
    if secret and os.environ.get("GITHUB_ACTIONS") == "true":
        for line in str(secret).splitlines():
            click.echo(f"::add-mask::{line}", err=True)


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def emit(result: Any, outputs: Optional[Dict[str, Any]] = None, summary: Optional[Dict[str, Any]] = None) -> None:
    """Print the result as JSON on stdout; in GitHub Actions also write outputs and a summary."""
    text = json.dumps(result, indent=2, ensure_ascii=False)
    click.echo(text)
    values = {"result": text}
    for key, value in (outputs or {}).items():
        if value is not None:
            values[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    output_file = os.environ.get("GITHUB_OUTPUT")
    if output_file:
        chunks = []
        for key, value in values.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            chunks.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        _append(output_file, "".join(chunks))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file and summary:
        rows = "".join(f"| {k} | {str(v).replace('|', '&#124;')} |\n" for k, v in summary.items() if v is not None)
        _append(summary_file, f"| cirelay | |\n|---|---|\n{rows}\n")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def wait_for(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str] = None,
    start: float = 2.0,
    factor: float = 1.5,
    ceiling: float = 15.0,
    on_abandon: Optional[Callable[[], None]] = None,
) -> Any:
    """Poll until state_of(last) says 'success' or 'failure', or the deadline passes.

    state_of returns (outcome, description): outcome is 'success', 'failure' or 'pending';
    a progress line goes to stderr whenever the description changes. Returns the last
    polled value on success, raises CirelayError (exit 1) on failure and WaitTimeout
    (exit 3) at the deadline, both carrying the last value as their result. on_abandon
    (e.g. cancel the remote task) runs when the deadline passes or the wait is interrupted.
    """
    try:
        return _wait_loop(
            poll, state_of, timeout=timeout, what=what, url=url, start=start, factor=factor, ceiling=ceiling
        )
    except (WaitTimeout, KeyboardInterrupt):
        if on_abandon is not None:
            log(f"cancelling {what}")
            try:
                on_abandon()
            except CirelayError as exc:
                log(f"could not cancel {what}: {exc.message}")
        raise


def _wait_loop(
    poll: Callable[[], Any],
    state_of: Callable[[Any], Tuple[str, str]],
    *,
    timeout: float,
    what: str,
    url: Optional[str],
    start: float,
    factor: float,
    ceiling: float,
) -> Any:
    deadline = time.monotonic() + timeout
    delay, shown = start, None
    where = f" ({url})" if url else ""
    while True:
        current = poll()
        outcome, description = state_of(current)
        if description != shown:
            log(f"{what}: {description}")
            shown = description
        if outcome == "success":
            return current
        if outcome == "failure":
            raise CirelayError(f"{what} ended {description}{where}", result=current)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(
                f"gave up waiting for {what} after {timeout:g} s; it may still be running remotely{where}",
                result=current,
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * factor, ceiling)


def wait_options(wait_flag: bool, cancel_default: bool = False, poll_max: float = 15.0) -> Callable[[Any], Any]:
    """The options of every command that starts something and may wait for it, or waits.

    Adds wait (when wait_flag), timeout, poll_max and cancel_on_timeout parameters.
    """

    def decorate(command: Any) -> Any:
        options = [
            click.option(
                "--cancel-on-timeout/--no-cancel-on-timeout",
                default=cancel_default,
                show_default=True,
                help="Cancel the remote task when the timeout passes or the wait is interrupted.",
            ),
            click.option(
                "--poll-max",
                type=click.FloatRange(min=1),
                default=poll_max,
                show_default=True,
                help="Longest pause between two polls, in seconds.",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0),
                default=3600,
                show_default=True,
                envvar="CIRELAY_WAIT_TIMEOUT",
                show_envvar=True,
                help="Give up waiting after this many seconds (exit 3).",
            ),
        ]
        if wait_flag:
            options.append(click.option("--wait", is_flag=True, help="Wait until it finishes; exit 0 only on success."))
        for option in options:
            command = option(command)
        return command

    return decorate


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 the API or the remote task failed; 2 bad input or usage; "
    "3 timed out waiting; 130 interrupted."
)


class CirelayGroup(click.Group):
    """Turns CirelayError into 'Error: …' and its exit code, SIGTERM/Ctrl-C into 130."""

    def invoke(self, ctx: click.Context) -> Any:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return super().invoke(ctx)
        except CirelayError as exc:
            if exc.result is not None:
                click.echo(json.dumps(exc.result, indent=2, ensure_ascii=False))
            log(f"Error: {exc.message}")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            log("Interrupted.")
            ctx.exit(EXIT_INTERRUPTED)


# --- cirelay plumbing: end ---


def grpc_code_text(code: Any) -> str:
    """The name of a gRPC status code (13 -> INTERNAL), as the vendor's sample spells it."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(GRPC_CODES):
        return GRPC_CODES[code]
    return f"Unknown code {code}"


def _error_of(body: Any) -> Optional[Dict[str, Any]]:
    """The order's `error` ({code, message, details}) when it says something went wrong."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not (error.get("code") or error.get("message")):
        return None
    return error


def describe_error(error: Dict[str, Any]) -> str:
    """'INTERNAL (code 13): disk full' from an order's error."""
    code = error.get("code")
    text = f"{grpc_code_text(code)} (code {code})" if code is not None else "error"
    message = error.get("message")
    return f"{text}: {message}" if message else text


def annotate(order: Any) -> Any:
    """The order with error.codeText added, as the vendor's sample shows it."""
    error = _error_of(order)
    if error is None or "code" not in error:
        return order
    return {**order, "error": {**error, "codeText": grpc_code_text(error.get("code"))}}


def order_state(order: Any) -> str:
    """The state in the order's metadata (STATE_UNSPECIFIED when missing)."""
    metadata = order.get("metadata") if isinstance(order, dict) else None
    state = metadata.get("state") if isinstance(metadata, dict) else None
    return state if isinstance(state, str) and state else STATE_UNSPECIFIED


def _count(value: Any) -> Optional[int]:
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def order_outcome(order: Any) -> Tuple[str, str]:
    """('success'|'failure'|'pending', description) for the waiter; the description changes with
    the state and the sub-process counts, which is when a progress line is printed."""
    state = order_state(order)
    error = _error_of(order)
    if error is not None:
        return "failure", f"{state}: {describe_error(error)}"
    done = bool(order.get("done")) if isinstance(order, dict) else False
    if state == STATE_FAILED:
        return "failure", f"{state}: no error details from the server"
    if state == STATE_SUCCEEDED and done:
        return "success", state
    if state == STATE_UNSPECIFIED:
        return "failure", f"{state}: the server does not know this order"
    if done:
        return "failure", f"{state} but marked done"
    metadata = order.get("metadata") or {}
    finished = _count(metadata.get("finishedSubProcesses"))
    still_open = _count(metadata.get("openSubProcesses"))
    counts = []
    if finished is not None:
        counts.append(f"{finished} finished")
    if still_open is not None:
        counts.append(f"{still_open} open")
    return "pending", f"{state}, sub-processes {', '.join(counts)}" if counts else state


def _size(n: float) -> str:
    """1.5 GiB, 12.0 MiB, 3.2 KiB or 17 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _tls_hint(exc: CirelayError) -> CirelayError:
    """A certificate failure gets a sentence on what to do about it."""
    cause = exc.__context__
    if isinstance(cause, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(cause):
        return CirelayError(
            "the server's TLS certificate could not be verified: set OCTOPLANT_CA_BUNDLE to the CA certificate "
            f"that signed it (or pass --insecure to skip the check); {exc.message}",
            url=exc.url,
        )
    return exc


class _Progress:
    """A line on stderr every ~10 % of a known size, else every 16 MiB."""

    def __init__(self, what: str, total: Optional[int]) -> None:
        self.what = what
        self.total = total if total else None
        self.step = max(self.total // 10, 1) if self.total else PROGRESS_UNKNOWN_STEP
        self.next = self.step

    def update(self, done: int) -> None:
        if done < self.next:
            return
        if self.total:
            log(f"{self.what}: {done * 100 // self.total}% ({_size(done)} of {_size(self.total)})")
        else:
            log(f"{self.what}: {_size(done)} so far")
        while self.next <= done:
            self.next += self.step


def check_zip(path: str, what: str) -> List[str]:
    """The member names of a ZIP file after reading every member and checking its CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        with open(path, "rb") as handle:
            start = handle.read(80)
        raise CirelayError(f"{what} is not a readable ZIP archive ({exc}); it starts with {start!r}")
    if bad is not None:
        raise CirelayError(f"{what} is damaged: member {bad!r} fails its CRC check")
    return names


@contextlib.contextmanager
def signals_held(what: str) -> Iterator[List[int]]:
    """Hold SIGINT/SIGTERM while `what` is on its way; yields the signals that came meanwhile.

    Stopping halfway would leave an order running that nobody knows the name of, so the first
    signal only marks the stop; a second one stops at once, as usual.
    """
    caught: List[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def hold(signum: int, frame: Any) -> None:
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
        log(f"stopping once {what} is answered (signal again to stop at once)")

    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, hold)
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def check_output(path: str) -> str:
    """PATH made absolute, once it is not a folder and a file can be made there; exit 2 naming -o otherwise.

    Checked before the export is ordered, so a typo does not cost a whole export.
    """
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise click.BadParameter(f"{path} is a directory; give the ZIP file's path", param_hint=_OUTPUT_HINT)
    existing = os.path.dirname(target)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise click.BadParameter(f"cannot write {path}: {existing} is not a folder", param_hint=_OUTPUT_HINT)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot write {path}: no permission to write in {existing}", param_hint=_OUTPUT_HINT)
    return target


def _missing_folders(folder: str) -> List[str]:
    """The folders os.makedirs(folder) would make, deepest first."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _remove_folders(folders: List[str]) -> None:
    """Remove the (empty) folders a failed download made, deepest first."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def check_ca_file(path: str, source: str) -> None:
    """A CA bundle must exist and hold a PEM certificate (or be a folder of them); exit 2 naming it."""
    if os.path.isdir(path):
        return
    if not os.path.exists(path):
        raise click.UsageError(f"{source} names {path}, which does not exist")
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError included
        raise click.UsageError(f"{source} names {path}, which holds no readable CA certificate ({exc.strerror or exc})")


def _default_mode() -> int:
    """0o666 less the umask: what open() would give a new file (mkstemp makes it 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class OctoplantClient:
    """The octoplant Export API: sign in, order an export, poll, cancel and download it."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        verify: Union[bool, str] = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.client_id = client_id
        self._client_secret = client_secret
        # Passed with every request: a session-level verify loses to REQUESTS_CA_BUNDLE in requests.
        self.verify = verify
        self.session = make_session()
        self.order_session = make_session(retry_unsafe=False)  # POST /v1/order is never sent twice
        self._token: Optional[str] = None

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return f"{self.base_url}{path}"

    def order_url(self, name: str, suffix: str = "") -> str:
        """The URL of one order (or of its cancel/download action)."""
        return self.url(f"/v1/order/{quote(name, safe='')}{suffix}")

    def sign_in(self) -> str:
        """Fetch a fresh access token with the OAuth2 password grant."""
        url = self.url("/v1/oauth2/token")
        form = {
            "grant_type": "password",
            "username": self.username,
            "password": self._password,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        try:
            body = api_request(
                self.session,
                "POST",
                url,
                data=form,
                headers={"Accept": "application/json"},
                verify=self.verify,
                messages=_SIGN_IN_MESSAGES,
            )
        except CirelayError as exc:
            raise redact(_tls_hint(exc), self._password, self._client_secret)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise CirelayError(f"octoplant sent no access_token (POST {url})", url=url)
        mask(token)
        if not _HEADER_SAFE.fullmatch(token):  # requests would fail later and quote the header, token and all
            raise CirelayError(
                f"octoplant sent an access_token with characters a header cannot carry (not shown; POST {url})",
                url=url,
            )
        self._token = token
        return token

    def _raise(self, response: requests.Response, messages: Optional[Dict[int, str]]) -> None:
        """raise_for_status, with the gRPC status of the body (FAILED_PRECONDITION, …) named."""
        try:
            raise_for_status(response, messages)
        except CirelayError as exc:
            try:
                body = response.json()
            except ValueError:
                body = None
            code = body.get("code") if isinstance(body, dict) else None
            if isinstance(code, int) and not isinstance(code, bool):
                raise CirelayError(
                    f"{exc.message}; gRPC status {grpc_code_text(code)} ({code})",
                    status=exc.status,
                    url=exc.url,
                    api_message=exc.api_message,
                )
            raise

    def send(
        self,
        method: str,
        url: str,
        *,
        session: Optional[requests.Session] = None,
        messages: Optional[Dict[int, str]] = None,
        reauth: bool = True,
        headers: Optional[Dict[str, str]] = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One authorized request; on a 401 the token is fetched again once (exports outlive tokens)."""
        if self._token is None:
            self.sign_in()
        session = session or self.session
        for attempt in (1, 2):
            all_headers = {"Accept": "application/json", "Authorization": f"Bearer {self._token}"}
            all_headers.update(headers or {})
            try:
                response = session.request(method, url, headers=all_headers, verify=self.verify, **kwargs)
            except requests.exceptions.RetryError as exc:
                raise CirelayError(f"{method} {url} kept failing after {RETRY_ATTEMPTS} attempts: {exc}", url=url)
            except requests.exceptions.RequestException as exc:
                raise CirelayError(f"could not complete {method} {url}: {type(exc).__name__}: {exc}", url=url)
            if response.status_code == 401 and attempt == 1 and reauth:
                response.close()
                log("the access token was refused (HTTP 401); signing in again")
                self.sign_in()
                continue
            if response.status_code >= 400:
                try:
                    self._raise(response, messages)
                except CirelayError as exc:
                    raise redact(exc, self._token, self._password, self._client_secret)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def create_order(self, contents: Dict[str, Any]) -> Dict[str, Any]:
        """POST /v1/order: order an export of these contents (sent once, never retried)."""
        url = self.url("/v1/order")
        response = self.send(
            "POST",
            url,
            session=self.order_session,
            reauth=False,  # the export's first request, its token just fetched: a 401 here is not an expiry
            json={"exportContents": contents},
            messages={400: "octoplant refused the export order as invalid (HTTP 400)"},
        )
        order = decode_json(response)
        if not isinstance(order, dict) or not isinstance(order.get("name"), str) or not order["name"]:
            raise CirelayError(f"octoplant accepted the order but sent no order name (POST {url})", result=order)
        return dict(annotate(order))

    def get_order(self, name: str) -> Dict[str, Any]:
        """GET /v1/order/{name}: the order's state."""
        response = self.send("GET", self.order_url(name), messages={404: f"export order {name} not found (HTTP 404)"})
        order = decode_json(response)
        if not isinstance(order, dict):
            raise CirelayError(f"unexpected answer for export order {name}: {order!r}", url=self.order_url(name))
        return dict(annotate(order))

    def cancel_order(self, name: str) -> Dict[str, Any]:
        """POST /v1/order/{name}/cancel, then the order's state."""
        self.send(
            "POST",
            self.order_url(name, "/cancel"),
            messages={404: f"export order {name} not found (HTTP 404)"},
        )
        order = self.get_order(name)
        log(f"cancel sent for export order {name}; it is now {order_outcome(order)[1]}")
        return order

    def wait(self, name: str, *, timeout: float, poll_max: float, cancel: bool) -> Dict[str, Any]:
        """Poll the order until it succeeds (returned), fails (exit 1) or the timeout passes (exit 3)."""

        def abandon() -> None:
            self.cancel_order(name)

        order: Dict[str, Any] = wait_for(
            lambda: self.get_order(name),
            order_outcome,
            timeout=timeout,
            what=f"export order {name}",
            url=self.order_url(name),
            start=POLL_START,
            factor=POLL_FACTOR,
            ceiling=poll_max,
            on_abandon=abandon if cancel else None,
        )
        return order

    def download(self, name: str, path: str, order: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Stream the order's ZIP into a temp file beside PATH, check every member, move it onto PATH."""
        if order is None:
            order = self.get_order(name)
            outcome, description = order_outcome(order)
            if outcome != "success":
                raise CirelayError(f"export order {name} has nothing to download: {description}", result=order)
        target = check_output(path)
        folder = os.path.dirname(target)
        made = _missing_folders(folder)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder)
        except OSError as exc:
            _remove_folders(made)
            raise click.BadParameter(f"cannot write {path}: {exc.strerror or exc}", param_hint=_OUTPUT_HINT)
        what = f"export order {name}"
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = self._stream(name, out)
            members = check_zip(temp, f"the download of {what}")
            os.chmod(temp, _default_mode())
            os.replace(temp, target)
        except BaseException as exc:  # interrupted or failed: nothing half-written stays behind
            _remove(temp)
            _remove_folders(made)
            if isinstance(
                exc, OSError
            ):  # the disk's fault (full, read-only, …): requests' errors are CirelayErrors by now
                raise CirelayError(f"could not save {what} at {path}: {exc.strerror or exc}")
            raise
        log(f"saved {what} to {path} ({_size(size)}, {len(members)} members)")
        return {
            "name": name,
            "state": order_state(order),
            "path": path,
            "bytes": size,
            "sha256": sha256,
            "members": members,
        }

    def _stream(self, name: str, out: Any) -> Tuple[int, str]:
        url = self.order_url(name, "/download")
        response = self.send(
            "GET",
            url,
            stream=True,
            # identity: Content-Length is then the size on disk, and nobody inflates a ZIP twice.
            headers={"Accept-Encoding": "identity"},
            messages={404: f"export order {name} not found (HTTP 404)"},
        )
        digest = hashlib.sha256()
        size = 0
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _Progress(f"downloading export order {name}", total)
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    progress.update(size)
            except requests.exceptions.RequestException as exc:
                raise CirelayError(
                    f"the download of export order {name} broke off after {size} bytes: {type(exc).__name__} ({url})",
                    url=url,
                )
        if total is not None and size != total:
            raise CirelayError(
                f"the download of export order {name} is truncated: {size} of {total} bytes ({url})", url=url
            )
        return size, digest.hexdigest()

    def export(
        self,
        contents: Dict[str, Any],
        path: str,
        *,
        timeout: float,
        poll_max: float,
        cancel: bool,
    ) -> Dict[str, Any]:
        """Order an export, wait for it, download and check the ZIP."""
        if self._token is None:
            self.sign_in()  # a stop while signing in has nothing to cancel: only the order itself is held
        with signals_held("the export order") as stopped:
            order = self.create_order(contents)
        name = order["name"]
        log(f"ordered export {name} ({', '.join(contents)})")
        if stopped:  # stopped while ordering: the order exists now, so it goes as one stopped while waiting
            if cancel:
                log(f"cancelling export order {name}")
                try:
                    self.cancel_order(name)
                except CirelayError as exc:
                    log(f"could not cancel export order {name}: {exc.message}")
            raise KeyboardInterrupt
        finished = self.wait(name, timeout=timeout, poll_max=poll_max, cancel=cancel)
        try:
            return self.download(name, path, order=finished)
        except CirelayError as exc:
            exc.message = (
                f"{exc.message}; the export is ready on the server: retry with `order download {name} -o PATH`"
            )
            raise


# -- command line ----------------------------------------------------------------------------------


class ExportKind(click.ParamType):
    """One export kind by name (case-insensitive), e.g. projectTree."""

    name = "KIND"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        for kind in EXPORT_KINDS:
            if str(value).lower() == kind.lower():
                return kind
        self.fail(f"unknown export kind {value!r}; known kinds: {', '.join(EXPORT_KINDS)}", param, ctx)


def build_contents(kinds: Tuple[str, ...], contents_json: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """exportContents from --contents-json (options included) plus {"<kind>": {}} per --contents."""
    contents: Dict[str, Any] = {}
    if contents_json is not None:
        unknown = [key for key in contents_json if key not in EXPORT_KINDS]
        if unknown:
            raise click.BadParameter(
                f"unknown export kind {unknown[0]!r}; known kinds: {', '.join(EXPORT_KINDS)}",
                param_hint="'--contents-json'",
            )
        for key, value in contents_json.items():
            if not isinstance(value, dict):
                raise click.BadParameter(
                    f"the options of {key} must be a JSON object, got {type(value).__name__}",
                    param_hint="'--contents-json'",
                )
        if not contents_json and not kinds:
            raise click.BadParameter("names no export kind", param_hint="'--contents-json'")
        contents.update(contents_json)
    for kind in kinds:
        contents.setdefault(kind, {})
    return contents or {DEFAULT_KIND: {}}


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
    for option in options:
        wrapper = option(wrapper)
    return wrapper


output_option = click.option(
    "-o",
    "--output",
    "path",
    required=True,
    type=click.Path(dir_okay=False),
    envvar="OCTOPLANT_OUTPUT",
    show_envvar=True,
    help="Where to save the ZIP; it appears there only once complete and checked.",
)


def not_empty(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """A NAME given as "" (an unset CI variable) is exit 2, not a request to another route."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


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


def _emit_download(result: Dict[str, Any]) -> None:
    emit(
        result,
        outputs={"path": result["path"], "sha256": result["sha256"], "order": result["name"]},
        summary={
            "order": result["name"],
            "state": result["state"],
            "path": result["path"],
            "bytes": result["bytes"],
            "sha256": result["sha256"],
            "members": len(result["members"]),
        },
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
    help='The whole exportContents object with options (JSON, @file or -), e.g. {"projectTree": {}}.',
)
@output_option
@wait_options(wait_flag=False, cancel_default=True, poll_max=10)
def export(
    *,
    make_client: Callable[[], OctoplantClient],
    kinds: Tuple[str, ...],
    contents_json: Optional[Dict[str, Any]],
    path: str,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Order an export, wait for it, and save the checked ZIP at PATH."""
    contents = build_contents(kinds, contents_json)
    check_output(path)
    result = make_client().export(contents, path, timeout=timeout, poll_max=poll_max, cancel=cancel_on_timeout)
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
    """Download the ZIP of finished export order NAME to PATH."""
    check_output(path)
    _emit_download(make_client().download(name, path))


if __name__ == "__main__":
    cli()
