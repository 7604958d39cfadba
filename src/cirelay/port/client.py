"""Port's API client: tokens, entities (one at a time and in bulk), action runs and their logs.

Port's own contract is its published OpenAPI spec (cirelay/emulators/contracts/port-openapi.json holds the
operations used here): the required query parameters, the v2 runs, the bulk limits and the identifier pattern
come from it; the rate-limit headers and X-Trace-Id from Port's docs (docs.port.io/api-reference/rate-limits).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import requests

from cirelay.errors import CirelayError
from cirelay.http import decode_json, make_session, raise_for_status, redact, send
from cirelay.output import log, mask
from cirelay.port.bulk import _NOT_SENT, _failure, _map_bulk_result, _NotSent, plan_upsert_batches, run_batches
from cirelay.port.common import (
    _ACTION_NOT_FOUND,
    _BLUEPRINT_NOT_FOUND,
    _ENTITY_NOT_FOUND,
    _HEADER_SAFE,
    _RUN_FINISHED,
    _RUN_NOT_FOUND,
    _TOKEN_REJECTED,
    BULK_DELETE_MAX,
    LOG_MATCH_SKEW,
    LOGS_PAGE_SIZE,
    RATE_LIMIT_RETRIES,
    SEARCH_PAGE_SIZE,
    PortError,
    RateLimiter,
    TokenCache,
    _ambiguous,
    _epoch,
    _error_name,
    _given,
    _q,
    _run_has,
    _upsert_params,
    _without_429_retries,
    api_base,
    entity_paths,
    search_fields,
)


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
        self._cache = TokenCache(self.api, client_id, client_secret) if token_cache else None
        self._session = _without_429_retries(make_session())
        # POSTs that create: never sent twice
        self._create_session = _without_429_retries(make_session(retry_unsafe=False))
        self._token: Optional[str] = None
        self._token_fresh = False  # fetched by this process and not yet seen working
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set when a bulk run stops: requests not yet sent are not sent
        self.limiter = RateLimiter(self.stopping)
        self._local = threading.local()  # per thread: whether the last answer came after urllib3 retried

    # -- token ------------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        url = f"{self.api}/auth/access_token"
        credentials = {"clientId": self._client_id, "clientSecret": self._client_secret}
        try:
            for attempt in range(1, RATE_LIMIT_RETRIES + 2):  # the token request shares the org's rate limit
                self.limiter.pause("is spent (x-ratelimit-remaining 0)")
                response = self._send(self._session, "POST", url, json=credentials)
                self.limiter.note(response.headers)
                if response.status_code != 429 or attempt > RATE_LIMIT_RETRIES:
                    break
                self.limiter.after_429(response.headers, attempt)
                self.limiter.pause("answered 429 (POST /auth/access_token)")
            body = self._checked(response, {401: _TOKEN_REJECTED, 403: _TOKEN_REJECTED})
        except CirelayError as exc:
            raise redact(exc, self._client_secret)
        token = body.get("accessToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise CirelayError(f"Port sent no accessToken (POST {url})")
        mask(token)
        if not _HEADER_SAFE.fullmatch(token):  # requests would fail later and quote the header, token and all
            raise CirelayError(
                f"Port sent an accessToken with characters a header cannot carry (not shown; POST {url})"
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
                    self._token, self._token_fresh = cached, False
                else:
                    self._token, self._token_fresh = self._fetch_token(), True
            return self._token

    def _worked(self, token: str) -> None:
        if self._token_fresh and self._token == token:
            with self._lock:
                if self._token == token:
                    self._token_fresh = False

    def _renew(self, refused: str, exc: CirelayError) -> None:
        """After a 401: a new token when the refused one had worked (or came from the cache), shared by threads.

        A token Port refuses on its very first use is not expired: the credentials cannot reach this API
        (another organisation or region), and asking again would only loop.
        """
        with self._lock:
            if self._token != refused:
                return  # another thread already renewed it
            if self._token_fresh:
                raise PortError(
                    "Port refused a new access token on its first use (401): PORT_CLIENT_ID/PORT_CLIENT_SECRET "
                    f"get a token but it does not work here; check the region/base URL ({self.api}): " + exc.message,
                    status=401,
                    url=exc.url,
                )
            log("Port refused the access token (401); fetching a new one")
            if self._cache is not None:
                self._cache.clear()
            self._token, self._token_fresh = None, False
            self._token, self._token_fresh = self._fetch_token(), True

    def _send(self, session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP exchange (urllib3 retries 5xx and connection errors inside), errors as PortError."""
        return send(session, method, url, error=PortError, **kwargs)

    def _checked(self, response: requests.Response, messages: Optional[Dict[int, str]]) -> Any:
        """The decoded body of a 2xx, or PortError naming Port's X-Trace-Id."""
        trace = response.headers.get("X-Trace-Id")
        retries = getattr(response.raw, "retries", None)
        retried = bool(getattr(retries, "history", None))
        try:
            raise_for_status(response, messages)
            return decode_json(response)
        except CirelayError as exc:
            message = exc.message
            if trace:
                message = f"{message[:-1]}; X-Trace-Id {trace})" if message.endswith(")") else f"{message} [{trace}]"
            raise PortError(
                message,
                status=exc.status,
                url=exc.url,
                api_message=exc.api_message,
                trace_id=trace,
                retried=retried,
            )

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
        """One authenticated request under /v1.

        A 401 on a token that worked gets a new token and the request again, however often tokens expire;
        a 429 waits for Port's window (Retry-After, else x-ratelimit-reset, at most CIRELAY_MAX_WAIT) and
        tries again. With key, the answer must be an object: Port's {"ok": true, <key>: {...}} gives that
        member, a bare object itself; anything else is an error here rather than a crash later.
        """
        session = self._create_session if create else self._session
        url = f"{self.api}{path}"
        headers = dict(kwargs.pop("headers", None) or {})
        limited = 0
        while True:
            self.limiter.pause("is spent (x-ratelimit-remaining 0)")
            if self.stopping.is_set():
                raise _NotSent()
            token = self.token()
            headers["Authorization"] = f"Bearer {token}"
            response = self._send(session, method, url, headers=headers, **kwargs)
            # urllib3 sent it again after a 5xx or a lost connection: an earlier attempt may have been applied.
            self._local.retried = bool(getattr(getattr(response.raw, "retries", None), "history", None))
            self.limiter.note(response.headers)
            if response.status_code == 429 and limited < RATE_LIMIT_RETRIES:
                limited += 1
                self.limiter.after_429(response.headers, limited)
                self.limiter.pause(f"answered 429 ({method} {path})")
                continue
            try:
                body = self._checked(response, messages)
            except CirelayError as exc:
                # A 401 means Port did nothing, so even a create may be sent again with a new token.
                if exc.status != 401:
                    raise redact(exc, token, self._client_secret)
                self._renew(token, redact(exc, token, self._client_secret))
                continue
            self._worked(token)
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
        return self.call(
            "POST",
            f"/blueprints/{_q(blueprint)}/entities",
            messages={404: _BLUEPRINT_NOT_FOUND.format(bp=blueprint)},
            params=_upsert_params(merge, create_missing_related, validate_only, run_id),
            json=entity,
            key="entity",
        )

    def get_entity(
        self, blueprint: str, identifier: str, include: Tuple[str, ...] = (), exclude: Tuple[str, ...] = ()
    ) -> Dict[str, Any]:
        """One entity by identifier; include/exclude in either form (identifier, properties.x, $title, x)."""
        params: Dict[str, Any] = {}
        if include:
            params["include"] = entity_paths(include)
        if exclude:
            params["exclude"] = entity_paths(exclude)
        missing = _ENTITY_NOT_FOUND.format(id=identifier, bp=blueprint)
        try:
            return self.call(
                "GET",
                f"/blueprints/{_q(blueprint)}/entities/{_q(identifier)}",
                messages={404: missing},
                params=params,
                key="entity",
            )
        except CirelayError as exc:
            # One 404 for both: Port's own words say which ('Blueprint with identifier "x" was not found').
            if exc.status == 404 and (exc.api_message or "").lower().startswith("blueprint"):
                exc.message = exc.message.replace(missing, _BLUEPRINT_NOT_FOUND.format(bp=blueprint), 1)
            raise

    def search_entities(
        self,
        query: Dict[str, Any],
        blueprint: Optional[str] = None,
        include: Tuple[str, ...] = (),
        limit: Optional[int] = None,
        exclude: Tuple[str, ...] = (),
    ) -> List[Dict[str, Any]]:
        """Entities matching a query: one blueprint's (every page), or across blueprints."""
        if blueprint is None:
            # POST /v1/entities/search takes include/exclude as query parameters, entity-JSON paths (the spec
            # gives it GET entity's parameters).
            params: Dict[str, Any] = {}
            if include:
                params["include"] = entity_paths(include)
            if exclude:
                params["exclude"] = entity_paths(exclude)
            body = self.call("POST", "/entities/search", params=params, json=query)
            found = list(body.get("entities") or []) if isinstance(body, dict) else []
            return found[:limit] if limit is not None else found
        entities: List[Dict[str, Any]] = []
        cursor: Optional[str] = None
        while limit is None or len(entities) < limit:
            page_size = SEARCH_PAGE_SIZE if limit is None else min(SEARCH_PAGE_SIZE, limit - len(entities))
            request: Dict[str, Any] = {"query": query, "limit": page_size}
            if include:
                request["include"] = search_fields(include)
            if exclude:
                request["exclude"] = search_fields(exclude)
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

    def existing(self, blueprint: str, identifiers: List[str]) -> set:
        """Which of these identifiers exist in the blueprint (one search)."""
        rule = {"property": "$identifier", "operator": "in", "value": identifiers}
        found = self.search_entities(
            {"combinator": "and", "rules": [rule]}, blueprint=blueprint, include=("identifier",)
        )
        return {str(e.get("identifier")) for e in found if isinstance(e, dict)}

    def delete_entity(
        self, blueprint: str, identifier: str, delete_dependents: bool = False, run_id: Optional[str] = None
    ) -> Dict[str, Any]:
        """Delete one entity (and, if asked, the entities that depend on it).

        When the answer is lost (a gateway error, a dropped connection, or a 404 to urllib3's retry of a
        delete that went through), a read shows whether the entity is gone: then the delete is done.
        """
        params = {"delete_dependents": "true" if delete_dependents else "false"}
        if run_id:
            params["run_id"] = run_id
        path = f"/blueprints/{_q(blueprint)}/entities/{_q(identifier)}"
        try:
            self.call(
                "DELETE", path, messages={404: _ENTITY_NOT_FOUND.format(id=identifier, bp=blueprint)}, params=params
            )
        except PortError as exc:
            lost = _ambiguous(exc) or (exc.status == 404 and exc.retried)
            if not lost:
                raise
            try:
                self.get_entity(blueprint, identifier, include=("identifier",))
            except CirelayError as check:
                if check.status == 404:
                    log(f"Port's answer to the delete was lost ({exc.message}); a read shows {identifier} is gone")
                    return {"ok": True, "blueprint": blueprint, "identifier": identifier, "deleted": True}
            raise exc
        return {"ok": True, "blueprint": blueprint, "identifier": identifier, "deleted": True}

    def bulk_upsert(
        self,
        blueprint: Optional[str],
        entities: List[Dict[str, Any]],
        *,
        concurrency: int = 4,
        run_id: Optional[str] = None,
        create_missing_related: bool = False,
        validate_only: bool = False,
    ) -> Dict[str, Any]:
        """Upsert many entities in batches of at most 20 / 1 MiB per blueprint, several batches in flight.

        An entity's own "blueprint" field wins over `blueprint`. Every input ends up in exactly one of
        'upserted' (identifiers, input order), 'failed' or 'not_attempted' (the run was stopped first).
        """
        params = _upsert_params(True, create_missing_related, validate_only, run_id)
        batches, outcomes = plan_upsert_batches(blueprint, entities)

        def send(job: Tuple[str, List[Tuple[int, str, bytes]]]) -> Dict[int, Optional[Dict[str, Any]]]:
            return self._send_batch(job[0], job[1], params)

        done, not_attempted, interrupted = run_batches(batches, send, concurrency, self.stopping, "upserted")
        outcomes.update(done)
        upserted = [str(entities[i].get("identifier")) for i in sorted(outcomes) if outcomes[i] is None]
        failed = [outcomes[i] for i in sorted(outcomes) if outcomes[i] is not None]
        skipped = [{"index": i, "identifier": str(entities[i].get("identifier"))} for i in sorted(not_attempted)]
        return {"upserted": upserted, "failed": failed, "not_attempted": skipped, "interrupted": interrupted}

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
            if exc.status == 401:  # a fresh token refused: the credentials are wrong for every batch, stop the run
                raise
            if exc.status == 413 and len(batch) > 1:
                half = len(batch) // 2
                done = self._send_batch(blueprint, batch[:half], params)
                try:
                    done.update(self._send_batch(blueprint, batch[half:], params))
                except _NotSent:
                    done.update({i: _NOT_SENT for i, _, _ in batch[half:]})
                return done
            error = _error_name(exc)
            log(f"a batch of {len(batch)} entities for {blueprint} failed: {exc.message}")
            return {i: _failure(i, ident, error, exc.api_message or exc.message) for i, ident, _ in batch}
        return _map_bulk_result(batch, body)

    def bulk_delete(
        self,
        blueprint: str,
        identifiers: List[str],
        *,
        delete_dependents: bool = False,
        run_id: Optional[str] = None,
        concurrency: int = 2,
    ) -> Dict[str, Any]:
        """Delete many entities, 100 per request. Every input ends up in one of deleted/failed/not_attempted."""
        params = {"delete_dependents": "true" if delete_dependents else "false"}
        if run_id:
            params["run_id"] = run_id
        items = list(enumerate(identifiers))
        chunks = [items[n : n + BULK_DELETE_MAX] for n in range(0, len(items), BULK_DELETE_MAX)]

        def send(chunk: List[Tuple[int, str]]) -> Dict[int, Optional[Dict[str, Any]]]:
            return self._delete_chunk(blueprint, chunk, params)

        done, not_attempted, interrupted = run_batches(chunks, send, concurrency, self.stopping, "deleted")
        deleted = [identifiers[i] for i in sorted(done) if done[i] is None]
        failed = [done[i] for i in sorted(done) if done[i] is not None]
        skipped = [{"index": i, "identifier": identifiers[i]} for i in sorted(not_attempted)]
        return {"deleted": deleted, "failed": failed, "not_attempted": skipped, "interrupted": interrupted}

    def _delete_chunk(
        self, blueprint: str, chunk: List[Tuple[int, str]], params: Dict[str, str]
    ) -> Dict[int, Optional[Dict[str, Any]]]:
        ids = [identifier for _, identifier in chunk]
        try:
            body = self.call(
                "POST",
                f"/blueprints/{_q(blueprint)}/bulk/entities/delete",
                messages={404: _BLUEPRINT_NOT_FOUND.format(bp=blueprint)},
                params=params,
                json={"entities": ids},
            )
            gone = {str(i) for i in (body or {}).get("deletedEntities") or []} if isinstance(body, dict) else set()
            # After a retry, what the answer leaves out may have been deleted by the attempt whose answer was lost.
            retried = bool(getattr(self._local, "retried", False))
        except PortError as exc:
            if not _ambiguous(exc):
                log(f"a request deleting {len(ids)} entities from {blueprint} failed: {exc.message}")
                return {i: _failure(i, ident, _error_name(exc), exc.api_message or exc.message) for i, ident in chunk}
            try:
                still = self.existing(blueprint, ids)
            except (CirelayError, _NotSent):  # stopping now or unreadable: sent, so failed, never "not attempted"
                return {i: _failure(i, ident, _error_name(exc), exc.api_message or exc.message) for i, ident in chunk}
            log(f"Port's answer to a bulk delete was lost ({exc.message}); a read shows what is gone")
            return {
                i: (_failure(i, ident, _error_name(exc), exc.api_message or exc.message) if ident in still else None)
                for i, ident in chunk
            }
        out: Dict[int, Optional[Dict[str, Any]]] = {}
        for index, identifier in chunk:
            if identifier in gone or retried:
                out[index] = None
            else:
                out[index] = _failure(
                    index, identifier, "not_found", _ENTITY_NOT_FOUND.format(id=identifier, bp=blueprint)
                )
        return out

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
        """One action run (version=v2, as Port asks)."""
        return self.call(
            "GET",
            f"/actions/runs/{_q(run_id)}",
            messages={404: _RUN_NOT_FOUND.format(id=run_id)},
            params={"version": "v2"},
            key="run",
        )

    def list_runs(
        self,
        action: Optional[str] = None,
        entity: Optional[str] = None,
        external_run_id: Optional[str] = None,
        active: Optional[bool] = None,
        limit: Optional[int] = None,
    ) -> List[Dict[str, Any]]:
        """Action runs, newest first, filtered as Port's GET /v1/actions/runs does."""
        params: Dict[str, Any] = {"version": "v2"}
        params.update(_given(action=action, entity=entity, external_run_id=external_run_id, limit=limit))
        if active is not None:
            params["active"] = "true" if active else "false"
        body = self.call("GET", "/actions/runs", params=params)
        runs = (body or {}).get("runs") if isinstance(body, dict) else None
        return [r for r in runs or [] if isinstance(r, dict)]

    def _finished_or_message(self, run_id: str, exc: CirelayError) -> CirelayError:
        """After a 422: 'already finished' only when a read of the run shows it finished, else Port's words."""
        try:
            current = self.get_run(run_id)
        except CirelayError:
            return exc
        if current.get("status") not in (None, "IN_PROGRESS"):
            return CirelayError(
                f"{_RUN_FINISHED.format(id=run_id)}: the run is {current.get('status')}; {exc.message}",
                status=exc.status,
                url=exc.url,
            )
        return exc

    def update_run(self, run_id: str, changes: Dict[str, Any]) -> Dict[str, Any]:
        """Change a run's status, label, links, summary or external id.

        A lost answer, or a refusal that follows one (urllib3 sent the PATCH again after a gateway error and the
        run had finished meanwhile, by our own first attempt), is checked by reading the run: when every change
        holds, the update is done.
        """
        path = f"/actions/runs/{_q(run_id)}"
        try:
            return self.call(
                "PATCH",
                path,
                messages={404: _RUN_NOT_FOUND.format(id=run_id)},
                params={"version": "v2"},
                json=changes,
                key="run",
            )
        except PortError as exc:
            if not (_ambiguous(exc) or exc.status == 422):
                raise
            try:
                current = self.get_run(run_id)
            except CirelayError:
                raise exc
            if _run_has(current, changes):
                log(f"Port's answer to the update was lost or refused ({exc.message}); a read shows it applied")
                return current
            if exc.status == 422:
                raise self._finished_or_message(run_id, exc)
            raise

    def update_run_with_log(self, run_id: str, changes: Dict[str, Any], message: str) -> Dict[str, Any]:
        """The log line first, then the change (a finished run takes no more lines), as one step.

        A re-run of a step whose line and change both went through finds the run finished: when the run
        shows every change and the line, that is done, not an error.
        """
        try:
            self.add_run_log(run_id, message)
        except CirelayError as exc:
            if exc.status != 422 or not changes:
                raise
            current = self.get_run(run_id)
            if not (_run_has(current, changes) and self._logged(run_id, message, 0.0) is not None):
                raise
            log("the run already shows this line and these changes: nothing left to do")
            return current
        return self.update_run(run_id, changes) if changes else self.get_run(run_id)

    def add_run_log(
        self,
        run_id: str,
        message: str,
        termination_status: Optional[str] = None,
        status_label: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Append a log line to a run, optionally finishing it.

        Sent once; when the answer is lost, a read of the run's logs says whether the line arrived (then it is
        done) or not (then it is sent once more).
        """
        request: Dict[str, Any] = {"message": message}
        if termination_status:
            request["terminationStatus"] = termination_status
        if status_label:
            request["statusLabel"] = status_label
        path = f"/actions/runs/{_q(run_id)}/logs"
        sent_at = time.time()
        for attempt in (1, 2):
            try:
                return self.call(
                    "POST",
                    path,
                    create=True,
                    messages={404: _RUN_NOT_FOUND.format(id=run_id)},
                    json=request,
                    key="runLog",
                )
            except PortError as exc:
                if exc.status == 422:
                    raise self._finished_or_message(run_id, exc)
                if not _ambiguous(exc) or attempt == 2:
                    raise
                try:
                    arrived = self._logged(run_id, message, sent_at)
                    current = self.get_run(run_id) if termination_status else None
                except CirelayError:
                    raise exc
                if arrived is not None and (current is None or current.get("status") == termination_status):
                    log(f"Port's answer to the log line was lost ({exc.message}); the run's log shows it arrived")
                    return arrived
                if current is not None and current.get("status") != "IN_PROGRESS":
                    raise exc
                log(f"Port's answer to the log line was lost ({exc.message}); it did not arrive: sending it again")
        raise AssertionError("unreachable")

    def _logged(self, run_id: str, message: str, since: float) -> Optional[Dict[str, Any]]:
        """The log entry with this message written since about `since` (clock skew allowed), if any."""
        for entry in reversed(self.run_logs(run_id)):
            if entry.get("message") != message:
                continue
            created = _epoch(entry.get("createdAt"))
            if created is None or created >= since - LOG_MATCH_SKEW:
                return entry
        return None

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
