"""`dns` checks against an in-process DNS server on a loopback port (tests/helpers)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.message
import pytest

from probes.config import ConfigError, parse_config
from probes.kinds.dns import _ask_in_turn
from probes.model import Category, CheckResult, ProbeError, Status
from probes.runner import run_checks
from probes.selection import select
from tests.helpers.dns_server import RunningDnsServer, dns_server, silent_udp_port

LONG_TXT = ("x" * 250, "y" * 250, "z" * 200)  # 700 bytes: too long for a UDP answer
ZONE = [
    "app.test. 60 IN A 10.0.0.6",
    "app.test. 60 IN A 10.0.0.5",
    "app.test. 60 IN MX 10 mail.app.test.",
    "app.test. 60 IN MX 20 backup.app.test.",
    'app.test. 60 IN TXT "v=spf1 include:_spf.example.com" " -all"',
    'app.test. 60 IN TXT "google-site-verification=abc"',
    "www.app.test. 60 IN CNAME app.test.",
    "5.0.0.10.in-addr.arpa. 60 IN PTR app.test.",
    "long.test. 60 IN TXT " + " ".join(f'"{part}"' for part in LONG_TXT),
]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningDnsServer]:
    with dns_server(ZONE) as running:
        yield running


def run_one(yaml_text: str) -> CheckResult:
    config = parse_config(yaml_text, "checks.yaml", {})
    return run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]


def dns_check(port: int, host: str, record_type: str = "A", expect: str = "",
              timeout: str = "2s") -> CheckResult:
    return run_one(f"""
checks:
  - name: lookup
    kind: dns
    host: {host}
    type: {record_type}
    server: 127.0.0.1
    port: {port}
    timeout: {timeout}
    {f"expect: {expect}" if expect else ""}
""")


def test_an_a_record_passes_the_default_expectation(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "app.test")
    assert result.status is Status.PASSED, result.message
    assert [a.expr for a in result.assertions] == ['rcode == "NOERROR"', "answers != []"]
    assert result.assertions[1].actual == ["10.0.0.5", "10.0.0.6"]  # sorted
    assert result.observations["rcode"] == "NOERROR"
    assert result.target == f"A app.test @127.0.0.1:{server.port}"


def test_answers_can_be_asserted_by_contains_and_latency(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "app.test",
                       expect='[answers contains "10.0.0.5", latency < 1s]')
    assert result.status is Status.PASSED, result.message


def test_mx_answers_are_preference_and_name_without_the_root_dot(
        server: RunningDnsServer) -> None:
    result = dns_check(server.port, "app.test", "MX",
                       expect="""['answers == ["10 mail.app.test", "20 backup.app.test"]']""")
    assert result.status is Status.PASSED, result.message


def test_txt_answers_are_unquoted_and_joined(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "app.test", "txt",
                       expect='[answers contains "v=spf1 include:_spf.example.com -all"]')
    assert result.status is Status.PASSED, result.message
    assert result.assertions[0].actual == ["google-site-verification=abc",
                                           "v=spf1 include:_spf.example.com -all"]


def test_cname_and_ptr(server: RunningDnsServer) -> None:
    assert dns_check(server.port, "www.app.test", "CNAME",
                     expect="""['answers == ["app.test"]']""").status is Status.PASSED
    # An IP address asked for PTR is turned into its reverse name.
    assert dns_check(server.port, "10.0.0.5", "PTR",
                     expect="""['answers == ["app.test"]']""").status is Status.PASSED
    assert ("5.0.0.10.in-addr.arpa.", "PTR") in server.queries


def test_answers_too_long_for_udp_are_fetched_over_tcp(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "long.test", "TXT",
                       expect=f"""['answers == ["{"".join(LONG_TXT)}"]']""")
    assert result.status is Status.PASSED, result.message
    assert server.queries.count(("long.test.", "TXT")) == 2  # UDP (truncated), then TCP


def test_nxdomain_is_an_observation_that_fails_the_default(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "missing.test")
    assert result.status is Status.FAILED
    assert result.message == 'rcode ("NXDOMAIN") == "NOERROR"; answers ([]) != []'


def test_nxdomain_can_be_expected(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "decommissioned.test", expect="[rcode == NXDOMAIN]")
    assert result.status is Status.PASSED, result.message


def test_a_name_without_records_of_the_type_has_no_answers(server: RunningDnsServer) -> None:
    result = dns_check(server.port, "app.test", "AAAA")
    assert result.status is Status.FAILED
    assert result.message == "answers ([]) != []"


def test_a_server_that_does_not_answer_is_a_timeout_within_the_timeout() -> None:
    with silent_udp_port() as port:
        started = time.monotonic()
        result = dns_check(port, "app.test", timeout="1s")
        elapsed = time.monotonic() - started
    assert result.status is Status.ERROR and result.category is Category.TIMEOUT
    assert result.message == f"no answer from DNS server 127.0.0.1:{port} within 1s"
    assert 0.9 < elapsed < 1.5


def test_the_next_nameserver_is_asked_when_one_does_not_answer(
        server: RunningDnsServer) -> None:
    query = dns.message.make_query("app.test", "A")
    with silent_udp_port("127.0.0.2", server.port):
        response = _ask_in_turn(query, ["127.0.0.2", "127.0.0.1"], server.port, 2.0)
        assert len(response.answer) == 1
        with pytest.raises(ProbeError) as caught:
            _ask_in_turn(query, ["127.0.0.2", "127.0.0.2"], server.port, 0.4)
    assert caught.value.category is Category.TIMEOUT
    assert caught.value.message == ("none of the nameservers 127.0.0.2, 127.0.0.2 answered "
                                    "within 400ms")


@pytest.mark.parametrize(("keys", "expected"), [
    ("type: AXFR", "checks.yaml:6: checks[0].type: unknown record type 'AXFR'; use one of: A,"),
    ("server: dns.google", "checks.yaml:6: checks[0].server: 'dns.google' is not an IP address"),
    ("port: 70000", "checks.yaml:6: checks[0].port:"),
    ("sever: 10.0.0.2", "unknown key `sever` for a dns check (did you mean `server`?)"),
    ("expect: [status == 200]", "`status` is not observed by a dns check; subjects: answers, "
                                "latency, rcode"),
])
def test_config_mistakes_are_errors_with_their_line(keys: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"""
checks:
  - name: lookup
    kind: dns
    host: app.test
    {keys}
""", "checks.yaml", {})
    assert expected in str(caught.value)
