"""`tls`: a TLS handshake with `host:port`, and the facts of the certificate it presents.

With `verify` on (the default), a chain that does not verify, a name mismatch or an
expired certificate is an `error/tls` that says which. With `verify: false` the facts
are observed anyway (`verified` tells whether the chain would have verified), so
`days_left` can be judged on a certificate of an internal CA.
"""

from __future__ import annotations

import os
import ssl
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from probes.kinds import CheckBase
from probes.kinds._net import classify, open_connection
from probes.model import Category, ProbeError
from probes.units import Seconds

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

TlsVersion = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# OpenSSL verify codes (X509_V_ERR_*) and what a person should make of them.
_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH, _IP_MISMATCH = 10, 9, 62, 64
_UNTRUSTED = {18, 19, 20, 21, 27}


class Check(CheckBase):
    kind: Literal["tls"] = "tls"
    observations: ClassVar[frozenset[str]] = frozenset({
        "days_left", "not_after", "not_before", "issuer", "subject", "sans", "version",
        "verified", "verify_error", "latency",
    })
    default_expect: ClassVar[tuple[str, ...]] = ("days_left > 14",)

    host: str = Field(description="Host name or IP address to connect to")
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = Field(
        None, description="Name sent in SNI and checked against the certificate; default: host"
    )
    ca_file: str | None = Field(
        None, description="PEM bundle of trusted CAs used instead of the system store"
    )
    verify: bool = Field(True, description="Fail when the chain or the name does not verify")
    min_version: TlsVersion | None = Field(
        None, description="Refuse to negotiate an older protocol version"
    )

    def target(self) -> str:
        sni = f" (SNI {self.server_name})" if self.server_name else ""
        return f"{self.host}:{self.port}{sni}"

    def observe(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        started = time.perf_counter()
        try:
            der, version = self._handshake(self._context(verify=True), deadline)
            verify_error = ""
        except ssl.SSLCertVerificationError as exc:
            if self.verify:
                raise ProbeError(Category.TLS, self._rejection(exc), evidence=str(exc)) from None
            der, version = self._handshake(self._context(verify=False), deadline)
            verify_error = _reason(exc)
        latency = Seconds(time.perf_counter() - started)
        return {
            **_certificate_facts(der),
            "version": version,
            "verified": not verify_error,
            "verify_error": verify_error,
            "latency": latency,
        }

    @property
    def _name(self) -> str:
        return self.server_name or self.host

    def _context(self, verify: bool) -> ssl.SSLContext:
        trust_file = self._trust_file()
        try:
            context = ssl.create_default_context(cafile=trust_file)
        except ssl.SSLError as exc:
            raise ProbeError(Category.CONFIG, f"{trust_file} holds no usable PEM certificate",
                             evidence=str(exc)) from None
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.min_version is not None:
            context.minimum_version = _VERSIONS[self.min_version]
        return context

    def _trust_file(self) -> str | None:
        ca_file = self.ca_file or os.environ.get("REQUESTS_CA_BUNDLE") or None
        if ca_file is not None and not os.path.isfile(ca_file):
            where = "ca_file" if self.ca_file else "REQUESTS_CA_BUNDLE"
            raise ProbeError(Category.CONFIG, f"{where} {ca_file} is not a readable file")
        return ca_file  # None: the system store, which honours SSL_CERT_FILE

    def _handshake(self, context: ssl.SSLContext, deadline: float) -> tuple[bytes, str]:
        """The DER certificate the server presented and the negotiated protocol version."""
        remaining = max(0.001, deadline - time.monotonic())
        sock, _ = open_connection(self.host, self.port, remaining)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            with context.wrap_socket(sock, server_hostname=self._name) as tls:
                der = tls.getpeercert(binary_form=True)
                version = tls.version() or ""
        except ssl.SSLCertVerificationError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise classify(exc, f"{self.host}:{self.port}") from None
        finally:
            sock.close()
        if not der:
            raise ProbeError(Category.TLS, f"{self.host}:{self.port} presented no certificate")
        return der, version

    def _rejection(self, exc: ssl.SSLCertVerificationError) -> str:
        where = f"{self.host}:{self.port}"
        code = exc.verify_code
        if code == _EXPIRED:
            return f"certificate of {where} has expired (use verify: false to observe it anyway)"
        if code == _NOT_YET_VALID:
            return f"certificate of {where} is not valid yet (check the clocks)"
        if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
            return (f"hostname mismatch: the certificate of {where} is not valid for "
                    f"{self._name!r}; set server_name to a name it covers")
        if code in _UNTRUSTED:
            return (f"untrusted certificate chain from {where} ({_reason(exc)}); set ca_file "
                    "to the PEM of the CA that issued it")
        return f"certificate of {where} rejected: {_reason(exc)}"


def _reason(exc: ssl.SSLCertVerificationError) -> str:
    return str(exc.verify_message or exc.reason or exc)


def _certificate_facts(der: bytes) -> dict[str, Any]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    seconds_left = (not_after - datetime.now(UTC)).total_seconds()
    return {
        "days_left": round(seconds_left / 86400, 2),
        "not_after": not_after.isoformat(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(),
        "sans": _sans(cert),
    }


def _sans(cert: Certificate) -> list[str]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = extension.value
    return [*names.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in names.get_values_for_type(x509.IPAddress))]
