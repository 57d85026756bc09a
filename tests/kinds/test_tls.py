"""`tls` checks against local TLS servers presenting `trustme` certificates."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from probes.config import ConfigError, parse_config
from probes.model import Category, CheckResult, Status
from probes.runner import run_checks
from probes.selection import select
from tests.helpers.tls_servers import leaf, tls_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def valid(ca: trustme.CA) -> Iterator[int]:
    with tls_server(leaf(ca)) as port:
        yield port


def run_one(yaml_text: str) -> CheckResult:
    config = parse_config(yaml_text, "checks.yaml", {})
    return run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]


def tls_check(port: int, ca_file: Path | None, extra: str = "",
              host: str = "localhost") -> CheckResult:
    trust = f"ca_file: {ca_file}" if ca_file else ""
    timeout = "" if "timeout:" in extra else "timeout: 2s"  # a key may be written once
    return run_one(f"""
checks:
  - name: certificate
    kind: tls
    host: {host}
    port: {port}
    {timeout}
    {trust}
    {extra}
""")


def test_a_valid_certificate_passes_the_default_with_its_facts_observed(
        valid: int, ca_file: Path) -> None:
    result = tls_check(valid, ca_file, extra="""expect:
      - days_left > 14
      - verified == true
      - version == "TLSv1.3"
      - sans contains "localhost"
      - issuer contains "trustme"
      - subject matches "OU=Testing cert"
      - not_after matches "^20[0-9][0-9]-"
      - latency < 1s""")
    assert result.status is Status.PASSED, result.message
    assert 89.9 < result.observations["days_left"] <= 90
    assert result.observations["verify_error"] == ""
    assert result.target == f"localhost:{valid}"
    default = tls_check(valid, ca_file)
    assert default.status is Status.PASSED
    assert [a.expr for a in default.assertions] == ["days_left > 14"]


def test_a_certificate_expiring_in_5_days_fails_showing_days_left(
        ca: trustme.CA, ca_file: Path) -> None:
    with tls_server(leaf(ca, days_left=5)) as port:
        result = tls_check(port, ca_file)
    assert result.status is Status.FAILED
    assert result.message in ("days_left (5.0) > 14", "days_left (4.99) > 14")


def test_an_expired_certificate_is_a_tls_error(ca: trustme.CA, ca_file: Path) -> None:
    with tls_server(leaf(ca, days_left=-3)) as port:
        result = tls_check(port, ca_file)
        assert result.status is Status.ERROR and result.category is Category.TLS
        assert result.message == (f"certificate of localhost:{port} has expired (use "
                                  "verify: false to observe it anyway)")
        observed = tls_check(port, ca_file, extra="verify: false")
    assert observed.status is Status.FAILED
    assert observed.message in ("days_left (-3.0) > 14", "days_left (-3.01) > 14")
    assert observed.observations["verified"] is False
    assert observed.observations["verify_error"] == "certificate has expired"


def test_a_wrong_hostname_is_a_tls_error_naming_the_name(ca: trustme.CA, ca_file: Path) -> None:
    with tls_server(leaf(ca, "db.example.com")) as port:
        result = tls_check(port, ca_file)
        named = tls_check(port, ca_file, host="127.0.0.1", extra="server_name: db.example.com")
    assert result.status is Status.ERROR and result.category is Category.TLS
    assert result.message.startswith(f"hostname mismatch: the certificate of localhost:{port} "
                                     "is not valid for 'localhost'")
    assert named.status is Status.PASSED, named.message


def test_an_untrusted_ca_is_a_tls_error_and_observable_without_verify(ca_file: Path) -> None:
    with tls_server(leaf(trustme.CA())) as port:
        result = tls_check(port, ca_file)
        observed = tls_check(port, ca_file, extra="""verify: false
    expect: [verified == false, days_left > 14]""")
    assert result.status is Status.ERROR and result.category is Category.TLS
    assert result.message == (f"untrusted certificate chain from localhost:{port} (unable to "
                              "get local issuer certificate); set ca_file to the PEM of the CA "
                              "that issued it")
    assert observed.status is Status.PASSED, observed.message
    assert observed.observations["verify_error"] == "unable to get local issuer certificate"


def test_the_system_store_does_not_trust_a_private_ca(valid: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    result = tls_check(valid, None)
    assert result.status is Status.ERROR and result.category is Category.TLS
    assert "untrusted certificate chain" in result.message


def test_requests_ca_bundle_is_honoured(valid: int, ca_file: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    assert tls_check(valid, None).status is Status.PASSED


def test_min_version_refuses_an_older_protocol(ca: trustme.CA, ca_file: Path) -> None:
    with tls_server(leaf(ca), max_version=ssl.TLSVersion.TLSv1_2) as port:
        old = tls_check(port, ca_file, extra="min_version: TLSv1.3")
        allowed = tls_check(port, ca_file, extra="min_version: TLSv1.2")
    assert old.status is Status.ERROR and old.category is Category.TLS
    assert old.message.startswith(f"TLS handshake with localhost:{port} failed")
    assert allowed.status is Status.PASSED
    assert allowed.observations["version"] == "TLSv1.2"


def test_a_server_that_never_answers_the_handshake_times_out(ca_file: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts; nobody ever speaks TLS
        started = time.monotonic()
        result = tls_check(silent.getsockname()[1], ca_file, extra="timeout: 1s")
        elapsed = time.monotonic() - started
    assert result.status is Status.ERROR and result.category is Category.TIMEOUT
    assert elapsed < 1.5


def test_refused_port_and_missing_ca_file(ca_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]  # bound, not listening: connections are refused
        refused = tls_check(port, ca_file)
    assert refused.status is Status.ERROR and refused.category is Category.CONNECT
    missing = tls_check(port, Path("/nonexistent/ca.pem"))
    assert missing.status is Status.ERROR and missing.category is Category.CONFIG
    assert missing.message == "ca_file /nonexistent/ca.pem is not a readable file"


@pytest.mark.parametrize(("keys", "expected"), [
    ("min_version: SSLv3", "checks.yaml:6: checks[0].min_version:"),
    ("verfy: false", "unknown key `verfy` for a tls check (did you mean `verify`?)"),
    ("port: https", "checks.yaml:6: checks[0].port:"),
])
def test_config_mistakes_are_errors_with_their_line(keys: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"""
checks:
  - name: certificate
    kind: tls
    host: example.com
    {keys}
""", "checks.yaml", {})
    assert expected in str(caught.value)
