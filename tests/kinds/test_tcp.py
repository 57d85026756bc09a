"""`tcp` checks against real local listeners (tests/helpers/servers.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from probes.config import parse_config
from probes.kinds import kind_model
from probes.kinds.tcp import BANNER_WINDOW_S, RESPONSE_LIMIT, Check
from probes.model import AssertionResult, Category, ProbeError, Status
from probes.runner import run_checks
from probes.selection import select
from probes.units import Seconds
from tests.helpers.servers import blackhole_port, refused_port, silent_port, tcp_server


def check(port: int, **keys: Any) -> Check:
    model = Check.model_validate({"name": "port", "kind": "tcp", "host": "127.0.0.1",
                                  "port": port, **keys})
    assert isinstance(model, Check)
    return model


def observe(model: Check) -> tuple[dict[str, Any], float]:
    """The observations and how long observing took."""
    started = time.monotonic()
    observed = model.observe(float(model.timeout))
    return observed, time.monotonic() - started


def judge(model: Check, observed: dict[str, Any]) -> list[AssertionResult]:
    return [condition.evaluate(observed) for condition in model.conditions]


def failure(model: Check) -> tuple[ProbeError, float]:
    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        model.observe(float(model.timeout))
    return caught.value, time.monotonic() - started


def pong(data: bytes) -> bytes:
    return b"PONG\r\n" if data.strip() == b"PING" else b"-ERR unknown\r\n"


def test_tcp_is_the_registered_kind() -> None:
    assert kind_model("tcp") is Check


def test_a_banner_is_read_without_waiting_for_the_timeout() -> None:
    with tcp_server(banner=b"SSH-2.0-OpenSSH_9.2\r\n") as server:
        model = check(server.port, timeout="5s", expect=[
            "connected == true", 'response matches "^SSH-2\\\\.0-"', "latency < 1s"])
        observed, elapsed = observe(model)
    assert observed == {"connected": True, "latency": observed["latency"],
                        "response": "SSH-2.0-OpenSSH_9.2\r\n"}
    assert isinstance(observed["latency"], Seconds)
    assert all(result.passed for result in judge(model, observed))
    assert elapsed < 1  # a pause after the banner ends the response, not the 5s timeout


def test_a_silent_service_passes_the_default_at_once() -> None:
    with silent_port() as port:
        model = check(port, timeout="5s")
        observed, elapsed = observe(model)
    assert (observed["connected"], observed["response"]) == (True, "")
    assert [(r.expr, r.passed) for r in judge(model, observed)] == [("connected == true", True)]
    assert elapsed < BANNER_WINDOW_S + 0.5


def test_send_gets_the_reply() -> None:
    with tcp_server(respond=pong) as server:
        model = check(server.port, send="PING\r\n", expect=['response == "PONG\\r\\n"',
                                                           'response contains "PONG"'])
        observed, elapsed = observe(model)
    assert all(result.passed for result in judge(model, observed)), observed
    assert server.received == [b"PING\r\n"]
    assert elapsed < 1


def test_send_after_a_banner_gets_both() -> None:
    with tcp_server(banner=b"+OK ready\r\n", respond=pong) as server:
        observed, _ = observe(check(server.port, send="PING\r\n"))
    assert observed["response"] == "+OK ready\r\nPONG\r\n"


def test_a_reply_that_takes_a_while_is_waited_for() -> None:
    # With `send`, the reply gets the whole timeout, not the short banner window.
    with tcp_server(banner=b"late\n", banner_delay=BANNER_WINDOW_S + 0.3,
                    respond=None) as server:
        prompt = check(server.port, send="hello\n")
        assert observe(prompt)[0]["response"] == "late\n"
        waited = check(server.port, read=True)
        assert observe(waited)[0]["response"] == "late\n"
        brief = check(server.port)  # no send, read unset: only the banner window
        observed, elapsed = observe(brief)
    assert observed["response"] == ""
    assert elapsed < BANNER_WINDOW_S + 0.25


def test_read_false_only_connects_and_sends() -> None:
    with tcp_server(banner=b"hello\n") as server:
        observed, elapsed = observe(check(server.port, send="quit\n", read=False))
    assert (observed["connected"], observed["response"]) == (True, "")
    assert elapsed < BANNER_WINDOW_S


def test_a_server_that_closes_ends_the_response_at_once() -> None:
    with tcp_server(banner=b"220 bye\r\n", respond=None) as server:
        observed, elapsed = observe(check(server.port, read=True, timeout="5s"))
    assert observed["response"] == "220 bye\r\n"
    assert elapsed < 0.5


def test_a_server_that_hangs_up_on_what_was_sent_is_observed_not_an_error() -> None:
    with tcp_server(respond=None) as server:  # accepts, then closes without a word
        observed, elapsed = observe(check(server.port, send="PING\n", timeout="5s"))
    assert (observed["connected"], observed["response"]) == (True, "")
    assert elapsed < 1


def test_the_response_is_capped_at_4_kb() -> None:
    with tcp_server(banner=b"x" * 100_000) as server:
        observed, _ = observe(check(server.port))
    assert len(observed["response"]) == RESPONSE_LIMIT == 4096


def test_no_reply_to_what_was_sent_is_a_timeout_error() -> None:
    with silent_port() as port:
        error, elapsed = failure(check(port, send="PING\n", timeout="1s"))
    assert error.category is Category.TIMEOUT
    assert error.message == f"no reply from 127.0.0.1:{port} within 1s after sending 5 bytes"
    assert elapsed < 1 + 1


def test_no_banner_when_one_is_required_is_a_timeout_error() -> None:
    with silent_port() as port:
        error, elapsed = failure(check(port, read=True, timeout="600ms"))
    assert error.category is Category.TIMEOUT
    assert error.message == (f"127.0.0.1:{port} accepted the connection but sent nothing "
                             "within 600ms")
    assert elapsed < 0.6 + 1


def test_a_refused_port_is_a_connect_error() -> None:
    with refused_port() as port:
        error, _ = failure(check(port))
    assert error.category is Category.CONNECT
    assert error.message == f"connection to 127.0.0.1:{port} refused"


def test_a_connect_that_hangs_is_a_timeout_error() -> None:
    with blackhole_port() as port:
        error, elapsed = failure(check(port, timeout="500ms"))
    assert error.category is Category.TIMEOUT
    assert error.message == f"connecting to 127.0.0.1:{port} took longer than 500ms"
    assert elapsed < 0.5 + 1


def test_an_unresolvable_host_is_a_dns_error() -> None:
    model = Check.model_validate({"name": "port", "kind": "tcp", "host": "db.invalid",
                                  "port": 5432})
    with pytest.raises(ProbeError) as caught:
        model.observe(2.0)
    assert caught.value.category is Category.DNS
    assert caught.value.message.startswith("cannot resolve db.invalid")


@pytest.mark.parametrize(("keys", "message"), [
    ({"port": 0}, "greater than or equal to 1"),
    ({"port": 70000}, "less than or equal to 65535"),
    ({"port": "postgres"}, "valid integer"),
    ({"host": ""}, "at least 1 character"),
    ({"expect": ["status == 200"]}, "`status` is not observed by a tcp check"),
])
def test_invalid_keys_are_rejected(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Check.model_validate({"name": "port", "kind": "tcp", "host": "db", "port": 5432, **keys})
    assert message in str(caught.value)


def test_target_and_port_from_an_interpolated_string() -> None:
    model = Check.model_validate({"name": "p", "kind": "tcp", "host": "::1", "port": "5432"})
    assert model.port == 5432 and model.target() == "tcp://[::1]:5432"


def test_end_to_end_a_secret_sent_is_masked() -> None:
    with tcp_server(respond=lambda data: b"+OK\r\n") as server:
        config = parse_config(f"""
checks:
  - name: cache
    kind: tcp
    host: 127.0.0.1
    port: {server.port}
    send: "AUTH ${{CACHE_SECRET}}\\r\\n"
    expect: ['response == "+OK\\r\\n"']
""", "checks.yaml", {"CACHE_SECRET": "s3cr3t-value"})
        result = run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]
    assert result.status is Status.PASSED, result.message
    assert server.received == [b"AUTH s3cr3t-value\r\n"]
    assert result.target == f"tcp://127.0.0.1:{server.port}"
    assert "s3cr3t-value" in config.masker.secrets  # `send` is a secret-bearing key
    assert "s3cr3t" not in repr(result)
