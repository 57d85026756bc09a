"""A local HTTP API for end-to-end runs: healthy, failing and silent endpoints.

Records the headers of every request so a test can prove a token reached the server.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class HttpTarget:
    url: str
    seen_headers: list[dict[str, str]] = field(default_factory=list)


ROUTES: dict[str, tuple[int, object]] = {
    "/health": (200, {"status": "UP", "items": [{"id": 1}, {"id": 2}]}),
    "/down": (503, {"status": "DOWN"}),
    "/degraded": (200, {"status": "DEGRADED"}),
    "/list": (200, [{"name": "first"}]),
}


@contextmanager
def http_target() -> Iterator[HttpTarget]:
    target = HttpTarget(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target.seen_headers.append(dict(self.headers.items()))
            status, payload = ROUTES.get(self.path, (404, {"error": "no such route"}))
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: the hanging target."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()


def closed_port() -> int:
    """A port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
