"""Each target's memory between runs, in the run-history store (`state:`).

One row per target in `probes_notify_targets`, created on first use beside the run
history tables: the failing set the target last knew of and when it last got a
message. A target is identified by its suite, URL, tags and groups (hashed: the URL
holds secrets and is never stored); changing any of them starts a fresh memory.

A target's row is written after a run in which it needed no message, or in which its
message was delivered. A failed delivery leaves the row as it was, so the next run
decides as if the failed one had not happened and the message is sent again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probes.notify.policy import Memory
from probes.notify.target import NotifyTarget

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

TABLE = "probes_notify_targets"


def target_key(suite: str, target: NotifyTarget) -> str:
    identity = json.dumps([suite, target.url.strip(), sorted(target.tags), sorted(target.groups)])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


class TargetHistory:
    """The memory rows of one suite's targets; every method raises what the database raises."""

    def __init__(self, state_url: str | None, reports_dir: Path | str) -> None:
        from probes.state import open_engine

        self._engine: Engine = open_engine(state_url, reports_dir)
        try:
            _create(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def load(self, keys: Iterable[str]) -> dict[str, Memory]:
        from sqlalchemy import select

        table = _table()
        wanted = list(keys)
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(table.c.target_key, table.c.failing, table.c.notified_at)
                .where(table.c.target_key.in_(wanted))
            )
            return {row.target_key: Memory(frozenset(_names(row.failing)), row.notified_at)
                    for row in rows}

    def save(self, rows: Mapping[str, tuple[str, str, Memory]], now: datetime) -> None:
        """`rows`: target key → (suite, masked target, memory), all in one transaction."""
        from sqlalchemy import delete, insert

        table = _table()
        if not rows:
            return
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.target_key.in_(list(rows))))
            conn.execute(insert(table), [
                {"target_key": key, "suite": suite[:255], "target": shown[:500],
                 "failing": json.dumps(sorted(memory.failing)),
                 "notified_at": memory.notified_at, "updated_at": now}
                for key, (suite, shown, memory) in rows.items()
            ])


def naive_utc(moment: datetime) -> datetime:
    """What the DateTime columns hold (as the run history does)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _names(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _create(engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    try:
        _table().metadata.create_all(engine)
    except DBAPIError:
        # A concurrent first run created it between the check and the CREATE.
        _table().metadata.create_all(engine)


@functools.cache
def _table() -> Table:
    from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

    return Table(
        TABLE, MetaData(),
        Column("target_key", String(64), primary_key=True),  # sha256 of suite, url, filters
        Column("suite", String(255), nullable=False),
        Column("target", String(500), nullable=False),  # the masked URL, for people
        Column("failing", Text, nullable=False),  # JSON list of check names
        Column("notified_at", DateTime),  # UTC run time of the last delivered message
        Column("updated_at", DateTime, nullable=False),  # UTC run time of the last write
    )
