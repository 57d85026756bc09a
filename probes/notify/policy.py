"""Whether a target gets a message for this run, and which checks the message is about.

Pure decisions over a `RunResult`, the target's settings and the target's memory
(`history.Memory`); no I/O. The semantics are documented in docs/notifications.md:

- The target's checks: those matching its `tags` (any of them) and its `groups`
  (any of them); both filters apply when both are given. Skipped checks did not
  run and are not counted.
- A check counts as failing for the target when it failed or errored in at least
  `failure_threshold` consecutive runs (`CheckResult.failing_streak`; a check with
  no history counts as failing: a lost alert is worse than an early one).
- `failure`: any check counts as failing. `always`: every run.
- `change`: the failing set differs from the set the target last knew of (its last
  delivered message, or its last run without a message). A check that was
  skipped this run keeps its earlier state in that comparison.
- `recovery`: nothing is failing now and the target last knew of failures.
- `remind_every` (with `change`): the same failing set again, once that long has
  passed since the target's last delivered message (less 5%, so a daily run
  reminds daily with `remind_every: 24h` even when it starts a little early).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from probes.model import CheckResult, RunResult, Status
from probes.notify.target import NotifyTarget

REMIND_SLACK = 0.05  # fraction of remind_every a reminder may come early

# Why a message is sent, in order of precedence for its wording.
RECOVERY, CHANGE, REMINDER, FAILURE, ALWAYS = "recovery", "change", "reminder", "failure", "always"


@dataclass(frozen=True)
class Memory:
    """What a target knew after its last run: the failing set and when it last got one."""

    failing: frozenset[str]
    notified_at: datetime | None  # UTC; the run time of the last delivered message


@dataclass(frozen=True)
class Decision:
    reasons: tuple[str, ...]  # empty: nothing to send
    ran: tuple[CheckResult, ...]  # the target's checks that ran
    failing: tuple[CheckResult, ...]  # ran and count as failing (threshold met)
    below_threshold: tuple[CheckResult, ...]  # failing, but not for enough runs yet
    known: frozenset[str]  # the failing set the target knew before this run
    remembered: frozenset[str]  # the failing set to remember after this run
    notified_at: datetime | None  # when the target last got a message (None: never)
    threshold: int = 1  # the target's failure_threshold

    @property
    def send(self) -> bool:
        return bool(self.reasons)

    @property
    def newly_failing(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.failing if c.name not in self.known)

    @property
    def no_longer_failing(self) -> tuple[str, ...]:
        return tuple(sorted(self.known - self.remembered))


def in_scope(target: NotifyTarget, check: CheckResult) -> bool:
    if target.tags and not set(target.tags) & set(check.tags):
        return False
    return not (target.groups and check.group not in target.groups)


def counts_as_failing(target: NotifyTarget, check: CheckResult) -> bool:
    if not check.failing:
        return False
    streak = check.failing_streak
    return streak is None or streak >= target.failure_threshold


def decide(run: RunResult, target: NotifyTarget, memory: Memory | None,
           now: datetime) -> Decision:
    """`memory` None: the target has no record (its first run, or the store is down)."""
    scope = [c for c in run.checks if in_scope(target, c)]
    ran = tuple(c for c in scope if c.status is not Status.SKIPPED)
    failing = tuple(c for c in ran if counts_as_failing(target, c))
    below = tuple(c for c in ran if c.failing and not counts_as_failing(target, c))
    known = memory.failing if memory else frozenset()
    notified_at = memory.notified_at if memory else None
    skipped = {c.name for c in scope if c.status is Status.SKIPPED}
    remembered = frozenset(c.name for c in failing) | (known & skipped)

    reasons: list[str] = []
    if "recovery" in target.on and not remembered and known:
        reasons.append(RECOVERY)
    if "change" in target.on and remembered != known:
        reasons.append(CHANGE)
    if "change" in target.on and remembered and remembered == known and _reminder_due(
            target, notified_at, now):
        reasons.append(REMINDER)
    if "failure" in target.on and failing:
        reasons.append(FAILURE)
    if "always" in target.on:
        reasons.append(ALWAYS)
    return Decision(tuple(reasons), ran, failing, below, known, remembered, notified_at,
                    target.failure_threshold)


def _reminder_due(target: NotifyTarget, notified_at: datetime | None, now: datetime) -> bool:
    if target.remind_every is None:
        return False
    if notified_at is None:
        return True
    every = float(target.remind_every)
    return now - notified_at >= timedelta(seconds=every * (1 - REMIND_SLACK))
