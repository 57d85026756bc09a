"""Run history against a SQLite file and the machine's PostgreSQL (a throwaway database)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from probes import state
from probes.cli import main
from probes.model import CheckResult, RunResult, Status
from probes.reporting.json import render_json
from tests.helpers.databases import closed_port
from tests.helpers.results import (
    error_check,
    failed_check,
    hostile_run,
    passed_check,
    run_result,
    skipped_check,
)

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
PG_DATABASE = f"probes_state_test_{os.getpid()}"
DAY = 86400.0
RETENTION = 90 * DAY


@dataclass(frozen=True)
class Store:
    url: str | None  # None: the default SQLite file in reports_dir
    reports_dir: Path

    def record(self, run: RunResult, retention_s: float = RETENTION) -> RunResult:
        return state.record_and_enrich(run, self.url, self.reports_dir, retention_s)


def at(day: int, *checks: CheckResult, suite: str = "nightly-prod") -> RunResult:
    started = datetime(2024, 5, 1, 3, 0) + timedelta(days=day)
    return replace(run_result(*checks, suite=suite),
                   started_at=started.isoformat(timespec="milliseconds") + "+00:00")


def by_name(run: RunResult) -> dict[str, CheckResult]:
    return {check.name: check for check in run.checks}


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A database of its own on the local PostgreSQL, dropped afterwards."""
    import psycopg2

    admin = psycopg2.connect(**PG_ADMIN, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{PG_DATABASE}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.close()


def empty_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store(None, tmp_path / "reports")
    url: str = request.getfixturevalue("pg_database")
    empty_pg(url)
    return Store(url, tmp_path / "reports")


def test_fail_pass_fail_gives_previous_status_failing_since_and_history(store: Store) -> None:
    first = store.record(at(0, failed_check("api"), error_check("db")))
    second = store.record(at(1, passed_check("api"), error_check("db")))
    third = store.record(at(2, failed_check("api"), error_check("db")))

    for run in (first, second, third):
        assert run.warnings == ()
    api = [by_name(run)["api"] for run in (first, second, third)]
    assert [c.previous_status for c in api] == [None, Status.FAILED, Status.PASSED]
    assert [c.failing_since for c in api] == [first.started_at, None, third.started_at]
    assert [c.failing_streak for c in api] == [1, 0, 1]
    assert [c.history for c in api] == [(), (Status.FAILED,), (Status.FAILED, Status.PASSED)]

    db = by_name(third)["db"]
    assert db.previous_status is Status.ERROR
    assert db.failing_since == first.started_at  # error counts as failing
    assert db.failing_streak == 3
    assert db.history == (Status.ERROR, Status.ERROR)

    saved = {c["name"]: c for c in json.loads(render_json(third))["checks"]}
    assert saved["api"]["previous_status"] == "passed"
    assert saved["api"]["failing_since"] == third.started_at
    assert saved["api"]["failing_streak"] == 1
    assert saved["api"]["history"] == ["failed", "passed"]
    assert saved["db"]["failing_since"] == first.started_at
    assert saved["db"]["failing_streak"] == 3


def test_the_default_store_is_a_sqlite_file_in_the_reports_directory(tmp_path: Path) -> None:
    reports = tmp_path / "not" / "there" / "yet"
    run = state.record_and_enrich(at(0, passed_check("api")), None, reports, RETENTION)
    assert run.warnings == ()
    assert (reports / "state.db").is_file()
    assert state.state_location(None, reports) == f"sqlite:///{reports / 'state.db'}"


def test_a_sqlite_url_names_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history' / 'probes.db'}"
    state.record_and_enrich(at(0, failed_check("api")), url, tmp_path / "reports", RETENTION)
    second = state.record_and_enrich(at(1, failed_check("api")), url, tmp_path / "elsewhere",
                                     RETENTION)
    assert (tmp_path / "history" / "probes.db").is_file()
    assert not (tmp_path / "reports" / "state.db").exists()
    assert by_name(second)["api"].failing_streak == 2


def test_a_skipped_run_neither_breaks_nor_extends_a_streak(store: Store) -> None:
    first = store.record(at(0, failed_check("api")))
    skipped = store.record(at(1, skipped_check("api")))
    third = store.record(at(2, failed_check("api")))

    during = by_name(skipped)["api"]
    assert (during.previous_status, during.failing_since, during.failing_streak) == (
        Status.FAILED, None, 0)
    api = by_name(third)["api"]
    assert api.previous_status is Status.FAILED  # the last time it ran
    assert api.failing_since == first.started_at
    assert api.failing_streak == 2
    assert api.history == (Status.FAILED, Status.SKIPPED)


def test_a_streak_longer_than_the_history_shown_stays_exact(tmp_path: Path) -> None:
    store = Store(None, tmp_path)
    runs = [store.record(at(day, failed_check("api"), passed_check("ok"))) for day in range(20)]
    api = by_name(runs[-1])["api"]
    assert api.failing_streak == 20
    assert api.failing_since == runs[0].started_at
    assert api.history == (Status.FAILED,) * state.HISTORY_RUNS
    assert by_name(runs[-1])["ok"].history == (Status.PASSED,) * state.HISTORY_RUNS


def test_runs_are_ordered_by_start_not_by_when_they_were_recorded(tmp_path: Path) -> None:
    store = Store(None, tmp_path)
    store.record(at(5, passed_check("api")))
    earlier = store.record(at(1, failed_check("api")))
    api = by_name(earlier)["api"]
    assert api.previous_status is None  # nothing ran before day 1
    assert api.history == ()


def test_recording_the_same_run_again_replaces_it(store: Store) -> None:
    store.record(at(0, failed_check("api")))
    once = store.record(at(1, failed_check("api")))
    again = store.record(at(1, failed_check("api")))
    assert by_name(again)["api"] == by_name(once)["api"]
    assert by_name(again)["api"].failing_streak == 2
    engine = state.open_engine(store.url, store.reports_dir)
    try:
        from sqlalchemy import func, select

        runs = state._tables()["runs"]
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(runs)).scalar() == 2
    finally:
        engine.dispose()


def test_history_older_than_the_retention_is_trimmed(store: Store) -> None:
    store.record(at(0, failed_check("api")))
    store.record(at(0, failed_check("api"), suite="other suite"))
    store.record(at(10, failed_check("api")))
    late = store.record(at(45, failed_check("api")), retention_s=30 * DAY)
    # Day 0 and day 10 are more than 30 days before day 45: the streak starts afresh
    # in the next run only because the rows are gone; this run still saw them.
    assert by_name(late)["api"].failing_streak == 3
    after = store.record(at(46, passed_check("api")), retention_s=30 * DAY)
    assert by_name(after)["api"].history == (Status.FAILED,)  # only day 45 is left
    other = store.record(at(47, passed_check("api"), suite="other suite"), retention_s=DAY * 365)
    assert by_name(other)["api"].history == (Status.FAILED,)  # other suites are kept


def test_two_runs_writing_at_once_both_land_intact(store: Store) -> None:
    """Both start on an empty store: the tables are created by whichever comes first."""
    checks = 300
    barrier = threading.Barrier(2)
    outcomes: dict[int, RunResult] = {}

    def record(day: int) -> None:
        run = at(day, *(failed_check(f"check {i}") if (i + day) % 3 == 0
                        else passed_check(f"check {i}") for i in range(checks)))
        barrier.wait(timeout=30)
        outcomes[day] = store.record(run)

    threads = [threading.Thread(target=record, args=(day,)) for day in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == [0, 1]
    assert all(run.warnings == () for run in outcomes.values())

    from sqlalchemy import func, select

    tables = state._tables()
    runs, results = tables["runs"], tables["results"]
    engine = state.open_engine(store.url, store.reports_dir)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.total, runs.c.failed, func.count(results.c.id))
                .join(results, results.c.run_id == runs.c.id)
                .group_by(runs.c.id, runs.c.total, runs.c.failed)
            ).all()
    finally:
        engine.dispose()
    assert sorted((total, count) for _, total, _, count in rows) == [(checks, checks)] * 2
    assert sorted(failed for _, _, failed, _ in rows) == sorted(
        sum(1 for i in range(checks) if (i + day) % 3 == 0) for day in (0, 1))
    following = store.record(at(2, passed_check("check 0")))
    assert by_name(following)["check 0"].history == (Status.FAILED, Status.PASSED)


def test_an_unreachable_postgresql_is_a_warning_and_the_run_is_unchanged(tmp_path: Path) -> None:
    url = f"postgresql+psycopg2://probes:s3cret-pw@127.0.0.1:{closed_port()}/history"
    run = at(0, failed_check("api"), passed_check("ok"))
    started = time.monotonic()
    recorded = state.record_and_enrich(run, url, tmp_path, RETENTION)
    assert time.monotonic() - started < state.CONNECT_TIMEOUT_S
    assert recorded.checks == run.checks
    assert by_name(recorded)["api"].failing_streak is None  # no history, not "0 runs"
    [warning] = recorded.warnings
    assert warning.startswith("run history not recorded: cannot open ")
    assert "postgresql+psycopg2://probes:***@127.0.0.1:" in warning
    assert "Connection refused" in warning
    assert "s3cret-pw" not in warning
    assert state.previous_failing(url, tmp_path, "nightly-prod") is None


def test_probe_run_with_an_unreachable_state_store_still_reports_and_exits_normally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    present = tmp_path / "present.txt"
    present.write_text("here")
    port = closed_port()
    config = tmp_path / "checks.yaml"
    config.write_text(f"""
suite: state-down
state: postgresql+psycopg2://probes:${{STATE_PASSWORD}}@127.0.0.1:{port}/history
checks:
  - name: present file
    kind: file
    path: {present}
  - name: missing file
    kind: file
    path: {tmp_path / "absent.txt"}
""")
    monkeypatch.setenv("STATE_PASSWORD", "pw-from-env-77")
    reports = tmp_path / "reports"
    result = CliRunner().invoke(main, ["run", "-c", str(config), "--reports", str(reports),
                                       "--no-notify"])
    assert result.exit_code == 1, result.output  # one check failed: the usual code
    saved = json.loads((reports / "results.json").read_text())
    assert [c["status"] for c in saved["checks"]] == ["passed", "failed"]
    assert any(w.startswith("run history not recorded") for w in saved["warnings"])
    for name in ("results.json", "junit.xml", "report.html"):
        text = (reports / name).read_text()
        assert "pw-from-env-77" not in text
    assert "run history not recorded" in (reports / "report.html").read_text()
    assert "pw-from-env-77" not in result.output


def test_a_store_written_by_a_newer_release_is_left_alone(store: Store) -> None:
    store.record(at(0, failed_check("api")))
    from sqlalchemy import update

    engine = state.open_engine(store.url, store.reports_dir)
    schema = state._tables()["schema"]
    with engine.begin() as conn:
        conn.execute(update(schema).values(version=state.SCHEMA_VERSION + 1))
    engine.dispose()
    run = store.record(at(1, failed_check("api")))
    [warning] = run.warnings
    assert "newer than this probes understands" in warning
    assert by_name(run)["api"].failing_streak is None


def test_a_bad_start_time_is_a_warning_not_an_exception(tmp_path: Path) -> None:
    run = replace(at(0, passed_check("api")), started_at="yesterday morning")
    recorded = state.record_and_enrich(run, None, tmp_path, RETENTION)
    assert recorded.checks == run.checks
    [warning] = recorded.warnings
    assert warning.startswith("run history not recorded")


def test_hostile_text_is_stored_and_found_again(store: Store) -> None:
    hostile = hostile_run()
    first = store.record(hostile)
    assert first.warnings == ()
    second = store.record(replace(hostile, started_at=at(30).started_at))
    assert second.warnings == ()
    for before, after in zip(first.checks, second.checks, strict=True):
        assert after.history == (before.status,)


def test_previous_failing_names_the_failing_checks_of_the_latest_run(store: Store) -> None:
    assert state.previous_failing(store.url, store.reports_dir, "nightly-prod") is None
    store.record(at(0, failed_check("api"), error_check("db"), passed_check("ok")))
    store.record(at(1, passed_check("api"), error_check("db"), passed_check("ok")))
    assert state.previous_failing(store.url, store.reports_dir, "nightly-prod") == {"db"}
    assert state.previous_failing(store.url, store.reports_dir, "nightly-prod",
                                  before=at(1).started_at) == {"api", "db"}
    assert state.previous_failing(store.url, store.reports_dir, "another suite") is None


def test_open_engine_leaves_room_for_a_table_of_ones_own(store: Store) -> None:
    from sqlalchemy import Column, MetaData, String, Table, insert, inspect, select

    metadata = MetaData()
    sent = Table("probes_notify_test", metadata, Column("target", String(200), primary_key=True))
    engine = state.open_engine(store.url, store.reports_dir)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(sent).values(target="slack"))
        with engine.connect() as conn:
            assert conn.execute(select(sent.c.target)).scalars().all() == ["slack"]
        assert {"probes_schema", "probes_runs", "probes_results"} <= set(
            inspect(engine).get_table_names())
    finally:
        engine.dispose()
    # History still works beside it.
    assert store.record(at(0, passed_check("api"))).warnings == ()
