"""Port's API client: tokens, entities (one at a time and in bulk), action runs and their logs."""

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
from urllib.parse import quote

from cirelay.errors import CirelayError, InputError
from cirelay.http import api_request, make_session, redact
from cirelay.output import log, mask

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

        import concurrent.futures  # noqa: PLC0415 - lazy: only bulk work needs threads

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
