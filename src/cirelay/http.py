"""HTTP for every platform: one session factory (retries, timeouts, User-Agent) and API errors.

No click in here: clients raise CirelayError (InputError for bad settings), the CLI maps them to exit codes.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, Optional, Tuple, Type
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cirelay import __version__
from cirelay.errors import CirelayError, InputError

USER_AGENT = f"cirelay/{__version__}"
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
        raise InputError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")
    if len(parts) == 1 and parts[0] > 0:
        return (min(DEFAULT_TIMEOUT[0], parts[0]), parts[0])
    if len(parts) == 2 and min(parts) > 0:
        return (parts[0], parts[1])
    raise InputError(f"CIRELAY_TIMEOUT must be seconds or 'connect,read' seconds, got {raw!r}")


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
    # A session for requests that create or start something (retry_unsafe=False) retries no answer of
    # any method: CodeArts starts a retry with a PUT, and a lost 502 after it went through must not
    # send it again (the second one would fail: "only a failed run can be retried").
    methods = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} if retry_unsafe else {"GET", "HEAD", "OPTIONS"}
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
    response = send(session, method, url, **kwargs)
    raise_for_status(response, messages)
    return decode_json(response)


def send(
    session: requests.Session, method: str, url: str, *, error: Type[CirelayError] = CirelayError, **kwargs: Any
) -> requests.Response:
    """One HTTP exchange (urllib3 retries inside); a request that got no answer raises `error`, any answer returns."""
    try:
        return session.request(method, url, **kwargs)
    except requests.exceptions.RetryError as exc:
        raise error(f"{method} {url} kept failing after {RETRY_ATTEMPTS} attempts: {exc}", url=url)
    except requests.exceptions.InvalidHeader:
        # requests quotes the offending header value, which may be a credential: never show it.
        raise error(f"could not send {method} {url}: a header holds characters HTTP cannot carry", url=url)
    except requests.exceptions.RequestException as exc:
        raise error(f"could not complete {method} {url}: {type(exc).__name__}: {exc}", url=url)


def redact(exc: CirelayError, *secrets: Optional[str]) -> CirelayError:
    """The error with every secret we sent blanked out, in case the server quoted our request back."""
    message = exc.message
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
                message = message.replace(form, "***")
    api = exc.api_message
    for secret in secrets:
        if secret and api:
            for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
                api = api.replace(form, "***")
    if message == exc.message and api == exc.api_message:
        return exc
    # The same error, of the same type (PortError keeps its trace id, InputError its option), blanked.
    blanked = copy.copy(exc)
    blanked.message, blanked.args, blanked.api_message = message, (message,), api
    return blanked
