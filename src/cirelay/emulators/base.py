"""A small threaded HTTP(S) server on 127.0.0.1 that the platform fakes build on.

Each fake registers routes (method + regex on the path) whose handlers take a `Request` and
return a `Reply`. Every fake gets the same fault switches, applied before routing:

- `fail_next(n, status, body, headers, match=...)`: the next n matching requests get that answer
  (e.g. 429 with Retry-After, or a 503 burst);
- `drop_next(n, match=...)`: close the connection without answering;
- `latency`: seconds slept before every answer.

`requests` keeps a log of every request seen (method, path, query, headers, body), so tests
assert what was sent over the wire, e.g. that a POST was sent exactly once.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, List, Optional, Pattern, Tuple, Union
from urllib.parse import parse_qs, urlsplit

Body = Union[bytes, str, dict, list, None]


@dataclass
class Request:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    params: Dict[str, str] = field(default_factory=dict)  # named groups of the route regex

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[-1] if values else default

    def form(self) -> Dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class Reply:
    status: int = 200
    body: Body = None
    headers: Dict[str, str] = field(default_factory=dict)
    # A streamed body: an iterable of chunks and its total length (None: chunked encoding).
    stream: Optional[Iterable[bytes]] = None
    length: Optional[int] = None


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    return Reply(status=status, body=body, headers=dict(headers))


Handler = Callable[[Request], Reply]


@dataclass
class _Fault:
    remaining: int
    match: Optional[Pattern[str]]
    reply: Optional[Reply]  # None: drop the connection


class FakeServer:
    """Threaded fake API server; start() returns its base URL on 127.0.0.1."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self._routes: List[Tuple[str, Pattern[str], Handler]] = []
        self._faults: List[_Fault] = []
        self._lock = threading.Lock()
        self.requests: List[Request] = []
        self.latency = 0.0
        self._tls = tls
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- routes and faults -------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        compiled = re.compile(f"^{pattern}$")

        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, handler))
            return handler

        return register

    def fail_next(
        self,
        n: int,
        status: int,
        body: Body = None,
        headers: Optional[Dict[str, str]] = None,
        match: Optional[str] = None,
    ) -> None:
        """Answer the next n requests whose 'METHOD /path' matches `match` with this reply."""
        with self._lock:
            self._faults.append(
                _Fault(n, re.compile(match) if match else None, Reply(status, body, dict(headers or {})))
            )

    def drop_next(self, n: int, match: Optional[str] = None) -> None:
        """Close the connection on the next n matching requests without answering."""
        with self._lock:
            self._faults.append(_Fault(n, re.compile(match) if match else None, None))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def seen(self, method: str, path_regex: str) -> List[Request]:
        """The logged requests with this method whose path matches path_regex."""
        compiled = re.compile(f"^{path_regex}$")
        return [r for r in list(self.requests) if r.method == method and compiled.match(r.path)]

    def _take_fault(self, line: str) -> Tuple[bool, Optional[Reply]]:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.match is None or fault.match.search(line)):
                    fault.remaining -= 1
                    return True, fault.reply
        return False, None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self, port: int = 0) -> str:
        server = self

        class _Handler(_RequestHandler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        if self._tls:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-server", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------------
    def handle(self, request: Request) -> Optional[Reply]:
        """The reply for a request, or None to drop the connection."""
        self.requests.append(request)
        hit, fault_reply = self._take_fault(f"{request.method} {request.path}")
        if self.latency:
            time.sleep(self.latency)
        if hit:
            return fault_reply
        path_matched = False
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path)
            if not found:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.params = {k: v for k, v in found.groupdict().items() if v is not None}
            try:
                return handler(request)
            except Exception as exc:  # noqa: BLE001 - a fake's bug should answer 500, not hang the test
                return json_reply(500, {"ok": False, "error": "fake_error", "message": f"fake crashed: {exc!r}"})
        if path_matched:
            return json_reply(405, {"ok": False, "error": "method_not_allowed", "message": "method not allowed"})
        return json_reply(404, {"ok": False, "error": "not_found", "message": f"no route {request.path}"})


class _RequestHandler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do; every reply has a length
    # Headers and body go out in separate writes: without this, Nagle's algorithm holds the body
    # for the client's delayed ACK (~40 ms a reply), and benchmarks would measure the fake.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.fake.handle(request)
        if reply is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = dict(reply.headers)
        if reply.stream is not None:
            headers.setdefault("Content-Type", "application/octet-stream")
            if reply.length is not None:
                headers["Content-Length"] = str(reply.length)
            else:
                headers["Transfer-Encoding"] = "chunked"
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            try:
                for chunk in reply.stream:
                    if reply.length is None:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    else:
                        self.wfile.write(chunk)
                    sent += len(chunk)
                if reply.length is None:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            if reply.length is not None and sent < reply.length:
                # A truncated body: hang up so the client sees the short read at once.
                self.close_connection = True
                try:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        if isinstance(reply.body, (dict, list)):
            payload = json.dumps(reply.body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = reply.body or b""
        headers["Content-Length"] = str(len(payload))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch
