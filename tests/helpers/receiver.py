"""A local webhook receiver for notification tests: records what apprise sends.

    with receiver() as hook:                      # answers 200 to everything
        hook.url("json", "/notify")               # "json://127.0.0.1:PORT/notify"
        hook.wait_for(1)                          # bounded wait for one request
        hook.requests[0].json()["title"]
    with receiver(status=500) as hook: ...        # answers 500 (`hook.status = 200` later)
    with receiver(mode="hang") as hook: ...       # reads the request, never answers
    with receiver(mode="drip") as hook: ...       # answers 200, then a byte of body now
                                                  # and then, so no read ever times out
    with closed_port() as port: ...               # nothing listens there

Handlers that hang or drip end when the receiver stops, so a test never waits on them.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

DRIP_EVERY_S = 0.2
DRIP_BYTES = 10_000


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Receiver:
    port: int
    mode: str = "answer"  # may be changed between requests, as may `status`
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, scheme: str, path: str = "/") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def record(self, request: Received) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """True once `count` requests arrived (within `timeout` seconds)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)


def _handler(hook: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            hook.record(Received(self.command, self.path, dict(self.headers.items()), body))
            mode, status = hook.mode, hook.status
            if mode == "hang":
                hook.stopping.wait()
                return
            if mode == "drip":
                self.send_response(200)
                self.send_header("Content-Length", str(DRIP_BYTES))
                self.end_headers()
                for _ in range(DRIP_BYTES):
                    if hook.stopping.wait(DRIP_EVERY_S):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()
                return
            answer = b"{}" if 200 <= status < 300 else b'{"error": "receiver told to fail"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

    return Handler


@contextmanager
def receiver(mode: str = "answer", status: int = 200) -> Iterator[Receiver]:
    """mode: `answer` (with `status`), `hang`, or `drip`."""
    if mode not in ("answer", "hang", "drip"):
        raise ValueError(f"unknown receiver mode {mode!r}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    server.block_on_close = False
    hook = Receiver(port=server.server_address[1], mode=mode, status=status)
    server.RequestHandlerClass = _handler(hook)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on: connections are refused.

    The port stays bound (without listening) so no other test can take it meanwhile.
    """
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]
