"""Real local servers for tests, each on a 127.0.0.1 port the system picks.

    with http_server() as api:                    # HTTP; http_server(cert=...) for HTTPS
        api.url("/health")                        # "http://127.0.0.1:PORT/health"
        api.requests[-1].header("Authorization")  # what the server received
    with tcp_server(banner=b"220 ready\\r\\n") as tcp:   # greets, then echoes
        tcp.port, tcp.received
    with silent_port() as port: ...     # connects succeed; nothing is ever answered
    with blackhole_port() as port: ...  # connects hang (the accept queue is full)
    with refused_port() as port: ...    # nothing listens: connects are refused

For HTTPS pass a `trustme` leaf certificate, e.g. `tls_servers.leaf(ca)` (valid for
localhost and 127.0.0.1); clients trust it through the CA's PEM
(`ca.cert_pem.write_to_path(path)`).

Routes of `http_server` (any method; the query string carries parameters):

| path | answer |
| --- | --- |
| `/health` | 200 `HEALTHY` as JSON |
| `/list` | 200 a top-level JSON array, `LIST` |
| `/text` | 200 `TEXT` as `text/plain; charset=utf-8` |
| `/status/<code>` | that status, body `{"status": <code>}` |
| `/slow?seconds=0.3` | 200 `{"slow": true}` after that long |
| `/redirect?to=/health` | 302 to `to` (default `/health`) |
| `/redirect-loop` | 302 to itself, forever |
| `/big?bytes=N` | 200 `N` bytes of `x` (default 1 GB), streamed, with Content-Length |
| `/gzip?bytes=N` | 200 `N` zero bytes (default 1 GB) gzip-compressed as sent (a "zip bomb") |
| `/drip?every=0.2` | 200 then one byte per interval, for a minute |
| `/echo`, `/headers` | 200 JSON of the request: method, path, headers, body, json |
| anything else | 404 |

`api.streamed` counts the body bytes `/big`, `/gzip` and `/drip` managed to send;
`api.client_gone` is set when a client hung up on one of them mid-body.
Slow endpoints end early when the server stops, so a test never waits on them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

HEALTHY: dict[str, Any] = {
    "status": "UP",
    "version": "2.4.1",
    "items": [{"id": 7, "name": "alpha"}, {"id": 8, "name": "beta"}],
    "checks": {"db": {"ok": True, "ms": 12}},
}
LIST: list[Any] = [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]
TEXT = "plain text, not JSON: héllo\n"
_CHUNK = 64 * 1024
_POLL_S = 0.05  # how often serve_forever looks for a shutdown request


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A request header, its name matched case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpServer:
    base: str  # scheme://127.0.0.1:port
    port: int
    requests: list[RecordedRequest] = field(default_factory=list)
    streamed: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/") -> str:
        return self.base + path


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake happens in the connection's own thread: a client that never
        # completes it (or rejects the certificate) holds up nobody else.
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


def _handler(state: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a client that goes quiet does not keep a thread forever

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body))
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            route = parts.path
            if route == "/health":
                self._json(HEALTHY)
            elif route == "/list":
                self._json(LIST)
            elif route == "/text":
                self._send(200, TEXT.encode(), "text/plain; charset=utf-8")
            elif route.startswith("/status/"):
                code = int(route.removeprefix("/status/"))
                self._json({"status": code}, code)
            elif route == "/slow":
                state.stopping.wait(float(query.get("seconds", "0.3")))
                self._json({"slow": True})
            elif route == "/redirect":
                self._redirect(query.get("to", "/health"))
            elif route == "/redirect-loop":
                self._redirect("/redirect-loop")
            elif route == "/big":
                self._stream(int(query.get("bytes", 10**9)))
            elif route == "/gzip":
                self._gzip(int(query.get("bytes", 10**9)))
            elif route == "/drip":
                self._drip(float(query.get("every", "0.2")))
            elif route in ("/echo", "/headers"):
                self._json(self._echo(body))
            else:
                self._json({"error": "no such route"}, 404)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

        def do_HEAD(self) -> None:
            state.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), b""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "123")
            self.end_headers()

        def _echo(self, body: bytes) -> dict[str, Any]:
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            return {"method": self.command, "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace"), "json": parsed}

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, payload: Any, status: int = 200) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _stream_body(self, chunks: Iterator[bytes]) -> None:
            self.close_connection = True
            try:
                for chunk in chunks:
                    if state.stopping.is_set():
                        return
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    state.streamed += len(chunk)
            except OSError:
                state.client_gone.set()

        def _stream(self, size: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"x" * _CHUNK
            self._stream_body(block[: min(_CHUNK, size - sent)]
                              for sent in range(0, size, _CHUNK))

        def _gzip(self, size: int) -> None:
            # Compressed as it is sent: the server itself never holds `size` bytes.
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Encoding", "gzip")
            self.end_headers()  # no length: the body ends when the connection closes

            def pieces() -> Iterator[bytes]:
                packer = zlib.compressobj(wbits=31)  # 31: the gzip container
                zeros = b"\0" * _CHUNK
                for sent in range(0, size, _CHUNK):
                    if piece := packer.compress(zeros[: min(_CHUNK, size - sent)]):
                        yield piece
                yield packer.flush()

            self._stream_body(pieces())

        def _drip(self, every: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(int(60 / every)))
            self.end_headers()

            def drops() -> Iterator[bytes]:
                for _ in range(int(60 / every)):
                    yield b"."
                    if state.stopping.wait(every):
                        return

            self._stream_body(drops())

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def http_server(cert: trustme.LeafCert | None = None) -> Iterator[HttpServer]:
    """An HTTP server (HTTPS with `cert`) on 127.0.0.1 until the block ends."""
    state = HttpServer(base="", port=0)
    server = _HttpServer(("127.0.0.1", 0), _handler(state))
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        server.tls = context
    state.port = server.server_address[1]
    state.base = f"{'https' if cert else 'http'}://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, args=(_POLL_S,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def echo(data: bytes) -> bytes:
    return data


@dataclass
class TcpServer:
    port: int
    host: str = "127.0.0.1"
    received: list[bytes] = field(default_factory=list)


@contextlib.contextmanager
def tcp_server(banner: bytes = b"", respond: Callable[[bytes], bytes] | None = echo,
               banner_delay: float = 0.0) -> Iterator[TcpServer]:
    """A TCP service: sends `banner` (after `banner_delay` seconds) on connect, then
    answers each piece it receives with `respond(piece)` until the client hangs up.
    `respond=None` closes the connection right after the banner."""
    state = TcpServer(port=0)
    stopping = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(30)
            with contextlib.suppress(OSError):
                if banner:
                    if banner_delay and stopping.wait(banner_delay):
                        return
                    self.request.sendall(banner)
                if respond is None:
                    return
                while data := self.request.recv(4096):
                    state.received.append(data)
                    self.request.sendall(respond(data))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(_POLL_S,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """Connections complete (the kernel queues them) but nobody ever reads or writes:
    a request sent there waits for an answer that never comes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield listener.getsockname()[1]


@contextlib.contextmanager
def blackhole_port() -> Iterator[int]:
    """Connecting hangs: the listener's accept queue is full and never drained, so the
    kernel drops further SYNs, like a firewall that drops packets."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))  # takes the only place in the queue
        yield port


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port held (bound) but not listening: connecting is refused at once."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]
