"""The results model: what a run produced, independent of how it is written out.

Writers (JUnit, JSON, HTML, console, notifications) only read these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # it observed, and a condition was false
    ERROR = "error"  # it could not observe
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


class Category(StrEnum):
    """Why a check could not observe; only set when the status is `error`."""

    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    AUTH = "auth"
    DRIVER = "driver"
    QUERY = "query"
    CONFIG = "config"
    INTERNAL = "internal"

    def __str__(self) -> str:
        return self.value


FAILING = (Status.FAILED, Status.ERROR)


class ProbeError(Exception):
    """Raised by a kind when it cannot observe its target.

    `evidence` is extra detail for the report (a driver's own message, a traceback).
    """

    def __init__(self, category: Category, message: str, evidence: str = "") -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.evidence = evidence


@dataclass(frozen=True)
class AssertionResult:
    expr: str  # the condition as written: `status == 200`
    actual: Any  # the observed value of its subject (None when absent)
    passed: bool
    note: str = ""  # why it could not be judged, e.g. "no such value"

    def describe(self) -> str:
        """`status (503) == 200`: the condition with the actual value beside its subject."""
        from probes.conditions import render_with_actual

        return render_with_actual(self)


@dataclass(frozen=True)
class Attempt:
    number: int
    status: Status
    category: Category | None
    message: str
    duration_s: float


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str
    group: str
    tags: tuple[str, ...]
    status: Status
    category: Category | None
    message: str
    duration_s: float
    attempts: int
    assertions: tuple[AssertionResult, ...] = ()
    target: str = ""  # masked description of what was probed
    description: str = ""
    evidence: str = ""  # driver messages, tracebacks: masked
    attempt_log: tuple[Attempt, ...] = ()
    observations: dict[str, Any] = field(default_factory=dict)  # JSON-safe scalars only
    # Filled from run history when a state store is configured.
    previous_status: Status | None = None
    failing_since: str | None = None
    failing_streak: int | None = None
    history: tuple[Status, ...] = ()  # oldest first, the current run excluded

    @property
    def failing(self) -> bool:
        return self.status in FAILING


@dataclass(frozen=True)
class Summary:
    total: int
    passed: int
    failed: int
    error: int
    skipped: int

    @property
    def failing(self) -> int:
        return self.failed + self.error


@dataclass(frozen=True)
class NotificationOutcome:
    target: str  # masked
    sent: bool
    error: str | None = None


@dataclass(frozen=True)
class RunResult:
    suite: str
    started_at: str  # ISO-8601 with timezone
    duration_s: float
    checks: tuple[CheckResult, ...]
    notifications: tuple[NotificationOutcome, ...] = ()
    warnings: tuple[str, ...] = ()
    interrupted: bool = False
    # False when a report could not be written: CI would otherwise read an old one.
    # Not saved in results.json: it is about this process, not the checks.
    reports_written: bool = True

    @property
    def summary(self) -> Summary:
        counts = {status: 0 for status in Status}
        for check in self.checks:
            counts[check.status] += 1
        return Summary(
            total=len(self.checks),
            passed=counts[Status.PASSED],
            failed=counts[Status.FAILED],
            error=counts[Status.ERROR],
            skipped=counts[Status.SKIPPED],
        )

    @property
    def failing(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.failing)

    @property
    def exit_code(self) -> int:
        if not self.reports_written:
            return 3
        return 1 if self.failing else 0
