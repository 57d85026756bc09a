"""Run history: every run and check result, so a report can say "failing since …".

The store is any SQLAlchemy database: by default the SQLite file
`<reports dir>/state.db`, or the `state:` URL of checks.yaml (`sqlite:///path`,
`postgresql://…` to share one history between containers that start fresh every
day). Tables are created on first use; `probes_schema` holds the schema version so
later releases can migrate. Tables:

- `probes_runs`: id, suite, started_at (UTC), duration_s, total, passed, failed,
  error, skipped, interrupted, recorded_at. One row per run; a run recorded again
  (the same suite and start time, e.g. `probe merge` repeated) replaces its row.
- `probes_results`: run_id, name, kind, group_name, status, category, message,
  duration_s, attempts, and the streak carried forward (`streak`, `streak_since`,
  `last_ran_status`) so that a streak longer than the history window stays exact.

API:

- `record_and_enrich(run, state_url, reports_dir, retention_s) -> RunResult`:
  records `run` and returns it with, for each check:
  `previous_status` (the status the check had the last time it ran: runs in which
  it was skipped are passed over; None for a new check), `failing_since` (the start
  of the first run of the current failing streak, this run included; None when the
  check is not failing), `failing_streak` (consecutive failing runs including this
  one; 0 when the check passed or was skipped) and `history` (its statuses in up to
  the last 14 runs before this one, oldest first; skipped runs included). `failed`
  and `error` both count as failing. Runs of the suite older than `retention_s`
  before this run are deleted. Never raises: a store that cannot be reached, or
  any other problem, becomes a warning in `run.warnings` (the URL masked) and the
  run is returned with its history fields unset (`failing_streak` None).
- `open_engine(state_url, reports_dir) -> sqlalchemy.engine.Engine`: an engine on
  the same store with the history tables in place, for features that keep a table
  of their own beside the history (create it with your own MetaData). Raises
  whatever the database raises; dispose of the engine when done.
- `previous_failing(state_url, reports_dir, suite, before=None) -> set[str] | None`:
  the names of the failing checks in the latest recorded run of `suite` (started
  before `before`, an ISO-8601 time, when given). None when there is no such run or
  the store cannot be read. Never raises.
- `state_location(state_url, reports_dir) -> str`: the URL actually used.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from probes.model import FAILING, CheckResult, RunResult, Status
from probes.secrets import Masker

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 1
HISTORY_RUNS = 14  # statuses shown per check: two weeks of daily runs
DEFAULT_RETENTION_S = 90 * 86400.0
STATE_FILE = "state.db"
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30
# Drivers that take `connect_timeout`: without it an unreachable host stalls the run.
_CONNECT_TIMEOUT_DRIVERS = {("postgresql", "psycopg2"), ("postgresql", "psycopg"),
                            ("mysql", "pymysql"),
                            ("mariadb", "pymysql")}
SUITE_LIMIT = 255  # the suite column's length
MESSAGE_LIMIT = 2000  # characters of a check's message kept in the history
# pg_advisory_xact_lock key serialising table creation between concurrent first runs.
_SCHEMA_LOCK_KEY = 0x70726F6265  # "probe"


class NewerSchemaError(Exception):
    """The store was written by a newer release; this one must not touch it."""


class _Previous(NamedTuple):  # a tuple: there are up to 14 per check, 10,000s of checks
    """A check's row in an earlier run."""

    status: Status
    streak: int
    streak_since: str | None
    last_ran_status: Status | None


_STATUSES: dict[str | None, Status] = {str(status): status for status in Status}


def state_location(state_url: str | None, reports_dir: Path | str) -> str:
    """The SQLAlchemy URL of the store: `state_url`, or `<reports_dir>/state.db`."""
    if state_url:
        return state_url
    return f"sqlite:///{Path(reports_dir) / STATE_FILE}"


def open_engine(state_url: str | None, reports_dir: Path | str) -> Engine:
    """An engine on the history store, its tables created (see the module docstring)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(state_location(state_url, reports_dir))
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    elif (backend, url.get_driver_name()) in _CONNECT_TIMEOUT_DRIVERS:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    # One connection per use: a run touches the store twice, and a pool would keep a
    # PostgreSQL connection open for the rest of the run.
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        _ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def record_and_enrich(
    run: RunResult,
    state_url: str | None,
    reports_dir: Path,
    retention_s: float = DEFAULT_RETENTION_S,
) -> RunResult:
    """Record `run` in the history store and return it with history fields filled."""
    where = "the run history"
    try:
        where = Masker().text(state_location(state_url, reports_dir))
        started = _utc(run.started_at)
        engine = open_engine(state_url, reports_dir)
    except NewerSchemaError as exc:
        return _warn(run, f"run history not recorded in {where}: {exc}")
    except Exception as exc:
        return _warn(run, f"run history not recorded: cannot open {where}: {_reason(exc)}")
    try:
        enriched = _record(engine, run, started)
        cutoff = started - timedelta(seconds=max(retention_s, 0.0))
        try:
            _trim(engine, _clean(run.suite, SUITE_LIMIT), cutoff)
        except Exception as exc:
            enriched = _warn(enriched, f"old run history not trimmed in {where}: {_reason(exc)}")
        return enriched
    except Exception as exc:
        return _warn(run, f"run history not recorded in {where}: {_reason(exc)}")
    finally:
        engine.dispose()


def previous_failing(
    state_url: str | None, reports_dir: Path | str, suite: str, before: str | None = None
) -> set[str] | None:
    """Names of the failing checks in the latest recorded run of `suite` (see module doc)."""
    try:
        from sqlalchemy import select

        runs, results = _tables()["runs"], _tables()["results"]
        engine = open_engine(state_url, reports_dir)
    except Exception:
        return None
    try:
        with engine.connect() as conn:
            latest = select(runs.c.id).where(runs.c.suite == _clean(suite, SUITE_LIMIT))
            if before is not None:
                latest = latest.where(runs.c.started_at < _utc(before))
            run_id = conn.execute(
                latest.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
            ).scalar()
            if run_id is None:
                return None
            names = conn.execute(
                select(results.c.name).where(
                    results.c.run_id == run_id,
                    results.c.status.in_([str(s) for s in FAILING]),
                )
            ).scalars()
            return set(names)
    except Exception:
        return None
    finally:
        engine.dispose()


def _record(engine: Engine, run: RunResult, started: datetime) -> RunResult:
    from sqlalchemy import delete, insert, select

    runs, results = _tables()["runs"], _tables()["results"]
    summary = run.summary
    suite = _clean(run.suite, SUITE_LIMIT)
    with engine.begin() as conn:
        earlier_record = select(runs.c.id).where(
            runs.c.suite == suite, runs.c.started_at == started
        )
        conn.execute(delete(results).where(results.c.run_id.in_(earlier_record)))
        conn.execute(delete(runs).where(runs.c.id.in_(earlier_record)))
        previous = _previous_rows(conn, suite, started)
        enriched: list[CheckResult] = []
        rows: list[dict[str, Any]] = []
        for check in run.checks:
            name = _clean(check.name)
            result, carried = _enrich(check, previous.get(name, []), run.started_at)
            enriched.append(result)
            rows.append({
                "name": name,
                "kind": _clean(check.kind, 64),
                "group_name": _clean(check.group),
                "status": str(check.status),
                "category": str(check.category) if check.category else None,
                "message": _clean(check.message, MESSAGE_LIMIT),
                "duration_s": _finite(check.duration_s),
                "attempts": int(check.attempts),
                **carried,
            })
        key = conn.execute(insert(runs).values(
            suite=suite,
            started_at=started,
            duration_s=_finite(run.duration_s),
            total=summary.total,
            passed=summary.passed,
            failed=summary.failed,
            error=summary.error,
            skipped=summary.skipped,
            interrupted=run.interrupted,
            recorded_at=datetime.now(UTC).replace(tzinfo=None),
        )).inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no id for the new run")
        run_id = key[0]
        if rows:
            conn.execute(insert(results), [{"run_id": run_id, **row} for row in rows])
    return replace(run, checks=tuple(enriched))


def _previous_rows(conn: Connection, suite: str, started: datetime) -> dict[str, list[_Previous]]:
    """Each check's rows in the last HISTORY_RUNS runs of `suite` before `started`, newest first."""
    from sqlalchemy import select

    runs, results = _tables()["runs"], _tables()["results"]
    recent = (
        select(runs.c.id)
        .where(runs.c.suite == suite, runs.c.started_at < started)
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(HISTORY_RUNS)
    )
    columns = (results.c.name, results.c.status, results.c.streak, results.c.streak_since,
               results.c.last_ran_status)
    previous: dict[str, list[_Previous]] = {}
    # One query per run, newest first, so each check's list comes out in order.
    for run_id in conn.execute(recent).scalars().all():
        found = conn.execute(select(*columns).where(results.c.run_id == run_id)).all()
        for name, status, streak, since, last_ran in found:
            known = _STATUSES.get(status)
            if known is not None:
                previous.setdefault(name, []).append(
                    _Previous(known, streak or 0, since, _STATUSES.get(last_ran)))
    return previous


def _enrich(check: CheckResult, previous: list[_Previous], started_at: str
            ) -> tuple[CheckResult, dict[str, Any]]:
    """The check with its history fields, and the streak columns to store for it."""
    newest = previous[0] if previous else None
    carried_streak = newest.streak if newest else 0
    carried_since = newest.streak_since if newest else None
    last_ran = newest.last_ran_status if newest else None
    streak, since = 0, None
    if check.status in FAILING:
        streak = carried_streak + 1 if carried_streak > 0 else 1
        since = carried_since if carried_streak > 0 and carried_since else started_at
        stored = {"streak": streak, "streak_since": since, "last_ran_status": str(check.status)}
    elif check.status is Status.SKIPPED:
        # Not run: the streak and the last real status carry over to the next run.
        stored = {"streak": carried_streak, "streak_since": carried_since,
                  "last_ran_status": str(last_ran) if last_ran else None}
    else:
        stored = {"streak": 0, "streak_since": None, "last_ran_status": str(check.status)}
    enriched = replace(
        check,
        previous_status=last_ran,
        failing_since=since,
        failing_streak=streak,
        history=tuple(p.status for p in reversed(previous)),
    )
    return enriched, stored


def _trim(engine: Engine, suite: str, cutoff: datetime) -> None:
    from sqlalchemy import delete, select

    runs, results = _tables()["runs"], _tables()["results"]
    expired = select(runs.c.id).where(runs.c.suite == suite, runs.c.started_at < cutoff)
    with engine.begin() as conn:
        conn.execute(delete(results).where(results.c.run_id.in_(expired)))
        conn.execute(delete(runs).where(runs.c.suite == suite, runs.c.started_at < cutoff))


def _ensure_schema(engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    try:
        _create_or_check(engine)
    except DBAPIError:
        # Another run created the tables between our look and our CREATE (a store
        # without a lock for that); the second look finds them.
        _create_or_check(engine)


def _create_or_check(engine: Engine) -> None:
    from sqlalchemy import insert, select, text, update

    tables = _tables()
    schema = tables["schema"]
    with engine.begin() as conn:
        # First runs starting together must not both create the tables: each waits for
        # the other's transaction (SQLite: the write lock, within its busy timeout).
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        _metadata().create_all(conn)
        version = conn.execute(select(schema.c.version).where(schema.c.id == 1)).scalar()
        if version is None:
            conn.execute(insert(schema).values(id=1, version=SCHEMA_VERSION))
        elif version > SCHEMA_VERSION:
            raise NewerSchemaError(
                f"its schema version {version} is newer than this probes understands "
                f"({SCHEMA_VERSION}); upgrade probes")
        elif version < SCHEMA_VERSION:
            # Migrations from older versions go here, one step per version.
            conn.execute(update(schema).where(schema.c.id == 1).values(version=SCHEMA_VERSION))


@functools.cache
def _metadata() -> MetaData:
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        DateTime,
        Float,
        ForeignKey,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        UniqueConstraint,
    )

    metadata = MetaData()
    Table("probes_schema", metadata,
          Column("id", Integer, primary_key=True, autoincrement=False),
          Column("version", Integer, nullable=False))
    Table("probes_runs", metadata,
          Column("id", Integer, primary_key=True),
          Column("suite", String(SUITE_LIMIT), nullable=False),
          Column("started_at", DateTime, nullable=False),  # UTC
          Column("duration_s", Float, nullable=False),
          Column("total", Integer, nullable=False),
          Column("passed", Integer, nullable=False),
          Column("failed", Integer, nullable=False),
          Column("error", Integer, nullable=False),
          Column("skipped", Integer, nullable=False),
          Column("interrupted", Boolean, nullable=False),
          Column("recorded_at", DateTime, nullable=False),  # UTC
          UniqueConstraint("suite", "started_at", name="probes_runs_suite_started"))
    Table("probes_results", metadata,
          Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
          Column("run_id", Integer, ForeignKey("probes_runs.id", ondelete="CASCADE"),
                 nullable=False),
          Column("name", Text, nullable=False),
          Column("kind", String(64), nullable=False),
          Column("group_name", Text, nullable=False),
          Column("status", String(16), nullable=False),
          Column("category", String(16)),
          Column("message", Text, nullable=False),
          Column("duration_s", Float, nullable=False),
          Column("attempts", Integer, nullable=False),
          Column("streak", Integer, nullable=False),
          Column("streak_since", String(64)),
          Column("last_ran_status", String(16)),
          Index("probes_results_run", "run_id"))
    return metadata


def _tables() -> dict[str, Table]:
    tables = _metadata().tables
    return {"schema": tables["probes_schema"], "runs": tables["probes_runs"],
            "results": tables["probes_results"]}


def _utc(iso: str) -> datetime:
    """An ISO-8601 time as a naive UTC datetime (what the DateTime columns hold)."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _clean(text: str, limit: int | None = None) -> str:
    """Text any database accepts: no NUL (PostgreSQL), no lone surrogates (UTF-8)."""
    text = text.replace("\x00", "\\x00")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _finite(value: float) -> float:
    return float(value) if value == value and abs(value) != float("inf") else 0.0


def _reason(exc: BaseException) -> str:
    """A one-line cause: the driver's own message without SQLAlchemy's SQL and links."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return Masker().text(f"{type(cause).__name__}: {first}" if first else type(cause).__name__)


def _warn(run: RunResult, message: str) -> RunResult:
    return replace(run, warnings=(*run.warnings, Masker().text(message)))
