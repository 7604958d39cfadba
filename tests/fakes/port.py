"""A fake Port API (https://docs.port.io/api-reference/port-api) for tests, the demo and the bench.

Routes, all under /v1, with Port's shapes (seeds: port-circleci.md, port-action-runs.md):

    POST   /auth/access_token                 {clientId, clientSecret} -> {ok, accessToken, expiresIn, tokenType}
    POST   /blueprints/{bp}/entities          ?upsert&merge&create_missing_related_entities&validation_only&run_id
                                              entity -> 201 {ok, entity}
    GET    /blueprints/{bp}/entities/{id}     ?include&exclude -> {ok, entity}
    DELETE /blueprints/{bp}/entities/{id}     ?delete_dependents&run_id -> {ok}
    POST   /blueprints/{bp}/entities/search   {query, include, limit, from} -> {ok, entities, next?}
    POST   /entities/search                   {combinator, rules} ?include -> {ok, matchingBlueprints, entities}
    POST   /blueprints/{bp}/entities/bulk     {entities: [≤20]} -> 200, or 207 when some failed:
                                              {ok, entities: [{identifier, index, created}],
                                               errors: [{identifier, index, statusCode, error, message}]}
    POST   /actions/{action}/runs             {entity?, properties} -> 202 {ok, run}
    GET    /actions/runs/{id}                 -> {ok, run}
    PATCH  /actions/runs/{id}                 {status, statusLabel, link, summary, externalRunId} -> {ok, run}
    POST   /actions/runs/{id}/logs            {message, terminationStatus?, statusLabel?} -> 201 {ok, runLog}
    GET    /actions/runs/{id}/logs            ?limit(≤50)&offset -> {ok, runLogs}

Errors are {ok: false, error, message}: 401 without a valid token, 404 unknown blueprint / entity /
action / run, 413 for a body over 1 MiB, 422 for a bad body or a finished run ('run_exhausted').

Switches beyond the base ones (fail_next, drop_next, latency): `expire_tokens()` makes every
token issued so far answer 401; `token_ttl` is the expiresIn of new tokens; `reject_identifiers`
makes bulk/upsert refuse those entities with 422; `max_body` lowers the 413 threshold.
`issued` lists every token handed out; `timings` records (method, path, start, end) of every
request, for the benchmark.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import re
import secrets
import threading
import time
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import unquote

from tests.fakes.base import FakeServer, Reply, Request, json_reply

CLIENT_ID = "cirelay-demo-client"
CLIENT_SECRET = "cirelay-demo-secret-7Qx9"  # the fake's own; tests assert it never shows in output
MAX_BODY = 1024 * 1024
IDENTIFIER = re.compile(r"^[A-Za-z0-9@_.+:/=-]+$")
SEEDED_RUN = "r_QOz6WoOB1Q2lmhZZ"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, error: str, message: str) -> Reply:
    return json_reply(status, {"ok": False, "error": error, "message": message})


def _flag(request: Request, name: str) -> bool:
    return (request.arg(name) or "").lower() == "true"


def _select(entity: Dict[str, Any], include: List[str], exclude: List[str]) -> Dict[str, Any]:
    """Port's include/exclude: top-level fields or properties.X / relations.X paths."""
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


class PortFake(FakeServer):
    """In-memory Port: blueprints, entities, actions, runs and their logs."""

    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET, token_ttl: int = 3600) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.tokens: Dict[str, float] = {}  # token -> monotonic expiry
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
        self._state = threading.RLock()
        self._ids = itertools.count(1)
        self._routes_setup()

    # -- switches ---------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far now answers 401 (as after Port's expiresIn)."""
        with self._state:
            self.tokens.clear()

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

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Optional[Reply]:
        started = time.monotonic()
        try:
            return super().handle(request)
        finally:
            with self._state:
                self.timings.append((request.method, request.path, started, time.monotonic()))

    def _authorized(self, request: Request) -> Optional[Reply]:
        header = request.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self._state:
            expiry = self.tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return _error(401, "unauthorized", "The access token is missing, invalid or expired")
        if len(request.body) > self.max_body:
            return _error(413, "request_too_large", "Request body is too large (limit is 1MiB)")
        return None

    def _routes_setup(self) -> None:
        route = self.route
        bp_path = r"/v1/blueprints/(?P<bp>[^/]+)"

        def guarded(handler: Any) -> Any:
            def run(request: Request) -> Reply:
                refused = self._authorized(request)
                if refused is not None:
                    return refused
                with self._state:
                    return handler(request)

            return run

        @route("POST", "/v1/auth/access_token")
        def token(request: Request) -> Reply:
            body = request.json() or {}
            if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
                return _error(401, "unauthorized", "Invalid client credentials")
            issued = f"fake-port-token-{secrets.token_hex(16)}"
            with self._state:
                self.tokens[issued] = time.monotonic() + self.token_ttl
                self.issued.append(issued)
            return json_reply(
                200, {"ok": True, "accessToken": issued, "expiresIn": self.token_ttl, "tokenType": "Bearer"}
            )

        def blueprint_of(request: Request) -> Tuple[str, Optional[Reply]]:
            bp = unquote(request.params["bp"])
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
            if not isinstance(body, dict):
                return 422, "invalid_request", "The entity must be an object"
            identifier = body.get("identifier")
            if not isinstance(identifier, str) or not IDENTIFIER.match(identifier):
                return 422, "invalid_request", f"identifier {identifier!r} must match {IDENTIFIER.pattern}"
            if identifier in self.reject_identifiers:
                return 422, "invalid_request", f'Entity "{identifier}" does not match the blueprint schema'
            for key in ("properties", "relations"):
                if key in body and not isinstance(body[key], dict):
                    return 422, "invalid_request", f"{key} must be an object"
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

        @route("POST", bp_path + "/entities")
        @guarded
        def upsert(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            body = request.json()
            problem = check_entity(body)
            if problem:
                return _error(*problem)
            if body["identifier"] in self.entities[bp] and not _flag(request, "upsert"):
                return _error(409, "identifier_taken", f'Entity "{body["identifier"]}" already exists')
            refused = run_binding(request)
            if refused:
                return refused
            entity, _created = store(bp, body, request)
            return json_reply(201 if not _flag(request, "validation_only") else 200, {"ok": True, "entity": entity})

        @route("POST", bp_path + "/entities/bulk")
        @guarded
        def bulk(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            body = request.json() or {}
            items = body.get("entities")
            if not isinstance(items, list) or not 1 <= len(items) <= 20:
                return _error(422, "invalid_request", "entities must be an array of 1 to 20 entities")
            refused = run_binding(request)
            if refused:
                return refused
            done, errors = [], []
            for index, item in enumerate(items):
                problem = check_entity(item)
                identifier = item.get("identifier") if isinstance(item, dict) else None
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

        @route("POST", bp_path + "/entities/search")
        @guarded
        def search_blueprint(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            body = request.json() or {}
            limit = body.get("limit", 200)
            if not isinstance(limit, int) or not 1 <= limit <= 1000:
                return _error(422, "invalid_request", "limit must be between 1 and 1000")
            try:
                found = [e for _, e in sorted(self.entities[bp].items()) if matches(e, body.get("query") or {})]
            except ValueError as exc:
                return _error(422, "invalid_request", str(exc))
            start = int(body.get("from") or 0)
            page = found[start : start + limit]
            reply: Dict[str, Any] = {"ok": True, "entities": [_select(e, body.get("include") or [], []) for e in page]}
            if start + limit < len(found):
                reply["next"] = str(start + limit)
            return json_reply(200, reply)

        @route("POST", "/v1/entities/search")
        @guarded
        def search_all(request: Request) -> Reply:
            query = request.json() or {}
            include = request.query.get("include", [])
            try:
                found = [
                    e for bp in sorted(self.entities) for _, e in sorted(self.entities[bp].items()) if matches(e, query)
                ]
            except ValueError as exc:
                return _error(422, "invalid_request", str(exc))
            blueprints = sorted({e["blueprint"] for e in found})
            entities = [_select(e, include, []) for e in found]
            return json_reply(200, {"ok": True, "matchingBlueprints": blueprints, "entities": entities})

        @route("GET", bp_path + "/entities/(?P<id>[^/]+)")
        @guarded
        def get_entity(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            identifier = unquote(request.params["id"])
            entity = self.entities[bp].get(identifier)
            if entity is None:
                return _error(404, "not_found", f'Entity with identifier "{identifier}" not found')
            include, exclude = request.query.get("include", []), request.query.get("exclude", [])
            return json_reply(200, {"ok": True, "entity": _select(entity, include, exclude)})

        @route("DELETE", bp_path + "/entities/(?P<id>[^/]+)")
        @guarded
        def delete_entity(request: Request) -> Reply:
            bp, missing = blueprint_of(request)
            if missing:
                return missing
            identifier = unquote(request.params["id"])
            if identifier not in self.entities[bp]:
                return _error(404, "not_found", f'Entity with identifier "{identifier}" not found')
            refused = run_binding(request)
            if refused:
                return refused
            del self.entities[bp][identifier]
            if request.arg("run_id"):
                self._log_to_run(str(request.arg("run_id")), f"Entity {identifier} of {bp} deleted")
            return json_reply(200, {"ok": True})

        @route("POST", "/v1/actions/(?P<action>[^/]+)/runs")
        @guarded
        def create_run(request: Request) -> Reply:
            action = unquote(request.params["action"])
            if action not in self.actions:
                return _error(404, "not_found", f'Action with identifier "{action}" was not found')
            body = request.json() or {}
            if not isinstance(body.get("properties", {}), dict):
                return _error(422, "invalid_request", "properties must be an object")
            run_id = f"r_{secrets.token_hex(8)}"
            fields: Dict[str, Any] = {"properties": body.get("properties") or {}}
            entity_id = body.get("entity")
            if entity_id:
                bp = self.actions[action]["blueprint"]
                entity = self.entities.get(bp, {}).get(entity_id)
                fields["entity"] = {"identifier": entity_id, "title": (entity or {}).get("title", entity_id)}
                fields["relatedEntityExists"] = entity is not None
            run = self.add_run(run_id, action, **fields)
            return json_reply(202, {"ok": True, "run": run})

        def find_run(request: Request, in_progress: bool = False) -> Tuple[Dict[str, Any], Optional[Reply]]:
            """The run the path names, or the reply refusing it: 404, or 422 when it must still be in progress."""
            run_id = unquote(request.params["id"])
            run = self.runs.get(run_id)
            if run is None:
                return {}, _error(404, "not_found", f'Action run with identifier "{run_id}" was not found')
            if in_progress and run["status"] != "IN_PROGRESS":
                return run, _error(422, "run_exhausted", "Action run already finished execution")
            return run, None

        @route("GET", "/v1/actions/runs/(?P<id>[^/]+)")
        @guarded
        def get_run(request: Request) -> Reply:
            run, missing = find_run(request)
            return missing or json_reply(200, {"ok": True, "run": run})

        @route("PATCH", "/v1/actions/runs/(?P<id>[^/]+)")
        @guarded
        def update_run(request: Request) -> Reply:
            run, refused = find_run(request, in_progress=True)
            if refused:
                return refused
            body = request.json() or {}
            if body.get("status") not in (None, "SUCCESS", "FAILURE"):
                return _error(422, "invalid_request", "status must be SUCCESS or FAILURE")
            for key in ("status", "statusLabel", "link", "summary", "externalRunId"):
                if key in body:
                    run[key] = body[key]
            run["updatedAt"] = _now()
            if body.get("status"):
                run["endedAt"] = run["updatedAt"]
            return json_reply(200, {"ok": True, "run": run})

        @route("POST", "/v1/actions/runs/(?P<id>[^/]+)/logs")
        @guarded
        def add_log(request: Request) -> Reply:
            run, refused = find_run(request, in_progress=True)
            if refused:
                return refused
            body = request.json() or {}
            if not isinstance(body.get("message"), str):
                return _error(422, "invalid_request", "message is required")
            status = body.get("terminationStatus")
            if status not in (None, "SUCCESS", "FAILURE"):
                return _error(422, "invalid_request", "terminationStatus must be SUCCESS or FAILURE")
            entry = self._log_to_run(run["id"], body["message"])
            if status:
                run["status"] = status
                run["endedAt"] = run["updatedAt"] = _now()
                if "statusLabel" in body:
                    run["statusLabel"] = body["statusLabel"]
            return json_reply(201, {"ok": True, "runLog": entry})

        @route("GET", "/v1/actions/runs/(?P<id>[^/]+)/logs")
        @guarded
        def list_logs(request: Request) -> Reply:
            run, missing = find_run(request)
            if missing:
                return missing
            limit = int(request.arg("limit") or 50)
            offset = int(request.arg("offset") or 0)
            if not 1 <= limit <= 50:
                return _error(422, "invalid_request", "limit must be between 1 and 50")
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
