"""results.json: the SPEC shape, a lossless round trip, and atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from probes.model import AssertionResult, Category, Status
from probes.reporting.files import write_atomic
from probes.reporting.json import SCHEMA_VERSION, load_json, render_json, write_json
from probes.units import Bytes, Seconds
from tests.helpers.results import (
    assertion,
    error_check,
    failed_check,
    hostile_run,
    passed_check,
    rich_run,
    run_result,
    skipped_check,
)


def test_spec_shape() -> None:
    run = run_result(passed_check("api"), failed_check("scoring api"),
                     error_check("warehouse"), skipped_check("ftp"))
    data = json.loads(render_json(run))

    assert data["suite"] == "nightly-prod"
    assert data["started_at"] == run.started_at
    assert data["duration_s"] == 3.2
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["summary"] == {"total": 4, "passed": 1, "failed": 1, "error": 1, "skipped": 1}
    failed = data["checks"][1]
    assert {k: failed[k] for k in ("name", "kind", "group", "tags", "status", "category",
                                   "message", "duration_s", "attempts")} == {
        "name": "scoring api", "kind": "http", "group": "apis", "tags": ["critical"],
        "status": "failed", "category": None, "message": "status (503) == 200",
        "duration_s": 0.123, "attempts": 2,
    }
    assert failed["assertions"][0] == {"expr": "status == 200", "actual": 503, "passed": False,
                                       "note": ""}
    assert data["checks"][2]["category"] == "timeout"
    for check in data["checks"]:
        assert isinstance(check["duration_s"], float)
        assert isinstance(check["attempts"], int) and not isinstance(check["attempts"], bool)
    skipped = data["checks"][3]
    assert (skipped["status"], skipped["duration_s"], skipped["attempts"]) == ("skipped", 0.0, 0)


def test_extra_fields_are_written() -> None:
    data = json.loads(render_json(rich_run()))

    orders = data["checks"][1]
    assert orders["previous_status"] == "passed"
    assert orders["failing_since"] == "2024-05-05T03:00:00+00:00"
    assert orders["failing_streak"] == 2
    assert orders["history"] == ["passed", "passed", "failed"]
    assert orders["description"] == "Orders for the morning report"
    assert orders["attempt_log"][0] == {"number": 1, "status": "failed", "category": None,
                                        "message": orders["message"], "duration_s": 0.1}
    assert data["checks"][0]["observations"] == {"status": 200, "latency": 0.045, "size": 2048,
                                                 "verified": True, "issuer": "CA"}
    assert data["notifications"] == [
        {"target": "slack://T***/B***/***", "sent": True, "error": None},
        {"target": "mailto://ops@***", "sent": False, "error": "connection refused"},
    ]
    assert data["warnings"] == ["cannot write reports/report.html: PermissionError: denied"]
    assert data["interrupted"] is False


def test_units_become_plain_numbers() -> None:
    run = run_result(passed_check(
        assertions=(assertion("latency < 500ms", Seconds(0.25), True),
                    assertion("size < 5MB", Bytes(1500), True)),
        observations={"latency": Seconds(0.25), "size": Bytes(1500)}))
    text = render_json(run)

    assert '"actual": 0.25' in text and '"actual": 1500' in text
    assert "250ms" not in text and "1.5KB" not in text


def test_values_json_cannot_carry_become_text() -> None:
    run = run_result(passed_check(
        assertions=(assertion("value == 1", float("nan"), False),
                    assertion("value == 2", {1: (b"raw", float("inf"))}, False)),
        duration_s=float("inf")))
    data = json.loads(render_json(run))  # strict JSON: no NaN/Infinity literals

    assert [a["actual"] for a in data["checks"][0]["assertions"]] == [
        "nan", {"1": ["b'raw'", "inf"]}]
    assert data["checks"][0]["duration_s"] == 0.0


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    run = rich_run()
    path = tmp_path / "results.json"
    write_json(run, path)
    loaded = load_json(path)

    assert loaded == run  # Seconds/Bytes compare equal to the floats/ints read back
    assert isinstance(loaded.checks[0].observations["latency"], float)
    assert loaded.checks[2].category is Category.TIMEOUT
    assert loaded.checks[1].history == (Status.PASSED, Status.PASSED, Status.FAILED)
    assert render_json(loaded) == render_json(run)


def test_round_trip_of_hostile_text(tmp_path: Path) -> None:
    run = hostile_run()
    # A lone surrogate cannot be encoded as UTF-8; the JSON escape \ud800 carries it.
    path = tmp_path / "results.json"
    write_json(run, path)

    assert load_json(path) == run


def test_round_trip_of_an_empty_run(tmp_path: Path) -> None:
    run = run_result(duration_s=0.0, interrupted=True)
    write_json(run, tmp_path / "r.json")

    assert load_json(tmp_path / "r.json") == run


@pytest.mark.parametrize(("content", "problem"), [
    ("[]", "expected an object"),
    ('{"suite": "s", "checks": [], "started_at": "x", "duration_s": 1, "schema_version": 9}',
     "newer than this probe understands"),
    ('{"suite": "s", "checks": {}, "started_at": "2026-01-01T00:00:00+00:00", '
     '"duration_s": 1}', "'checks' must be a list"),
    ('{"suite": "s", "checks": [{"name": "a", "kind": "http", "group": "g", "status": "odd"}],'
     ' "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 1}', "'odd' is not a valid Status"),
    ("not json", "Expecting value"),
])
def test_load_rejects_what_is_not_a_results_file(tmp_path: Path, content: str,
                                                 problem: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)

    with pytest.raises(ValueError, match=problem):
        load_json(path)


def test_old_file_without_extra_fields_loads(tmp_path: Path) -> None:
    """The bare SPEC shape (no schema_version, no extra fields) is enough to rebuild reports."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps({
        "suite": "s", "started_at": "2024-05-06T03:00:00+00:00", "duration_s": 1.5,
        "summary": {"total": 1, "passed": 0, "failed": 1, "error": 0, "skipped": 0},
        "checks": [{"name": "api", "kind": "http", "group": "apis", "tags": [],
                    "status": "failed", "category": None, "message": "m", "duration_s": 0.05,
                    "attempts": 1,
                    "assertions": [{"expr": "status == 200", "actual": 503, "passed": False}]}],
    }))
    run = load_json(path)

    assert run.checks[0].assertions == (AssertionResult("status == 200", 503, False),)
    assert run.summary.failed == 1 and run.notifications == () and not run.interrupted


# --- atomic writes -------------------------------------------------------------------------


def test_write_creates_the_directory_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "results.json"
    write_json(run_result(passed_check()), path)
    write_json(run_result(failed_check()), path)

    assert os.listdir(path.parent) == ["results.json"]
    assert load_json(path).checks[0].status is Status.FAILED


def test_written_file_follows_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_atomic(path, b"{}")

    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_render_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json(run_result(passed_check()), path)
    before = path.read_bytes()
    broken = run_result(replace(passed_check(), status="not a status"))  # type: ignore[arg-type]

    with pytest.raises(KeyError):
        write_json(broken, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["results.json"]


def test_failure_during_the_write_keeps_the_previous_file(tmp_path: Path) -> None:
    """A real write error (file size limit exceeded) in the middle of writing the data."""
    path = tmp_path / "results.json"
    path.write_bytes(b"previous")
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from probes.reporting.files import write_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_atomic(Path({str(path)!r}), b"x" * 100_000)
        except OSError as exc:
            print("failed:", exc.errno)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)

    assert done.stdout.startswith("failed:"), done.stderr
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["results.json"]


def test_replace_failing_removes_the_temp_file(tmp_path: Path) -> None:
    """The destination is a directory: os.replace fails after the data was written."""
    path = tmp_path / "results.json"
    path.mkdir()
    (path / "keep").write_text("x")

    with pytest.raises(OSError):
        write_atomic(path, b"{}")
    assert os.listdir(tmp_path) == ["results.json"]
    assert (path / "keep").read_text() == "x"
