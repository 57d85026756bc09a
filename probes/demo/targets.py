"""The throwaway targets `probe demo` runs against, all on 127.0.0.1 ports the system picks.

They need only the package's own dependencies and live as long as the command.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SLOW_ENDPOINT_S = 0.3
DEMO_HOSTNAME = "demo.probe.test."


class _DemoApi(BaseHTTPRequestHandler):
    """A scoring API with a healthy, a list and a slow endpoint."""

    server_version = "demo-api/1.0"

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json({"status": "UP", "version": "2.4.1"})
        elif self.path == "/models":
            self._json([{"name": "churn", "auc": 0.83}, {"name": "upsell", "auc": 0.77}])
        elif self.path == "/slow":
            time.sleep(SLOW_ENDPOINT_S)  # the point of this endpoint is to be slow
            self._json({"report": "ready"})
        else:
            self._json({"error": "not found"}, status=404)

    def _json(self, payload: object, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the demo's console is the report, not an access log


class _PingHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(64)
        if line.strip() == b"PING":
            self.wfile.write(b"PONG\n")


class _DemoDns(socketserver.BaseRequestHandler):
    """Answers A 127.0.0.1 for demo.probe.test, NXDOMAIN for any other name."""

    def handle(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        data, sock = self.request
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text().lower() != DEMO_HOSTNAME:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1"))
        sock.sendto(response.to_wire(), self.client_address)


def _tls_handler(context: ssl.SSLContext) -> type[socketserver.BaseRequestHandler]:
    class Handshake(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            try:
                with context.wrap_socket(self.request, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass  # a client that only wanted the certificate hangs up: that's fine

    return Handshake


def _self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, valid 90 days; it is its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe demo")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "demo-cert.pem", workdir / "demo-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _warehouse(workdir: Path) -> Path:
    """A SQLite 'warehouse' with a table loaded an hour ago."""
    import sqlite3

    path = workdir / "warehouse.db"
    loaded = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    with sqlite3.connect(path) as db:
        db.execute("create table if not exists sales (id integer, amount real, loaded_at text)")
        db.execute("delete from sales")
        db.executemany("insert into sales values (?, ?, ?)",
                       [(i, 9.99 * i, loaded.strftime("%Y-%m-%d %H:%M:%S")) for i in range(1500)])
    db.close()
    return path


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


@contextmanager
def _serve(server: socketserver.BaseServer) -> Iterator[int]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = server.server_address
        yield int(address[1]) if isinstance(address, tuple) else 0
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def demo_targets(workdir: Path) -> Iterator[dict[str, str]]:
    """Start the targets; yield the environment variables the demo config reads."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = _self_signed_certificate(workdir)
    tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_context.load_cert_chain(cert, key)
    exports = workdir / "exports"
    exports.mkdir(exist_ok=True)
    (exports / "sales_today.csv").write_text("id,amount\n1,9.99\n2,19.99\n")
    with ExitStack() as stack:
        http_port = stack.enter_context(_serve(ThreadingHTTPServer(("127.0.0.1", 0), _DemoApi)))
        tcp_port = stack.enter_context(_serve(_TCPServer(("127.0.0.1", 0), _PingHandler)))
        tls_port = stack.enter_context(_serve(_TCPServer(("127.0.0.1", 0),
                                                         _tls_handler(tls_context))))
        dns_port = stack.enter_context(_serve(_UDPServer(("127.0.0.1", 0), _DemoDns)))
        yield {
            "DEMO_HTTP": f"http://127.0.0.1:{http_port}",
            "DEMO_TCP_PORT": str(tcp_port),
            "DEMO_TLS_PORT": str(tls_port),
            "DEMO_TLS_CA": str(cert),
            "DEMO_DNS_PORT": str(dns_port),
            "DEMO_DIR": str(workdir),
            "DEMO_PYTHON": sys.executable,
            "DEMO_WAREHOUSE": f"sqlite:///{_warehouse(workdir)}",
            # A token that must never show up in a report: the demo shows the masking.
            "DEMO_API_TOKEN": secrets.token_hex(16),
        }
