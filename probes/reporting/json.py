"""`results.json`: the whole run for scripts, and the input `probe merge` rebuilds from.

`render_json` and `load_json` are inverses: every field of the results model is
written, so reports can be produced again from a saved file. Durations and sizes
(`Seconds`, `Bytes`) are written as plain numbers (seconds, bytes).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from probes.model import (
    AssertionResult,
    Attempt,
    Category,
    CheckResult,
    NotificationOutcome,
    RunResult,
    Status,
)
from probes.reporting.files import write_atomic

SCHEMA_VERSION = 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def write_json(run: RunResult, path: Path) -> None:
    write_atomic(Path(path), render_json(run).encode("utf-8"))


def render_json(run: RunResult) -> str:
    text = _layout(run_to_dict(run))
    # Lone surrogates (undecodable bytes from a target) cannot be written as UTF-8;
    # their JSON escape can, and reads back as the same string.
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def _layout(data: dict[str, Any]) -> str:
    """`data` with one top-level key per line and one list item (a check) per line.

    Readable, and friendly to grep and diff, while each line comes from json's C
    encoder: `indent=` would switch to its pure-Python encoder, five times slower on
    a large run.
    """
    lines = ["{"]
    for index, (key, value) in enumerate(data.items()):
        comma = "," if index < len(data) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f"  {_compact(key)}: [")
            last = len(value) - 1
            lines.extend(f"    {_compact(item)}{',' if i < last else ''}"
                         for i, item in enumerate(value))
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {_compact(key)}: {_compact(value)}{comma}")
    lines.append("}")
    return "\n".join(lines)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def load_json(path: Path) -> RunResult:
    """Read a results file written by `write_json`; ValueError if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc}") from exc
    except RecursionError:
        raise ValueError("nested too deep to be a results file") from None
    try:
        return run_from_dict(data)
    except (KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


def run_to_dict(run: RunResult) -> dict[str, Any]:
    summary = run.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": run.suite,
        "started_at": run.started_at,
        "duration_s": _number(run.duration_s),
        "interrupted": run.interrupted,
        "summary": {
            "total": summary.total,
            "passed": summary.passed,
            "failed": summary.failed,
            "error": summary.error,
            "skipped": summary.skipped,
        },
        "checks": [check_to_dict(check) for check in run.checks],
        "notifications": [
            {"target": n.target, "sent": n.sent, "error": n.error} for n in run.notifications
        ],
        "warnings": list(run.warnings),
    }


def check_to_dict(check: CheckResult) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "group": check.group,
        "tags": list(check.tags),
        "status": str(check.status),
        "category": str(check.category) if check.status is Status.ERROR and check.category
        else None,
        "message": check.message,
        "duration_s": _number(check.duration_s),
        "attempts": int(check.attempts),
        "assertions": [
            {"expr": a.expr, "actual": json_safe(a.actual), "passed": a.passed, "note": a.note}
            for a in check.assertions
        ],
        "description": check.description,
        "target": check.target,
        "evidence": check.evidence,
        "attempt_log": [
            {
                "number": a.number,
                "status": str(a.status),
                "category": str(a.category) if a.category else None,
                "message": a.message,
                "duration_s": _number(a.duration_s),
            }
            for a in check.attempt_log
        ],
        "observations": json_safe(check.observations),
        "previous_status": str(check.previous_status) if check.previous_status else None,
        "failing_since": check.failing_since,
        "failing_streak": check.failing_streak,
        "history": [str(status) for status in check.history],
    }


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data: units become numbers, anything unknown its text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return str(value)


def _number(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def run_from_dict(data: Any) -> RunResult:
    if not isinstance(data, dict) or "suite" not in data or "checks" not in data:
        raise ValueError("expected an object with 'suite' and 'checks'")
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(f"schema_version {version!r} is newer than this probe understands "
                         f"({SCHEMA_VERSION}); upgrade probes")
    started_at, duration_s = str(data["started_at"]), float(data["duration_s"])
    try:
        datetime.fromisoformat(started_at)
    except ValueError:
        raise ValueError(f"started_at {started_at!r} is not an ISO 8601 time") from None
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s {duration_s!r} is not a number of seconds")
    return RunResult(
        suite=str(data["suite"]),
        started_at=started_at,
        duration_s=duration_s,
        checks=tuple(check_from_dict(item) for item in _list(data, "checks")),
        notifications=tuple(
            NotificationOutcome(target=str(n["target"]), sent=bool(n["sent"]),
                                error=n.get("error"))
            for n in _list(data, "notifications")
        ),
        warnings=tuple(str(w) for w in _list(data, "warnings")),
        interrupted=bool(data.get("interrupted", False)),
    )


def check_from_dict(data: Any) -> CheckResult:
    if not isinstance(data, dict):
        raise ValueError(f"a check must be an object, not {type(data).__name__}")
    previous = data.get("previous_status")
    streak = data.get("failing_streak")
    return CheckResult(
        name=str(data["name"]),
        kind=str(data["kind"]),
        group=str(data["group"]),
        tags=tuple(str(tag) for tag in _list(data, "tags")),
        status=Status(data["status"]),
        category=_category(data.get("category")),
        message=str(data.get("message") or ""),
        duration_s=float(data.get("duration_s") or 0.0),
        attempts=int(data.get("attempts") or 0),
        assertions=tuple(
            AssertionResult(expr=str(a["expr"]), actual=a.get("actual"),
                            passed=bool(a["passed"]), note=str(a.get("note") or ""))
            for a in _list(data, "assertions")
        ),
        target=str(data.get("target") or ""),
        description=str(data.get("description") or ""),
        evidence=str(data.get("evidence") or ""),
        attempt_log=tuple(
            Attempt(number=int(a["number"]), status=Status(a["status"]),
                    category=_category(a.get("category")), message=str(a.get("message") or ""),
                    duration_s=float(a.get("duration_s") or 0.0))
            for a in _list(data, "attempt_log")
        ),
        observations=dict(data.get("observations") or {}),
        previous_status=Status(previous) if previous else None,
        failing_since=data.get("failing_since"),
        failing_streak=int(streak) if streak is not None else None,
        history=tuple(Status(s) for s in _list(data, "history")),
    )


def _category(value: Any) -> Category | None:
    return Category(value) if value else None


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, not {type(value).__name__}")
    return value
