"""`probe run` end to end through the installed command, against real local targets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.helpers.cli import probe
from tests.helpers.http_target import HttpTarget, closed_port, http_target, silent_port

XSD = Path(__file__).parent / "reporting" / "junit-10.xsd"
TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture
def api() -> Iterator[HttpTarget]:
    with http_target() as target:
        yield target


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "checks.yaml"
    path.write_text(text)
    return path


def test_mixed_targets_get_the_right_status_and_category(tmp_path: Path, api: HttpTarget) -> None:
    with silent_port() as hanging:
        config = write(tmp_path, f"""
suite: acceptance
checks:
  - name: healthy
    kind: http
    url: {api.url}/health
    headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
    expect:
      - status == 200
      - json.items[1].id == 2
      - json.status == "UP"
  - name: unavailable
    kind: http
    url: {api.url}/down
  - name: wrong json value
    kind: http
    url: {api.url}/degraded
    expect: [status == 200, 'json.status == "UP"']
  - name: top level array
    kind: http
    url: {api.url}/list
    expect:
      - json[0].name == "first"
  - name: refused
    kind: http
    url: http://127.0.0.1:{closed_port()}/
  - name: unresolvable
    kind: http
    url: http://no-such-host.invalid/
  - name: hanging
    kind: http
    url: http://127.0.0.1:{hanging}/
    timeout: 1s
  - name: hanging tcp
    kind: tcp
    host: 127.0.0.1
    port: {hanging}
    send: "hello\\n"
    timeout: 1s
""")
        start = time.monotonic()
        result = probe(["run", "-c", str(config), "--reports", str(tmp_path / "reports")],
                       env={"API_TOKEN": TOKEN})
        elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(
        (tmp_path / "reports" / "results.json").read_text())["checks"]}
    expected = {
        "healthy": ("passed", None),
        "unavailable": ("failed", None),
        "wrong json value": ("failed", None),
        "top level array": ("passed", None),
        "refused": ("error", "connect"),
        "unresolvable": ("error", "dns"),
        "hanging": ("error", "timeout"),
        "hanging tcp": ("error", "timeout"),
    }
    assert {n: (c["status"], c["category"]) for n, c in checks.items()} == expected
    assert checks["hanging"]["duration_s"] < 1 + 1
    assert checks["hanging tcp"]["duration_s"] < 1 + 1
    assert elapsed < 15  # start-up included; the checks run concurrently
    assert 'json.status ("DEGRADED") == "UP"' in checks["wrong json value"]["message"]
    assert "status (503)" in checks["unavailable"]["message"]
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    junit = etree.parse(str(tmp_path / "reports" / "junit.xml"))
    assert schema.validate(junit), schema.error_log
    assert "FAIL" in result.stdout and "unavailable" in result.stdout


def test_token_reaches_the_server_and_no_report_or_console_line(tmp_path: Path,
                                                               api: HttpTarget) -> None:
    config = write(tmp_path, f"""
checks:
  - name: with token
    kind: http
    url: {api.url}/down
    headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
  - name: token in a condition
    kind: http
    url: {api.url}/down
    expect: ['body contains "${{API_TOKEN}}"']
""")
    reports = tmp_path / "reports"
    result = probe(["run", "-c", str(config), "--reports", str(reports)],
                   env={"API_TOKEN": TOKEN})
    assert result.returncode == 1
    assert any(h.get("Authorization") == f"Bearer {TOKEN}" for h in api.seen_headers)
    assert 'body contains \\"***\\"' in (reports / "results.json").read_text()
    assert TOKEN not in result.stdout + result.stderr
    written = list(reports.iterdir())
    assert written
    for path in written:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path.name


def test_reports_that_cannot_be_written_make_the_run_exit_3(tmp_path: Path,
                                                            api: HttpTarget) -> None:
    config = write(tmp_path, f"""
checks:
  - name: healthy
    kind: http
    url: {api.url}/health
""")
    not_a_dir = tmp_path / "taken"
    not_a_dir.write_text("a file where the reports directory should be")
    result = probe(["run", "-c", str(config), "--reports", str(not_a_dir / "reports")])
    # The check passed, but CI must not read yesterday's junit.xml as today's.
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot write" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_all_passing_run_exits_0_and_skipped_checks_do_not_count(tmp_path: Path,
                                                                api: HttpTarget) -> None:
    config = write(tmp_path, f"""
checks:
  - {{name: ok, kind: http, url: "{api.url}/health", tags: [api]}}
  - {{name: broken but disabled, kind: http, url: "{api.url}/down", enabled: false}}
  - {{name: broken but deselected, kind: http, url: "{api.url}/down", tags: [other]}}
""")
    result = probe(["run", "-c", str(config), "--reports", str(tmp_path / "r"), "--tag", "api"])
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = [c["status"] for c in json.loads((tmp_path / "r" / "results.json").read_text())[
        "checks"]]
    assert statuses == ["passed", "skipped", "skipped"]


def test_list_validate_schema_dry_run_and_version(tmp_path: Path) -> None:
    config = write(tmp_path, """
checks:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", tags: [api], group: apis}
  - {name: db port, kind: tcp, host: 127.0.0.1, port: 9, tags: [db]}
""")
    listed = probe(["list", "-c", str(config), "--tag", "db"])
    assert listed.returncode == 0
    assert "db port" in listed.stdout and "api " not in listed.stdout
    validated = probe(["validate", "-c", str(config)])
    assert validated.returncode == 0 and "OK, 2 checks" in validated.stdout
    schema = probe(["schema"])
    assert schema.returncode == 0
    assert json.loads(schema.stdout)["properties"]["checks"]
    dry = probe(["run", "-c", str(config), "--dry-run", "--reports", str(tmp_path / "r")])
    assert dry.returncode == 0 and "run  api [http]" in dry.stdout
    assert not (tmp_path / "r").exists()
    version = probe(["--version"])
    assert version.returncode == 0 and version.stdout.startswith("probe ")


def test_config_from_environment_variable(tmp_path: Path) -> None:
    config = write(tmp_path, "checks:\n  - {name: p, kind: tcp, host: 127.0.0.1, port: 9}\n")
    result = probe(["validate"], env={"PROBE_CONFIG": str(config)}, cwd=tmp_path.parent)
    assert result.returncode == 0


@pytest.mark.parametrize("args", [["run", "--bogus"], ["run", "--deadline", "soon"],
                                  ["run", "--shard", "4/3"], ["frobnicate"]])
def test_command_line_mistakes_exit_2(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path, "checks: []\n")
    result = probe(args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_selection_that_matches_no_check_exits_2(tmp_path: Path) -> None:
    write(tmp_path, """
checks:
  - {name: nightly load, kind: tcp, host: 127.0.0.1, port: 9, tags: [db]}
  - {name: parked, kind: tcp, host: 127.0.0.1, port: 9, tags: [old], enabled: false}
""")
    typo = probe(["run", "--tag", "dbb", "--reports", str(tmp_path / "r")], cwd=tmp_path)
    assert typo.returncode == 2
    assert "no check matches the selection (--tag dbb)" in typo.stderr
    assert not (tmp_path / "r").exists()  # nothing was run
    # Selecting a disabled check is an answer: it is reported as skipped, exit 0.
    parked = probe(["run", "--tag", "old", "--reports", str(tmp_path / "r")], cwd=tmp_path)
    assert parked.returncode == 0, parked.stdout + parked.stderr


def test_deadline_bounds_the_run(tmp_path: Path) -> None:
    with silent_port() as hanging:
        config = write(tmp_path, f"""
checks:
  - {{name: slow, kind: tcp, host: 127.0.0.1, port: {hanging}, send: "x", timeout: 30s}}
""")
        start = time.monotonic()
        result = probe(["run", "-c", str(config), "--reports", str(tmp_path / "r"),
                        "--deadline", "1s"])
        elapsed = time.monotonic() - start
    assert result.returncode == 1
    check = json.loads((tmp_path / "r" / "results.json").read_text())["checks"][0]
    assert (check["status"], check["category"]) == ("error", "timeout")
    assert "deadline" in check["message"]
    assert elapsed < 10


@pytest.mark.parametrize("slow_part", ["history store", "webhook"])
def test_deadline_bounds_what_follows_the_checks_too(tmp_path: Path, slow_part: str) -> None:
    # A store or a webhook that accepts and never answers: each would hold the run for
    # its own timeout (10 s, 30 s) past a deadline that was meant to end it.
    with silent_port() as silent:
        store = f"postgresql://probes@127.0.0.1:{silent}/probes"
        hook = f"json://127.0.0.1:{silent}/hook"
        config = write(tmp_path, f"""
state: {store if slow_part == "history store" else f"sqlite:///{tmp_path}/state.db"}
notify:
  - {{url: "{hook if slow_part == "webhook" else "json://127.0.0.1:9/x"}", timeout: 30s}}
checks:
  - {{name: closed, kind: tcp, host: 127.0.0.1, port: 9}}
""")
        start = time.monotonic()
        result = probe(["run", "-c", str(config), "--reports", str(tmp_path / "r"),
                        "--deadline", "5s"])
        elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout + result.stderr
    assert elapsed < 5 + 1.5  # the deadline, and the interpreter's start before it counts
    written = json.loads((tmp_path / "r" / "results.json").read_text())
    assert written["checks"][0]["category"] == "connect"  # the checks ran as usual
    if slow_part == "history store":
        assert any("run history not recorded: the run's deadline (--deadline 5s) came first"
                   in warning for warning in written["warnings"]), written["warnings"]
    else:
        (outcome,) = written["notifications"]
        assert not outcome["sent"] and "before the run's deadline" in outcome["error"]


def test_retries_are_recorded(tmp_path: Path, api: HttpTarget) -> None:
    config = write(tmp_path, f"""
checks:
  - {{name: down, kind: http, url: "{api.url}/down", retries: 2, retry_delay: 10ms}}
""")
    probe(["run", "-c", str(config), "--reports", str(tmp_path / "r")])
    check = json.loads((tmp_path / "r" / "results.json").read_text())["checks"][0]
    assert check["attempts"] == 3
    assert len(api.seen_headers) == 3
