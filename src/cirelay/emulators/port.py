"""A fake Port API for tests, the demo and the bench, held to Port's published contract.

Every route is one operation of src/cirelay/emulators/contracts/port-openapi.json (Port's OpenAPI 3.1 spec, see
src/cirelay/emulators/contracts/README.md). Each request is checked against that operation's parameters and request
body schema (src/cirelay/emulators/port_contract.py, jsonschema draft 2020-12) before anything happens: a query
parameter the operation lacks, a required one missing, or a body that does not fit is answered 422
("The json provided does not match the route's schema", the spec's 422) and recorded in `violations`,
so the test that caused it fails. Every JSON reply the fake makes is checked against the response
schema of its status too; one that does not fit is recorded and answered 500.

Routes (all under /v1; spec operation = the key in the contract):

    POST   /auth/access_token                      {clientId, clientSecret} -> {ok, accessToken, expiresIn, tokenType}
    POST   /blueprints/{bp}/entities               ?upsert (required) &merge&create_missing_related_entities
                                                   &validation_only&run_id -> 201 {ok, entity}
    GET    /blueprints/{bp}/entities/{id}          ?include&exclude (entity-JSON paths: identifier, properties.x)
    DELETE /blueprints/{bp}/entities/{id}          ?delete_dependents (required) &run_id -> {ok}
    POST   /blueprints/{bp}/entities/bulk          ?upsert (required)… {entities: [1..20]} -> 200/207
                                                   {ok, entities: [{identifier, index, created}], errors: [...]}
    POST   /blueprints/{bp}/bulk/entities/delete   ?delete_dependents (required) {entities: [1..100 ids]}
                                                   -> {ok, deletedEntities}
    POST   /blueprints/{bp}/entities/search        {query, include, exclude, limit, from} -> {ok, entities, next?}
                                                   include/exclude: property and relation identifiers, `$` meta-
                                                   properties ($identifier, $title, $icon, $team, …)
    POST   /entities/search                        {combinator, rules} ?include&exclude (entity-JSON paths)
    POST   /actions/{action}/runs                  {properties, entity?} -> 202 {ok, run}
    GET    /actions/runs                           ?action&entity&blueprint&active&external_run_id&limit&version
    GET    /actions/runs/{id}                      ?version=v2 -> {ok, run}
    PATCH  /actions/runs/{id}                      {status, statusLabel, link, summary, externalRunId} -> {ok, run}
    POST   /actions/runs/{id}/logs                 {message, terminationStatus?, statusLabel?} -> 201 {ok, runLog}
    GET    /actions/runs/{id}/logs                 ?limit(1..50)&offset -> {ok, runLogs}

Shapes beyond the spec, from Port's docs: errors are {ok: false, error, message}; a run without
?version=v2 is the v1 shape (action as a string, docs "Reflect action progress"); a finished run
refuses PATCH and logs with 422 (the same status as a schema error, which is why a client must read
the run to tell them apart). Every reply carries X-Trace-Id (Port support asks for it). With
`rate_limit(limit, period)` every reply carries x-ratelimit-limit / -remaining / -period / -reset
and requests over the limit get 429 without Retry-After (docs.port.io/api-reference/rate-limits;
the docs never promise Retry-After). `reset` is UTC epoch seconds of the window's end ("epoch", the
issue's reading) or the seconds left ("seconds", the docs page's table): a client must take both.

Switches beyond the base ones (fail_next, drop_next, latency):
- `expire_tokens()`: every token issued so far answers 401; `token_ttl`: the expiresIn of new tokens;
- `token_uses = N`: each token works N times, then answers 401 (a token that expires during a run);
- `refuse_tokens = True`: new tokens are refused on their first use (bad credentials for this org);
- `lose_answer_next(n, match, status=502)`: apply the next n matching requests, then answer a gateway
  502 (or drop the connection with status=None) instead of Port's answer;
- `hold(match)` / `release()`: matching requests wait (before their token is checked, so it may expire
  meanwhile, and before they are applied) until released;
  `holding` counts those waiting;
- `reject_identifiers`: bulk/upsert refuse those entities with 422; `max_body` lowers the 413 threshold;
- `check_contract = False`: skip the jsonschema checks (the benchmark, which times the client, not the fake);

`issued` lists every token handed out; `timings` records (method, path, start, end) of every request
(for the benchmark); `traces` records (method, path, status, X-Trace-Id) of every reply.
"""

from __future__ import annotations

import copy
import datetime
import functools
import itertools
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Pattern, Set, Tuple
from urllib.parse import unquote

from cirelay.emulators.base import FakeServer, Reply, Request, json_reply
from cirelay.emulators.port_contract import PortContract

CLIENT_ID = "cirelay-demo-client"
CLIENT_SECRET = "cirelay-demo-secret-7Qx9"  # the fake's own; tests assert it never shows in output
MAX_BODY = 1024 * 1024
SEEDED_RUN = "r_QOz6WoOB1Q2lmhZZ"
# The fields an entity reply may carry: the spec's entity schema has additionalProperties false.
ENTITY_FIELDS = ("identifier", "title", "icon", "team", "properties", "relations")
# Meta-properties a blueprint search's include/exclude names with a `$` (docs "Search & query": $identifier,
# $title, $team, $icon, $createdAt, $updatedAt, $blueprint; the reply still keeps only ENTITY_FIELDS).
# (Written out here, not imported from the client: the emulator is the client's oracle, never its copy.)
META_PROPERTIES = frozenset({"identifier", "title", "icon", "team", "blueprint"}) | frozenset(
    {"createdAt", "updatedAt", "createdBy", "updatedBy"}  # who and when: set by Port, never by a request
)
GATEWAY_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


@functools.lru_cache(maxsize=1)
def contract() -> PortContract:
    return PortContract()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, error: str, message: str) -> Reply:
    return json_reply(status, {"ok": False, "error": error, "message": message})


def _flag(request: Request, name: str) -> bool:
    return (request.arg(name) or "").lower() == "true"


def entity_out(entity: Dict[str, Any]) -> Dict[str, Any]:
    """An entity as Port's replies carry it: only the fields of the spec's entity schema, no nulls."""
    return {k: copy.deepcopy(entity[k]) for k in ENTITY_FIELDS if k in entity and entity[k] is not None}


def _select_paths(entity: Dict[str, Any], include: List[str], exclude: List[str]) -> Dict[str, Any]:
    """GET entity / cross-blueprint search include/exclude: entity-JSON paths (identifier, properties.region)."""
    if include:
        picked: Dict[str, Any] = {}
        for path in include:
            head, _, rest = path.partition(".")
            if head not in entity:
                continue
            if rest and isinstance(entity[head], dict):
                if rest in entity[head]:
                    picked.setdefault(head, {})[rest] = entity[head][rest]
            else:
                picked[head] = entity[head]
        entity = picked
    else:
        entity = copy.deepcopy(entity)
    for path in exclude:
        head, _, rest = path.partition(".")
        if rest and isinstance(entity.get(head), dict):
            entity[head].pop(rest, None)
        else:
            entity.pop(head, None)
    return entity


def _select_identifiers(entity: Dict[str, Any], include: List[str], exclude: List[str]) -> Dict[str, Any]:
    """A blueprint search's include/exclude: `$meta` or a property / relation identifier.

    `identifier` without `$` names a property called identifier; `properties.region` names nothing
    (a property identifier has no dot). What names nothing is simply not in the reply.
    """

    def place(target: Dict[str, Any], name: str) -> None:
        if name.startswith("$"):
            if name[1:] in entity:
                target[name[1:]] = copy.deepcopy(entity[name[1:]])
            return
        for group in ("properties", "relations"):
            if name in (entity.get(group) or {}):
                target.setdefault(group, {})[name] = copy.deepcopy(entity[group][name])

    if include:
        picked: Dict[str, Any] = {}
        for name in include:
            place(picked, name)
        result = picked
    else:
        result = copy.deepcopy(entity)
    for name in exclude:
        if name.startswith("$"):
            result.pop(name[1:], None)
        else:
            for group in ("properties", "relations"):
                (result.get(group) or {}).pop(name, None)
    return result


def _value_of(entity: Dict[str, Any], prop: str) -> Any:
    if prop.startswith("$"):
        return entity.get(prop[1:])
    return entity.get("properties", {}).get(prop)


def matches(entity: Dict[str, Any], query: Dict[str, Any]) -> bool:
    """A small subset of Port's search: and/or combinators; =, !=, contains, in, isEmpty, isNotEmpty."""
    rules = query.get("rules") or []
    results = []
    for rule in rules:
        if "rules" in rule:
            results.append(matches(entity, rule))
            continue
        value = _value_of(entity, str(rule.get("property", "")))
        operator, wanted = rule.get("operator"), rule.get("value")
        if operator == "=":
            results.append(value == wanted)
        elif operator == "!=":
            results.append(value != wanted)
        elif operator == "contains":
            results.append(isinstance(value, str) and str(wanted) in value)
        elif operator == "in":
            results.append(value in (wanted or []))
        elif operator == "isEmpty":
            results.append(value in (None, "", [], {}))
        elif operator == "isNotEmpty":
            results.append(value not in (None, "", [], {}))
        else:
            raise ValueError(f"operator {operator!r} is not supported by the fake")
    if not results:
        return True
    return any(results) if query.get("combinator") == "or" else all(results)


@dataclass
class _Loss:
    remaining: int
    match: Optional[Pattern[str]]
    status: Optional[int]  # None: drop the connection after applying


class PortFake(FakeServer):
    """In-memory Port: blueprints, entities, actions, runs and their logs."""

    def __init__(
        self,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_ttl: int = 3600,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.check_contract = True  # the bench turns it off: jsonschema's time is the fake's, not Port's latency
        self.tokens: Dict[str, float] = {}  # token -> monotonic expiry
        self.token_uses: Optional[int] = None
        self.refuse_tokens = False
        self._uses: Dict[str, int] = {}
        self.blueprints: Set[str] = {"microservice", "ciJob", "image"}
        self.entities: Dict[str, Dict[str, Dict[str, Any]]] = {bp: {} for bp in self.blueprints}
        self.actions: Dict[str, Dict[str, Any]] = {
            "create_microservice": {"blueprint": "microservice", "trigger": "CREATE", "title": "Create Microservice"},
            "deploy_microservice": {"blueprint": "microservice", "trigger": "DAY-2", "title": "Deploy Microservice"},
        }
        self.runs: Dict[str, Dict[str, Any]] = {}
        self.run_logs: Dict[str, List[Dict[str, Any]]] = {}
        self.reject_identifiers: Set[str] = set()
        self.max_body = MAX_BODY  # bodies above this get 413, as Port does above 1 MiB
        self.issued: List[str] = []  # every token ever handed out, for "no secret in output" checks
        self.timings: List[Tuple[str, str, float, float]] = []
        self.traces: List[Tuple[str, str, int, str]] = []
        self.violations: List[str] = []  # requests outside the contract, replies outside it
        self.rate_limited = 0  # 429s answered by the rate limiter
        self._rate: Optional[Tuple[int, int, str]] = None  # (limit, period seconds, reset style)
        self._window = (0.0, 0)  # (start, requests counted)
        self._losses: List[_Loss] = []
        self._hold: Optional[Pattern[str]] = None
        self._released = threading.Event()
        self.holding = 0
        self._state = threading.RLock()
        self._ids = itertools.count(1)
        self._routes_setup()

    # -- switches ---------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far now answers 401 (as after Port's expiresIn)."""
        with self._state:
            self.tokens.clear()

    def rate_limit(self, limit: int, period: int, reset: str = "epoch") -> None:
        """Allow `limit` requests per `period` seconds (windows aligned on the epoch), then 429."""
        with self._state:
            self._rate = (limit, period, reset)
            self._window = (0.0, 0)

    def lose_answer_next(self, n: int, match: Optional[str] = None, status: Optional[int] = 502) -> None:
        """Apply the next n matching requests, then answer a gateway error (None: hang up) instead."""
        with self._state:
            self._losses.append(_Loss(n, re.compile(match) if match else None, status))

    def hold(self, match: str) -> None:
        """Matching requests wait before they are applied, until release()."""
        self._released.clear()
        self._hold = re.compile(match)

    def release(self) -> None:
        self._hold = None
        self._released.set()

    def add_blueprint(self, identifier: str) -> None:
        with self._state:
            self.blueprints.add(identifier)
            self.entities.setdefault(identifier, {})

    def add_run(self, run_id: str, action: str, status: str = "IN_PROGRESS", **fields: Any) -> Dict[str, Any]:
        definition = self.actions[action]
        now = _now()
        run = {
            "id": run_id,
            "status": status,
            "blueprint": {"identifier": definition["blueprint"], "title": definition["blueprint"].title()},
            "action": action,
            "endedAt": None if status == "IN_PROGRESS" else now,
            "source": "API",
            "requiredApproval": False,
            "relatedEntityExists": False,
            "relatedBlueprintExists": True,
            "properties": {},
            "createdAt": now,
            "updatedAt": now,
            "createdBy": self.client_id,
            "updatedBy": self.client_id,
        }
        run.update(fields)
        with self._state:
            self.runs[run_id] = run
            self.run_logs.setdefault(run_id, [])
        return run

    def run_out(self, run: Dict[str, Any], v2: bool = True) -> Dict[str, Any]:
        """A run as Port answers it: v2 (the spec's shape: action {identifier, title}) or v1 (action a string)."""
        out = {k: copy.deepcopy(v) for k, v in run.items() if v is not None}
        out.pop("relatedEntityExists", None)
        out.pop("relatedBlueprintExists", None)
        if v2:
            title = self.actions.get(run["action"], {}).get("title")
            out["action"] = {"identifier": run["action"], "title": title}
        else:
            out["relatedEntityExists"] = run.get("relatedEntityExists", False)
            out["relatedBlueprintExists"] = run.get("relatedBlueprintExists", True)
        return out

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Optional[Reply]:
        started = time.monotonic()
        trace = secrets.token_hex(16)
        try:
            limited, headers = self._rate_check()
            if limited is not None:
                self.requests.append(request)
                reply: Optional[Reply] = limited
            else:
                reply = super().handle(request)
            if reply is not None:
                reply = Reply(reply.status, reply.body, {**reply.headers, **headers}, reply.stream, reply.length)
                reply.headers.setdefault("X-Trace-Id", trace)
                with self._state:
                    self.traces.append((request.method, request.path, reply.status, reply.headers["X-Trace-Id"]))
            return reply
        finally:
            with self._state:
                self.timings.append((request.method, request.path, started, time.monotonic()))

    def _rate_check(self) -> Tuple[Optional[Reply], Dict[str, str]]:
        with self._state:
            if self._rate is None:
                return None, {}
            limit, period, style = self._rate
            now = time.time()
            start = math.floor(now / period) * period
            begun, count = self._window
            if begun != start:
                count = 0
            count += 1
            self._window = (start, count)
            reset = start + period
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(max(0, limit - count)),
                "x-ratelimit-period": str(period),
                "x-ratelimit-reset": str(int(reset)) if style == "epoch" else str(max(1, math.ceil(reset - now))),
            }
            if count > limit:
                self.rate_limited += 1
                return _error(429, "rate_limit_exceeded", "Rate limit exceeded, retry after the reset"), headers
            return None, headers

    def _authorized(self, request: Request) -> Optional[Reply]:
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self._state:
            expiry = self.tokens.get(token)
            uses = self._uses[token] = self._uses.get(token, 0) + 1
        worn_out = self.token_uses is not None and uses > self.token_uses
        if expiry is None or expiry < time.monotonic() or worn_out:
            return _error(401, "unauthorized", "The access token is missing, invalid or expired")
        if len(request.body) > self.max_body:
            return _error(413, "request_too_large", "Request body is too large (limit is 1MiB)")
        return None

    def _lose(self, line: str) -> Tuple[bool, Optional[int]]:
        with self._state:
            for loss in self._losses:
                if loss.remaining > 0 and (loss.match is None or loss.match.search(line)):
                    loss.remaining -= 1
                    return True, loss.status
        return False, None

    def api(self, key: str, auth: bool = True) -> Callable[[Callable[[Request], Reply]], Callable[[Request], Reply]]:
        """Register the handler of one contract operation, checked on the way in and out."""
        method, template = key.split(" ", 1)
        operation = next(op for op in contract().operations if op.key == key)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)

        def register(handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
            def run(request: Request) -> Optional[Reply]:
                line = f"{request.method} {request.path}"
                hold = self._hold
                if hold is not None and hold.search(line):  # held before the token is checked: it may expire
                    with self._state:
                        self.holding += 1
                    self._released.wait(60)
                    with self._state:
                        self.holding -= 1
                if auth:
                    refused = self._authorized(request)
                    if refused is not None:
                        return refused
                params = {k: unquote(v) for k, v in request.params.items()}
                problems = (
                    contract().check_request(operation, params, request.query, request.body)
                    if self.check_contract
                    else []
                )
                if problems:
                    with self._state:
                        self.violations.extend(f"{request.method} {request.path}: {p}" for p in problems)
                    return _error(
                        422,
                        "invalid_request",
                        "The json provided does not match the route's schema: " + "; ".join(problems),
                    )
                with self._state:
                    reply = handler(request)
                lost, status = self._lose(line)
                if lost:
                    return None if status is None else Reply(status, GATEWAY_502, {"Content-Type": "text/html"})
                if self.check_contract and isinstance(reply.body, (dict, list)) and not reply.headers.get("x-fake-v1"):
                    wrong = contract().check_reply(operation, reply.status, reply.body)
                    if wrong:
                        with self._state:
                            self.violations.extend(f"fake reply to {line}: {p}" for p in wrong)
                        return _error(500, "fake_error", "the fake answered outside the contract: " + "; ".join(wrong))
                reply.headers.pop("x-fake-v1", None)
                return reply

            self.route(method, pattern)(run)  # type: ignore[arg-type]
            return handler

        return register

    def _routes_setup(self) -> None:
        api = self.api
        bp_ops = "/v1/blueprints/{blueprint_identifier}"

        @api("POST /v1/auth/access_token", auth=False)
        def token(request: Request) -> Reply:
            body = request.json() or {}
            if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
                return _error(401, "unauthorized", "Invalid client credentials")
            issued = f"fake-port-token-{secrets.token_hex(16)}"
            if not self.refuse_tokens:
                self.tokens[issued] = time.monotonic() + self.token_ttl
            self.issued.append(issued)
            return json_reply(
                200, {"ok": True, "accessToken": issued, "expiresIn": self.token_ttl, "tokenType": "Bearer"}
            )

        def blueprint_of(request: Request) -> Tuple[str, Optional[Reply]]:
            bp = unquote(request.params["blueprint_identifier"])
            if bp not in self.blueprints:
                return bp, _error(404, "not_found", f'Blueprint with identifier "{bp}" was not found')
            return bp, None

        def run_binding(request: Request) -> Optional[Reply]:
            run_id = request.arg("run_id")
            if not run_id:
                return None
            run = self.runs.get(run_id)
            if run is None:
                return _error(404, "not_found", f'Action run with identifier "{run_id}" was not found')
            if run["status"] != "IN_PROGRESS":
                return _error(422, "run_exhausted", "Action run already finished execution")
            return None

        def check_entity(body: Any) -> Optional[Tuple[int, str, str]]:
            # The request schema already holds the identifier to Port's pattern; what is left is the
            # blueprint's own schema, which the fake models with reject_identifiers.
            identifier = body.get("identifier")
            if not isinstance(identifier, str) or not re.match(r"^[\w@.+:/=-]+$", identifier):
                return 422, "invalid_request", f"identifier {identifier!r} is not a valid identifier"
            if identifier in self.reject_identifiers:
                return 422, "invalid_request", f'Entity "{identifier}" does not match the blueprint schema'
            return None

        def store(bp: str, body: Dict[str, Any], request: Request) -> Tuple[Dict[str, Any], bool]:
            existing = self.entities[bp].get(body["identifier"])
            merge = _flag(request, "merge")
            now = _now()
            if existing is not None and merge:
                entity = copy.deepcopy(existing)
                for key, value in body.items():
                    if key in ("properties", "relations"):
                        entity.setdefault(key, {}).update(value)
                    else:
                        entity[key] = value
            else:
                entity = {"title": body["identifier"], "icon": None, "team": [], "properties": {}, "relations": {}}
                entity.update(copy.deepcopy(body))
                entity["createdAt"] = existing["createdAt"] if existing else now
                entity["createdBy"] = self.client_id
            entity["blueprint"] = bp
            entity["updatedAt"] = now
            entity["updatedBy"] = self.client_id
            if not _flag(request, "validation_only"):
                self.entities[bp][body["identifier"]] = entity
                if request.arg("run_id"):
                    self._log_to_run(str(request.arg("run_id")), f"Entity {body['identifier']} of {bp} upserted")
            return entity, existing is None

        @api(f"POST {bp_ops}/entities")
        def upsert(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            body = request.json() or {}
            problem = check_entity(body)
            if problem:
                return _error(*problem)
            if body["identifier"] in self.entities[bp] and not _flag(request, "upsert"):
                return _error(409, "identifier_taken", f'Entity "{body["identifier"]}" already exists')
            refused = run_binding(request)
            if refused:
                return refused
            entity, _created = store(bp, body, request)
            return json_reply(201, {"ok": True, "entity": entity_out(entity)})

        @api(f"POST {bp_ops}/entities/bulk")
        def bulk(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            items = request.json()["entities"]
            refused = run_binding(request)
            if refused:
                return refused
            done, errors = [], []
            for index, item in enumerate(items):
                problem = check_entity(item)
                identifier = str(item.get("identifier"))
                if problem:
                    status, error, message = problem
                    errors.append(
                        {
                            "identifier": identifier,
                            "index": index,
                            "statusCode": status,
                            "error": error,
                            "message": message,
                        }
                    )
                    continue
                _entity, created = store(bp, item, request)
                done.append({"identifier": identifier, "index": index, "created": created})
            return json_reply(207 if errors else 200, {"ok": not errors, "entities": done, "errors": errors})

        @api(f"POST {bp_ops}/bulk/entities/delete")
        def bulk_delete(request: Request) -> Reply:
            # Identifiers that do not exist are left out of deletedEntities (nothing to delete).
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            refused = run_binding(request)
            if refused:
                return refused
            deleted = []
            for identifier in request.json()["entities"]:
                if self.entities[bp].pop(identifier, None) is not None:
                    deleted.append(identifier)
                    if request.arg("run_id"):
                        self._log_to_run(str(request.arg("run_id")), f"Entity {identifier} of {bp} deleted")
            return json_reply(200, {"ok": True, "deletedEntities": deleted})

        @api(f"POST {bp_ops}/entities/search")
        def search_blueprint(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            body = request.json() or {}
            limit = int(body.get("limit", 200))
            include, exclude = body.get("include") or [], body.get("exclude") or []
            for name in [*include, *exclude]:
                if name.startswith("$") and name[1:] not in META_PROPERTIES:
                    return _error(422, "invalid_request", f'"{name}" is not a meta-property')
            try:
                found = [e for _, e in sorted(self.entities[bp].items()) if matches(e, body.get("query") or {})]
            except ValueError as exc:
                return _error(422, "invalid_request", str(exc))
            start = int(body.get("from") or 0)
            page = found[start : start + limit]
            selected = [entity_out(_select_identifiers(e, include, exclude)) for e in page]
            reply: Dict[str, Any] = {"ok": True, "entities": selected}
            if start + limit < len(found):
                reply["next"] = str(start + limit)
            return json_reply(200, reply)

        @api("POST /v1/entities/search")
        def search_all(request: Request) -> Reply:
            query = request.json() or {}
            include, exclude = request.query.get("include", []), request.query.get("exclude", [])
            try:
                found = [
                    e for bp in sorted(self.entities) for _, e in sorted(self.entities[bp].items()) if matches(e, query)
                ]
            except ValueError as exc:
                return _error(422, "invalid_request", str(exc))
            blueprints = sorted({e["blueprint"] for e in found})
            entities = [entity_out(_select_paths(e, include, exclude)) for e in found]
            return json_reply(200, {"ok": True, "matchingBlueprints": blueprints, "entities": entities})

        @api(f"GET {bp_ops}/entities/{{entity_identifier}}")
        def get_entity(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            identifier = unquote(request.params["entity_identifier"])
            entity = self.entities[bp].get(identifier)
            if entity is None:
                return _error(404, "not_found", f'Entity with identifier "{identifier}" not found')
            include, exclude = request.query.get("include", []), request.query.get("exclude", [])
            return json_reply(200, {"ok": True, "entity": entity_out(_select_paths(entity, include, exclude))})

        @api(f"DELETE {bp_ops}/entities/{{entity_identifier}}")
        def delete_entity(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            identifier = unquote(request.params["entity_identifier"])
            if identifier not in self.entities[bp]:
                return _error(404, "not_found", f'Entity with identifier "{identifier}" not found')
            refused = run_binding(request)
            if refused:
                return refused
            del self.entities[bp][identifier]
            if request.arg("run_id"):
                self._log_to_run(str(request.arg("run_id")), f"Entity {identifier} of {bp} deleted")
            return json_reply(200, {"ok": True})

        @api("POST /v1/actions/{action_identifier}/runs")
        def create_run(request: Request) -> Reply:
            action = unquote(request.params["action_identifier"])
            if action not in self.actions:
                return _error(404, "not_found", f'Action with identifier "{action}" was not found')
            body = request.json() or {}
            run_id = f"r_{secrets.token_hex(8)}"
            fields: Dict[str, Any] = {"properties": body.get("properties") or {}}
            entity_id = body.get("entity")
            if entity_id:
                bp = self.actions[action]["blueprint"]
                entity = self.entities.get(bp, {}).get(entity_id)
                fields["entity"] = {"identifier": entity_id, "title": (entity or {}).get("title", entity_id)}
                fields["relatedEntityExists"] = entity is not None
            run = self.add_run(run_id, action, **fields)
            return json_reply(202, {"ok": True, "run": self.run_out(run)})

        def find_run(request: Request, in_progress: bool = False) -> Tuple[Dict[str, Any], Optional[Reply]]:
            """The run the path names, or the reply refusing it: 404, or 422 when it must still be in progress."""
            run_id = unquote(request.params["run_id"])
            run = self.runs.get(run_id)
            if run is None:
                return {}, _error(404, "not_found", f'Action run with identifier "{run_id}" was not found')
            if in_progress and run["status"] != "IN_PROGRESS":
                return run, _error(422, "run_exhausted", "Action run already finished execution")
            return run, None

        def versioned(request: Request, body: Dict[str, Any]) -> Reply:
            v2 = request.arg("version") == "v2"
            if not v2:
                self.violations.append(f"{request.method} {request.path} without version=v2 (Port: 'Please use v2')")
            reply = json_reply(200, body)
            if not v2:
                reply.headers["x-fake-v1"] = "1"  # the spec describes v2 only: the v1 shape is not checked
            return reply

        @api("GET /v1/actions/runs/{run_id}")
        def get_run(request: Request) -> Reply:
            run, missing = find_run(request)
            if missing:
                return missing
            return versioned(request, {"ok": True, "run": self.run_out(run, v2=request.arg("version") == "v2")})

        @api("GET /v1/actions/runs")
        def list_runs(request: Request) -> Reply:
            v2 = request.arg("version") == "v2"
            found = []
            for run in sorted(self.runs.values(), key=lambda r: r["createdAt"], reverse=True):
                if request.arg("action") and run["action"] != request.arg("action"):
                    continue
                if request.arg("entity") and (run.get("entity") or {}).get("identifier") != request.arg("entity"):
                    continue
                if request.arg("blueprint") and run["blueprint"]["identifier"] != request.arg("blueprint"):
                    continue
                if request.arg("external_run_id") and run.get("externalRunId") != request.arg("external_run_id"):
                    continue
                active = request.arg("active")
                if active is not None and (run["status"] == "IN_PROGRESS") != (active == "true"):
                    continue
                found.append(self.run_out(run, v2=v2))
            limit = int(float(request.arg("limit") or 1000))
            return versioned(request, {"ok": True, "runs": found[:limit]})

        @api("PATCH /v1/actions/runs/{run_id}")
        def update_run(request: Request) -> Reply:
            run, refused = find_run(request, in_progress=True)
            if refused:
                return refused
            body = request.json() or {}
            for key in ("status", "statusLabel", "link", "summary", "externalRunId"):
                if key in body:
                    run[key] = body[key]
            run["updatedAt"] = _now()
            if body.get("status"):
                run["endedAt"] = run["updatedAt"]
            return json_reply(200, {"ok": True, "run": self.run_out(run)})

        @api("POST /v1/actions/runs/{run_id}/logs")
        def add_log(request: Request) -> Reply:
            run, refused = find_run(request, in_progress=True)
            if refused:
                return refused
            body = request.json()
            entry = self._log_to_run(run["id"], body["message"])
            status = body.get("terminationStatus")
            if status:
                run["status"] = status
                run["endedAt"] = run["updatedAt"] = _now()
                if "statusLabel" in body:
                    run["statusLabel"] = body["statusLabel"]
            return json_reply(201, {"ok": True, "runLog": entry})

        @api("GET /v1/actions/runs/{run_id}/logs")
        def list_logs(request: Request) -> Reply:
            run, missing = find_run(request)
            if missing:
                return missing
            limit = int(float(request.arg("limit") or 50))
            offset = int(float(request.arg("offset") or 0))
            logs = self.run_logs[run["id"]][offset : offset + limit]
            return json_reply(200, {"ok": True, "runLogs": logs})

    def _log_to_run(self, run_id: str, message: str) -> Dict[str, Any]:
        entry = {
            "id": f"log_{next(self._ids):06d}",
            "runId": run_id,
            "message": message,
            "createdAt": _now(),
            "createdBy": self.client_id,
        }
        self.run_logs.setdefault(run_id, []).append(entry)
        return entry


def make_server() -> PortFake:
    """An unstarted fake with the seeds' microservices and one in-progress action run."""
    fake = PortFake()
    now = _now()
    for identifier, region, version in (
        ("payments", "eu-west-1", "1.4.2"),
        ("checkout", "eu-west-1", "2.0.0"),
        ("search", "us-east-1", "0.9.1"),
    ):
        fake.entities["microservice"][identifier] = {
            "identifier": identifier,
            "title": identifier.title(),
            "icon": "Microservice",
            "blueprint": "microservice",
            "team": ["platform"],
            "properties": {"region": region, "version": version},
            "relations": {},
            "createdAt": now,
            "createdBy": fake.client_id,
            "updatedAt": now,
            "updatedBy": fake.client_id,
        }
    fake.add_run(SEEDED_RUN, "create_microservice", properties={"name": "my-microservice", "region": "eu-west-1"})
    return fake


def env_for(url: str) -> Dict[str, str]:
    """What scripts/port.py needs to talk to this fake."""
    return {"PORT_BASE_URL": url, "PORT_CLIENT_ID": CLIENT_ID, "PORT_CLIENT_SECRET": CLIENT_SECRET}


def fixtures(fake: PortFake) -> Dict[str, Any]:
    """What this fake holds (the `cirelay-emulators fixtures` entry): read from its state, not restated."""
    with fake._state:
        return {
            "credentials": {"client_id": fake.client_id, "client_secret": fake.client_secret},
            "blueprints": sorted(fake.blueprints),
            "entities": {bp: sorted(found) for bp, found in sorted(fake.entities.items())},
            "actions": {name: dict(action) for name, action in sorted(fake.actions.items())},
            "runs": {
                run_id: {"action": run["action"], "status": run["status"], "blueprint": run["blueprint"]["identifier"]}
                for run_id, run in sorted(fake.runs.items())
            },
        }
