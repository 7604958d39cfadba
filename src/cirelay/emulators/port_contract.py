"""Port's published contract, made executable: check a request and a reply against one operation.

The contract is contracts/port-openapi.json next to this module (Port's OpenAPI 3.1 spec, the operations cirelay
uses; provenance in contracts/README.md). `PortContract.match(method, path)` finds the operation a request is for;
`check_request` lists every way the request departs from it (a query parameter the operation does not have, a
required one missing, a value of the wrong type, a body that does not fit the request schema), and
`check_reply` every way a reply body departs from the response schema of its status. Schemas are checked with
jsonschema, draft 2020-12 (the dialect of OpenAPI 3.1).

jsonschema is optional (the `emulators` extra, and a test dependency): without it (the demo, or
`cirelay-emulators` installed with only the runtime requirements)
nothing is checked. The tests import it themselves, so they cannot pass unchecked.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Pattern, Tuple

if TYPE_CHECKING:
    import jsonschema

CAN_CHECK = importlib.util.find_spec("jsonschema") is not None

SPEC = Path(__file__).resolve().parent / "contracts" / "port-openapi.json"

# Port writes identifier patterns with \p{L} (any letter); Python's re has no \p{...}. Inside a character class
# these ranges stand for it: Latin-1 and Latin Extended letters, Greek, Cyrillic and the rest of the BMP's
# alphabetic blocks. Broader than \p{L} at the edges, never narrower for the identifiers tests use.
_LETTER = "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02c1\u0370-\u03ff\u0400-\u052f\u3040-\u9fff"


def _translate(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace("\\p{L}", _LETTER) if k == "pattern" and isinstance(v, str) else _translate(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_translate(v) for v in node]
    return node


@dataclass
class Operation:
    key: str  # "METHOD /v1/path/{param}", as the contract names it
    method: str
    regex: Pattern[str]
    parameters: List[Dict[str, Any]]
    body: Optional[Dict[str, Any]]
    body_required: bool
    responses: Dict[str, Any]
    path_params: Dict[str, str] = field(default_factory=dict)


class PortContract:
    def __init__(self, path: Path = SPEC) -> None:
        spec = _translate(json.loads(path.read_text(encoding="utf-8")))
        self._components = spec["components"]
        self.operations: List[Operation] = []
        for key, op in spec["operations"].items():
            method, template = key.split(" ", 1)
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            self.operations.append(
                Operation(
                    key=key,
                    method=method,
                    regex=re.compile(f"^{pattern}$"),
                    parameters=op.get("parameters") or [],
                    body=op.get("requestBody"),
                    body_required=bool(op.get("requestBodyRequired")),
                    responses=op.get("responses") or {},
                )
            )
        # A literal path wins over a template (…/entities/search before …/entities/{entity_identifier}).
        self.operations.sort(key=lambda o: o.key.count("{"))

    def match(self, method: str, path: str) -> Optional[Tuple[Operation, Dict[str, str]]]:
        for op in self.operations:
            found = op.regex.match(path)
            if found and op.method == method:
                return op, found.groupdict()
        return None

    def _validator(self, schema: Dict[str, Any]) -> jsonschema.Draft202012Validator:
        return _cached_validator(json.dumps({**schema, "components": self._components}, sort_keys=True))

    def _errors(self, schema: Dict[str, Any], value: Any, where: str) -> List[str]:
        if not CAN_CHECK:
            return []
        validator = self._validator(schema)
        found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"{where}{_path(e)}: {_best(e)}" for e in found[:5]]

    def check_request(
        self, op: Operation, path_params: Dict[str, str], query: Dict[str, List[str]], body: bytes
    ) -> List[str]:
        """Every departure of this request from the operation's parameters and request body schema."""
        problems: List[str] = []
        declared = {(p["in"], p["name"]): p for p in op.parameters}
        for name in query:
            if ("query", name) not in declared:
                problems.append(f"query parameter {name!r} is not a parameter of {op.key}")
        for (where, name), param in declared.items():
            schema = param.get("schema") or {}
            if where == "path":
                value: Any = path_params.get(name)
                if value is None:
                    continue
            elif where == "query":
                if name not in query:
                    if param.get("required"):
                        problems.append(f"required query parameter {name!r} of {op.key} is missing")
                    continue
                values = query[name]
                if schema.get("type") == "array":
                    value = values
                else:
                    if len(values) > 1:
                        problems.append(f"query parameter {name!r} given {len(values)} times; {op.key} takes one")
                    value = _coerce(values[-1], schema)
            else:
                continue
            problems.extend(self._errors(schema, value, f"{where} parameter {name!r}"))
        if op.body is None:
            if body.strip():
                problems.append(f"{op.key} takes no request body")
            return problems
        if not body.strip():
            if op.body_required:
                problems.append(f"{op.key} requires a JSON request body")
            return problems
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            return [*problems, f"request body is not JSON: {exc}"]
        problems.extend(self._errors(op.body, decoded, "request body"))
        return problems

    def check_reply(self, op: Operation, status: int, body: Any) -> List[str]:
        """Every departure of a reply the fake made from the response schema the contract gives for its status."""
        schema = op.responses.get(str(status))
        if schema is None:
            if 200 <= status < 300:
                return [f"{op.key} never answers {status}; the contract lists {sorted(op.responses)}"]
            return []  # statuses the contract does not describe (409, 429, 5xx) are not checked
        return self._errors(schema, body, f"{status} reply body")


@functools.lru_cache(maxsize=256)
def _cached_validator(text: str) -> jsonschema.Draft202012Validator:
    import jsonschema  # optional, see the module docstring

    schema = json.loads(text)
    return jsonschema.Draft202012Validator(schema)


def _coerce(raw: str, schema: Dict[str, Any]) -> Any:
    """A query string value as the schema's type would read it (Port's Fastify coerces the same way)."""
    kind = schema.get("type")
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if kind in ("number", "integer"):
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() else number
    return raw


def _path(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p!r}]" for p in error.absolute_path)


def _best(error: jsonschema.ValidationError) -> str:
    import jsonschema  # optional, see the module docstring

    best = jsonschema.exceptions.best_match([error])
    return best.message[:300]
