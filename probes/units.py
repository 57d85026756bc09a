"""Durations and sizes as written in checks.yaml (`250ms`, `26h`, `5MB`, `1GiB`).

Parsed values are plain numbers (seconds, bytes) wrapped in float/int subclasses that
print themselves the way a person would write them, so a report reads
`latency (1.2s) < 500ms` rather than `latency (1.2034) < 0.5`.
"""

from __future__ import annotations

import math
import re
from typing import Any

DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}

_NUMBER = r"(\d+(?:\.\d+)?)"
_BARE_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
DURATION_RE = re.compile(rf"^{_NUMBER}\s*(ms|s|m|h|d)$")
SIZE_RE = re.compile(rf"^{_NUMBER}\s*(B|KB|MB|GB|KiB|MiB|GiB)$")

DURATION_HINT = "write a number with a unit: 250ms, 10s, 5m, 26h, 14d"
SIZE_HINT = "write a number with a unit: 512B, 10KB, 5MB, 1GB, 64KiB, 2MiB, 1GiB"


class Seconds(float):
    """A duration in seconds that prints with a readable unit."""

    def __str__(self) -> str:
        return format_duration(float(self))

    __repr__ = __str__


class Bytes(int):
    """A size in bytes that prints with a readable unit."""

    def __str__(self) -> str:
        return format_size(int(self))

    __repr__ = __str__


def parse_duration(text: str) -> Seconds:
    """`250ms` → 0.25. Raises ValueError naming the accepted forms."""
    match = DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")
    return Seconds(float(match.group(1)) * DURATION_UNITS[match.group(2)])


def parse_size(text: str) -> Bytes:
    match = SIZE_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size; {SIZE_HINT}")
    return Bytes(round(float(match.group(1)) * SIZE_UNITS[match.group(2)]))


def coerce_duration(value: Any) -> Seconds:
    """For config fields and options: a bare number means seconds, as does a string of
    one (`${TIMEOUT}` with TIMEOUT=30, `--deadline 300`); anything else needs a unit."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")
    if isinstance(value, str) and _BARE_NUMBER_RE.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        return _bounded(Seconds(float(value)), value)
    if isinstance(value, str):
        return _bounded(parse_duration(value), value)
    raise ValueError(f"{value!r} is not a duration; {DURATION_HINT}")


MAX_DURATION_S = 3650 * 86400.0  # ten years: more is a typo, and overflows clocks


def _bounded(seconds: Seconds, written: Any) -> Seconds:
    if math.isnan(seconds):
        raise ValueError(f"{written!r} is not a duration; {DURATION_HINT}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"{written!r} is longer than any duration probes takes (ten years); "
                         f"{DURATION_HINT}")
    if seconds < 0:
        raise ValueError(f"{written!r} is negative; {DURATION_HINT}")
    return seconds


def coerce_size(value: Any) -> Bytes:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Bytes(value)
    if isinstance(value, str):
        return parse_size(value)
    raise ValueError(f"{value!r} is not a size; {SIZE_HINT}")


def _trim(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{_trim(seconds * 1000)}ms"
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= factor * 2 or (unit == "m" and seconds >= 120):
            return f"{_trim(seconds / factor)}{unit}"
    return f"{_trim(seconds)}s"


def format_size(size: int) -> str:
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{_trim(size / factor)}{unit}"
    return f"{size}B"
