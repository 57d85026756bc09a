"""`file`: files matching a glob on local disk or a mounted share.

Observes whether anything matches, how many, and the age and size of the newest
(or oldest) match, so a stale or missing nightly drop fails in the morning.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from probes.kinds import CheckBase
from probes.kinds._glob_stats import (
    DEFAULT_EXPECT,
    OBSERVATIONS,
    Entry,
    EntryType,
    Select,
    summarize,
    wanted,
)
from probes.model import Category, ProbeError
from probes.units import format_duration


class Check(CheckBase):
    kind: Literal["file"] = "file"
    observations: ClassVar[frozenset[str]] = OBSERVATIONS
    default_expect: ClassVar[tuple[str, ...]] = DEFAULT_EXPECT

    path: str = Field(
        description="A path or glob (`*`, `?`, `[abc]`, `**` for any depth); `~` is expanded"
    )
    select: Select = Field("newest", description="Which match `age`, `size` and `match` describe")
    type: EntryType = Field(
        "file", description="What may match: regular files (default), directories, or any"
    )

    @field_validator("path")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write a path or a glob, e.g. /data/incoming/sales_*.csv")
        return value

    def target(self) -> str:
        return self.path

    def observe(self, timeout: float) -> dict[str, Any]:
        started = time.monotonic()
        entries = list(_matching(self.path, self.type, started + timeout, timeout))
        return summarize(entries, self.select, time.time())


def _matching(pattern: str, entry_type: EntryType, deadline: float,
              timeout: float) -> Iterator[Entry]:
    # A hung network mount can stall any call; the runner bounds that. Here we only
    # stop walking a huge tree once the time is up.
    for path in glob.iglob(os.path.expanduser(pattern), recursive=True):
        if time.monotonic() > deadline:
            raise ProbeError(Category.TIMEOUT,
                             f"listing {pattern} took longer than {format_duration(timeout)}")
        try:
            info = os.stat(path)
        except OSError:
            continue  # vanished between listing and stat, or a dangling symlink
        entry = Entry(path, info.st_mtime, info.st_size, info.st_mode)
        if wanted(entry, entry_type):
            yield entry
