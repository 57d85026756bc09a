"""`http` checks against real local HTTP and HTTPS servers (tests/helpers/servers.py)."""

from __future__ import annotations

import datetime
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from probes.config import parse_config
from probes.kinds import kind_model
from probes.kinds._environment import default_ca_bundle
from probes.kinds.http import Check
from probes.model import AssertionResult, Category, ProbeError, Status
from probes.runner import run_checks
from probes.selection import select
from probes.units import Bytes, Seconds
from tests.helpers.servers import (
    HEALTHY,
    TEXT,
    HttpServer,
    blackhole_port,
    http_server,
    refused_port,
    silent_port,
)
from tests.helpers.tls_servers import leaf


@pytest.fixture(scope="module")
def api() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("http-tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def secure_api(ca: trustme.CA) -> Iterator[HttpServer]:
    with http_server(cert=leaf(ca)) as server:
        yield server


@pytest.fixture
def no_ca_bundle_from_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Trust only the system store; the environment is read once per run, so forget it."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    default_ca_bundle.cache_clear()
    yield
    default_ca_bundle.cache_clear()


def check(url: str, **keys: Any) -> Check:
    model = Check.model_validate({"name": "api", "kind": "http", "url": url, **keys})
    assert isinstance(model, Check)
    return model


def observe(model: Check) -> dict[str, Any]:
    return model.observe(float(model.timeout))


def judge(model: Check, observed: dict[str, Any]) -> list[AssertionResult]:
    return [condition.evaluate(observed) for condition in model.conditions]


def failure(model: Check) -> ProbeError:
    with pytest.raises(ProbeError) as caught:
        observe(model)
    return caught.value


def test_http_is_the_registered_kind() -> None:
    assert kind_model("http") is Check


def test_a_healthy_json_endpoint_passes_the_default_expectation(api: HttpServer) -> None:
    model = check(api.url("/health"))
    observed = observe(model)
    assert [c.text for c in model.conditions] == ["status >= 200", "status <= 299"]
    assert all(result.passed for result in judge(model, observed))
    assert observed["status"] == 200
    assert observed["json"] == HEALTHY
    assert observed["body"].startswith('{"status": "UP"')
    assert observed["size"] == Bytes(len(observed["body"].encode()))
    assert isinstance(observed["size"], Bytes) and observed["truncated"] is False
    assert isinstance(observed["latency"], Seconds) and 0 < observed["latency"] < 1
    assert model.target() == f"GET {api.url('/health')}"


def test_json_paths_reach_into_objects_and_arrays(api: HttpServer) -> None:
    model = check(api.url("/health"), expect=[
        'json.status == "UP"',
        "json.items[0].id == 7",
        'json.items[1].name == "beta"',
        'json.items[-1].name == "beta"',
        "json.checks.db.ok == true",
        "json.checks.db.ms < 100",
        'json.items[0] contains "name"',
    ])
    results = judge(model, observe(model))
    assert [(r.expr, r.passed) for r in results if not r.passed] == []
    assert results[1].actual == 7

    wrong = check(api.url("/health"), expect=["json.items[5].id == 7", 'json.status == "DOWN"'])
    missing, different = judge(wrong, observe(wrong))
    assert (missing.passed, missing.actual, missing.note) == (False, None, "no such value")
    assert (different.passed, different.actual, different.describe()) == (
        False, "UP", 'json.status ("UP") == "DOWN"')


def test_a_top_level_array_is_reached_with_an_index(api: HttpServer) -> None:
    model = check(api.url("/list"), expect=["json[0].id == 1", 'json[1].name == "second"',
                                            "json[2].id == 3"])
    first, second, beyond = judge(model, observe(model))
    assert first.passed and second.passed
    assert not beyond.passed and beyond.note == "no such value"


def test_a_body_that_is_not_json_leaves_json_absent(api: HttpServer) -> None:
    model = check(api.url("/text"), expect=['body contains "héllo"', 'json.status == "UP"'])
    observed = observe(model)
    assert "json" not in observed
    assert observed["body"] == TEXT
    text, json_status = judge(model, observed)
    assert text.passed
    assert not json_status.passed and json_status.note == "no such value"


def test_headers_are_matched_whatever_the_case(api: HttpServer) -> None:
    model = check(api.url("/health"), expect=[
        'header.Content-Type == "application/json"',
        'header.content-type == "application/json"',
        'header.CONTENT-TYPE contains "json"',
        'header contains "content-length"',
        'header.X-Missing == "anything"',
    ])
    *present, absent = judge(model, observe(model))
    assert all(result.passed for result in present), present
    assert not absent.passed and absent.note == "no such value"


def test_a_503_fails_with_the_status_shown(api: HttpServer) -> None:
    model = check(api.url("/status/503"))
    observed = observe(model)
    at_least_200, at_most_299 = judge(model, observed)
    assert at_least_200.passed
    assert not at_most_299.passed and at_most_299.describe() == "status (503) <= 299"
    assert observed["json"] == {"status": 503}


def test_redirects_are_followed_unless_told_not_to(api: HttpServer) -> None:
    followed = observe(check(api.url("/redirect?to=/list")))
    assert followed["status"] == 200 and followed["json"][0]["id"] == 1

    model = check(api.url("/redirect?to=/list"), follow_redirects=False,
                  expect=["status == 302", 'header.location == "/list"'])
    kept = observe(model)
    assert all(result.passed for result in judge(model, kept))
    assert kept["size"] == 0 and "json" not in kept


def test_a_token_is_not_handed_on_to_another_host_by_a_redirect(api: HttpServer) -> None:
    token = {"Authorization": "Bearer tok-redirect"}
    with http_server() as other:
        # 127.0.0.1 -> localhost: another host name, so the header is dropped there.
        observe(check(api.url(f"/redirect?to=http://localhost:{other.port}/headers"),
                      headers=token))
        assert other.requests[-1].header("Authorization") is None
    observe(check(api.url("/redirect?to=/headers"), headers=token))  # same host: kept
    assert api.requests[-1].path == "/headers"
    assert api.requests[-1].header("Authorization") == "Bearer tok-redirect"


def test_a_redirect_loop_is_a_connect_error(api: HttpServer) -> None:
    error = failure(check(api.url("/redirect-loop")))
    assert error.category is Category.CONNECT
    assert error.message == f"more than 10 redirects from 127.0.0.1:{api.port} (a redirect loop?)"


def test_a_gigabyte_body_is_read_only_up_to_max_body(api: HttpServer) -> None:
    model = check(api.url("/big"), max_body="256KiB", expect=["size == 256KiB",
                                                              "truncated == true"])
    tracemalloc.start()
    try:
        started = time.monotonic()
        observed = observe(model)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all(result.passed for result in judge(model, observed))
    assert observed["size"] == 256 * 1024 == len(observed["body"])
    assert observed["header"]["Content-Length"] == str(10**9)
    assert "json" not in observed
    assert peak < 8 * 1024 * 1024  # the cap and a chunk or two, never the gigabyte
    assert elapsed < 2
    # The check hung up: the server could not push more than what socket buffers hold.
    assert api.client_gone.wait(10)
    assert api.streamed < 64 * 1024 * 1024


def test_a_compressed_body_is_capped_after_decoding(api: HttpServer) -> None:
    model = check(api.url("/gzip"), max_body="1MB")
    tracemalloc.start()
    try:
        observed = observe(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert observed["header"]["content-encoding"] == "gzip"
    assert observed["size"] == 1_000_000 and observed["truncated"] is True
    assert set(observed["body"]) == {"\0"}
    assert peak < 16 * 1024 * 1024  # a gigabyte of zeros, inflated piece by piece


def test_a_body_exactly_at_the_cap_is_not_truncated(api: HttpServer) -> None:
    observed = observe(check(api.url("/big?bytes=1000"), max_body="1KB"))
    assert (observed["size"], observed["truncated"]) == (1000, False)


def test_latency_includes_a_slow_response(api: HttpServer) -> None:
    model = check(api.url("/slow?seconds=0.3"), expect=["latency >= 300ms", "latency < 2s"])
    assert all(result.passed for result in judge(model, observe(model)))


def test_a_body_still_arriving_at_the_timeout_is_a_timeout_error(api: HttpServer) -> None:
    started = time.monotonic()
    error = failure(check(api.url("/drip?every=0.1"), timeout="700ms"))
    assert time.monotonic() - started < 0.7 + 0.5
    assert error.category is Category.TIMEOUT
    assert error.message.startswith(f"the body from 127.0.0.1:{api.port} was still arriving "
                                    "after 700ms (")


def test_post_with_a_json_body_reaches_the_server(api: HttpServer) -> None:
    payload = {"model": "churn", "rows": [1, 2, 3], "dry_run": True}
    observed = observe(check(api.url("/echo"), method="post", json=payload))
    assert observed["json"]["method"] == "POST"
    received = api.requests[-1]
    assert received.method == "POST" and received.json == payload
    assert received.header("content-type") == "application/json"


def test_a_json_body_may_be_any_json_value(api: HttpServer) -> None:
    observe(check(api.url("/echo"), method="PUT", json=[1, "two", None]))
    assert api.requests[-1].json == [1, "two", None]
    observe(check(api.url("/echo"), method="PUT", json=None))
    assert api.requests[-1].body == b"null"  # written explicitly: sent, not dropped


def test_a_text_body_is_sent_as_it_is(api: HttpServer) -> None:
    observe(check(api.url("/echo"), method="PATCH", body="a=1&b=ü",
                  headers={"Content-Type": "application/x-www-form-urlencoded"}))
    received = api.requests[-1]
    assert (received.method, received.body) == ("PATCH", "a=1&b=ü".encode())
    assert received.header("Content-Type") == "application/x-www-form-urlencoded"


def test_a_token_header_reaches_the_server(api: HttpServer) -> None:
    observe(check(api.url("/headers"), headers={"Authorization": "Bearer tok-123",
                                                "X-Retries": 3}))
    received = api.requests[-1]
    assert received.header("authorization") == "Bearer tok-123"
    assert received.header("X-Retries") == "3"


def test_a_head_request_has_no_body(api: HttpServer) -> None:
    observed = observe(check(api.url("/health"), method="HEAD"))
    assert observed["status"] == 200
    assert (observed["size"], observed["body"]) == (0, "")
    assert api.requests[-1].method == "HEAD"


def test_https_with_the_ca_file_passes(secure_api: HttpServer, ca_file: Path) -> None:
    model = check(secure_api.url("/health"), ca_file=str(ca_file))
    observed = observe(model)
    assert all(result.passed for result in judge(model, observed))
    assert observed["json"]["status"] == "UP"


@pytest.mark.usefixtures("no_ca_bundle_from_env")
def test_https_from_an_unknown_ca_is_a_tls_error(secure_api: HttpServer) -> None:
    error = failure(check(secure_api.url("/health")))
    assert error.category is Category.TLS
    assert error.message == (f"untrusted certificate chain from 127.0.0.1:{secure_api.port} "
                             "(unable to get local issuer certificate); set ca_file to the PEM "
                             "of the CA that issued it")


@pytest.mark.usefixtures("no_ca_bundle_from_env")
def test_verify_false_accepts_any_certificate(secure_api: HttpServer) -> None:
    observed = observe(check(secure_api.url("/health"), verify=False))
    assert observed["status"] == 200


@pytest.mark.usefixtures("no_ca_bundle_from_env")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_ca_bundle_variables_are_trusted(secure_api: HttpServer, ca_file: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             variable: str) -> None:
    monkeypatch.setenv(variable, str(ca_file))
    default_ca_bundle.cache_clear()
    assert observe(check(secure_api.url("/health")))["status"] == 200


def test_a_certificate_for_another_name_is_a_tls_error(ca: trustme.CA, ca_file: Path) -> None:
    with http_server(cert=leaf(ca, "db.example.com")) as other:
        by_ip = failure(check(other.url("/health"), ca_file=str(ca_file)))
        by_name = failure(check(other.url("/health").replace("127.0.0.1", "localhost"),
                                ca_file=str(ca_file)))
    assert by_ip.category is by_name.category is Category.TLS
    assert by_ip.message == (f"hostname mismatch: the certificate of 127.0.0.1:{other.port} is "
                             "not valid for '127.0.0.1'")
    assert by_name.message == (f"hostname mismatch: the certificate of localhost:{other.port} "
                               "is not valid for 'localhost'")


def test_a_missing_ca_file_is_a_config_error(secure_api: HttpServer) -> None:
    error = failure(check(secure_api.url("/health"), ca_file="/nonexistent/ca.pem"))
    assert error.category is Category.CONFIG
    assert error.message == "ca_file /nonexistent/ca.pem is not a readable file"


def test_a_target_that_never_answers_times_out_within_the_timeout() -> None:
    with silent_port() as port:
        started = time.monotonic()
        error = failure(check(f"http://127.0.0.1:{port}/health", timeout="1s"))
        elapsed = time.monotonic() - started
    assert error.category is Category.TIMEOUT
    assert error.message == f"no response from 127.0.0.1:{port} within 1s"
    assert elapsed < 1 + 1


def test_a_connect_that_hangs_times_out() -> None:
    with blackhole_port() as port:
        started = time.monotonic()
        error = failure(check(f"http://127.0.0.1:{port}/", timeout="500ms"))
        elapsed = time.monotonic() - started
    assert error.category is Category.TIMEOUT
    assert error.message == f"connecting to 127.0.0.1:{port} took longer than 500ms"
    assert elapsed < 0.5 + 1


def test_a_refused_port_is_a_connect_error() -> None:
    with refused_port() as port:
        error = failure(check(f"http://127.0.0.1:{port}/"))
    assert error.category is Category.CONNECT
    assert error.message == f"connection to 127.0.0.1:{port} refused"


def test_an_unresolvable_host_is_a_dns_error() -> None:
    error = failure(check("https://no-such-host.invalid/health", timeout="2s"))
    assert error.category is Category.DNS
    assert error.message.startswith("cannot resolve no-such-host.invalid: ")


@pytest.mark.parametrize(("keys", "message"), [
    ({"body": "x", "json": {"a": 1}}, "write either `body` (text sent as it is) or `json`"),
    ({"json": None, "body": "x"}, "write either `body`"),
    ({"url": "ftp://files.example.com/x"}, "url must start with http:// or https://"),
    ({"url": "api.example.com/health"}, "url must start with http:// or https://"),
    ({"url": "http:///health"}, "url has no host name"),
    ({"url": "http://api.example.com:99999/"}, "url has a port that is not a number"),
    ({"method": "GET /"}, "'GET /' is not an HTTP method"),
    ({"headers": {"X-Token": "a\nb"}}, "the value of header X-Token contains a line break"),
    ({"headers": {"Bad Name": "x"}}, "'Bad Name' is not a valid header name"),
    ({"max_body": "lots"}, "'lots' is not a size; write a number with a unit"),
    ({"json": {"day": datetime.date(2024, 1, 31)}}, "json holds a value JSON cannot carry"),
    ({"expect": ["rows == 1"]}, "`rows` is not observed by a http check"),
])
def test_invalid_keys_are_rejected_with_what_to_write(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Check.model_validate({"name": "api", "kind": "http",
                              "url": "https://api.example.com/health", **keys})
    assert message in str(caught.value)


def test_keys_are_normalised() -> None:
    model = check("https://api.example.com/health", method="post", max_body="64KiB",
                  headers={"X-Flag": True, "X-Limit": 10})
    assert model.method == "POST" and model.target() == "POST https://api.example.com/health"
    assert model.max_body == 65536
    assert model.headers == {"X-Flag": "true", "X-Limit": "10"}
    assert check("https://a.example.com/").max_body == 1_000_000
    assert check("https://a.example.com/", max_body=2048).max_body == 2048


def test_end_to_end_the_token_is_masked_and_the_facts_kept(api: HttpServer) -> None:
    token = "tok-5a4b3c2d1e"
    config = parse_config(f"""
checks:
  - name: scoring api
    kind: http
    url: {api.url('/health')}?key=${{API_KEY}}
    headers: {{Authorization: "Bearer ${{API_KEY}}"}}
    expect:
      - json.items[0].id == 7
      - header.content-type contains "json"
      - latency < 2s
  - name: down
    kind: http
    url: {api.url('/status/503')}
""", "checks.yaml", {"API_KEY": token})
    healthy, down = run_checks(config.suite, select(config.checks), masker=config.masker).checks
    assert healthy.status is Status.PASSED, healthy.message
    sent = [r for r in api.requests if r.path == f"/health?key={token}"]
    assert sent and sent[-1].header("Authorization") == f"Bearer {token}"
    assert healthy.target == f"GET {api.url('/health')}?key=***"
    assert healthy.observations["status"] == 200
    assert down.status is Status.FAILED and down.message == "status (503) <= 299"


def test_requests_name_the_harness_unless_a_user_agent_is_given(api: HttpServer) -> None:
    observe(check(api.url("/headers")))
    assert (api.requests[-1].header("User-Agent") or "").startswith("probes/")
    observe(check(api.url("/headers"), headers={"user-agent": "nightly-checks"}))
    assert api.requests[-1].header("User-Agent") == "nightly-checks"


def test_the_proxy_variables_are_honoured(api: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from probes.kinds import _environment

    for name in ("HTTP_PROXY", "http_proxy"):  # the test server answers as the proxy too
        monkeypatch.setenv(name, api.base)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "bypassed.invalid")
    _environment._proxies.cache_clear()
    try:
        observed = observe(check("http://behind-proxy.invalid/health"))
        bypassed = failure(check("http://bypassed.invalid/health"))
    finally:
        _environment._proxies.cache_clear()
    assert observed["json"] == HEALTHY
    assert api.requests[-1].path == "http://behind-proxy.invalid/health"
    assert bypassed.category is Category.DNS  # NO_PROXY: resolved directly, and it cannot be
