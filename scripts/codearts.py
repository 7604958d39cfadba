#!/usr/bin/env python3
"""cirelay-codearts: start and watch Huawei Cloud CodeArts Pipeline runs from a CI job.

Where (first that is set):
  CODEARTS_ENDPOINT     e.g. https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com
  CODEARTS_REGION       e.g. cn-north-4 (the endpoint is built from it)
  CODEARTS_PROJECT_ID   the CodeArts project ID used in /v5/{project_id}/api paths

Credentials (first that is set):
  CODEARTS_TOKEN                              an IAM token, sent as X-Auth-Token
  HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK     access key pair; requests are signed with
                                              SDK-HMAC-SHA256 (HUAWEICLOUD_SDK_PROJECT_ID, if set,
                                              is sent as X-Project-Id)
  HUAWEICLOUD_USERNAME + HUAWEICLOUD_PASSWORD + HUAWEICLOUD_DOMAIN
                                              exchanged for a token at HUAWEICLOUD_IAM_ENDPOINT
                                              (default https://iam.<region>.myhuaweicloud.com)

Example:
  python codearts.py run start --pipeline-id 0123abcd... --branch main --var ENV=staging --wait
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import signal
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import click
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# Regions whose CodeArts Pipeline endpoint is not cloudpipeline-ext.<region>.myhuaweicloud.com
# (huaweicloud-sdk-python-v3, huaweicloudsdkcodeartspipeline/v2/region/codeartspipeline_region.py).
REGION_HOST_PREFIX = {
    "tr-west-1": "pipeline-external",
    "la-south-2": "pipeline-external",
    "af-north-1": "pipeline",
    "me-east-1": "pipeline",
    "af-south-1": "pipeline",
}
DEFAULT_HOST_PREFIX = "cloudpipeline-ext"

# Run statuses (ShowPipelineRunDetail): the ones that end a run, and how each ends the wait.
RUN_SUCCESS = "COMPLETED"
RUN_FAILURES = ("FAILED", "CANCELED")
RUN_IGNORED = "IGNORED"  # terminal; the run was skipped (e.g. a newer one superseded it)
RUN_WAITING_FOR_PEOPLE = ("PAUSED", "SUSPEND")
RUN_STATUSES = ("COMPLETED", "RUNNING", "FAILED", "CANCELED", "PAUSED", "SUSPEND", "IGNORED", "QUEUED", "INIT")

# Template task statuses (ShowInstanceStatus): initializing, processing, finished, succeeded.
TEMPLATE_DONE = ("succeeded", "finished")
TEMPLATE_FAILED = ("failed", "error")

PAGE_SIZE = 50  # pipelines and runs per list request
LOG_PAGE_LINES = 500  # log lines per request, as the API reference's example asks for
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_NO_CREDENTIALS = (
    "no CodeArts credentials: set one of CODEARTS_TOKEN; HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK; "
    "or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN"
)
_NO_ENDPOINT = "missing the CodeArts endpoint: pass --endpoint or --region, or set CODEARTS_ENDPOINT or CODEARTS_REGION"
_TOKEN_FAILED = "IAM did not accept the user name, password and domain"  # noqa: S105 - a message
_MESSAGES_401 = {401: "authentication failed (HTTP 401): check CODEARTS_TOKEN or the access key pair"}

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


def endpoint_for_region(region: str) -> str:
    """The CodeArts Pipeline endpoint of a Huawei Cloud region."""
    prefix = REGION_HOST_PREFIX.get(region, DEFAULT_HOST_PREFIX)
    return f"https://{prefix}.{region}.myhuaweicloud.com"


class SdkHmacAuth(requests.auth.AuthBase):
    """Signs a request with an access key pair the way Huawei Cloud's SDKs do (SDK-HMAC-SHA256).

    Signed: Host, X-Sdk-Date, Content-Type and X-Project-Id when present. The canonical request
    is METHOD, the path with every segment URL-encoded and a trailing '/', the sorted query,
    the signed headers as 'name:value' lines, their names, and the SHA-256 of the body.
    """

    def __init__(self, ak: str, sk: str, project_id: Optional[str] = None, clock: Callable[[], float] = time.time):
        self.ak = ak
        self._sk = sk
        self.project_id = project_id
        self._clock = clock

    def __repr__(self) -> str:  # never show the secret key
        return f"SdkHmacAuth(ak={self.ak!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        request.headers["X-Sdk-Date"] = time.strftime(SDK_DATE_FORMAT, time.gmtime(self._clock()))
        if "Host" not in request.headers:
            request.headers["Host"] = parts.netloc.rpartition("@")[2]
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        names = sorted(
            k.lower() for k in request.headers if k.lower() in ("host", "x-sdk-date", "content-type", "x-project-id")
        )
        values = {k.lower(): str(v).strip() for k, v in request.headers.items()}
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        canonical = "\n".join(
            [
                (request.method or "GET").upper(),
                canonical_uri(parts.path),
                canonical_query(parts.query),
                "".join(f"{name}:{values[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
            ]
        )
        to_sign = "\n".join(
            ["SDK-HMAC-SHA256", request.headers["X-Sdk-Date"], hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
        )
        signature = hmac.new(self._sk.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            f"SDK-HMAC-SHA256 Access={self.ak}, SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return request


def canonical_uri(path: str) -> str:
    """Every path segment URL-encoded (only '~' left alone), always ending in '/'."""
    encoded = "/".join(quote(segment, safe="~") for segment in unquote(path or "/").split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    """The query's pairs sorted, each name and value URL-encoded."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


class TokenAuth(requests.auth.AuthBase):
    """Sends an IAM token as X-Auth-Token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(***)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Auth-Token"] = self._token
        return request


def _header_safe(value: str, name: str) -> None:
    """Exit 2 when a credential sent in a header (or signing one) holds what a header cannot.

    A line break inside, a control or a non-ASCII character would make requests/http.client fail
    with an error that quotes the header's value, the secret; the message names only the variable.
    """
    if not all("\x21" <= char <= "\x7e" for char in value):
        raise click.UsageError(
            f"{name} holds a line break, a space, a control or a non-ASCII character, which it cannot"
            " have: check how the secret was set"
        )


def credentials_from_env(env: Dict[str, str]) -> Dict[str, str]:
    """The first complete set of credentials in the environment; exit 2 when there is none."""
    token = env.get("CODEARTS_TOKEN", "").strip()
    if token:
        _header_safe(token, "CODEARTS_TOKEN")
        return {"kind": "token", "token": token}
    ak, sk = env.get("HUAWEICLOUD_SDK_AK", "").strip(), env.get("HUAWEICLOUD_SDK_SK", "").strip()
    if ak or sk:
        if not (ak and sk):
            unset = "HUAWEICLOUD_SDK_SK" if ak else "HUAWEICLOUD_SDK_AK"
            raise click.UsageError(f"HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK go together: {unset} is not set")
        _header_safe(ak, "HUAWEICLOUD_SDK_AK")
        _header_safe(sk, "HUAWEICLOUD_SDK_SK")
        return {"kind": "aksk", "ak": ak, "sk": sk, "project_id": env.get("HUAWEICLOUD_SDK_PROJECT_ID", "").strip()}
    user = {k: env.get(f"HUAWEICLOUD_{k.upper()}", "").strip() for k in ("username", "password", "domain")}
    if any(user.values()):
        missing = [f"HUAWEICLOUD_{k.upper()}" for k, v in user.items() if not v]
        if missing:
            raise click.UsageError(f"IAM password login needs {', '.join(missing)} too")
        return {"kind": "password", **user, "iam_endpoint": env.get("HUAWEICLOUD_IAM_ENDPOINT", "").strip()}
    raise click.UsageError(_NO_CREDENTIALS)


def _ms(value: Optional[str], option: str) -> Optional[int]:
    """Epoch milliseconds from epoch seconds/milliseconds or an ISO 8601 date/time (UTC unless given)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isdigit():
        number = int(text)
        return number if number >= 10**11 else number * 1000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected epoch seconds/ms or an ISO date/time, got {value!r}", param_hint=option)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def describe_run(run: Dict[str, Any]) -> str:
    """'RUNNING: Build COMPLETED, Deploy RUNNING' with a note when someone has to act."""
    status = str(run.get("status") or "UNKNOWN")
    stages = sorted(run.get("stages") or [], key=lambda s: (s.get("sequence") is None, s.get("sequence") or 0))
    text = status
    if status in RUN_WAITING_FOR_PEOPLE:
        text += " (waiting for someone: a manual review, a pause or a suspended stage)"
    shown = [f"{s.get('name') or s.get('identifier') or '?'} {s.get('status') or '-'}" for s in stages]
    return f"{text}: {', '.join(shown)}" if shown else text


def run_outcome(run: Dict[str, Any]) -> Tuple[str, str]:
    """The waiter's view of a run: success, failure or pending, and what to show."""
    status = str(run.get("status") or "")
    if status in (RUN_SUCCESS, RUN_IGNORED):
        return "success", describe_run(run)
    if status in RUN_FAILURES:
        return "failure", describe_run(run)
    return "pending", describe_run(run)


def template_outcome(task: Dict[str, Any]) -> Tuple[str, str]:
    """The waiter's view of a create-from-template task."""
    status = str(task.get("task_status") or "unknown")
    if status in TEMPLATE_DONE:
        if task.get("pipeline_id"):
            return "success", f"{status}: pipeline {task.get('pipeline_name') or task['pipeline_id']}"
        return "failure", f"{status} without creating a pipeline"
    if status in TEMPLATE_FAILED:
        return "failure", status
    return "pending", status


class CodeArtsClient:
    """CodeArts Pipeline's API over a requests.Session (no click here)."""

    def __init__(self, endpoint: str, project_id: Optional[str], credentials: Dict[str, str], region: str = ""):
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.region = region or _region_of(self.endpoint)
        self._credentials = credentials
        self._auth: Optional[requests.auth.AuthBase] = None
        self.session = make_session()
        self.once = make_session(retry_unsafe=False)  # for POSTs that start or create something

    # -- plumbing --------------------------------------------------------------------------
    def _authenticate(self) -> requests.auth.AuthBase:
        if self._auth is None:
            creds = self._credentials
            if creds["kind"] == "token":
                self._auth = TokenAuth(creds["token"])
            elif creds["kind"] == "aksk":
                self._auth = SdkHmacAuth(creds["ak"], creds["sk"], creds.get("project_id") or None)
            else:
                self._auth = TokenAuth(self.login())
            self.session.auth = self.once.auth = self._auth
        return self._auth

    def login(self) -> str:
        """Exchange the IAM user name and password for a token (the X-Subject-Token header)."""
        creds = self._credentials
        iam = (creds.get("iam_endpoint") or "").rstrip("/")
        if not iam:
            iam = f"https://iam.{self.region}.myhuaweicloud.com" if self.region else "https://iam.myhuaweicloud.com"
        scope: Dict[str, Any] = (
            {"project": {"name": self.region}} if self.region else {"domain": {"name": creds["domain"]}}
        )
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": creds["username"],
                            "password": creds["password"],
                            "domain": {"name": creds["domain"]},
                        }
                    },
                },
                "scope": scope,
            }
        }
        url = f"{iam}/v3/auth/tokens"
        try:
            response = self.session.post(url, json=body)
        except requests.exceptions.RequestException as exc:
            raise CirelayError(f"could not complete POST {url}: {type(exc).__name__}: {exc}", url=url)
        raise_for_status(response, {401: _TOKEN_FAILED + " (HTTP 401)", 403: _TOKEN_FAILED + " (HTTP 403)"})
        token = response.headers.get("X-Subject-Token", "")
        if not token:
            raise CirelayError(f"IAM answered POST {url} without an X-Subject-Token header", url=url)
        mask(token)
        return token

    def _call(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> Any:
        self._authenticate()
        messages = dict(_MESSAGES_401)
        messages.update(kwargs.pop("messages", {}))
        session = self.once if once else self.session
        return api_request(session, method, f"{self.endpoint}{path}", messages=messages, **kwargs)

    def _v5(self, path: str) -> str:
        if not self.project_id:
            raise CirelayError("missing --project-id: pass it or set CODEARTS_PROJECT_ID", exit_code=EXIT_USAGE)
        return f"/v5/{self.project_id}/api{path}"

    def _pages(self, path: str, body: Dict[str, Any], key: str, limit: Optional[int]) -> List[Any]:
        items: List[Any] = []
        offset = 0
        while limit is None or len(items) < limit:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            page = self._call("POST", path, json={**body, "offset": offset, "limit": size}) or {}
            batch = page.get(key) or []
            items.extend(batch)
            offset += len(batch)
            total = page.get("total")
            if not batch or (isinstance(total, int) and offset >= total):
                break
        return items if limit is None else items[:limit]

    def run_url(self, pipeline_id: str, run_id: str, run: Optional[Dict[str, Any]] = None) -> str:
        """The run's page: detail_url from the API, else the API address of the run."""
        if run and run.get("detail_url"):
            return str(run["detail_url"])
        return f"{self.endpoint}{self._v5(f'/pipelines/{pipeline_id}/pipeline-runs/detail')}?pipeline_run_id={run_id}"

    # -- pipelines ---------------------------------------------------------------------------
    def list_pipelines(self, name: Optional[str] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Every pipeline of the project (name matched loosely by the API), all pages."""
        body: Dict[str, Any] = {"sort_key": "name", "sort_dir": "asc"}
        if name:
            body["name"] = name
        return self._pages(self._v5("/pipelines/list"), body, "pipelines", limit)

    def get_pipeline(self, pipeline_id: str) -> Dict[str, Any]:
        """One pipeline's definition, including its code sources."""
        return self._call(
            "GET", self._v5(f"/pipelines/{pipeline_id}"), messages={404: f"pipeline {pipeline_id} not found"}
        )

    # -- runs ----------------------------------------------------------------------------------
    def start_run(
        self,
        pipeline_id: str,
        variables: List[Tuple[str, str]],
        branch: Optional[str] = None,
        tag: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Start a run (sent once, never retried); answers {pipeline_run_id}."""
        body: Dict[str, Any] = {"variables": [{"name": k, "value": v} for k, v in variables]}
        if description:
            body["description"] = description
        if branch or tag:
            body["sources"] = self._sources_for(pipeline_id, branch, tag)
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/run"),
            once=True,
            json=body,
            messages={404: f"pipeline {pipeline_id} not found"},
        )
        if not isinstance(answer, dict) or not answer.get("pipeline_run_id"):
            raise CirelayError(f"CodeArts started pipeline {pipeline_id} but did not say which run: {answer!r}")
        return answer

    def _sources_for(self, pipeline_id: str, branch: Optional[str], tag: Optional[str]) -> List[Dict[str, Any]]:
        """The pipeline's code sources with the branch or tag to build set on each."""
        pipeline = self.get_pipeline(pipeline_id)
        sources = [s for s in (pipeline.get("sources") or []) if s.get("type", "code") == "code"]
        if not sources:
            raise CirelayError(
                f"pipeline {pipeline_id} has no code source to set --branch/--tag on", exit_code=EXIT_USAGE
            )
        build = {"build_type": "tag", "tag": tag} if tag else {"build_type": "branch", "target_branch": branch}
        build["event_type"] = "Manual"
        result = []
        for source in sources:
            params = {k: v for k, v in (source.get("params") or {}).items() if k != "build_params"}
            params["build_params"] = dict(build)
            result.append({"type": "code", "params": params})
        return result

    def get_run(self, pipeline_id: str, run_id: str) -> Dict[str, Any]:
        """A run's status with its stages, jobs and steps."""
        return self._call(
            "GET",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/detail"),
            params={"pipeline_run_id": run_id},
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )

    def list_runs(
        self,
        pipeline_id: str,
        statuses: List[str],
        since: Optional[int] = None,
        until: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """A pipeline's runs, newest first."""
        body: Dict[str, Any] = {"sort_key": "start_time", "sort_dir": "DESC"}
        if statuses:
            body["status"] = statuses
        if since is not None:
            body["start_time"] = since
        if until is not None:
            body["end_time"] = until
        return self._pages(self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/list"), body, "pipeline_runs", limit)

    def stop_run(self, pipeline_id: str, run_id: str) -> Dict[str, Any]:
        """Stop a run."""
        answer = self._call(
            "POST",
            self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/stop"),
            messages={404: f"run {run_id} of pipeline {pipeline_id} not found"},
        )
        if isinstance(answer, dict) and answer.get("success") is False:
            raise CirelayError(f"CodeArts did not stop run {run_id} of pipeline {pipeline_id}", result=answer)
        return answer if isinstance(answer, dict) else {"success": True}

    def step_log(self, pipeline_id: str, run_id: str, job_run_id: str, step_run_id: str) -> str:
        """A step's whole log, paging by end_offset while the API says has_more."""
        path = self._v5(f"/pipelines/{pipeline_id}/pipeline-runs/{run_id}/jobs/{job_run_id}/steps/{step_run_id}/logs")
        chunks: List[str] = []
        start: Any = 0
        while True:
            page = self._call(
                "POST",
                path,
                json={"start_offset": start, "end_offset": 0, "limit": LOG_PAGE_LINES, "sort": "asc"},
                messages={404: f"no log for step {step_run_id} of job {job_run_id} in run {run_id}"},
            )
            page = page or {}
            chunks.append(str(page.get("log") or ""))
            end = page.get("end_offset")
            if not page.get("has_more") or end is None or str(end) == str(start):
                break  # done, or the API made no progress: stop rather than loop forever
            start = end
        return "".join(chunks)

    # -- templates -----------------------------------------------------------------------------
    def create_from_template(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Create a pipeline (and its tasks) from a template body; answers {task_id}."""
        answer = self._call("POST", "/v3/templates/task", once=True, json=body)
        if not isinstance(answer, dict) or not answer.get("task_id"):
            raise CirelayError(f"CodeArts accepted the template but did not return a task_id: {answer!r}")
        return answer

    def template_status(self, task_id: str) -> Dict[str, Any]:
        """The create-from-template task's status."""
        return self._call(
            "GET", self._template_status_path(task_id), messages={404: f"template task {task_id} not found"}
        )

    def template_status_url(self, task_id: str) -> str:
        """Where the create-from-template task's status is read."""
        return self.endpoint + self._template_status_path(task_id)

    @staticmethod
    def _template_status_path(task_id: str) -> str:
        return f"/v3/templates/{quote(task_id, safe='')}/status"


def _region_of(endpoint: str) -> str:
    """cn-north-4 from https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com, else ''."""
    host = urlsplit(endpoint).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[-2:] == ["myhuaweicloud", "com"]:
        return parts[-3]
    return ""


# -- CLI --------------------------------------------------------------------------------------


def _client(
    endpoint: Optional[str], region: Optional[str], project_id: Optional[str], project: bool = True
) -> CodeArtsClient:
    """The client for the connection options; exit 2 when one is missing (the project unless not needed)."""
    if project:
        require(project_id, "--project-id", "CODEARTS_PROJECT_ID")
    endpoint = endpoint or ""
    region = region or ""
    if not endpoint:
        if not region:
            raise click.UsageError(_NO_ENDPOINT)
        endpoint = endpoint_for_region(region)
    credentials = credentials_from_env(dict(os.environ))
    return CodeArtsClient(endpoint, project_id, credentials, region)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --endpoint, --region and --project-id to a command and hand it `make_client`.

    make_client(project=True) checks them and the credentials and makes the client (exit 2 when one
    is missing); the command calls it when it needs the client, so its own options are checked first.
    """

    @functools.wraps(command)
    def wrapper(
        *args: Any, endpoint: Optional[str], region: Optional[str], project_id: Optional[str], **kwargs: Any
    ) -> Any:
        def make_client(project: bool = True) -> CodeArtsClient:
            return _client(endpoint, region, project_id, project)

        return command(*args, make_client=make_client, **kwargs)

    options = [
        click.option("--project-id", envvar="CODEARTS_PROJECT_ID", show_envvar=True, help="CodeArts project ID."),
        click.option("--region", envvar="CODEARTS_REGION", show_envvar=True, help="Region to build the endpoint from."),
        click.option(
            "--endpoint",
            envvar="CODEARTS_ENDPOINT",
            show_envvar=True,
            help="CodeArts Pipeline endpoint, e.g. https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com.",
        ),
    ]
    for option in options:
        wrapper = option(wrapper)
    return wrapper


def _run_outputs(run: Dict[str, Any], run_id: str, url: str) -> Dict[str, Any]:
    return {"run-id": run_id, "status": run.get("status"), "url": url}


def _run_summary(run: Dict[str, Any], run_id: str, url: str) -> Dict[str, Any]:
    return {"run": run_id, "status": run.get("status"), "url": url}


def _wait_run(
    client: CodeArtsClient, pipeline_id: str, run_id: str, *, timeout: float, poll_max: float, cancel: bool
) -> None:
    """Poll the run to its end; print the final run (on failure, timeout and Ctrl-C too), set outputs."""
    seen: Dict[str, Any] = {}

    def poll() -> Dict[str, Any]:
        seen["run"] = client.get_run(pipeline_id, run_id)
        return seen["run"]

    def stop() -> None:
        client.stop_run(pipeline_id, run_id)
        try:  # show the run as the stop left it
            seen["run"] = client.get_run(pipeline_id, run_id)
        except CirelayError:
            pass

    def show_last() -> None:
        last = seen.get("run")
        if isinstance(last, dict):
            url = client.run_url(pipeline_id, run_id, last)
            emit(last, outputs=_run_outputs(last, run_id, url), summary=_run_summary(last, run_id, url))

    try:
        run = wait_for(
            poll,
            run_outcome,
            timeout=timeout,
            what=f"pipeline run {run_id}",
            start=min(2.0, poll_max),
            ceiling=poll_max,
            on_abandon=stop if cancel else None,
        )
    except KeyboardInterrupt:
        show_last()
        raise
    except CirelayError as exc:
        if isinstance(exc.result, dict):  # the run ended badly or the deadline passed
            show_last()
            exc.result = None  # printed already
            exc.message = f"{exc.message} ({client.run_url(pipeline_id, run_id, seen.get('run'))})"
        raise
    url = client.run_url(pipeline_id, run_id, run)
    if run.get("status") == RUN_IGNORED:
        log(f"warning: pipeline run {run_id} was IGNORED (not executed, e.g. superseded by another run): {url}")
    emit(run, outputs=_run_outputs(run, run_id, url), summary=_run_summary(run, run_id, url))


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-codearts")
def cli() -> None:
    """Start and watch Huawei Cloud CodeArts Pipeline runs from a CI job.

    Every command takes --endpoint or --region, and --project-id (or CODEARTS_ENDPOINT,
    CODEARTS_REGION, CODEARTS_PROJECT_ID).
    Credentials come from the environment only: CODEARTS_TOKEN; or HUAWEICLOUD_SDK_AK and
    HUAWEICLOUD_SDK_SK; or HUAWEICLOUD_USERNAME, HUAWEICLOUD_PASSWORD and HUAWEICLOUD_DOMAIN.
    """


@cli.group()
def pipeline() -> None:
    """Pipelines of the project."""


@pipeline.command("list")
@connection_options
@click.option("--name", help="Only pipelines whose name contains this.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (default: all).")
def pipeline_list(make_client: Callable[..., CodeArtsClient], *, name: Optional[str], limit: Optional[int]) -> None:
    """List the project's pipelines (every page)."""
    pipelines = make_client().list_pipelines(name, limit)
    emit(pipelines, outputs={"count": str(len(pipelines))}, summary={"pipelines": len(pipelines)})


@cli.group()
def run() -> None:
    """Pipeline runs: start, inspect, stop, wait, read logs."""


_pipeline_option = click.option(
    "--pipeline-id", required=True, envvar="CODEARTS_PIPELINE_ID", show_envvar=True, help="Pipeline ID (32 characters)."
)
_run_option = click.option(
    "--run-id", required=True, envvar="CODEARTS_RUN_ID", show_envvar=True, help="Pipeline run ID (pipeline_run_id)."
)


@run.command("start")
@connection_options
@_pipeline_option
@click.option("--var", "variables", type=KeyValue(), multiple=True, help="Custom parameter NAME=VALUE (repeatable).")
@click.option("--branch", help="Build this branch of the pipeline's code source(s).")
@click.option("--tag", help="Build this tag of the pipeline's code source(s).")
@click.option("--description", help="Run description.")
@wait_options(wait_flag=True)
def run_start(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    variables: Tuple[Tuple[str, str], ...],
    branch: Optional[str],
    tag: Optional[str],
    description: Optional[str],
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Start a run; with --wait, exit with its outcome."""
    if branch and tag:
        raise click.UsageError("--branch and --tag exclude each other")
    client = make_client()
    started = client.start_run(pipeline_id, list(variables), branch, tag, description)
    run_id = str(started["pipeline_run_id"])
    log(f"started pipeline run {run_id}")
    if wait:
        _wait_run(client, pipeline_id, run_id, timeout=timeout, poll_max=poll_max, cancel=cancel_on_timeout)
        return
    result = {"pipeline_id": pipeline_id, **started}
    url = client.run_url(pipeline_id, run_id)
    emit(result, outputs={"run-id": run_id, "url": url}, summary={"pipeline": pipeline_id, "run": run_id, "url": url})


@run.command("get")
@connection_options
@_pipeline_option
@_run_option
def run_get(make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str) -> None:
    """Show a run with its stages, jobs and steps."""
    client = make_client()
    detail = client.get_run(pipeline_id, run_id)
    url = client.run_url(pipeline_id, run_id, detail)
    emit(detail, outputs=_run_outputs(detail, run_id, url), summary={"run": run_id, "status": detail.get("status")})


@run.command("list")
@connection_options
@_pipeline_option
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Repeatable."
)
@click.option("--since", help="Runs started at or after: epoch s/ms or ISO date/time (UTC).")
@click.option("--until", help="Runs started at or before: epoch s/ms or ISO date/time (UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many.")
def run_list(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    statuses: Tuple[str, ...],
    since: Optional[str],
    until: Optional[str],
    limit: int,
) -> None:
    """List a pipeline's runs, newest first."""
    start_ms, end_ms = _ms(since, "--since"), _ms(until, "--until")
    runs = make_client().list_runs(pipeline_id, [s.upper() for s in statuses], start_ms, end_ms, limit)
    emit(runs, outputs={"count": str(len(runs))}, summary={"runs": len(runs)})


@run.command("logs")
@connection_options
@_pipeline_option
@_run_option
@click.option("--job-run-id", help="Only this job's step (with --step-run-id).")
@click.option("--step-run-id", help="Only this step (with --job-run-id).")
def run_logs(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    job_run_id: Optional[str],
    step_run_id: Optional[str],
) -> None:
    """Print step logs as text: one step, or every step of the run in order."""
    if bool(job_run_id) != bool(step_run_id):
        raise click.UsageError("--job-run-id and --step-run-id go together")
    client = make_client()
    if job_run_id and step_run_id:
        click.echo(client.step_log(pipeline_id, run_id, job_run_id, step_run_id), nl=False)
        return
    detail = client.get_run(pipeline_id, run_id)

    def ordered(items: Any) -> List[Dict[str, Any]]:
        return sorted(items or [], key=lambda i: (i.get("sequence") is None, i.get("sequence") or 0))

    for stage in ordered(detail.get("stages")):
        for job in ordered(stage.get("jobs")):
            for step in ordered(job.get("steps")):
                header = f"===== job: {job.get('name')} / step: {step.get('name')} ====="
                status = step.get("status") or job.get("status")
                if status in (None, "", "INIT", "QUEUED") or job.get("is_select") is False:
                    log(f"{header} not run, no log")
                    continue
                click.echo(header)
                text = client.step_log(pipeline_id, run_id, str(job.get("id")), str(step.get("id")))
                click.echo(text if text.endswith("\n") or not text else text + "\n", nl=False)


@run.command("stop")
@connection_options
@_pipeline_option
@_run_option
def run_stop(make_client: Callable[..., CodeArtsClient], *, pipeline_id: str, run_id: str) -> None:
    """Stop a run."""
    answer = make_client().stop_run(pipeline_id, run_id)
    log(f"stopped pipeline run {run_id}")
    emit(answer, outputs={"run-id": run_id}, summary={"stopped": run_id})


@run.command("wait")
@connection_options
@_pipeline_option
@_run_option
@wait_options(wait_flag=False)
def run_wait(
    make_client: Callable[..., CodeArtsClient],
    *,
    pipeline_id: str,
    run_id: str,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Wait for a run to end; exit 0 only when it COMPLETED (or was IGNORED)."""
    _wait_run(make_client(), pipeline_id, run_id, timeout=timeout, poll_max=poll_max, cancel=cancel_on_timeout)


@cli.group()
def template() -> None:
    """Pipelines made from templates."""


@template.command("create")
@connection_options
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, readable=True),
    help="The template body (flow, states, workflow) as JSON.",
)
@wait_options(wait_flag=True)
def template_create(
    make_client: Callable[..., CodeArtsClient],
    *,
    path: str,
    wait: bool,
    timeout: float,
    poll_max: float,
    cancel_on_timeout: bool,
) -> None:
    """Create a pipeline from a template body; with --wait, until it exists."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--file")
    body = parse_json_text(text, path)
    if not isinstance(body, dict):
        raise click.BadParameter(f"{path} must hold a JSON object", param_hint="--file")
    client = make_client(project=False)
    task = client.create_from_template(body)
    task_id = str(task["task_id"])
    log(f"template task {task_id} accepted")
    if not wait:
        emit(task, outputs={"task-id": task_id}, summary={"template task": task_id})
        return
    if cancel_on_timeout:
        log("note: a template task cannot be cancelled; --cancel-on-timeout does nothing here")

    def outputs(state: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "task-id": task_id,
            "status": state.get("task_status"),
            "pipeline-id": state.get("pipeline_id"),
            "url": state.get("pipeline_url"),
        }

    try:
        state = wait_for(
            lambda: client.template_status(task_id),
            template_outcome,
            timeout=timeout,
            what=f"template task {task_id}",
            url=client.template_status_url(task_id),  # its only address until a pipeline exists
            start=min(2.0, poll_max),
            ceiling=poll_max,
        )
    except CirelayError as exc:
        if isinstance(exc.result, dict):
            emit(exc.result, outputs=outputs(exc.result))
            exc.result = None
        raise
    emit(
        state,
        outputs=outputs(state),
        summary={"pipeline": state.get("pipeline_name"), "url": state.get("pipeline_url")},
    )


if __name__ == "__main__":
    cli()
