"""TLS servers on 127.0.0.1 presenting `trustme` certificates, for tests.

    ca = trustme.CA()
    with tls_server(ca.issue_cert("localhost", "127.0.0.1")) as port:
        ...  # a client trusting ca (ca.cert_pem.write_to_path) handshakes with port

`leaf(ca, days_left=5)` issues a certificate that expires in that many days (negative:
already expired). Each connection gets a handshake and is then closed.
"""

from __future__ import annotations

import contextlib
import datetime
import socketserver
import ssl
import threading
from collections.abc import Iterator

import trustme

_POLL_S = 0.05  # how often serve_forever looks for a shutdown request


def leaf(ca: trustme.CA, *identities: str, days_left: float = 90) -> trustme.LeafCert:
    """A server certificate for `identities` (default localhost and 127.0.0.1)."""
    now = datetime.datetime.now(datetime.UTC)
    return ca.issue_cert(
        *(identities or ("localhost", "127.0.0.1")),
        not_before=now - datetime.timedelta(days=30),
        not_after=now + datetime.timedelta(days=days_left),
    )


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def tls_server(cert: trustme.LeafCert,
               max_version: ssl.TLSVersion | None = None) -> Iterator[int]:
    """Serve TLS with `cert` on a loopback port until the block ends; yields the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if max_version is not None:
        context.maximum_version = max_version

    class Handshake(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            # A client that rejects the certificate aborts the handshake; that is fine.
            with contextlib.suppress(OSError), context.wrap_socket(
                self.request, server_side=True
            ) as tls:
                tls.recv(1)  # until the client closes

    server = _Server(("127.0.0.1", 0), Handshake)
    thread = threading.Thread(target=server.serve_forever, args=(_POLL_S,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
