"""`deliver` with real apprise posting to a local receiver, over runs recorded in a real
history store (SQLite in a temp directory; PostgreSQL in one test)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probes.model import CheckResult, NotificationOutcome, RunResult, Status
from probes.notify import deliver
from probes.notify.target import NotifyTarget
from probes.secrets import Masker
from probes.state import record_and_enrich
from tests.helpers.receiver import Receiver, closed_port, receiver
from tests.helpers.results import error_check, failed_check, passed_check, skipped_check

DAY0 = datetime(2024, 5, 6, 3, 0, tzinfo=UTC)
REPORT = "https://ci.example.com/job/probes/lastBuild/artifact/reports/report.html"


class Runs:
    """Consecutive runs of one suite, recorded in a history store as `probe run` does."""

    def __init__(self, reports_dir: Path, state_url: str | None = None,
                 suite: str = "nightly-prod") -> None:
        self.reports_dir, self.state_url, self.suite = reports_dir, state_url, suite
        self.at = DAY0

    def run(self, *checks: CheckResult, after: timedelta = timedelta(days=1)) -> RunResult:
        if self.at != DAY0 or hasattr(self, "_started"):
            self.at += after
        self._started = True
        run = RunResult(self.suite, self.at.isoformat(), 1.0, tuple(checks))
        enriched = record_and_enrich(run, self.state_url, self.reports_dir)
        assert not enriched.warnings, enriched.warnings
        return enriched

    def deliver(self, run: RunResult, *targets: NotifyTarget, masker: Masker | None = None,
                report_url: str | None = REPORT) -> tuple[NotificationOutcome, ...]:
        return deliver(run, targets, report_url, masker or Masker(), self.state_url,
                       reports_dir=self.reports_dir)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def runs(tmp_path: Path) -> Runs:
    return Runs(tmp_path / "reports")


def five(*failing: str) -> tuple[CheckResult, ...]:
    """Five checks; those named in `failing` fail (b and c as an error in `databases`)."""
    out = []
    for name in ("a", "b", "c", "d", "e"):
        if name not in failing:
            out.append(passed_check(name))
        elif name == "c":
            out.append(error_check(name, message="connection refused by db.internal:5432"))
        else:
            out.append(failed_check(name))
    return tuple(out)


def target(hook: Receiver, *on: str, scheme: str = "json", path: str = "/notify",
           **settings: Any) -> NotifyTarget:
    return NotifyTarget(url=hook.url(scheme, path), on=list(on) or ["failure"],  # type: ignore[arg-type]
                        **settings)


# --- what is sent ---------------------------------------------------------------------

def test_two_of_five_failing_sends_one_json_post_naming_only_the_failing(
        runs: Runs, hook: Receiver) -> None:
    outcomes = runs.deliver(runs.run(*five("b", "c")), target(hook, "failure"))

    assert len(hook.requests) == 1
    request = hook.requests[0]
    assert (request.method, request.path) == ("POST", "/notify")
    assert request.json() == {
        "version": "1.0",
        "title": "nightly-prod: 2 of 5 checks failing",
        "message": (
            "apis\n"
            "- b (failed): status (503) == 200 — new\n"
            "databases\n"
            "- c (error: timeout): connection refused by db.internal:5432 — new\n"
            "\n"
            f"Report: {REPORT}"),
        "attachments": [],
        "type": "failure",
    }
    assert outcomes == (NotificationOutcome(f"json://127.0.0.1:{hook.port}/notify", True),)


def test_mattermost_gets_the_slack_compatible_payload_at_hooks_token(
        runs: Runs, hook: Receiver) -> None:
    token = "x7k2mmwebhooktoken9"
    outcomes = runs.deliver(runs.run(*five("b")),
                            target(hook, scheme="mmost", path=f"/{token}"))

    request = hook.requests[-1]
    assert request.path == f"/hooks/{token}"
    payload = request.json()
    # No title field in Mattermost: apprise puts the title on the first line of `text`.
    assert payload["text"].startswith("nightly-prod: 1 of 5 checks failing\r\napis\n- b (failed)")
    assert payload["username"] == "probes"
    assert token not in outcomes[0].target
    assert outcomes[0].target == f"mmost://127.0.0.1:{hook.port}/x...9/"


def test_form_target_gets_form_fields(runs: Runs, hook: Receiver) -> None:
    runs.deliver(runs.run(*five("b")), target(hook, scheme="form", path="/form"))

    form = hook.requests[-1].form()
    assert hook.requests[-1].header("Content-Type") == "application/x-www-form-urlencoded"
    assert form["title"] == "nightly-prod: 1 of 5 checks failing"
    assert form["type"] == "failure"
    assert "- b (failed): status (503) == 200" in form["message"]


def test_markdown_where_the_service_takes_it(runs: Runs, hook: Receiver) -> None:
    checks = (*five("b")[:1], failed_check("b_*name*", message="json.items[0].id (absent) == 7"))
    runs.deliver(runs.run(*checks), target(hook, path="/md?format=markdown"))

    message = hook.requests[-1].json()["message"]
    assert message.startswith("**apis**\n- **b\\_\\*name\\*** (failed): "
                              "`json.items[0].id (absent) == 7`")


def test_long_lists_stay_within_the_service_limit(runs: Runs, hook: Receiver) -> None:
    checks = [failed_check(f"check number {i:03}", message="x" * 150) for i in range(300)]
    runs.deliver(runs.run(*checks), target(hook, scheme="mmost", path="/tokentokentoken1"))

    text = hook.requests[-1].json()["text"]
    assert len(text) <= 4000  # what apprise declares Mattermost accepts
    assert text.startswith("nightly-prod: 300 of 300 checks failing")
    lines = text.split("\n")
    shown = sum(1 for line in lines if line.startswith("- check number"))
    assert 10 < shown < 300
    assert f"… and {300 - shown} more failing checks" in lines
    assert lines[-1] == f"Report: {REPORT}"


def test_failing_since_comes_from_the_history(runs: Runs, hook: Receiver) -> None:
    runs.run(*five("b"))
    runs.deliver(runs.run(*five("b")), target(hook))

    assert ("- b (failed): status (503) == 200 — failing since 2024-05-06 03:00 UTC (2 runs)"
            in hook.requests[-1].json()["message"])


# --- when ---------------------------------------------------------------------------

def sends(runs: Runs, hook: Receiver, sequence: list[tuple[CheckResult, ...]],
          *targets: NotifyTarget) -> list[int]:
    """Messages received after each run of `sequence`."""
    counts = []
    for checks in sequence:
        before = len(hook.requests)
        outcomes = runs.deliver(runs.run(*checks), *targets)
        assert all(o.sent for o in outcomes), outcomes
        counts.append(len(hook.requests) - before)
    return counts


def test_change_and_recovery_red_red_green_green_send_one_none_one_none(
        runs: Runs, hook: Receiver) -> None:
    red, green = five("b", "c"), five()
    counts = sends(runs, hook, [red, red, green, green], target(hook, "change", "recovery"))

    assert counts == [1, 0, 1, 0]
    recovery = hook.requests[-1].json()
    assert recovery["title"] == "nightly-prod: all 5 checks passing again"
    assert recovery["type"] == "success"
    assert "No longer failing: b, c." in recovery["message"]


def test_change_names_what_changed(runs: Runs, hook: Receiver) -> None:
    counts = sends(runs, hook, [five("b"), five("b", "c"), five("c"), five("c")],
                   target(hook, "change"))

    assert counts == [1, 1, 1, 0]
    second, third = (r.json()["message"] for r in hook.requests[1:3])
    assert second.startswith("Newly failing: c.\n")
    assert third.startswith("No longer failing: b.\n")


def test_failure_sends_on_every_red_run_only(runs: Runs, hook: Receiver) -> None:
    assert sends(runs, hook, [five("b"), five("b"), five(), five()],
                 target(hook, "failure")) == [1, 1, 0, 0]


def test_always_sends_green_runs_too(runs: Runs, hook: Receiver) -> None:
    assert sends(runs, hook, [five(), five("b"), five()], target(hook, "always")) == [1, 1, 1]
    first = hook.requests[0].json()
    assert (first["title"], first["type"]) == ("nightly-prod: all 5 checks passing", "success")


def test_failure_threshold_waits_for_consecutive_failures(runs: Runs, hook: Receiver) -> None:
    flaky = [five("b"), five(), five("b"), five("b"), five("b")]
    counts = sends(runs, hook, flaky, target(hook, "failure", failure_threshold=2))

    assert counts == [0, 0, 0, 1, 1]
    assert hook.requests[0].json()["title"] == "nightly-prod: 1 of 5 checks failing"


def test_failure_threshold_with_change_and_recovery(runs: Runs, hook: Receiver) -> None:
    sequence = [five("b"), five("b"), five("b"), five(), five("b"), five()]
    counts = sends(runs, hook, sequence,
                   target(hook, "change", "recovery", failure_threshold=2))

    # A single failing run after the recovery is below the threshold: no message.
    assert counts == [0, 1, 0, 1, 0, 0]


def test_below_threshold_failures_are_mentioned_not_counted(runs: Runs, hook: Receiver) -> None:
    runs.run(*five("b"))
    runs.deliver(runs.run(*five("b", "d")), target(hook, failure_threshold=2))

    message = hook.requests[-1].json()
    assert message["title"] == "nightly-prod: 1 of 5 checks failing"
    assert message["message"].startswith("Failing, not counted until 2 runs in a row: d.")


def test_remind_every_resends_the_same_failures_after_that_long(
        runs: Runs, hook: Receiver) -> None:
    remind = target(hook, "change", remind_every="24h")
    counts = []
    for checks, after in [(five("b"), timedelta(0)), (five("b"), timedelta(hours=12)),
                          # A daily run that starts a few minutes early still reminds.
                          (five("b"), timedelta(hours=11, minutes=55)),
                          (five("b"), timedelta(hours=1)),
                          (five("b", "c"), timedelta(hours=1)),
                          (five("b", "c"), timedelta(hours=20))]:
        before = len(hook.requests)
        runs.deliver(runs.run(*checks, after=after), remind)
        counts.append(len(hook.requests) - before)

    assert counts == [1, 0, 1, 0, 1, 0]
    reminder = hook.requests[1].json()["message"]
    assert reminder.startswith(
        "Reminder: still failing as in the message of 2024-05-06 03:00 UTC.\n")


def test_a_skipped_check_keeps_its_state_for_change_and_recovery(
        runs: Runs, hook: Receiver) -> None:
    only_b_skipped = (*five()[:1], skipped_check("b"), *five()[2:])
    counts = sends(runs, hook, [five("b"), only_b_skipped, five()],
                   target(hook, "change", "recovery"))

    assert counts == [1, 0, 1]


def test_a_failed_delivery_is_sent_again_on_the_next_run(runs: Runs, hook: Receiver) -> None:
    change = target(hook, "change", "recovery")
    hook.status = 500
    first = runs.deliver(runs.run(*five("b")), change)
    hook.status = 200
    second = runs.deliver(runs.run(*five("b")), change)
    third = runs.deliver(runs.run(*five("b")), change)

    assert [o.sent for o in first + second] == [False, True]
    assert third == ()
    assert len(hook.requests) == 2


# --- routing --------------------------------------------------------------------------

def test_targets_get_only_their_groups_and_tags(runs: Runs, hook: Receiver) -> None:
    checks = (
        passed_check("api ok"),
        failed_check("api down"),
        error_check("warehouse", tags=("db",)),
        passed_check("orders db", group="databases", tags=("db",)),
        failed_check("nightly export", group="jobs", tags=("db", "batch")),
    )
    dba = target(hook, path="/dba", groups=["databases"])
    db_tagged = target(hook, path="/db", tags=["db"])
    both = target(hook, path="/both", tags=["batch"], groups=["jobs", "apis"])
    everything = target(hook, path="/all")
    runs.deliver(runs.run(*checks), dba, db_tagged, both, everything)

    got = {r.path: r.json() for r in hook.requests}
    assert got["/dba"]["title"] == "nightly-prod: 1 of 2 checks failing"
    assert "warehouse" in got["/dba"]["message"]
    assert "api down" not in got["/dba"]["message"]
    assert got["/db"]["title"] == "nightly-prod: 2 of 3 checks failing"
    assert got["/both"]["title"] == "nightly-prod: 1 of 1 check failing"
    assert got["/all"]["title"] == "nightly-prod: 3 of 5 checks failing"


def test_a_target_whose_checks_pass_gets_nothing(runs: Runs, hook: Receiver) -> None:
    outcomes = runs.deliver(runs.run(*five("b")), target(hook, groups=["databases"]))

    assert outcomes == ()
    assert hook.requests == []


# --- never lost, never blocking ------------------------------------------------------

def test_an_error_answer_and_a_closed_port_are_reported_and_others_still_sent(
        runs: Runs, hook: Receiver) -> None:
    with receiver(status=500) as failing, closed_port() as port:
        outcomes = runs.deliver(runs.run(*five("b")), target(failing, path="/a"),
                                NotifyTarget(url=f"json://127.0.0.1:{port}/b"),
                                target(hook, path="/c"))

    refused, error, sent = outcomes[1], outcomes[0], outcomes[2]
    assert not error.sent and "error=500" in (error.error or "")
    assert not refused.sent and "Connection refused" in (refused.error or "")
    assert refused.target == f"json://127.0.0.1:{port}/b"
    assert sent.sent and [r.path for r in hook.requests] == ["/c"]


def test_a_receiver_that_never_answers_cannot_hold_the_run(runs: Runs, hook: Receiver) -> None:
    run = runs.run(*five("b"))
    with receiver(mode="hang") as hanging:
        start = time.monotonic()
        outcomes = runs.deliver(run, target(hanging, timeout="1s"), target(hook))
        elapsed = time.monotonic() - start

    assert elapsed < 3.0
    assert not outcomes[0].sent
    assert "timed out" in (outcomes[0].error or "") or "no answer" in (outcomes[0].error or "")
    assert outcomes[1].sent and len(hook.requests) == 1


def test_a_receiver_that_trickles_is_cut_off_at_the_targets_timeout(runs: Runs) -> None:
    run = runs.run(*five("b"))
    with receiver(mode="drip") as dripping:
        start = time.monotonic()
        # Each byte arrives before any read times out: only the whole-send bound helps.
        outcomes = runs.deliver(run, target(dripping, path="/slow?rto=30", timeout="1s"))
        elapsed = time.monotonic() - start

    assert elapsed < 2.5
    assert outcomes == (NotificationOutcome(
        f"json://127.0.0.1:{dripping.port}/slow", False,
        "no answer within 1s (the target's timeout); the message may still arrive"),)


def test_an_unreachable_state_store_still_notifies(tmp_path: Path, hook: Receiver,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with closed_port() as port:
        state = f"postgresql+psycopg2://probes:pw@127.0.0.1:{port}/probes"
        run = RunResult("nightly-prod", DAY0.isoformat(), 1.0, five("b"))
        with caplog.at_level(logging.WARNING, logger="probes.notify"):
            outcomes = deliver(run, [target(hook, "change")], None, Masker(), state,
                               reports_dir=tmp_path)

    assert [o.sent for o in outcomes] == [True]
    assert "cannot read what each target was last sent" in caplog.text
    assert ":pw@" not in caplog.text


# --- secrets ---------------------------------------------------------------------------

def test_no_token_or_check_secret_in_messages_or_outcomes(runs: Runs, hook: Receiver) -> None:
    api_token, db_password = "tok-5f3e2d1c0b", "pw-9a8b7c6d"
    hook_token = "Wh00kT0ken4242"
    masker = Masker([api_token, db_password])
    checks = (
        failed_check("api", message=f"status (401) == 200 with Bearer {api_token}"),
        error_check("db", message=f"password authentication failed for {db_password}",
                    target=f"postgresql://reader:{db_password}@db/x"),
        passed_check("ok"),
    )
    with receiver(status=500) as failing:
        outcomes = runs.deliver(
            runs.run(*checks),
            target(hook, scheme="mmost", path=f"/{hook_token}"),
            target(hook, path=f"/hooks/{hook_token}"),
            NotifyTarget(url=f"json://user:{hook_token}@127.0.0.1:{failing.port}/x"),
            masker=masker, report_url=f"{REPORT}?token={api_token}")

    bodies = [r.body.decode() for r in hook.requests]
    assert len(bodies) == 2
    for text in [*bodies, *(f"{o.target} {o.error}" for o in outcomes)]:
        for secret in (api_token, db_password, hook_token):
            assert secret not in text
    assert "Bearer ***" in bodies[0]
    assert outcomes[2].target == f"json://user:***@127.0.0.1:{failing.port}/x"


# --- a shared PostgreSQL state store ----------------------------------------------------

@pytest.fixture(scope="module")
def pg_state() -> Iterator[str]:
    """A database of its own on the local PostgreSQL (trust auth), dropped afterwards."""
    import psycopg2  # type: ignore[import-untyped]

    name = f"probes_notify_test_{os.getpid()}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                             connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_change_and_recovery_remembered_in_postgresql(tmp_path: Path, hook: Receiver,
                                                       pg_state: str) -> None:
    runs = Runs(tmp_path, state_url=pg_state)
    red, green = five("b", "c"), five()

    assert sends(runs, hook, [red, red, green, green],
                 target(hook, "change", "recovery")) == [1, 0, 1, 0]


def test_a_check_error_without_category_reads_as_error(runs: Runs, hook: Receiver) -> None:
    crashed = replace(error_check("x"), category=None, message="")
    runs.deliver(runs.run(crashed), target(hook))

    assert "- x (error): error — new" in hook.requests[-1].json()["message"]
    assert crashed.status is Status.ERROR
