"""`tcp`: connect to host:port, optionally send something, and observe what comes back.

Without `send`, a banner (SSH, SMTP, FTP, MySQL greet first) is collected if the
server sends one within a short window, so a service that waits for the client
still passes `connected == true` at once. With `send`, the reply is waited for up
to the timeout. Either way the response ends when the peer closes, pauses, or
4 KB have arrived.
"""

from __future__ import annotations

import socket
import time
from typing import Any, ClassVar, Literal

from pydantic import Field

from probes.kinds import CheckBase
from probes.kinds._net import classify, open_connection
from probes.model import Category, ProbeError
from probes.units import Seconds, format_duration

RESPONSE_LIMIT = 4096  # bytes of the response kept
BANNER_WINDOW_S = 0.5  # how long an unprompted server is given to greet
PAUSE_S = 0.2  # once bytes flow, a silence this long ends the response


class Check(CheckBase):
    kind: Literal["tcp"] = "tcp"
    observations: ClassVar[frozenset[str]] = frozenset({"connected", "latency", "response"})
    default_expect: ClassVar[tuple[str, ...]] = ("connected == true",)
    # What is sent may be a password (`AUTH ${REDIS_PASSWORD}`).
    secret_keys: ClassVar[frozenset[str]] = frozenset({"send"})

    host: str = Field(min_length=1, description="Host name or IP address")
    port: int = Field(ge=1, le=65535, description="TCP port, 1-65535")
    send: str | None = Field(
        None, description='Text sent after connecting; in double quotes "\\n" is a newline'
    )
    read: bool | None = Field(
        None,
        description="true: wait up to the timeout for a banner or reply; false: do not read; "
        "default: wait for the reply to `send`, or briefly for a banner",
    )

    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def _where(self) -> str:
        return self.target().removeprefix("tcp://")

    def observe(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            sock, latency = open_connection(self.host, self.port, timeout)
        except ProbeError as exc:
            if exc.category is Category.TIMEOUT:
                raise ProbeError(Category.TIMEOUT, f"connecting to {self._where} took longer "
                                 f"than {format_duration(timeout)}") from None
            raise
        payload = (self.send or "").encode("utf-8")
        expects_reply = self.read is True or (self.read is None and bool(payload))
        with sock:
            try:
                if payload:
                    sock.settimeout(max(0.001, deadline - time.monotonic()))
                    sock.sendall(payload)
                response, closed = b"", False
                if self.read is not False:
                    first_wait = None if expects_reply else BANNER_WINDOW_S
                    response, closed = _receive(sock, deadline, first_wait)
            except OSError as exc:
                raise classify(exc, self._where) from None
        if expects_reply and not response and not closed:
            within = format_duration(timeout)
            if payload:
                raise ProbeError(Category.TIMEOUT, f"no reply from {self._where} within {within} "
                                 f"after sending {len(payload)} bytes")
            raise ProbeError(Category.TIMEOUT, f"{self._where} accepted the connection but sent "
                             f"nothing within {within}")
        return {
            "connected": True,
            "latency": Seconds(latency),
            "response": response.decode("utf-8", errors="replace"),
        }


def _receive(sock: socket.socket, deadline: float,
             first_wait: float | None) -> tuple[bytes, bool]:
    """Bytes until the peer closes, pauses, RESPONSE_LIMIT or the deadline; and whether it
    closed. The first byte is waited for `first_wait` seconds (None: up to the deadline)."""
    received = bytearray()
    wait = first_wait
    while len(received) < RESPONSE_LIMIT:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining if wait is None else min(wait, remaining))
        try:
            chunk = sock.recv(RESPONSE_LIMIT - len(received))
        except TimeoutError:
            break
        except ConnectionResetError:
            if received:
                return bytes(received), True
            raise
        if not chunk:
            return bytes(received), True
        received += chunk
        wait = PAUSE_S
    return bytes(received), False
