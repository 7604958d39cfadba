#!/usr/bin/env python3
"""cirelay-port: talk to Port (getport.io) from a CI job.

Upserts, reads, searches and deletes catalog entities (one at a time or in bulk), reports the
current CircleCI / GitHub Actions job as an entity, and creates, reads, updates and logs to
self-service action runs. Every command prints its result as JSON on stdout.

Environment:
  PORT_CLIENT_ID, PORT_CLIENT_SECRET  credentials (required)
  PORT_BASE_URL     API base URL, with or without a trailing /v1 (default https://api.getport.io)
  PORT_REGION       eu | us: picks the base URL when PORT_BASE_URL is not set (default eu)
  PORT_RUN_ID       the action run that entity changes belong to, and the default RUN_ID
  PORT_TOKEN_CACHE  0 turns off the per-job token cache (a 0600 file under $RUNNER_TEMP or the temp dir)
  CIRELAY_TIMEOUT   request timeout in seconds, or 'connect,read'

Example:
  python scripts/port.py entity upsert -b microservice -i payments --properties '{"version": "1.4.2"}'
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, quote_plus

import click
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

REGION_URLS = {"eu": "https://api.getport.io", "us": "https://api.us.getport.io"}
DEFAULT_BASE_URL = REGION_URLS["eu"]
TOKEN_MARGIN = 300.0  # seconds: a cached token is dropped this long before Port says it expires
BULK_MAX_ENTITIES = 20  # Port's limit per /entities/bulk request
BULK_MAX_BYTES = 1024 * 1024  # Port answers 413 above 1 MiB per request body
SEARCH_PAGE_SIZE = 200  # entities per page of a blueprint search
LOGS_PAGE_SIZE = 50  # the most GET /actions/runs/{id}/logs returns per page
CI_STATUSES = ("running", "success", "failure")
RUN_STATUSES = ("SUCCESS", "FAILURE")
_IDENTIFIER_UNSAFE = re.compile(r"[^A-Za-z0-9@_.+:/=-]+")  # Port identifiers allow only these
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a token must be to go into an Authorization header

_TOKEN_REJECTED = "Port rejected PORT_CLIENT_ID/PORT_CLIENT_SECRET"  # noqa: S105 - a message, not a secret
_ENTITY_NOT_FOUND = "entity {id} not found in blueprint {bp}"
_BLUEPRINT_NOT_FOUND = "blueprint {bp} not found"
_RUN_NOT_FOUND = "action run {id} not found"
_RUN_FINISHED = "action run {id} has already finished and cannot be changed"
_ACTION_NOT_FOUND = "action {action} not found"

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


def api_base(base_url: Optional[str], region: Optional[str] = None) -> str:
    """The API root ending in /v1, whether the base URL was given with or without it."""
    base = (base_url or REGION_URLS.get((region or "eu").lower(), DEFAULT_BASE_URL)).strip().rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1"


def check_base_url(base_url: Optional[str]) -> None:
    """Exit 2 for a base URL requests cannot use, and for a CA bundle variable naming a missing file."""
    base = (base_url or "").strip()
    if base and not base.lower().startswith(("https://", "http://")):
        raise click.UsageError(f"--base-url (PORT_BASE_URL) must start with https:// or http://, got {base!r}")
    if base.lower().startswith("http://"):
        return
    # requests takes these itself; a wrong path would only show as a traceback at the first request.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(name)
        if path:
            if not os.path.exists(path):
                raise click.UsageError(f"{name} names {path}, which does not exist")
            return


def _q(value: str) -> str:
    """One URL path segment: identifiers may hold '/', '#', spaces."""
    return quote(value, safe="")


def _given(**fields: Any) -> Dict[str, Any]:
    """The fields that have a value: an option left out is left out of the request, not sent as null."""
    return {key: value for key, value in fields.items() if value is not None}


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TokenCache:
    """Port tokens shared by the steps of one CI job: one 0600 file per base URL + client id."""

    def __init__(self, api: str, client_id: str, directory: Optional[str] = None) -> None:
        key = hashlib.sha256(f"{api}\n{client_id}".encode()).hexdigest()[:32]
        folder = directory or os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()
        self.path = os.path.join(folder, f"cirelay-port-token-{key}.json")

    def load(self) -> Optional[str]:
        """The cached token if it is ours, private and not about to expire."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = os.fstat(handle.fileno())
                if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
                    return None  # someone else's file, or readable by others: never trust it
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        token, expires_at = data.get("accessToken"), data.get("expiresAt")
        if isinstance(token, str) and token and isinstance(expires_at, (int, float)) and expires_at > time.time():
            return token
        return None

    def save(self, token: str, expires_in: float) -> None:
        """Write the token where only this user can read it; a failure only costs a new token later."""
        lifetime = expires_in - min(TOKEN_MARGIN, expires_in / 10)
        payload = json.dumps({"accessToken": token, "expiresAt": time.time() + lifetime})
        try:
            fd, tmp = tempfile.mkstemp(prefix=".cirelay-port-token-", dir=os.path.dirname(self.path))  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(payload)
                os.replace(tmp, self.path)
            except OSError:
                os.unlink(tmp)
                raise
        except OSError as exc:
            log(f"could not cache the Port token in {self.path}: {exc.strerror}")

    def clear(self) -> None:
        """Forget the cached token (Port refused it)."""
        try:
            os.unlink(self.path)
        except OSError:
            pass


class PortClient:
    """Port's REST API: one token per process, shared through TokenCache across the job's steps."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: Optional[str] = None,
        region: Optional[str] = None,
        token_cache: bool = True,
    ) -> None:
        self.api = api_base(base_url, region)
        self._client_id = client_id
        self._client_secret = client_secret
        self._cache = TokenCache(self.api, client_id) if token_cache else None
        self._session = make_session()
        self._create_session = make_session(retry_unsafe=False)  # POSTs that create: never sent twice
        self._token: Optional[str] = None
        self._refreshed = False
        self._lock = threading.Lock()

    # -- token ------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        try:
            body = api_request(
                self._session,
                "POST",
                f"{self.api}/auth/access_token",
                messages={401: _TOKEN_REJECTED, 403: _TOKEN_REJECTED},
                json={"clientId": self._client_id, "clientSecret": self._client_secret},
            )
        except CirelayError as exc:
            raise redact(exc, self._client_secret)
        token = body.get("accessToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise CirelayError(f"Port sent no accessToken (POST {self.api}/auth/access_token)")
        mask(token)
        if not _HEADER_SAFE.fullmatch(token):  # requests would fail later and quote the header, token and all
            raise CirelayError(
                "Port sent an accessToken with characters a header cannot carry "
                f"(not shown; POST {self.api}/auth/access_token)"
            )
        expires_in = body.get("expiresIn")
        if self._cache is not None and isinstance(expires_in, (int, float)) and expires_in > 0:
            self._cache.save(token, float(expires_in))
        return token

    def token(self) -> str:
        """The bearer token: this process's, else the job's cached one, else a new one."""
        with self._lock:
            if self._token is None:
                cached = self._cache.load() if self._cache is not None else None
                if cached:
                    mask(cached)
                self._token = cached or self._fetch_token()
            return self._token

    def _renew(self, refused: str) -> bool:
        """After a 401: fetch one new token per process; False when that was already done."""
        with self._lock:
            if self._token != refused:
                return True  # another thread already renewed it
            if self._refreshed:
                return False
            self._refreshed = True
            log("Port refused the access token (401); fetching a new one")
            if self._cache is not None:
                self._cache.clear()
            self._token = self._fetch_token()
            return True

    def call(
        self,
        method: str,
        path: str,
        *,
        create: bool = False,
        messages: Optional[Dict[int, str]] = None,
        key: Optional[str] = None,
        **kwargs: Any,
    ) -> Any:
        """One authenticated request under /v1; a 401 renews the token once and sends it again.

        With key, the answer must be an object: Port's {"ok": true, <key>: {...}} gives that
        member, a bare object itself; anything else is an error here rather than a crash later.
        """
        session = self._create_session if create else self._session
        url = f"{self.api}{path}"
        headers = dict(kwargs.pop("headers", None) or {})
        while True:
            token = self.token()
            headers["Authorization"] = f"Bearer {token}"
            try:
                body = api_request(session, method, url, messages=messages, headers=headers, **kwargs)
            except CirelayError as exc:
                # A 401 means Port did nothing, so even a create may be sent again with a new token;
                # _renew says no once this process has already fetched a replacement.
                if exc.status != 401 or not self._renew(token):
                    raise redact(exc, token, self._client_secret)
                continue
            if key is None:
                return body
            found = body.get(key, body) if isinstance(body, dict) else None
            if not isinstance(found, dict):
                raise CirelayError(f"expected a {key} object from {method} {url}, got {str(body)[:200]!r}", url=url)
            return found

    # -- entities ---------------------------------------------------------------------------
    def upsert_entity(
        self,
        blueprint: str,
        entity: Dict[str, Any],
        *,
        merge: bool = True,
        create_missing_related: bool = False,
        validate_only: bool = False,
        run_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Create or update one entity (merge keeps the properties not given)."""
        params = {"upsert": "true", "merge": "true" if merge else "false"}
        if create_missing_related:
            params["create_missing_related_entities"] = "true"
        if validate_only:
            params["validation_only"] = "true"
        if run_id:
            params["run_id"] = run_id
        return self.call(
            "POST",
            f"/blueprints/{_q(blueprint)}/entities",
            messages={404: _BLUEPRINT_NOT_FOUND.format(bp=blueprint)},
            params=params,
            json=entity,
            key="entity",
        )

    def get_entity(
        self, blueprint: str, identifier: str, include: Tuple[str, ...] = (), exclude: Tuple[str, ...] = ()
    ) -> Dict[str, Any]:
        """One entity by identifier."""
        params: Dict[str, Any] = {}
        if include:
            params["include"] = list(include)
        if exclude:
            params["exclude"] = list(exclude)
        return self.call(
            "GET",
            f"/blueprints/{_q(blueprint)}/entities/{_q(identifier)}",
            messages={404: _ENTITY_NOT_FOUND.format(id=identifier, bp=blueprint)},
            params=params,
            key="entity",
        )

    def search_entities(
        self,
        query: Dict[str, Any],
        blueprint: Optional[str] = None,
        include: Tuple[str, ...] = (),
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Entities matching a query: one blueprint's (every page), or across blueprints."""
        if blueprint is None:
            params = {"include": list(include)} if include else {}
            body = self.call("POST", "/entities/search", params=params, json=query)
            found = list(body.get("entities") or []) if isinstance(body, dict) else []
            return found[:limit] if limit is not None else found
        entities: List[Dict[str, Any]] = []
        cursor: Optional[str] = None
        while limit is None or len(entities) < limit:
            page_size = SEARCH_PAGE_SIZE if limit is None else min(SEARCH_PAGE_SIZE, limit - len(entities))
            request: Dict[str, Any] = {"query": query, "limit": page_size}
            if include:
                request["include"] = list(include)
            if cursor:
                request["from"] = cursor
            body = self.call(
                "POST",
                f"/blueprints/{_q(blueprint)}/entities/search",
                messages={404: _BLUEPRINT_NOT_FOUND.format(bp=blueprint)},
                json=request,
            )
            entities.extend((body or {}).get("entities") or [])
            cursor = (body or {}).get("next")
            if not cursor:
                break
        return entities if limit is None else entities[:limit]

    def delete_entity(
        self, blueprint: str, identifier: str, delete_dependents: bool = False, run_id: Optional[str] = None
    ) -> Dict[str, Any]:
        """Delete one entity (and, if asked, the entities that depend on it)."""
        params = {}
        if delete_dependents:
            params["delete_dependents"] = "true"
        if run_id:
            params["run_id"] = run_id
        self.call(
            "DELETE",
            f"/blueprints/{_q(blueprint)}/entities/{_q(identifier)}",
            messages={404: _ENTITY_NOT_FOUND.format(id=identifier, bp=blueprint)},
            params=params,
        )
        return {"ok": True, "blueprint": blueprint, "identifier": identifier, "deleted": True}

    def bulk_upsert(
        self,
        blueprint: str,
        entities: List[Dict[str, Any]],
        *,
        concurrency: int = 4,
        run_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Upsert many entities in batches of at most 20 / 1 MiB, several batches in flight.

        Every input ends up in exactly one of 'upserted' (identifiers, input order) or 'failed'.
        """
        params = {"upsert": "true", "merge": "true"}
        if run_id:
            params["run_id"] = run_id
        outcomes: Dict[int, Optional[Dict[str, Any]]] = {}  # input index -> None (upserted) or failure
        batches: List[List[Tuple[int, str, bytes]]] = []
        current: List[Tuple[int, str, bytes]] = []
        for index, entity in enumerate(entities):
            identifier = str(entity.get("identifier"))
            encoded = json.dumps(entity, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            if _bulk_size([encoded]) > BULK_MAX_BYTES:
                outcomes[index] = _failure(
                    index, identifier, "too_large", f"the entity is {len(encoded)} bytes; Port takes at most 1 MiB"
                )
                continue
            if current and (
                len(current) >= BULK_MAX_ENTITIES or _bulk_size([c[2] for c in current] + [encoded]) > BULK_MAX_BYTES
            ):
                batches.append(current)
                current = []
            current.append((index, identifier, encoded))
        if current:
            batches.append(current)

        def send(batch: List[Tuple[int, str, bytes]]) -> Dict[int, Optional[Dict[str, Any]]]:
            return self._send_batch(blueprint, batch, params)

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(send, batch) for batch in batches]
            try:
                for future in concurrent.futures.as_completed(futures):
                    outcomes.update(future.result())
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
        upserted = [str(entities[i].get("identifier")) for i in sorted(outcomes) if outcomes[i] is None]
        failed = [outcomes[i] for i in sorted(outcomes) if outcomes[i] is not None]
        return {"upserted": upserted, "failed": failed}

    def _send_batch(
        self, blueprint: str, batch: List[Tuple[int, str, bytes]], params: Dict[str, str]
    ) -> Dict[int, Optional[Dict[str, Any]]]:
        """One bulk request; a 413 splits the batch in two, any other error fails its entities."""
        payload = b'{"entities":[' + b",".join(item[2] for item in batch) + b"]}"
        try:
            body = self.call(
                "POST",
                f"/blueprints/{_q(blueprint)}/entities/bulk",
                messages={404: _BLUEPRINT_NOT_FOUND.format(bp=blueprint)},
                params=params,
                data=payload,
                headers={"Content-Type": "application/json"},
            )
        except CirelayError as exc:
            if exc.status == 413 and len(batch) > 1:
                half = len(batch) // 2
                done = self._send_batch(blueprint, batch[:half], params)
                done.update(self._send_batch(blueprint, batch[half:], params))
                return done
            error = {413: "too_large", 401: "unauthorized", 404: "not_found", 422: "invalid_request"}.get(
                exc.status or 0, f"http_{exc.status}" if exc.status else "request_failed"
            )
            log(f"a batch of {len(batch)} entities failed: {exc.message}")
            return {i: _failure(i, ident, error, exc.api_message or exc.message) for i, ident, _ in batch}
        return _map_bulk_result(batch, body)

    # -- action runs ------------------------------------------------------------------------
    def create_run(
        self, action: str, entity: Optional[str] = None, properties: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        """Start a self-service action run (sent once, never retried)."""
        request: Dict[str, Any] = {"properties": properties or {}}
        if entity:
            request["entity"] = entity
        return self.call(
            "POST",
            f"/actions/{_q(action)}/runs",
            create=True,
            messages={404: _ACTION_NOT_FOUND.format(action=action)},
            json=request,
            key="run",
        )

    def get_run(self, run_id: str) -> Dict[str, Any]:
        """One action run."""
        return self.call(
            "GET", f"/actions/runs/{_q(run_id)}", messages={404: _RUN_NOT_FOUND.format(id=run_id)}, key="run"
        )

    def update_run(self, run_id: str, changes: Dict[str, Any]) -> Dict[str, Any]:
        """Change a run's status, label, links, summary or external id."""
        return self.call(
            "PATCH",
            f"/actions/runs/{_q(run_id)}",
            messages={404: _RUN_NOT_FOUND.format(id=run_id), 422: _RUN_FINISHED.format(id=run_id)},
            json=changes,
            key="run",
        )

    def add_run_log(
        self,
        run_id: str,
        message: str,
        termination_status: Optional[str] = None,
        status_label: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Append a log line to a run, optionally finishing it (sent once: a log line is new data)."""
        request: Dict[str, Any] = {"message": message}
        if termination_status:
            request["terminationStatus"] = termination_status
        if status_label:
            request["statusLabel"] = status_label
        return self.call(
            "POST",
            f"/actions/runs/{_q(run_id)}/logs",
            create=True,
            messages={404: _RUN_NOT_FOUND.format(id=run_id), 422: _RUN_FINISHED.format(id=run_id)},
            json=request,
            key="runLog",
        )

    def run_logs(self, run_id: str) -> List[Dict[str, Any]]:
        """Every log line of a run, page by page."""
        logs: List[Dict[str, Any]] = []
        while True:
            body = self.call(
                "GET",
                f"/actions/runs/{_q(run_id)}/logs",
                messages={404: _RUN_NOT_FOUND.format(id=run_id)},
                params={"limit": LOGS_PAGE_SIZE, "offset": len(logs)},
            )
            page = (body or {}).get("runLogs") or []
            logs.extend(page)
            if len(page) < LOGS_PAGE_SIZE:
                return logs


def _failure(index: int, identifier: Optional[str], error: str, message: str) -> Dict[str, Any]:
    return {"index": index, "identifier": identifier, "error": error, "message": message}


def _bulk_size(encoded: List[bytes]) -> int:
    """Bytes of {"entities":[…]} holding these already-encoded entities."""
    return len(b'{"entities":[]}') + sum(len(e) for e in encoded) + max(0, len(encoded) - 1)


def _map_bulk_result(batch: List[Tuple[int, str, bytes]], body: Any) -> Dict[int, Optional[Dict[str, Any]]]:
    """Map a 200/207 body's per-batch indexes back to input indexes; unreported entities fail."""
    done: Dict[int, Optional[Dict[str, Any]]] = {}
    body = body if isinstance(body, dict) else {}

    def position(item: Any) -> Optional[int]:
        if not isinstance(item, dict):
            return None
        at = item.get("index")
        if isinstance(at, int) and 0 <= at < len(batch) and batch[at][0] not in done:
            return at
        for at, (index, identifier, _) in enumerate(batch):  # no usable index: match the identifier
            if index not in done and identifier == str(item.get("identifier")):
                return at
        return None

    for item in body.get("entities") or []:
        at = position(item)
        if at is not None:
            done[batch[at][0]] = None
    for item in body.get("errors") or []:
        at = position(item)
        if at is not None:
            index, identifier, _ = batch[at]
            error = str(item.get("error") or f"http_{item.get('statusCode')}")
            done[index] = _failure(index, identifier, error, str(item.get("message") or error))
    for index, identifier, _ in batch:
        if index not in done:
            done[index] = _failure(index, identifier, "unreported", "Port's reply did not mention this entity")
    return done


def read_entities(path: str) -> List[Dict[str, Any]]:
    """Entities from a JSON array or NDJSON file ('-' for stdin); each needs an identifier."""
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="'--file'")
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{source} is not UTF-8 text: {exc.reason} at byte {exc.start}", param_hint="'--file'")
    items: List[Any]
    try:
        if text.lstrip().startswith("["):
            items = parse_json_text(text, source)
        else:
            items = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    items.append(parse_json_text(line, f"{source} line {number}"))
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="'--file'")
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("identifier"), str) or not item["identifier"]:
            raise click.BadParameter(
                f"item {position} of {source} is not an entity object with a string identifier",
                param_hint="'--file'",
            )
    return items


def ci_entity(
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    environ: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """The entity describing the current CircleCI or GitHub Actions job, from the CI's own variables."""
    env = dict(os.environ if environ is None else environ)
    get = lambda name: env.get(name) or None  # noqa: E731 - empty variables count as unset
    if env.get("CIRCLECI") == "true":
        provider = "circleci"
        default_id = f"circleci-{get('CIRCLE_WORKFLOW_ID') or 'local'}-{get('CIRCLE_JOB') or 'job'}"
        props = {
            "pipeline": get("CIRCLE_PROJECT_REPONAME"),
            "job": get("CIRCLE_JOB"),
            "url": get("CIRCLE_BUILD_URL"),
            "commit": get("CIRCLE_SHA1"),
            "branch": get("CIRCLE_BRANCH"),
            "tag": get("CIRCLE_TAG"),
            "triggeredBy": get("CIRCLE_USERNAME"),
        }
    elif env.get("GITHUB_ACTIONS") == "true":
        provider = "github"
        default_id = f"github-{get('GITHUB_RUN_ID') or 'local'}-{get('GITHUB_JOB') or 'job'}"
        url = None
        if get("GITHUB_REPOSITORY") and get("GITHUB_RUN_ID"):
            server = (get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        is_tag = get("GITHUB_REF_TYPE") == "tag"
        props = {
            "pipeline": get("GITHUB_WORKFLOW"),
            "job": get("GITHUB_JOB"),
            "url": url,
            "commit": get("GITHUB_SHA"),
            "branch": get("GITHUB_HEAD_REF") or (None if is_tag else get("GITHUB_REF_NAME")),
            "tag": get("GITHUB_REF_NAME") if is_tag else None,
            "triggeredBy": get("GITHUB_ACTOR"),
        }
    else:
        raise click.UsageError(
            "ci report runs inside CircleCI or GitHub Actions: neither CIRCLECI nor GITHUB_ACTIONS is set"
        )
    props["provider"] = provider
    props["status"] = status
    props["startedAt" if status == "running" else "finishedAt"] = _now_iso()
    merged = _given(**props)
    merged.update(properties or {})
    entity: Dict[str, Any] = {
        "identifier": identifier or _IDENTIFIER_UNSAFE.sub("-", default_id),
        "title": " / ".join(str(p) for p in (props["pipeline"], props["job"]) if p) or default_id,
        "properties": merged,
    }
    related: Dict[str, Any] = {}
    for name, target in relations:
        if name in related:
            previous = related[name]
            related[name] = [*previous, target] if isinstance(previous, list) else [previous, target]
        else:
            related[name] = target
    if related:
        entity["relations"] = related
    return entity


# -- the command line --------------------------------------------------------------------------


def port_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command and hand it a ready PortClient as `client`."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        client_id: Optional[str],
        client_secret: Optional[str],
        base_url: Optional[str],
        region: Optional[str],
        token_cache: bool,
        **kwargs: Any,
    ) -> Any:
        check_base_url(base_url)
        client = PortClient(
            require(client_id, "--client-id", "PORT_CLIENT_ID"),
            require(client_secret, "--client-secret", "PORT_CLIENT_SECRET"),
            base_url=base_url,
            region=region,
            token_cache=token_cache,
        )
        return command(*args, client=client, **kwargs)

    options = [
        click.option(
            "--token-cache/--no-token-cache",
            default=True,
            envvar="PORT_TOKEN_CACHE",
            show_envvar=True,
            help="Share the access token between the steps of a job (a private file in $RUNNER_TEMP or the temp dir).",
        ),
        click.option(
            "--region",
            type=click.Choice(sorted(REGION_URLS), case_sensitive=False),
            envvar="PORT_REGION",
            show_envvar=True,
            help="Port region when no base URL is given: eu (api.getport.io, default) or us (api.us.getport.io).",
        ),
        click.option(
            "--base-url",
            envvar="PORT_BASE_URL",
            show_envvar=True,
            help=f"Port API base URL, with or without /v1.  [default: {DEFAULT_BASE_URL}]",
        ),
        click.option("--client-secret", envvar="PORT_CLIENT_SECRET", show_envvar=True, help="Port client secret."),
        click.option("--client-id", envvar="PORT_CLIENT_ID", show_envvar=True, help="Port client id."),
    ]
    for option in options:
        wrapper = option(wrapper)
    return wrapper


def not_empty(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """An identifier given as "" (an unset CI variable) is exit 2, not a request to another route."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


def run_id_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--run-id", envvar="PORT_RUN_ID", show_envvar=True, help=help_text)


_RUN_ID_FOR_ENTITIES = "Action run this change belongs to (shown in the run's log; the run must be in progress)."


def _pick_run_id(positional: Optional[str], option: Optional[str]) -> str:
    return require(positional or option, "RUN_ID (or --run-id)", "PORT_RUN_ID")


def _entity_summary(entity: Any, blueprint: str) -> Dict[str, Any]:
    identifier = entity.get("identifier") if isinstance(entity, dict) else None
    return {"blueprint": blueprint, "identifier": identifier, "title": (entity or {}).get("title")}


@click.group(cls=CirelayGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="cirelay-port")
def cli() -> None:
    """Talk to Port from a CI job: catalog entities, CI job reports and self-service action runs.

    Credentials come from PORT_CLIENT_ID / PORT_CLIENT_SECRET; results are JSON on stdout.
    """


@cli.group(epilog=EXIT_CODES_HELP)
def entity() -> None:
    """Create, read, search and delete catalog entities."""


@entity.command("upsert", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--title", help="Entity title.")
@click.option("--icon", help="Entity icon.")
@click.option("--team", "teams", multiple=True, help="Owning team (repeatable).")
@click.option("--properties", type=JsonArg(dict), help="Properties as JSON: '{\"k\":1}', @file.json or -.")
@click.option("--relations", type=JsonArg(dict), help='Relations as JSON: \'{"rel":"id"}\', @file.json or -.')
@click.option("--replace", is_flag=True, help="Replace the whole entity instead of merging into it.")
@click.option("--create-missing-related", is_flag=True, help="Create related entities that do not exist yet.")
@click.option("--validate-only", is_flag=True, help="Only check the entity against the blueprint; change nothing.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_upsert(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    identifier: str,
    title: Optional[str],
    icon: Optional[str],
    teams: Tuple[str, ...],
    properties: Optional[Dict[str, Any]],
    relations: Optional[Dict[str, Any]],
    replace: bool,
    create_missing_related: bool,
    validate_only: bool,
    run_id: Optional[str],
) -> None:
    """Create or update an entity (merging into the existing one unless --replace)."""
    body = _given(
        identifier=identifier,
        title=title,
        icon=icon,
        team=list(teams) or None,
        properties=properties,
        relations=relations,
    )
    result = client.upsert_entity(
        blueprint,
        body,
        merge=not replace,
        create_missing_related=create_missing_related,
        validate_only=validate_only,
        run_id=run_id,
    )
    emit(
        result,
        outputs={"identifier": (result or {}).get("identifier", identifier), "entity": result},
        summary={"action": "validated" if validate_only else "upserted", **_entity_summary(result, blueprint)},
    )


@entity.command("get", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--include", multiple=True, help="Only these fields, e.g. properties.version (repeatable).")
@click.option("--exclude", multiple=True, help="Leave out these fields (repeatable).")
@port_client
def entity_get(
    client: PortClient, blueprint: str, identifier: str, include: Tuple[str, ...], exclude: Tuple[str, ...]
) -> None:
    """Print one entity."""
    result = client.get_entity(blueprint, identifier, include, exclude)
    emit(
        result,
        outputs={"identifier": identifier, "entity": result},
        summary={"action": "read", **_entity_summary(result, blueprint)},
    )


@entity.command("search", epilog=EXIT_CODES_HELP)
@click.option(
    "-b",
    "--blueprint",
    callback=not_empty,
    help="Search this blueprint's entities (all pages); without it, every blueprint.",
)
@click.option(
    "--query",
    type=JsonArg(dict),
    required=True,
    help='Search rules as JSON, e.g. \'{"combinator":"and","rules":[…]}\', @file.json or -.',
)
@click.option("--include", multiple=True, help="Only these fields, e.g. identifier (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="Return at most this many entities.")
@port_client
def entity_search(
    client: PortClient,
    blueprint: Optional[str],
    query: Dict[str, Any],
    include: Tuple[str, ...],
    limit: Optional[int],
) -> None:
    """Print the entities matching a query, as a JSON array."""
    result = client.search_entities(query, blueprint=blueprint, include=include, limit=limit)
    identifiers = [e.get("identifier") for e in result if isinstance(e, dict)]
    emit(
        result,
        outputs={"identifiers": identifiers, "entities": result},
        summary={"action": "searched", "blueprint": blueprint or "(all)", "found": len(result)},
    )


@entity.command("delete", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option("-i", "--identifier", required=True, callback=not_empty, help="Entity identifier.")
@click.option("--delete-dependents", is_flag=True, help="Also delete the entities that depend on it.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_delete(
    client: PortClient, blueprint: str, identifier: str, delete_dependents: bool, run_id: Optional[str]
) -> None:
    """Delete an entity."""
    result = client.delete_entity(blueprint, identifier, delete_dependents=delete_dependents, run_id=run_id)
    emit(
        result,
        outputs={"identifier": identifier},
        summary={"action": "deleted", "blueprint": blueprint, "identifier": identifier},
    )


@entity.command("bulk-upsert", epilog=EXIT_CODES_HELP)
@click.option("-b", "--blueprint", required=True, callback=not_empty, help="Blueprint identifier.")
@click.option(
    "--file",
    "path",
    required=True,
    help="Entities as a JSON array or NDJSON (one object per line); - reads stdin.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Batches of 20 sent at the same time.",
)
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def entity_bulk_upsert(client: PortClient, blueprint: str, path: str, concurrency: int, run_id: Optional[str]) -> None:
    """Upsert many entities (merge); every one is tried, exit 1 if any failed."""
    entities = read_entities(path)
    result = client.bulk_upsert(blueprint, entities, concurrency=concurrency, run_id=run_id)
    failed = len(result["failed"])
    log(f"upserted {len(result['upserted'])} of {len(entities)} entities into {blueprint}; {failed} failed")
    emit(
        result,
        outputs={"identifiers": result["upserted"]},
        summary={
            "action": "bulk upsert",
            "blueprint": blueprint,
            "upserted": len(result["upserted"]),
            "failed": failed,
        },
    )
    if failed:
        first = result["failed"][0]
        raise CirelayError(
            f"{failed} of {len(entities)} entities were not upserted "
            f"(first: #{first['index']} {first['identifier']}: {first['message']})"
        )


@cli.group(epilog=EXIT_CODES_HELP)
def ci() -> None:
    """Report the current CI job to Port."""


@ci.command("report", epilog=EXIT_CODES_HELP)
@click.option(
    "-b", "--blueprint", required=True, callback=not_empty, help="Blueprint of the CI job entity, e.g. ciJob."
)
@click.option(
    "--status", type=click.Choice(CI_STATUSES), default="running", show_default=True, help="The job's status."
)
@click.option("--identifier", help="Entity identifier.  [default: <provider>-<workflow/run id>-<job>]")
@click.option("--relation", "relations", type=KeyValue(), multiple=True, help="NAME=ENTITY_ID (repeatable).")
@click.option("--properties", type=JsonArg(dict), help="Extra properties as JSON; they override the built ones.")
@run_id_option(_RUN_ID_FOR_ENTITIES)
@port_client
def ci_report(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    blueprint: str,
    status: str,
    identifier: Optional[str],
    relations: Tuple[Tuple[str, str], ...],
    properties: Optional[Dict[str, Any]],
    run_id: Optional[str],
) -> None:
    """Upsert an entity describing this CircleCI or GitHub Actions job (provider, commit, url, status…)."""
    body = ci_entity(status, identifier, relations, properties)
    result = client.upsert_entity(blueprint, body, merge=True, run_id=run_id)
    emit(
        result,
        outputs={"identifier": (result or {}).get("identifier", body["identifier"]), "entity": result},
        summary={"action": f"reported {status}", **_entity_summary(result, blueprint)},
    )


@cli.group(epilog=EXIT_CODES_HELP)
def run() -> None:
    """Create, read, update and log to self-service action runs (RUN_ID defaults to PORT_RUN_ID)."""


_RUN_ID_HELP = "The action run (instead of RUN_ID)."


@run.command("create", epilog=EXIT_CODES_HELP)
@click.option("--action", required=True, callback=not_empty, help="Action identifier.")
@click.option("--entity", "entity_id", help="Entity the action runs on (day-2 actions).")
@click.option("--properties", type=JsonArg(dict), help="The action's inputs as JSON, @file.json or -.")
@port_client
def run_create(client: PortClient, action: str, entity_id: Optional[str], properties: Optional[Dict[str, Any]]) -> None:
    """Start an action run (never sent twice, even on a 5xx)."""
    result = client.create_run(action, entity_id, properties)
    run_id = result.get("id")
    emit(result, outputs={"run-id": run_id}, summary={"action": action, "run": run_id, "status": result.get("status")})


@run.command("get", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@port_client
def run_get(client: PortClient, run_arg: Optional[str], run_id: Optional[str]) -> None:
    """Print an action run."""
    the_id = _pick_run_id(run_arg, run_id)
    result = client.get_run(the_id)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "status": result.get("status")})


@run.command("update", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@click.option("--status", type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Finish the run.")
@click.option("--status-label", help="Short label shown next to the status.")
@click.option("--link", "links", multiple=True, help="Link shown on the run, e.g. the CI job URL (repeatable).")
@click.option("--summary", help="Summary text (markdown) shown on the run.")
@click.option("--external-run-id", help="The CI's own id for this run.")
@port_client
def run_update(  # noqa: PLR0917 - one parameter per click option
    client: PortClient,
    run_arg: Optional[str],
    run_id: Optional[str],
    status: Optional[str],
    status_label: Optional[str],
    links: Tuple[str, ...],
    summary: Optional[str],
    external_run_id: Optional[str],
) -> None:
    """Update an action run; a finished run cannot change (exit 1)."""
    the_id = _pick_run_id(run_arg, run_id)
    changes = _given(
        status=status.upper() if status else None,
        statusLabel=status_label,
        link=list(links) or None,
        summary=summary,
        externalRunId=external_run_id,
    )
    if not changes:
        raise click.UsageError(
            "nothing to update: give --status, --status-label, --link, --summary or --external-run-id"
        )
    result = client.update_run(the_id, changes)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "status": result.get("status")})


@run.command("log", epilog=EXIT_CODES_HELP)
@click.argument("words", metavar="[RUN_ID] MESSAGE", nargs=-1, required=True)
@run_id_option(_RUN_ID_HELP)
@click.option(
    "--termination-status", type=click.Choice(RUN_STATUSES, case_sensitive=False), help="Also finish the run."
)
@click.option("--status-label", help="Short label shown next to the final status.")
@port_client
def run_log(
    client: PortClient,
    words: Tuple[str, ...],
    run_id: Optional[str],
    termination_status: Optional[str],
    status_label: Optional[str],
) -> None:
    """Add a line to an action run's log (sent once, never retried)."""
    if len(words) > 2:
        raise click.UsageError("expected [RUN_ID] MESSAGE: quote the message")
    run_arg, message = (words[0], words[1]) if len(words) == 2 else (None, words[0])
    if not message.strip():
        raise click.UsageError("MESSAGE must not be empty")
    the_id = _pick_run_id(run_arg, run_id)
    result = client.add_run_log(the_id, message, termination_status and termination_status.upper(), status_label)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "logged": message})


@run.command("logs", epilog=EXIT_CODES_HELP)
@click.argument("run_arg", metavar="[RUN_ID]", required=False)
@run_id_option(_RUN_ID_HELP)
@port_client
def run_logs(client: PortClient, run_arg: Optional[str], run_id: Optional[str]) -> None:
    """Print every log line of an action run, as a JSON array."""
    the_id = _pick_run_id(run_arg, run_id)
    result = client.run_logs(the_id)
    emit(result, outputs={"run-id": the_id}, summary={"run": the_id, "log lines": len(result)})


if __name__ == "__main__":
    cli()
