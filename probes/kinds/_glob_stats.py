"""What `file` and `sftp` checks observe about the entries a glob matched.

Both kinds list entries (a local glob, a remote directory listing) and hand them here,
so `exists`, `count`, `age`, `size`, `total_size` and `match` mean the same thing
whether the files land on a mounted share or on an SFTP server.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from probes.units import Bytes, Seconds

Select = Literal["newest", "oldest"]
EntryType = Literal["file", "directory", "any"]

OBSERVATIONS = frozenset({"exists", "count", "age", "size", "total_size", "match"})
DEFAULT_EXPECT = ("exists == true",)
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Entry:
    path: str
    mtime: float  # seconds since the epoch
    size: int
    mode: int  # st_mode, to tell files from directories


def wanted(entry: Entry, entry_type: EntryType) -> bool:
    if entry_type == "file":
        return stat.S_ISREG(entry.mode)
    if entry_type == "directory":
        return stat.S_ISDIR(entry.mode)
    return True


def summarize(entries: Iterable[Entry], select: Select, now: float) -> dict[str, Any]:
    """The facts about the matches; `age`, `size` and `match` are absent when nothing matched."""
    matches = list(entries)
    facts: dict[str, Any] = {
        "exists": bool(matches),
        "count": len(matches),
        "total_size": Bytes(sum(entry.size for entry in matches)),
    }
    if not matches:
        return facts
    pick = max if select == "newest" else min
    chosen = pick(matches, key=lambda entry: (entry.mtime, entry.path))
    # A file dated in the future (clock skew on a share or server) counts as brand new.
    facts["age"] = Seconds(max(0.0, now - chosen.mtime))
    facts["size"] = Bytes(chosen.size)
    facts["match"] = chosen.path
    return facts


def has_glob(text: str) -> bool:
    return any(char in GLOB_CHARACTERS for char in text)
