"""Network helpers shared by every kind that opens a socket.

One place decides which error category a low-level failure belongs to, so that
`connection refused` reads the same in an http, tcp, tls or database check.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time

from probes.model import Category, ProbeError

_CONNECT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.EADDRNOTAVAIL,
}


def classify(exc: BaseException, target: str) -> ProbeError:
    """Turn a socket-level exception into a ProbeError with the right category."""
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, socket.gaierror):
        return ProbeError(Category.DNS, f"cannot resolve {target}: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return ProbeError(Category.TIMEOUT, f"timed out talking to {target}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return ProbeError(Category.TLS, f"TLS certificate of {target} rejected: {reason}")
    if isinstance(exc, ssl.SSLError):
        return ProbeError(Category.TLS, f"TLS handshake with {target} failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeError(Category.CONNECT, f"connection to {target} refused")
    if isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS:
        return ProbeError(Category.CONNECT, f"cannot connect to {target}: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        return ProbeError(Category.CONNECT, f"cannot connect to {target}: {exc}")
    return ProbeError(Category.INTERNAL, f"{type(exc).__name__}: {exc}")


def resolve_host(host: str, port: int, timeout: float) -> None:
    """Fail fast with category `dns` when a name does not resolve.

    getaddrinfo has no timeout of its own; the runner still bounds the attempt.
    """
    del timeout
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise classify(exc, host) from None
    except UnicodeError:  # a label over 63 characters, an empty label: not a DNS name
        raise ProbeError(Category.CONFIG, f"{host!r} is not a valid host name") from None


def open_connection(host: str, port: int, timeout: float) -> tuple[socket.socket, float]:
    """Connect within `timeout`; return the socket and the seconds the connect took."""
    target = f"{host}:{port}"
    resolve_host(host, port, timeout)
    start = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise classify(exc, target) from None
    return sock, time.perf_counter() - start
