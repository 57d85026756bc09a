"""When a target is sent a message: the decisions alone, without delivery."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from probes.notify.policy import Memory, decide, in_scope
from probes.notify.target import NotifyTarget
from tests.helpers.results import error_check, failed_check, passed_check, run_result

NOW = datetime(2024, 5, 7, 3, 0)


def target(*on: str, **settings: Any) -> NotifyTarget:
    return NotifyTarget(url="json://127.0.0.1/x", on=list(on) or ["failure"],  # type: ignore[arg-type]
                        **settings)


def memory(*failing: str, hours_ago: float | None = None) -> Memory:
    notified = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return Memory(frozenset(failing), notified)


@pytest.mark.parametrize(("tags", "groups", "expected"), [
    ([], [], {"api", "db", "batch"}),
    (["db"], [], {"db", "batch"}),
    ([], ["databases"], {"db"}),
    (["db"], ["jobs"], {"batch"}),  # both filters apply
    (["nope"], [], set()),
])
def test_scope_by_tags_any_and_groups_any(tags: list[str], groups: list[str],
                                          expected: set[str]) -> None:
    checks = [passed_check("api"), error_check("db", tags=("db",)),
              failed_check("batch", group="jobs", tags=("db", "nightly"))]
    chosen = target(tags=tags, groups=groups)
    assert {c.name for c in checks if in_scope(chosen, c)} == expected


def test_a_check_without_history_counts_as_failing_whatever_the_threshold() -> None:
    decision = decide(run_result(failed_check("a")), target(failure_threshold=3), None, NOW)
    assert [c.name for c in decision.failing] == ["a"] and decision.send


def test_threshold_counts_the_streak() -> None:
    run = run_result(failed_check("a", failing_streak=2), failed_check("b", failing_streak=3))
    decision = decide(run, target(failure_threshold=3), None, NOW)
    assert [c.name for c in decision.failing] == ["b"]
    assert [c.name for c in decision.below_threshold] == ["a"]


@pytest.mark.parametrize(("known", "failing", "sends"), [
    (None, [], False),            # first run, green: nothing to say
    (None, ["a"], True),          # first run, red: the channel has heard nothing yet
    (memory("a"), ["a"], False),  # same set
    (memory("a"), ["a", "b"], True),
    (memory("a", "b"), ["b"], True),
    (memory("a"), [], True),      # green after red is a change too
])
def test_change(known: Memory | None, failing: list[str], sends: bool) -> None:
    run = run_result(*(failed_check(n) if n in failing else passed_check(n) for n in "ab"))
    assert decide(run, target("change"), known, NOW).send is sends


@pytest.mark.parametrize(("known", "sends"), [(None, False), (memory(), False),
                                             (memory("a"), True)])
def test_recovery_needs_a_known_failure(known: Memory | None, sends: bool) -> None:
    run = run_result(passed_check("a"), passed_check("b"))
    assert decide(run, target("recovery"), known, NOW).send is sends


@pytest.mark.parametrize(("hours_ago", "sends"), [(None, True), (1, False), (22.7, False),
                                                  (22.9, True), (48, True)])
def test_reminders_come_after_remind_every_less_five_percent(hours_ago: float | None,
                                                             sends: bool) -> None:
    decision = decide(run_result(failed_check("a")), target("change", remind_every="24h"),
                      memory("a", hours_ago=hours_ago), NOW)
    assert decision.send is sends
    assert decision.reasons == (("reminder",) if sends else ())


def test_no_reminder_without_remind_every() -> None:
    decision = decide(run_result(failed_check("a")), target("change"),
                      memory("a", hours_ago=1000), NOW)
    assert not decision.send
