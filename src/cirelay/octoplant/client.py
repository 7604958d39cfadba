"""octoplant Export API client: sign-in, orders, polling and the verified ZIP download."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import ssl
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cirelay.errors import CirelayError, InputError, WaitInterrupted
from cirelay.http import decode_json, make_session, raise_for_status, redact, send
from cirelay.output import log, mask, warn
from cirelay.waiting import WaitSettings, wait_for

DEFAULT_CLIENT_ID = "public-api"
# Not a secret of anyone's: the vendor documents this client secret for the public-api client
# (octoplant "How to use the Export API", section Authorization). Still never printed.
DEFAULT_CLIENT_SECRET = "ff99971a-f8c3-4d21-5345-f7cb021b4b54"  # noqa: S105

STATE_PENDING = "STATE_PENDING"
STATE_RUNNING = "STATE_RUNNING"
STATE_SUCCEEDED = "STATE_SUCCEEDED"
STATE_FAILED = "STATE_FAILED"
# The enum's zero value: a fresh order reads it until the export service picks it up (pending, up to
# PICKUP_TIMEOUT), and the guide says invalid GetOperation calls return it (an error once done).
STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
PICKUP_TIMEOUT = 60.0  # seconds an order may stay STATE_UNSPECIFIED before it is given up
EXPORT_WAIT = WaitSettings(poll_max=10.0, cancel=True)  # the CLI's defaults: an abandoned export is cancelled

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

# Sign-in is a POST of the credentials: tried again only where nothing was decided (no connection, 429, 503),
# a few times within seconds; a refusal (400/401) is final, and 500/502/504 are shown at once.
SIGN_IN_ATTEMPTS = 4
SIGN_IN_RETRY_AFTER_CAP = 10.0  # seconds; a longer Retry-After is shortened to this
_SIGN_IN_REFUSED = (
    "octoplant refused the user name or password (HTTP {status}): check OCTOPLANT_USERNAME and "
    "OCTOPLANT_PASSWORD (and OCTOPLANT_CLIENT_ID / OCTOPLANT_CLIENT_SECRET if they are set)"
)
_TOKEN_REFUSED = (
    "octoplant refused the access token it had just issued (HTTP 401): the user may lack the right to use "  # noqa: S105
    "the Export API, or the server's sign-in is misconfigured"
)
STREAM_TAIL = 64 << 10  # bytes at the end of a download searched for a stream error the server appended
_STREAM_ERROR = re.compile(rb'\{\s*"error"\s*:')
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a token must be to go into an Authorization header
_OUTPUT_HINT = "'-o' / '--output'"
_INSECURE_WARNING = "warning: --insecure: TLS certificates are NOT verified for {url}; credentials may be exposed"


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


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def grpc_status(body: Any) -> Optional[Dict[str, Any]]:
    """The google.rpc.Status of an error body: bare {code, message}, or a stream's {"error": Status}."""
    if isinstance(body, dict) and set(body) == {"error"}:
        body = body["error"]
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return body


def stream_error_at_end(path: str) -> Optional[Tuple[Dict[str, Any], int]]:
    """The {"error": Status} grpc-gateway appends to a stream that fails after sending bytes, and where it starts.

    After the first byte the HTTP status (200) is gone, so the server can only add the error to the body
    (grpc-gateway runtime/handler.go, handleForwardResponseStreamError): it is the last thing in the file.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - STREAM_TAIL)
        handle.seek(start)
        tail = handle.read().rstrip()
    if not tail.endswith(b"}"):
        return None
    for found in reversed(list(_STREAM_ERROR.finditer(tail))):
        try:
            body = json.loads(tail[found.start() :])
        except ValueError:
            continue
        status = grpc_status(body) if isinstance(body, dict) and set(body) == {"error"} else None
        if status is not None:
            return status, start + found.start()
    return None


def _names_in(value: Any, found: set, depth: int = 0) -> None:
    """Every key and string in a JSON value (the layout of contents.json is not documented)."""
    if depth > 20:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(str(key))
            _names_in(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _names_in(item, found, depth + 1)
    elif isinstance(value, str):
        found.add(value)


def kinds_missing(path: str, kinds: Sequence[str]) -> Optional[List[str]]:
    """The ordered kinds contents.json does not list (None: the ZIP has no readable contents.json).

    A kind counts as listed when it is a key or a string there, or a string starts with it and a dot or slash
    (a file name); the vendor documents only that the ZIP "includes a contents.json and all requested exports".
    """
    import zipfile  # noqa: PLC0415 - lazy: only a finished download needs it

    with zipfile.ZipFile(path) as archive:
        member = next((n for n in archive.namelist() if n.rsplit("/", 1)[-1].lower() == "contents.json"), None)
        if member is None:
            return None
        raw = archive.read(member)
    try:
        listed = json.loads(raw)
    except ValueError:
        return None
    names: set = set()
    _names_in(listed, names)
    return [
        kind for kind in kinds if kind not in names and not any(n.startswith((f"{kind}.", f"{kind}/")) for n in names)
    ]


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


def order_outcome(order: Any) -> Tuple[str, str]:  # noqa: PLR0911 - one return per state
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
    if state == STATE_UNSPECIFIED and done:
        return "failure", f"{state}: the server does not know this order"
    if done:
        return "failure", f"{state} but marked done"
    if state == STATE_UNSPECIFIED:
        return "pending", f"{state} (not picked up by the export service yet)"
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


def _tls_hint(exc: CirelayError, cause: Optional[BaseException] = None) -> CirelayError:
    """A certificate failure gets a sentence on what to do about it."""
    cause = cause or exc.__context__
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
    import zipfile  # noqa: PLC0415 - lazy: only a finished download needs it
    import zlib  # noqa: PLC0415

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
        raise InputError(f"{path} is a directory; give the ZIP file's path", param_hint=_OUTPUT_HINT)
    existing = os.path.dirname(target)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise InputError(f"cannot write {path}: {existing} is not a folder", param_hint=_OUTPUT_HINT)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: no permission to write in {existing}", param_hint=_OUTPUT_HINT)
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
        raise InputError(f"{source} names {path}, which does not exist")
    try:
        ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError included
        raise InputError(f"{source} names {path}, which holds no readable CA certificate ({exc.strerror or exc})")


def _warn_missing(path: str, kinds: Sequence[str]) -> None:
    """A warning for each ordered kind the export's contents.json does not list (the server drops unknown ones)."""
    try:
        missing = kinds_missing(path, kinds)
    except Exception as exc:  # noqa: BLE001 - a check of what arrived must not lose a download that is fine
        warn(f"could not read contents.json of the export ({exc}); not checked that every kind arrived")
        return
    if missing is None:
        warn("the export has no readable contents.json; not checked that every ordered kind arrived")
        return
    for kind in missing:
        warn(f"the export has no {kind}: contents.json does not list it (the server leaves out kinds it does not know)")


def _default_mode() -> int:
    """0o666 less the umask: what open() would give a new file (mkstemp makes it 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class _SignInRetry(Retry):
    """urllib3 Retry whose Retry-After is honoured up to SIGN_IN_RETRY_AFTER_CAP."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, SIGN_IN_RETRY_AFTER_CAP)


def make_sign_in_session() -> requests.Session:
    """The session for POST /v1/oauth2/token: the usual timeouts, a short retry of its own."""
    session = make_session()
    retry = _SignInRetry(
        total=SIGN_IN_ATTEMPTS - 1,
        connect=SIGN_IN_ATTEMPTS - 1,
        read=SIGN_IN_ATTEMPTS - 1,  # a connection that broke before the answer: signing in again is harmless
        status=SIGN_IN_ATTEMPTS - 1,
        other=0,
        backoff_factor=0.25,  # no wait, then 0.5 s, 1 s
        status_forcelist=(
            429,  # rate limited: the credentials were not looked at
            503,  # unavailable: the server is starting or overloaded
        ),
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last answer back so its message can be shown
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


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
        self.sign_in_session = make_sign_in_session()
        self._token: Optional[str] = None
        self._token_worked = False  # has the server taken the current token at least once?

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
            response = self.sign_in_session.post(
                url, data=form, headers={"Accept": "application/json"}, verify=self.verify
            )
        except requests.exceptions.RetryError as exc:
            raise CirelayError(f"POST {url} kept failing after {SIGN_IN_ATTEMPTS} attempts: {exc}", url=url)
        except requests.exceptions.RequestException as exc:
            error = CirelayError(f"could not complete POST {url}: {type(exc).__name__}: {exc}", url=url)
            raise redact(_tls_hint(error, exc), self._password, self._client_secret)
        if response.status_code in (400, 401):
            # Not the server's words: they might quote the user name back.
            status = grpc_status(_json_or_none(response))
            code = f"; gRPC status {grpc_code_text(status['code'])} ({status['code']})" if status else ""
            sentence = _SIGN_IN_REFUSED.format(status=response.status_code)
            raise CirelayError(f"{sentence}{code} (POST {url})", status=response.status_code, url=url)
        if response.status_code >= 400:
            try:
                self._raise(response, None)
            except CirelayError as exc:
                raise redact(exc, self._password, self._client_secret)
        body = decode_json(response)
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
        self._token_worked = False
        return token

    def _raise(self, response: requests.Response, messages: Optional[Dict[int, str]]) -> None:
        """raise_for_status, with the gRPC status of the body (FAILED_PRECONDITION, …) named."""
        try:
            raise_for_status(response, messages)
        except CirelayError as exc:
            status = grpc_status(_json_or_none(response))
            code = status.get("code") if status else None
            if isinstance(code, int):
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
        headers: Optional[Dict[str, str]] = None,
        check: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """One authorized request. A token that has worked and is refused (401) has expired: sign in again and
        repeat the request, however often that happens. A token refused on its first use is an error (no loop).
        check=False hands back an error answer other than 401 for the caller to read."""
        if self._token is None:
            self.sign_in()
        session = session or self.session
        while True:
            all_headers = {"Accept": "application/json", "Authorization": f"Bearer {self._token}"}
            all_headers.update(headers or {})
            response = send(session, method, url, headers=all_headers, verify=self.verify, **kwargs)
            if response.status_code == 401 and self._token_worked:
                response.close()
                log("the access token was refused (HTTP 401); signing in again")
                self.sign_in()
                continue
            if response.status_code == 401:
                messages = {**(messages or {}), 401: _TOKEN_REFUSED}
            elif response.status_code < 500:  # past the server's token check (a 5xx may come from a proxy)
                self._token_worked = True
            if response.status_code >= 400 and (check or response.status_code == 401):
                try:
                    self._raise(response, messages)
                except CirelayError as exc:
                    raise redact(exc, self._token, self._password, self._client_secret)
            return response

    def create_order(self, contents: Dict[str, Any]) -> Dict[str, Any]:
        """POST /v1/order: order an export of these contents (sent once, never retried)."""
        url = self.url("/v1/order")
        response = self.send(
            "POST",
            url,
            session=self.order_session,  # a 401 means it was refused, so the retry after one never orders twice
            json={"exportContents": contents},
            messages={400: "octoplant refused the export order as invalid (HTTP 400)"},
        )
        order = decode_json(response)
        if not isinstance(order, dict) or not isinstance(order.get("name"), str) or not order["name"]:
            raise CirelayError(f"octoplant accepted the order but sent no order name (POST {url})", result=order)
        return dict(annotate(order))

    def cancel_quietly(self, name: str) -> bool:
        """Cancel an order we give up on, saying so; a cancel that fails is said too, not raised. True if it went."""
        log(f"cancelling export order {name}")
        try:
            self.cancel_order(name)
        except CirelayError as exc:
            log(f"could not cancel export order {name}: {exc.message}")
            return False
        return True

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

    def wait(self, name: str, waiting: WaitSettings, pickup_timeout: float = PICKUP_TIMEOUT) -> Dict[str, Any]:
        """Poll the order until it succeeds (returned), fails (exit 1) or the timeout passes (exit 3).

        An order still STATE_UNSPECIFIED (not picked up) after pickup_timeout seconds is given up: exit 1.
        """
        unspecified_since: Optional[float] = time.monotonic()
        given_up = f"still {STATE_UNSPECIFIED} after {pickup_timeout:g} s: the export service never picked it up"

        def outcome(order: Dict[str, Any]) -> Tuple[str, str]:
            nonlocal unspecified_since
            result = order_outcome(order)
            if result[0] != "pending" or order_state(order) != STATE_UNSPECIFIED:
                unspecified_since = None
                return result
            now = time.monotonic()
            if unspecified_since is None:
                unspecified_since = now
            if now - unspecified_since >= pickup_timeout:
                return "failure", given_up
            return result

        def abandon() -> None:
            self.cancel_order(name)

        try:
            order: Dict[str, Any] = wait_for(
                lambda: self.get_order(name),
                outcome,
                timeout=waiting.timeout,
                what=f"export order {name}",
                url=self.order_url(name),
                start=POLL_START,
                factor=POLL_FACTOR,
                ceiling=waiting.poll_max,
                on_abandon=abandon if waiting.cancel else None,
                verbose=waiting.verbose,
            )
        except CirelayError as exc:
            if type(exc) is not CirelayError or not exc.message.endswith(f"{given_up} ({self.order_url(name)})"):
                raise
            if waiting.cancel:
                self.cancel_quietly(name)
            raise CirelayError(f"export order {name} is {given_up} ({self.order_url(name)})", result=exc.result)
        return order

    def download(
        self, name: str, path: str, order: Optional[Dict[str, Any]] = None, kinds: Sequence[str] = ()
    ) -> Dict[str, Any]:
        """Stream the order's ZIP into a temp file beside PATH, check every member, move it onto PATH.

        kinds: what was ordered; one that contents.json does not list is a warning naming it.
        """
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
            raise InputError(f"cannot write {path}: {exc.strerror or exc}", param_hint=_OUTPUT_HINT)
        what = f"export order {name}"
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = self._stream(name, out)
            appended = stream_error_at_end(temp)
            if appended is not None:
                status, sent = appended
                raise CirelayError(
                    f"the download of {what} failed on the server after {sent} bytes: {describe_error(status)} "
                    f"(GET {self.order_url(name, '/download')})",
                    url=self.order_url(name, "/download"),
                )
            members = check_zip(temp, f"the download of {what}")
            if kinds:
                _warn_missing(temp, kinds)
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
            check=False,
        )
        if response.status_code >= 400:
            # A stream that fails before its first byte: {"error": Status} (or a bare Status) with the code's
            # HTTP status (grpc-gateway runtime/handler.go, handleForwardResponseStreamError; runtime.HTTPError).
            with response:
                status = grpc_status(_json_or_none(response))
            if status is None:
                try:
                    self._raise(response, {404: f"export order {name} not found (HTTP 404)"})
                except CirelayError as exc:
                    raise redact(exc, self._token, self._password, self._client_secret)
                raise CirelayError(f"HTTP {response.status_code} from GET {url}", url=url)  # pragma: no cover
            raise CirelayError(
                f"the download of export order {name} failed: {describe_error(status)} "
                f"({response.status_code}, GET {url})",
                status=response.status_code,
                url=url,
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
        waiting: WaitSettings = EXPORT_WAIT,
        pickup_timeout: float = PICKUP_TIMEOUT,
    ) -> Dict[str, Any]:
        """Order an export, wait for it, download and check the ZIP (and that every kind ordered arrived)."""
        if self._token is None:
            self.sign_in()  # a stop while signing in has nothing to cancel: only the order itself is held
        with signals_held("the export order") as stopped:
            order = self.create_order(contents)
        name = order["name"]
        log(f"ordered export {name} ({', '.join(contents)})")
        if stopped:  # stopped while ordering: the order exists now, so it goes as one stopped while waiting
            cancelled = self.cancel_quietly(name) if waiting.cancel else False
            raise WaitInterrupted(order, cancelled=cancelled)  # its JSON is printed: a later step can find it
        try:
            finished = self.wait(name, waiting, pickup_timeout)
        except WaitInterrupted as exc:
            if exc.result is None:  # stopped during the first poll: the order as ordered is the last state seen
                raise WaitInterrupted(order, cancelled=exc.cancelled)
            raise
        try:
            return self.download(name, path, order=finished, kinds=list(contents))
        except CirelayError as exc:
            exc.message = (
                f"{exc.message}; the export is ready on the server: retry with `order download {name} -o PATH`"
            )
            raise
