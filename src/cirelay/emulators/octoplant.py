"""A fake octoplant Export API that answers as the vendor's swagger says (contracts/octoplant-export.json here).

Sources: the swagger "octoplant API" 1.2 (cited as `swagger <definition>`), the vendor's guide (seed
octoplant-export-api.txt, cited as `guide`), and grpc-gateway, which serves that swagger's HTTP side (the swagger is
protoc-gen-openapiv2 output: `default` responses are google.rpc.Status, the download is "Free form byte stream"):
grpc-ecosystem/grpc-gateway @ 9648db4 `runtime/…` and protocolbuffers/protobuf-go @ f2248ac `encoding/protojson/…`.

Routes:

- `POST /v1/oauth2/token` (swagger OIDC_Token; guide "Authorization": form grant_type=password, username, password,
  client_id, client_secret) -> 200 `{"access_token", "token_type": "Bearer", "expires_in"}` (TokenResponse is an open
  object in the swagger). A refusal is the swagger's `default`, a google.rpc.Status: wrong client, user or password
  401 code 16 UNAUTHENTICATED, another grant_type 400 code 3 (HTTP status from the code: runtime/errors.go:36-77).
- `POST /v1/order` (Export_RunExport, body RunExportRequest) -> 200 an Operation. Every body is validated against
  RunExportRequest with jsonschema (`order_errors`, below); a violation is 400 code 3 and is logged in
  `violations`, so a test sees any request the contract does not allow. Unknown kinds and unknown option names
  pass (ExportContents and the option objects are open) and are dropped, as the server's protojson decoder does
  (runtime/marshaler_registry.go:20-29 DiscardUnknown; protojson decode.go:196-204): they never reach contents.json.
- `GET /v1/order/{name}` (Export_GetOperation) -> the Operation; every poll moves it one step: STATE_PENDING ->
  STATE_RUNNING (sub-process counts moving) -> STATE_SUCCEEDED with done=true after `steps` polls, or STATE_FAILED
  with `error` INTERNAL when `fail_orders` is set. An unknown name is 404 code 5.
- `POST /v1/order/{name}/cancel` (Export_CancelExport) -> `{}` (swagger: an object without properties); the order
  ends STATE_FAILED with error code 1 CANCELLED.
- `GET /v1/order/{name}/download` (Export_DownloadExport, "Free form byte stream", a server stream of HttpBody):
  the ZIP (contents.json plus one JSON file per kind the server knew), sent chunked as grpc-gateway streams do
  (runtime/handler.go:31-33; `download_length` sends a Content-Length instead, as a buffering proxy would). Not done
  or failed: 400 code 9 FAILED_PRECONDITION, a bare Status (the handler fails before sending anything: grpc-go
  `ClientStream.Header()` returns that error, internal/transport/client_stream.go:158-166, and the generated gateway
  answers it with runtime.HTTPError, protoc-gen-grpc-gateway/internal/gengateway/template.go:886-889).

Shapes (swagger definitions, as grpc-gateway's default marshaler writes them: protojson with EmitUnpopulated):

- Operation {name, metadata, done, error, response}: every field present; `error` and `response` are null when
  unset (protojson encode.go:249-250), `response` is RunExportResponse {name} once succeeded.
- metadata is an ExportState {name, systemId, licenseSerialNumber, state, currentSubProcess, finishedSubProcesses,
  openSubProcesses}: no `@type` (swagger Operation.metadata is ExportState, not google.protobuf.Any); its int64
  counts are JSON strings ("64-bit integers are written out as JSON string", protojson encode.go:311-314).
- Errors of unary calls are a google.rpc.Status {code, message, details: []}; `grpc_error`.
- A stream error (`download_error`) is `{"error": google.rpc.Status}` and a newline (runtime/handler.go:229-253):
  before the first byte with the HTTP status of its code (handler.go:232-235), after bytes appended to the body,
  which has already gone out as HTTP 200. (grpc-gateway's default also writes a newline after each HttpBody chunk,
  handler.go:104; the vendor's downloads are valid ZIPs, so its server does not, and the fake does not either.)

Every route but the token needs `Authorization: Bearer <token>`; otherwise 401 code 16.

Switches (attributes, read at request time), besides FakeServer's fail_next/drop_next/latency:

- `steps`: polls until an order is done (default 3);
- `fail_orders`: orders end STATE_FAILED, error INTERNAL;
- `never_finish`: orders stay STATE_RUNNING forever;
- `unspecified_polls`: a fresh order reads STATE_UNSPECIFIED (the enum's zero value, swagger ExportState.State
  default; guide: the state before the export service picks it up) in its create answer and this many polls;
- `never_picked_up`: orders stay STATE_UNSPECIFIED, done false, forever;
- `download_error`: a stream error `{"code", "message", "after"}`: with `after` None (or missing) it comes before the
  first byte, with the HTTP status of its code; with `after` N, after N bytes of the ZIP under HTTP 200 (N past the
  end: after the whole ZIP); `"bare": True` sends a pre-stream error as a bare Status (see the download above);
- `truncate_download`: the body stops at half its length;
- `corrupt_download`: one byte of a member's data is flipped (the CRC check must catch it);
- `download_size`: serve a generated ZIP of exactly this many bytes instead, streamed chunk by
  chunk (stored members, CRCs computed while sending), never held in memory;
- `download_length`: send a Content-Length (default: chunked, as the real server);
- `chunked_download`: kept for old tests, the opposite of `download_length`;
- `token_uses`: a token is refused (401) after this many API requests (expiry mid-wait; 0: refused at once);
- `download_rate`: bytes per second the download is paced to (a network link), None: as fast as it goes.

`make_server(tls_dir=...)` serves HTTPS with a self-signed certificate made there by the
`openssl` command; `server.ca_bundle` is then the certificate's path.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import ssl
import struct
import subprocess
import threading
import time
import uuid
import zipfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

try:
    import jsonschema
except ImportError:  # the demo runs the fakes with the scripts' requirements only (requests, click)
    jsonschema = None

from cirelay.emulators.base import FakeServer, Reply, Request, json_reply

USERNAME = "versiondog"  # the vendor sample's user
PASSWORD = "change-it"  # the vendor sample's password
CLIENT_ID = "public-api"
CLIENT_SECRET = "ff99971a-f8c3-4d21-5345-f7cb021b4b54"  # the documented public-api secret

CONTRACT_PATH = Path(__file__).resolve().parent / "contracts" / "octoplant-export.json"
CONTRACT: Dict[str, Any] = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
PREFIX = "octoplant.exportapi.v1."

# swagger ExportContents.properties, in the swagger's order.
KINDS = tuple(CONTRACT["definitions"][f"{PREFIX}ExportContents"]["properties"])

# runtime/errors.go:36-77 HTTPStatusFromCode, by google.rpc.Code.
HTTP_STATUS = {
    0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip


# -- the contract ------------------------------------------------------------------------------------


def _is_int64(node: Dict[str, Any]) -> bool:
    return node.get("type") == "integer" and node.get("format") in ("int64", "uint64")


def _transform(node: Any, *, wire: bool, closed: bool) -> Any:
    if isinstance(node, list):
        return [_transform(item, wire=wire, closed=closed) for item in node]
    if not isinstance(node, dict):
        return node
    if wire and _is_int64(node):
        # protojson encode.go:311-314: 64-bit integers are JSON strings.
        return {"type": "string", "pattern": "^-?[0-9]+$"}
    out = {key: _transform(value, wire=wire, closed=closed) for key, value in node.items()}
    if closed and isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if wire and isinstance(out.get("properties"), dict):
        for key, value in list(out["properties"].items()):
            if "allOf" in value or "$ref" in value:
                # A message field left unset is null under EmitUnpopulated (protojson encode.go:249-250);
                # an unset enum is its zero value's name, which its schema allows already.
                if _points_at_object(node["properties"][key]):
                    out["properties"][key] = {"anyOf": [{"type": "null"}, value]}
    return out


def _points_at_object(node: Dict[str, Any]) -> bool:
    ref = node.get("$ref") or next((part.get("$ref") for part in node.get("allOf", []) if "$ref" in part), None)
    if not ref:
        return False
    target = CONTRACT["definitions"][ref.split("/")[-1]]
    return target.get("type") == "object"


def schema_for(definition: str, *, wire: bool = False, closed: bool = False) -> Dict[str, Any]:
    """A JSON Schema for one swagger definition (`Operation` or a full name like `google.rpc.Status`).

    wire: as the server's JSON looks (int64 as strings, unset messages null); closed: an object refuses
    properties its definition does not name (for checking what the fake answers).
    """
    name = definition if "." in definition else f"{PREFIX}{definition}"
    definitions = _transform(CONTRACT["definitions"], wire=wire, closed=closed)
    return {"definitions": definitions, "$ref": f"#/definitions/{name}"}


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _date_time(value: object) -> bool:
    """RFC 3339 with a zone, as protojson reads a google.protobuf.Timestamp (protojson well_known_types.go:752-763)."""
    if not isinstance(value, str):
        return True
    found = _RFC3339.match(value)
    if not found:
        return False
    datetime.strptime(f"{found.group(1)}T{found.group(2)}", "%Y-%m-%dT%H:%M:%S")  # ranges: month 13 raises
    return True


CONTRACT_CHECKED = jsonschema is not None  # False: only the demo, which installs no test dependencies
if jsonschema is not None:
    _FORMATS = jsonschema.FormatChecker(formats=())
    _FORMATS.checks("date-time", raises=ValueError)(_date_time)
    _ORDER_VALIDATOR = jsonschema.Draft4Validator(schema_for("RunExportRequest"), format_checker=_FORMATS)


def order_errors(body: Any) -> List[str]:
    """What is wrong with a POST /v1/order body by the swagger's RunExportRequest (empty: nothing)."""
    if jsonschema is None:  # the shape at least
        contents = body.get("exportContents") if isinstance(body, dict) else None
        if not isinstance(contents, dict) or not all(isinstance(v, dict) for v in contents.values()):
            return ["(body): exportContents must be an object of objects"]
        return []
    errors = sorted(_ORDER_VALIDATOR.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}" for e in errors]


def understood(contents: Dict[str, Any]) -> Dict[str, Any]:
    """exportContents as the server reads it: unknown kinds and option names dropped (DiscardUnknown)."""
    definitions = CONTRACT["definitions"]
    kept: Dict[str, Any] = {}
    for kind, options in contents.items():
        if kind not in KINDS:
            continue
        ref = definitions[f"{PREFIX}ExportContents"]["properties"][kind]["allOf"][0]["$ref"]
        known = definitions[ref.split("/")[-1]].get("properties", {})
        kept[kind] = {key: value for key, value in options.items() if key in known}
    return kept


def grpc_error(code: int, message: str) -> Dict[str, Any]:
    """A google.rpc.Status as the gateway writes it (details always present under EmitUnpopulated)."""
    return {"code": code, "message": message, "details": []}


def status_reply(code: int, message: str) -> Reply:
    """A unary call's error: the Status itself, with the HTTP status of its code."""
    return json_reply(HTTP_STATUS[code], grpc_error(code, message))


# -- generated ZIP -----------------------------------------------------------------------------------


GENERATED_CHUNK = 1 << 20
GENERATED_MEMBER = 64 << 20  # data bytes per generated member
_PATTERN = bytes(range(256)) * (GENERATED_CHUNK // 256)
_DOS_TIME, _DOS_DATE = 0x6000, 0x5B77  # 2025-11-23 12:00:00


def _local_header(name: bytes) -> bytes:
    # Stored, flag 0x08: CRC and sizes follow the data in a data descriptor.
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x08, 0, _DOS_TIME, _DOS_DATE, 0, 0, 0, len(name), 0) + name


def _central_header(name: bytes, crc: int, size: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0x08,
            0,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            size,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + name
    )


def _end_record(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def generated_zip(size: int, contents: bytes = b"{}") -> Tuple[int, Iterator[bytes]]:
    """A valid stored ZIP of exactly `size` bytes (if size allows): contents.json, then data members.

    Returns (length, chunks); the chunks are made while sending, CRCs computed on the way.
    """
    if size >= 0xFFFF0000:
        raise ValueError("generated ZIPs stay below 4 GiB (no ZIP64)")
    first = b"contents.json"
    overhead_first = 30 + len(first) + 16 + 46 + len(first)
    data_total = max(size - 22 - overhead_first - len(contents), 0)
    members: List[Tuple[bytes, int]] = []
    index = 0
    while data_total > 0 or not members:
        name = f"projectTree/part-{index + 1:04d}.bin".encode()
        overhead = 30 + len(name) + 16 + 46 + len(name)
        if data_total <= overhead:
            break
        take = min(GENERATED_MEMBER, data_total - overhead)
        members.append((name, take))
        data_total -= overhead + take
        index += 1
    pad = data_total  # what is left below one member's overhead goes into contents.json as spaces
    contents = contents + b" " * pad
    length = overhead_first + len(contents) + sum(30 + len(n) + 16 + 46 + len(n) + s for n, s in members) + 22

    def chunks() -> Iterator[bytes]:
        offset = 0
        central: List[bytes] = []
        for name, data in [(first, contents)]:
            header = _local_header(name)
            crc = zlib.crc32(data)
            yield header + data + struct.pack("<4s3L", b"PK\x07\x08", crc, len(data), len(data))
            central.append(_central_header(name, crc, len(data), offset))
            offset += len(header) + len(data) + 16
        for name, member_size in members:
            header = _local_header(name)
            yield header
            crc, left = 0, member_size
            while left > 0:
                piece = _PATTERN if left >= GENERATED_CHUNK else _PATTERN[:left]
                crc = zlib.crc32(piece, crc)
                yield piece
                left -= len(piece)
            yield struct.pack("<4s3L", b"PK\x07\x08", crc, member_size, member_size)
            central.append(_central_header(name, crc, member_size, offset))
            offset += len(header) + member_size + 16
        directory = b"".join(central)
        yield directory + _end_record(len(central), len(directory), offset)

    return length, chunks()


def small_zip(order: Dict[str, Any], contents: Dict[str, Any]) -> bytes:
    """The ZIP of a finished order: contents.json and one JSON file per export kind."""
    buffer = io.BytesIO()
    files = [{"kind": kind, "file": f"{kind}.json", "options": options} for kind, options in contents.items()]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("contents.json", json.dumps({"order": order["name"], "exports": files}, indent=2))
        for kind in contents:
            rows = [
                {"id": i, "kind": kind, "name": f"{kind} item {i}", "path": f"/Plant/Line {i % 3}"} for i in range(50)
            ]
            archive.writestr(f"{kind}.json", json.dumps(rows, indent=2))
    return buffer.getvalue()


def _truncated(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= limit:
            yield chunk[: limit - sent]
            return
        sent += len(chunk)
        yield chunk


# -- TLS ---------------------------------------------------------------------------------------------


def make_tls(directory: str) -> Tuple[ssl.SSLContext, str]:
    """A server context with a fresh self-signed certificate for 127.0.0.1; returns it and the cert path."""
    cert, key = os.path.join(directory, "octoplant-cert.pem"), os.path.join(directory, "octoplant-key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


# -- the fake ----------------------------------------------------------------------------------------


def _with_error_after(chunks: Iterator[bytes], after: int, error: bytes) -> Iterator[bytes]:
    """The first `after` bytes of the stream, then the gateway's error chunk (handler.go:241-248)."""
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= after:
            yield chunk[: after - sent]
            break
        sent += len(chunk)
        yield chunk
    yield error


class OctoplantFake(FakeServer):
    """The octoplant Export API in memory."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(tls)
        self.ca_bundle: Optional[str] = None
        self.client_secret = CLIENT_SECRET
        self.system_id = str(uuid.uuid4())
        self.orders: Dict[str, Dict[str, Any]] = {}
        self.tokens: Dict[str, Optional[int]] = {}  # token -> requests left (None: unlimited)
        self.cancelled: List[str] = []
        self.violations: List[str] = []  # order bodies that broke the contract, with what was wrong
        self.state_lock = threading.Lock()
        self.steps = 3
        self.fail_orders = False
        self.never_finish = False
        self.unspecified_polls = 0
        self.never_picked_up = False
        self.download_error: Optional[Dict[str, Any]] = None
        self.truncate_download = False
        self.corrupt_download = False
        self.download_size: Optional[int] = None
        self.download_length = False
        self.chunked_download = False
        self.token_uses: Optional[int] = None
        self.download_rate: Optional[float] = None
        self.route("POST", "/v1/oauth2/token")(self._token)
        self.route("POST", "/v1/order")(self._create)
        self.route("GET", r"/v1/order/(?P<name>[^/]+)")(self._get)
        self.route("POST", r"/v1/order/(?P<name>[^/]+)/cancel")(self._cancel)
        self.route("GET", r"/v1/order/(?P<name>[^/]+)/download")(self._download)

    # -- auth
    def _token(self, req: Request) -> Reply:
        # swagger /v1/oauth2/token post (OIDC_Token): 200 TokenResponse (an open object), default google.rpc.Status.
        form = req.form()
        if form.get("grant_type") != "password":
            return status_reply(3, "unsupported grant_type: use password")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            return status_reply(16, "invalid client")
        if form.get("username") != USERNAME or form.get("password") != PASSWORD:
            return status_reply(16, "invalid user credentials")
        token = f"tok-{uuid.uuid4().hex}"
        with self.state_lock:
            self.tokens[token] = self.token_uses
        return json_reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _denied(self, req: Request) -> Optional[Reply]:
        header = req.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self.state_lock:
            if token not in self.tokens:
                return status_reply(16, "invalid or missing access token")
            left = self.tokens[token]
            if left is not None:
                if left <= 0:
                    return status_reply(16, "access token expired")
                self.tokens[token] = left - 1
        return None

    # -- orders
    def _create(self, req: Request) -> Reply:
        # swagger /v1/order post (Export_RunExport): body RunExportRequest (required exportContents), 200 Operation.
        denied = self._denied(req)
        if denied:
            return denied
        try:
            body = req.json()
        except ValueError as exc:
            self.violations.append(f"not JSON: {exc}")
            return status_reply(3, f"invalid character in request body: {exc}")
        problems = order_errors(body)
        if problems:
            self.violations.extend(problems)
            return status_reply(3, f"invalid RunExportRequest: {'; '.join(problems)}")
        contents = understood(body["exportContents"])
        if not contents:
            return status_reply(3, "exportContents names no export the server knows")
        name = str(uuid.uuid4())
        picked_up = not (self.never_picked_up or self.unspecified_polls > 0)
        order = {  # swagger octoplant.exportapi.v1.Operation, every field present (EmitUnpopulated)
            "name": name,
            "metadata": {  # swagger octoplant.exportapi.v1.ExportState; int64 counts as strings
                "name": name,
                "systemId": self.system_id,
                "licenseSerialNumber": "",
                "state": "STATE_PENDING" if picked_up else "STATE_UNSPECIFIED",
                "currentSubProcess": "",
                "finishedSubProcesses": "0",
                "openSubProcesses": str(len(contents)) if picked_up else "0",
            },
            "done": False,
            "error": None,
            "response": None,
        }
        with self.state_lock:
            self.orders[name] = {
                "order": order,
                "contents": contents,
                "polls": 0,
                "unspecified": 0 if picked_up else (None if self.never_picked_up else self.unspecified_polls),
                "cancelled": False,
            }
        return json_reply(200, order)

    def _advance(self, entry: Dict[str, Any]) -> Dict[str, Any]:
        order = entry["order"]
        if order["done"]:
            return order
        kinds = list(entry["contents"])
        meta = order["metadata"]
        if entry["cancelled"]:
            order.update(done=True, error=grpc_error(1, "the export was cancelled"))
            meta.update(state="STATE_FAILED", currentSubProcess="")
            return order
        if entry["unspecified"] is None:
            return order  # never picked up
        if entry["unspecified"] > 0:
            entry["unspecified"] -= 1
            return order
        entry["polls"] += 1
        polls = entry["polls"]
        if self.never_finish or polls < self.steps:
            finished = 0 if self.never_finish else min(polls - 1, len(kinds) - 1)
            meta.update(
                state="STATE_RUNNING",
                currentSubProcess=kinds[finished],
                finishedSubProcesses=str(finished),
                openSubProcesses=str(len(kinds) - finished),
            )
        elif self.fail_orders:
            order.update(done=True, error=grpc_error(13, f"export of {kinds[0]} failed: database connection lost"))
            meta.update(state="STATE_FAILED", currentSubProcess="")
        else:
            order.update(done=True, response={"name": order["name"]})  # swagger RunExportResponse {name}
            meta.update(
                state="STATE_SUCCEEDED",
                currentSubProcess="",
                finishedSubProcesses=str(len(kinds)),
                openSubProcesses="0",
            )
        return order

    def _entry(self, req: Request) -> Tuple[Optional[Dict[str, Any]], Optional[Reply]]:
        denied = self._denied(req)
        if denied:
            return None, denied
        entry = self.orders.get(req.params["name"])
        if entry is None:
            return None, status_reply(5, f"order {req.params['name']} not found")
        return entry, None

    def _get(self, req: Request) -> Reply:
        # swagger /v1/order/{name} get (Export_GetOperation): 200 Operation, default google.rpc.Status.
        entry, error = self._entry(req)
        if error or entry is None:
            return error or json_reply(500, {})
        with self.state_lock:
            return json_reply(200, copy.deepcopy(self._advance(entry)))

    def _cancel(self, req: Request) -> Reply:
        # swagger /v1/order/{name}/cancel post (Export_CancelExport): 200 an object without properties.
        entry, error = self._entry(req)
        if error or entry is None:
            return error or json_reply(500, {})
        with self.state_lock:
            if not entry["order"]["done"]:
                entry["cancelled"] = True
                self.cancelled.append(entry["order"]["name"])
                self._advance(entry)
        return json_reply(200, {})

    def _download(self, req: Request) -> Reply:
        # swagger /v1/order/{name}/download get (Export_DownloadExport): 200 "Free form byte stream" (a server
        # stream), default google.rpc.Status; see the module docstring for how grpc-gateway sends its errors.
        entry, error = self._entry(req)
        if error or entry is None:
            return error or json_reply(500, {})
        order = entry["order"]
        if not order["done"] or order["metadata"]["state"] != "STATE_SUCCEEDED":
            return status_reply(9, f"order {order['name']} has no export to download")
        failure = self.download_error
        if failure is not None:
            code = int(failure.get("code", 13))
            chunk = json.dumps({"error": grpc_error(code, str(failure.get("message", "")))}).encode() + b"\n"
            if failure.get("after") is None:
                if failure.get("bare"):
                    return status_reply(code, str(failure.get("message", "")))
                # handler.go:232-235: no byte sent yet, so the code's HTTP status; the stream is chunked.
                return Reply(HTTP_STATUS[code], headers={"Content-Type": "application/json"}, stream=iter([chunk]))
        # Content-Type: the HttpBody's own (handler.go:68-76); octoplant's is not documented.
        headers = {"Content-Type": "application/zip"}
        files = [{"kind": k, "options": o} for k, o in entry["contents"].items()]
        if self.download_size is not None:
            manifest = json.dumps({"order": order["name"], "exports": files}).encode()
            length, chunks = generated_zip(self.download_size, manifest)
        else:
            data = small_zip(order, entry["contents"])
            length, chunks = len(data), iter([data])
        if self.corrupt_download:
            chunks = _corrupted(chunks, length)
        if self.truncate_download:
            chunks = _truncated(chunks, length // 2)
        send_length: Optional[int] = length if self.download_length and not self.chunked_download else None
        if failure is not None:
            chunks = _with_error_after(chunks, int(failure["after"]), chunk)
            send_length = None  # the gateway streams: it never knows the length of what it sends
        if self.download_rate:
            chunks = _paced(chunks, self.download_rate)
        return Reply(200, headers=headers, stream=chunks, length=send_length)


def _paced(chunks: Iterator[bytes], rate: float) -> Iterator[bytes]:
    """Send no faster than `rate` bytes per second, like a network link would."""
    started, sent = time.monotonic(), 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def _corrupted(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    """Flip one byte a third of the way in: inside a member's data, so only a CRC check sees it."""
    target, sent = length // 3, 0
    for chunk in chunks:
        out = chunk
        if sent <= target < sent + len(chunk):
            mutable = bytearray(chunk)
            mutable[target - sent] ^= 0xFF
            out = bytes(mutable)
        sent += len(out)
        yield out


def make_server(tls_dir: Optional[str] = None) -> OctoplantFake:
    """An unstarted fake; plain HTTP, or HTTPS with a self-signed certificate made in tls_dir."""
    if tls_dir is None:
        return OctoplantFake()
    context, cert = make_tls(tls_dir)
    fake = OctoplantFake(tls=context)
    fake.ca_bundle = cert
    return fake


def env_for(url: str) -> Dict[str, str]:
    """What a script needs to reach this fake (client id and secret: the defaults)."""
    return {"OCTOPLANT_URL": url, "OCTOPLANT_USERNAME": USERNAME, "OCTOPLANT_PASSWORD": PASSWORD}


def fixtures(fake: OctoplantFake) -> Dict[str, Any]:
    """What this fake holds (the `cirelay-emulators fixtures` entry): read from its state, not restated."""
    return {
        "credentials": {
            "username": USERNAME,
            "password": PASSWORD,
            "client_id": CLIENT_ID,
            "client_secret": fake.client_secret,
        },
        "export_kinds": list(KINDS),
        "polls_until_done": fake.steps,
    }
