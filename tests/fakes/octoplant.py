"""A fake octoplant Export API (octoplant "How to use the Export API", seed octoplant-export-api.txt).

Routes, with the shapes the vendor's sample uses:

- `POST /v1/oauth2/token` (form: grant_type=password, username, password, client_id, client_secret)
  -> 200 `{"access_token", "token_type": "Bearer", "expires_in"}`; a wrong client is 401
  `{"error": "invalid_client", …}`, a wrong user or password 400 `{"error": "invalid_grant", …}`.
- `POST /v1/order` `{"exportContents": {"projectTree": {}, …}}` -> 200 the order (a long-running
  operation): `{"name", "metadata": {"state": "STATE_PENDING", "currentSubProcess",
  "finishedSubProcesses", "openSubProcesses"}, "done": false}`; an unknown kind is 400
  `{"code": 3, "message", "details": []}` (gRPC-gateway error shape).
- `GET /v1/order/{name}` -> the order; every poll moves it one step: STATE_PENDING ->
  STATE_RUNNING (sub-process counts moving) -> STATE_SUCCEEDED with done=true after `steps` polls,
  or STATE_FAILED with `error: {code: 13, message, details}` when `fail_orders` is set.
- `POST /v1/order/{name}/cancel` -> `{}`; the order ends STATE_FAILED with error code 1 (CANCELLED).
- `GET /v1/order/{name}/download` -> the ZIP (contents.json plus one JSON file per kind); 400
  code 9 (FAILED_PRECONDITION) while the order is not done or when it failed.

Every route but the token needs `Authorization: Bearer <token>`; otherwise 401 `{"code": 16, …}`.

Switches (attributes, read at request time), besides FakeServer's fail_next/drop_next/latency:

- `steps`: polls until an order is done (default 3);
- `fail_orders`: orders end STATE_FAILED, error INTERNAL;
- `never_finish`: orders stay STATE_RUNNING forever;
- `truncate_download`: the body stops at half its announced Content-Length;
- `corrupt_download`: one byte of a member's data is flipped (the CRC check must catch it);
- `download_size`: serve a generated ZIP of exactly this many bytes instead, streamed chunk by
  chunk (stored members, CRCs computed while sending), never held in memory;
- `chunked_download`: send the download without Content-Length (chunked encoding);
- `token_uses`: a token is refused (401) after this many API requests (expiry mid-wait);
- `download_rate`: bytes per second the download is paced to (a network link), None: as fast as it goes.

`make_server(tls_dir=...)` serves HTTPS with a self-signed certificate made there by the
`openssl` command; `server.ca_bundle` is then the certificate's path.
"""

from __future__ import annotations

import io
import json
import os
import ssl
import struct
import subprocess
import threading
import time
import uuid
import zipfile
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from tests.fakes.base import FakeServer, Reply, Request, json_reply

USERNAME = "versiondog"  # the vendor sample's user
PASSWORD = "change-it"  # the vendor sample's password
CLIENT_ID = "public-api"
CLIENT_SECRET = "ff99971a-f8c3-4d21-5345-f7cb021b4b54"  # the documented public-api secret

KINDS = (
    "projectTree",
    "jobList",
    "jobResults",
    "unequalJobResults",
    "userManagement",
    "componentTypes",
    "componentLog",
    "eventLog",
    "adminLog",
    "standardLibraryManagement",
    "componentsWithStdLibAssignments",
    "assetState",
    "usageInformation",
)

GENERATED_CHUNK = 1 << 20
GENERATED_MEMBER = 64 << 20  # data bytes per generated member
_PATTERN = bytes(range(256)) * (GENERATED_CHUNK // 256)
_DOS_TIME, _DOS_DATE = 0x6000, 0x5B77  # 2025-11-23 12:00:00


def grpc_error(code: int, message: str) -> Dict[str, Any]:
    return {"code": code, "message": message, "details": []}


# -- generated ZIP -----------------------------------------------------------------------------------


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


class OctoplantFake(FakeServer):
    """The octoplant Export API in memory."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(tls)
        self.ca_bundle: Optional[str] = None
        self.client_secret = CLIENT_SECRET
        self.orders: Dict[str, Dict[str, Any]] = {}
        self.tokens: Dict[str, Optional[int]] = {}  # token -> requests left (None: unlimited)
        self.cancelled: List[str] = []
        self.state_lock = threading.Lock()
        self.steps = 3
        self.fail_orders = False
        self.never_finish = False
        self.truncate_download = False
        self.corrupt_download = False
        self.download_size: Optional[int] = None
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
        form = req.form()
        if form.get("grant_type") != "password":
            return json_reply(400, {"error": "unsupported_grant_type", "error_description": "use grant_type=password"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            return json_reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        if form.get("username") != USERNAME or form.get("password") != PASSWORD:
            return json_reply(400, {"error": "invalid_grant", "error_description": "invalid user credentials"})
        token = f"tok-{uuid.uuid4().hex}"
        with self.state_lock:
            self.tokens[token] = self.token_uses
        return json_reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def _denied(self, req: Request) -> Optional[Reply]:
        header = req.headers.get("authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self.state_lock:
            if token not in self.tokens:
                return json_reply(401, grpc_error(16, "invalid or missing access token"))
            left = self.tokens[token]
            if left is not None:
                if left <= 0:
                    return json_reply(401, grpc_error(16, "access token expired"))
                self.tokens[token] = left - 1
        return None

    # -- orders
    def _create(self, req: Request) -> Reply:
        denied = self._denied(req)
        if denied:
            return denied
        body = req.json()
        contents = body.get("exportContents") if isinstance(body, dict) else None
        if not isinstance(contents, dict) or not contents:
            return json_reply(400, grpc_error(3, "exportContents must name at least one export"))
        for kind, options in contents.items():
            if kind not in KINDS:
                return json_reply(400, grpc_error(3, f"unknown export content {kind!r}"))
            if not isinstance(options, dict):
                return json_reply(400, grpc_error(3, f"options of {kind} must be an object"))
        name = uuid.uuid4().hex[:16]
        order = {
            "name": name,
            "metadata": {
                "state": "STATE_PENDING",
                "currentSubProcess": "",
                "finishedSubProcesses": 0,
                "openSubProcesses": len(contents),
            },
            "done": False,
        }
        with self.state_lock:
            self.orders[name] = {"order": order, "contents": contents, "polls": 0, "cancelled": False}
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
        entry["polls"] += 1
        polls = entry["polls"]
        if self.never_finish or polls < self.steps:
            finished = 0 if self.never_finish else min(polls - 1, len(kinds) - 1)
            meta.update(
                state="STATE_RUNNING",
                currentSubProcess=kinds[finished],
                finishedSubProcesses=finished,
                openSubProcesses=len(kinds) - finished,
            )
        elif self.fail_orders:
            order.update(done=True, error=grpc_error(13, f"export of {kinds[0]} failed: database connection lost"))
            meta.update(state="STATE_FAILED", currentSubProcess="")
        else:
            order["done"] = True
            meta.update(
                state="STATE_SUCCEEDED", currentSubProcess="", finishedSubProcesses=len(kinds), openSubProcesses=0
            )
        return order

    def _entry(self, req: Request) -> Tuple[Optional[Dict[str, Any]], Optional[Reply]]:
        denied = self._denied(req)
        if denied:
            return None, denied
        entry = self.orders.get(req.params["name"])
        if entry is None:
            return None, json_reply(404, grpc_error(5, f"order {req.params['name']} not found"))
        return entry, None

    def _get(self, req: Request) -> Reply:
        entry, error = self._entry(req)
        if error or entry is None:
            return error or json_reply(500, {})
        with self.state_lock:
            return json_reply(200, json.loads(json.dumps(self._advance(entry))))

    def _cancel(self, req: Request) -> Reply:
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
        entry, error = self._entry(req)
        if error or entry is None:
            return error or json_reply(500, {})
        order = entry["order"]
        if not order["done"] or order["metadata"]["state"] != "STATE_SUCCEEDED":
            return json_reply(400, grpc_error(9, f"order {order['name']} has no export to download"))
        headers = {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="export-{order["name"]}.zip"',
        }
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
        if self.download_rate:
            chunks = _paced(chunks, self.download_rate)
        return Reply(200, headers=headers, stream=chunks, length=None if self.chunked_download else length)


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
        if sent <= target < sent + len(chunk):
            mutable = bytearray(chunk)
            mutable[target - sent] ^= 0xFF
            chunk = bytes(mutable)
        sent += len(chunk)
        yield chunk


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
