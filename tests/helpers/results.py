"""Builders of sample results for tests of anything that reads a `RunResult`.

Each builder gives a realistic result for its status with every field overridable:

    run_result(passed_check("api"), failed_check("db"), error_check("dns", category=...))
    rich_run()  # every status, history, notifications, warnings, hostile text
"""

from __future__ import annotations

from dataclasses import replace
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
from probes.units import Bytes, Seconds

STARTED_AT = "2024-05-06T03:00:00.000+00:00"

# Text a target could send back: NUL, escape sequences, other C0 controls, a lone
# surrogate, non-characters, and characters outside the BMP.
HOSTILE_TEXT = ("bad\x00byte \x1b[31mred\x1b[0m \x07\x08\x0b\x0c\x1f "
                "\ud800 \ufffe \uffff é ü 🚀 <&>\"'")


def assertion(expr: str, actual: Any, passed: bool, note: str = "") -> AssertionResult:
    return AssertionResult(expr=expr, actual=actual, passed=passed, note=note)


def attempt(number: int, status: Status, message: str = "", duration_s: float = 0.1,
            category: Category | None = None) -> Attempt:
    return Attempt(number=number, status=status, category=category, message=message,
                   duration_s=duration_s)


def check_result(name: str = "scoring api", status: Status = Status.PASSED,
                 **overrides: Any) -> CheckResult:
    fields: dict[str, Any] = {
        "name": name,
        "kind": "http",
        "group": "apis",
        "tags": ("critical",),
        "status": status,
        "category": None,
        "message": "",
        "duration_s": 0.123,
        "attempts": 1,
        "target": "GET https://api.internal/health",
        "attempt_log": (attempt(1, status),),
    }
    fields.update(overrides)
    return CheckResult(**fields)


def passed_check(name: str = "scoring api", **overrides: Any) -> CheckResult:
    fields: dict[str, Any] = {
        "assertions": (assertion("status == 200", 200, True),
                       assertion("latency < 500ms", Seconds(0.045), True)),
        "observations": {"status": 200, "latency": Seconds(0.045), "size": Bytes(2048)},
    }
    return check_result(name, Status.PASSED, **(fields | overrides))


def failed_check(name: str = "scoring api", **overrides: Any) -> CheckResult:
    failing = assertion("status == 200", 503, False)
    message = overrides.get("message", failing.describe())
    fields: dict[str, Any] = {
        "message": message,
        "assertions": (failing, assertion("latency < 500ms", Seconds(0.045), True)),
        "observations": {"status": 503, "latency": Seconds(0.045)},
        "attempts": 2,
        "attempt_log": (attempt(1, Status.FAILED, message), attempt(2, Status.FAILED, message)),
    }
    return check_result(name, Status.FAILED, **(fields | overrides))


def error_check(name: str = "warehouse", category: Category = Category.TIMEOUT,
                **overrides: Any) -> CheckResult:
    message = overrides.get("message", "no result within the 10s timeout")
    duration_s = overrides.get("duration_s", 10.2)
    fields: dict[str, Any] = {
        "kind": "sql",
        "group": "databases",
        "category": category,
        "message": message,
        "duration_s": duration_s,
        "target": "postgresql+psycopg2://reader:***@db.internal:5432/warehouse",
        "attempt_log": (attempt(1, Status.ERROR, message, duration_s, category),),
    }
    return check_result(name, Status.ERROR, **(fields | overrides))


def skipped_check(name: str = "legacy ftp", **overrides: Any) -> CheckResult:
    fields: dict[str, Any] = {
        "kind": "tcp",
        "group": "network",
        "message": "disabled",
        "duration_s": 0.0,
        "attempts": 0,
        "attempt_log": (),
        "target": "legacy.internal:21",
    }
    return check_result(name, Status.SKIPPED, **(fields | overrides))


def run_result(*checks: CheckResult, suite: str = "nightly-prod", duration_s: float = 3.2,
               **overrides: Any) -> RunResult:
    return RunResult(suite=suite, started_at=STARTED_AT, duration_s=duration_s,
                     checks=tuple(checks), **overrides)


def rich_run() -> RunResult:
    """Every status and every optional field, with values as the runner produces them."""
    flaky = failed_check(
        "orders api",
        assertions=(assertion("json.items[0].id == 7", None, False, note="no such value"),
                    assertion("header.Content-Type contains \"json\"", "text/html", False),
                    assertion("status in [200, 204]", 200, True)),
        message='json.items[0].id (absent) == 7 [no such value]',
        description="Orders for the morning report",
        previous_status=Status.PASSED,
        failing_since="2024-05-05T03:00:00+00:00",
        failing_streak=2,
        history=(Status.PASSED, Status.PASSED, Status.FAILED),
    )
    crashed = error_check(
        "broken kind",
        category=Category.INTERNAL,
        kind="command",
        group="jobs",
        message="the check crashed: ZeroDivisionError: division by zero",
        evidence="Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                 "ZeroDivisionError: division by zero",
        previous_status=Status.ERROR,
        history=(Status.ERROR,),
    )
    dns = error_check("partner dns", category=Category.DNS, kind="dns", group="network",
                      message="partner.example does not resolve", duration_s=0.004)
    return run_result(
        passed_check(observations={"status": 200, "latency": Seconds(0.045),
                                   "size": Bytes(2048), "verified": True, "issuer": "CA"}),
        flaky,
        error_check(),
        crashed,
        dns,
        skipped_check(),
        replace(passed_check("tls expiry", kind="tls", group="certificates"),
                assertions=(assertion("days_left > 14", 80, True),),
                observations={"days_left": 80}),
        notifications=(NotificationOutcome("slack://T***/B***/***", True),
                       NotificationOutcome("mailto://ops@***", False, "connection refused")),
        warnings=("cannot write reports/report.html: PermissionError: denied",),
        interrupted=False,
    )


def hostile_run() -> RunResult:
    """Names, messages and evidence carrying control characters, markup and emoji."""
    return run_result(
        failed_check(f"name {HOSTILE_TEXT}", message=f"body was {HOSTILE_TEXT}",
                     assertions=(assertion("body contains \"ok\"", HOSTILE_TEXT, False),),
                     observations={"body": HOSTILE_TEXT}),
        error_check(f"err {HOSTILE_TEXT}", group=f"group {HOSTILE_TEXT}",
                    message=HOSTILE_TEXT, evidence=HOSTILE_TEXT * 3),
        skipped_check(message=HOSTILE_TEXT, description=HOSTILE_TEXT, target=HOSTILE_TEXT),
        suite=f"suite {HOSTILE_TEXT}",
    )
