"""Atomic report files: a reader sees the previous file or the new one, never half of one.

CI servers archive `reports/` while a person may be opening `report.html`; a run
killed mid-write must not leave a truncated `junit.xml` that fails the CI step for
the wrong reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory.

    Creates the directory. The temporary file is flushed to disk before it replaces
    `path`, and removed if anything fails, leaving the previous `path` untouched.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(directory)


def _create_temp(path: Path) -> tuple[int, Path]:
    # os.open with 0o666 lets the umask decide the mode, as for any other file the
    # user creates (tempfile.mkstemp would make the report readable by its owner only).
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue


def _sync_directory(directory: Path) -> None:
    """Persist the rename itself; best effort (not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
