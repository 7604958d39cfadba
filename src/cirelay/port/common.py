"""Port's constants and the small helpers the client, the bulk runner and the command line share.

Hosts, limits and messages; the token cache; the rate limiter that follows Port's x-ratelimit-* headers.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cirelay.errors import CirelayError, InputError
from cirelay.output import log
from cirelay.port.bulk import _NotSent

# The official API hosts (docs.port.io "Port API": EU and US; the security page allow-lists only these).
REGION_URLS = {"eu": "https://api.port.io", "us": "https://api.us.port.io"}
DEFAULT_BASE_URL = REGION_URLS["eu"]
TOKEN_MARGIN = 300.0  # seconds: a cached token is dropped this long before Port says it expires
BULK_DELETE_MAX = 100  # identifiers per /bulk/entities/delete request (spec: entities maxItems 100)
DEFAULT_MAX_WAIT = 120.0  # seconds: the longest wait for a rate-limit window (CIRELAY_MAX_WAIT)
RATE_LIMIT_RETRIES = 8  # 429s of one request waited out before giving up
LOG_MATCH_SKEW = 120.0  # seconds of clock skew allowed when a lost log line is looked for in the run's log
SEARCH_PAGE_SIZE = 200  # entities per page of a blueprint search
LOGS_PAGE_SIZE = 50  # the most GET /actions/runs/{id}/logs returns per page
CI_STATUSES = ("running", "success", "failure")
RUN_STATUSES = ("SUCCESS", "FAILURE")
_IDENTIFIER_UNSAFE = re.compile(r"[^A-Za-z0-9@_.+:/=-]+")  # Port identifiers allow only these
# Entity fields a search names with a $ (docs "Search & query": meta-properties).
META_PROPERTIES = (
    "identifier",
    "title",
    "icon",
    "team",
    "blueprint",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
)
CI_FIELDS = (
    "provider",
    "pipeline",
    "job",
    "status",
    "url",
    "commit",
    "branch",
    "tag",
    "triggeredBy",
    "startedAt",
    "finishedAt",
)
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # what a token must be to go into an Authorization header

_TOKEN_REJECTED = "Port rejected PORT_CLIENT_ID/PORT_CLIENT_SECRET"  # noqa: S105 - a message, not a secret
_ENTITY_NOT_FOUND = "entity {id} not found in blueprint {bp}"
_BLUEPRINT_NOT_FOUND = "blueprint {bp} not found"
_RUN_NOT_FOUND = "action run {id} not found"
_RUN_FINISHED = "action run {id} has already finished and cannot be changed"
_ACTION_NOT_FOUND = "action {action} not found"


def api_base(base_url: Optional[str], region: Optional[str] = None) -> str:
    """The API root ending in /v1, whether the base URL was given with or without it."""
    base = (base_url or REGION_URLS.get((region or "eu").lower(), DEFAULT_BASE_URL)).strip().rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1"


def entity_page(api: str, blueprint: str, identifier: str) -> Optional[str]:
    """The entity's page in Port's app (app.port.io, app.us.port.io) for the API it came from; None for other hosts."""
    host = urlsplit(api).hostname or ""
    if not host.startswith("api."):
        return None
    return f"https://app.{host[4:]}/{quote(blueprint, safe='')}Entity?identifier={quote(identifier, safe='')}"


def check_base_url(base_url: Optional[str]) -> None:
    """Exit 2 for a base URL requests cannot use, and for a CA bundle variable naming a missing file."""
    base = (base_url or "").strip()
    if base and not base.lower().startswith(("https://", "http://")):
        raise InputError(f"--base-url (PORT_BASE_URL) must start with https:// or http://, got {base!r}")
    if base.lower().startswith("http://"):
        return
    # requests takes these itself; a wrong path would only show as a traceback at the first request.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(name)
        if path:
            if not os.path.exists(path):
                raise InputError(f"{name} names {path}, which does not exist")
            return


def _q(value: str) -> str:
    """One URL path segment: identifiers may hold '/', '#', spaces."""
    return quote(value, safe="")


def _given(**fields: Any) -> Dict[str, Any]:
    """The fields that have a value: an option left out is left out of the request, not sent as null."""
    return {key: value for key, value in fields.items() if value is not None}


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _max_wait() -> float:
    """CIRELAY_MAX_WAIT: the longest single wait for a rate-limit window, in seconds."""
    raw = os.environ.get("CIRELAY_MAX_WAIT", "").strip()
    if not raw:
        return DEFAULT_MAX_WAIT
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"CIRELAY_MAX_WAIT must be seconds, got {raw!r}")
    if value < 0:
        raise InputError(f"CIRELAY_MAX_WAIT must be seconds, got {raw!r}")
    return value


def search_fields(fields: Tuple[str, ...]) -> List[str]:
    """A blueprint search's include/exclude: property/relation identifiers and $meta-properties.

    Entity-JSON paths are translated (identifier -> $identifier, properties.region -> region);
    the search's own form ($title, region) is kept as is.
    """
    out = []
    for name in fields:
        head, dot, rest = name.partition(".")
        if dot and head in ("properties", "relations") and rest:
            out.append(rest)
        elif name in META_PROPERTIES:
            out.append(f"${name}")
        else:
            out.append(name)
    return out


def entity_paths(fields: Tuple[str, ...]) -> List[str]:
    """GET entity's include/exclude: entity-JSON paths ($identifier -> identifier, region -> properties.region)."""
    out = []
    for name in fields:
        if name.startswith("$"):
            out.append(name[1:])
        elif "." in name or name in META_PROPERTIES or name in ("properties", "relations"):
            out.append(name)
        else:
            out.append(f"properties.{name}")
    return out


class PortError(CirelayError):
    """A Port API error, with the X-Trace-Id Port support asks for, and whether urllib3 had retried it."""

    def __init__(self, message: str, *, trace_id: Optional[str] = None, retried: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.trace_id = trace_id
        self.retried = retried


def _ambiguous(exc: CirelayError) -> bool:
    """The request may have been applied although no answer says so: a gateway error or a lost connection."""
    return exc.status is None or exc.status >= 500


class TokenCache:
    """Port tokens shared by the steps of one CI job: one 0600 file per base URL, client id and secret.

    The secret is part of the key, so a wrong or rotated secret is never answered by an older token.
    """

    def __init__(self, api: str, client_id: str, client_secret: str, directory: Optional[str] = None) -> None:
        key = hashlib.sha256(f"{api}\n{client_id}\n{client_secret}".encode()).hexdigest()[:32]
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


class RateLimiter:
    """Port's x-ratelimit-* headers, shared by every thread: pause before a request when the window is spent.

    Port limits per organisation (every integration shares the budget) and says where a window stands on
    every reply: x-ratelimit-remaining requests left until x-ratelimit-reset (docs.port.io/api-reference/
    rate-limits; the docs call it the seconds left, the issue saw UTC epoch seconds: both are read).
    """

    def __init__(self, stop: threading.Event) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0  # time.time() before which no request should go out
        self._told_until = 0.0
        self._stop = stop
        self.max_wait = _max_wait()  # read once, when the client is made: a bad CIRELAY_MAX_WAIT is exit 2 up front

    @staticmethod
    def reset_at(headers: Any, now: float) -> Optional[float]:
        raw = headers.get("x-ratelimit-reset")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None
        return value if value > 1_000_000_000 else now + value  # epoch seconds, or seconds from now

    def note(self, headers: Any) -> None:
        """Read the window from a reply; when none is left, hold new requests until it resets."""
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None or str(remaining).strip() != "0":
            return
        now = time.time()
        until = self.reset_at(headers, now)
        if until is None:
            return
        with self._lock:
            self._resume_at = max(self._resume_at, min(until, now + self.max_wait))

    def after_429(self, headers: Any, attempt: int) -> None:
        """Hold requests after a 429: for Retry-After when given, else until x-ratelimit-reset, else a backoff."""
        now = time.time()
        wait: Optional[float] = None
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            try:
                wait = float(retry_after)
            except ValueError:
                wait = None
        if wait is None:
            until = self.reset_at(headers, now)
            wait = None if until is None else until - now
        if wait is None:
            wait = 0.5 * 2**attempt
        wait = max(0.05, min(wait, self.max_wait))
        with self._lock:
            self._resume_at = max(self._resume_at, now + wait)

    def pause(self, why: str) -> None:
        """Wait until the window resets (one progress line per wait); raise _NotSent when the run is stopping."""
        with self._lock:
            delay = self._resume_at - time.time()
            if delay <= 0:
                return
            if self._resume_at > self._told_until + 1.0:
                self._told_until = self._resume_at
                log(f"Port's rate limit {why}: waiting {delay:.1f} s for the window to reset")
        if self._stop.wait(delay):
            raise _NotSent()


def _without_429_retries(session: requests.Session) -> requests.Session:
    """The shared session, but 429s come back to PortClient.call, which waits as Port's headers say."""
    for adapter in session.adapters.values():
        retry = getattr(adapter, "max_retries", None)
        if isinstance(adapter, HTTPAdapter) and isinstance(retry, Retry) and retry.status_forcelist:
            # urllib3 would also retry a 429 that has Retry-After on its own, silently and past CIRELAY_MAX_WAIT.
            adapter.max_retries = retry.new(
                status_forcelist=frozenset(retry.status_forcelist) - {429}, respect_retry_after_header=False
            )
    return session


def _upsert_params(
    merge: bool, create_missing_related: bool, validate_only: bool, run_id: Optional[str]
) -> Dict[str, str]:
    params = {"upsert": "true", "merge": "true" if merge else "false"}
    if create_missing_related:
        params["create_missing_related_entities"] = "true"
    if validate_only:
        params["validation_only"] = "true"
    if run_id:
        params["run_id"] = run_id
    return params


def _error_name(exc: CirelayError) -> str:
    return {413: "too_large", 401: "unauthorized", 404: "not_found", 422: "invalid_request"}.get(
        exc.status or 0, f"http_{exc.status}" if exc.status else "request_failed"
    )


def _run_has(run: Dict[str, Any], changes: Dict[str, Any]) -> bool:
    """Whether a read of the run shows every change of a PATCH."""
    for key, wanted in changes.items():
        value = run.get(key)
        if key == "link":
            value = value if isinstance(value, list) else [value] if value else []
        if value != wanted:
            return False
    return True


def _epoch(stamp: Any) -> Optional[float]:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
