"""The title and body of a message, within any service's limits."""

from __future__ import annotations

from datetime import datetime

import pytest

from probes.model import CheckResult, RunResult
from probes.notify.message import compose
from probes.notify.policy import Memory, decide
from probes.notify.services import Limits
from probes.notify.target import NotifyTarget
from probes.secrets import Masker
from tests.helpers.results import (
    HOSTILE_TEXT,
    error_check,
    failed_check,
    passed_check,
    run_result,
    skipped_check,
)

NOW = datetime(2024, 5, 6, 3, 0)
TEXT = Limits(markdown=False, body_max=32768, title_max=250, max_lines=0)
MARKDOWN = Limits(markdown=True, body_max=32768, title_max=250, max_lines=0)


def message(run: RunResult, limits: Limits = TEXT, *, on: tuple[str, ...] = ("failure",),
            memory: Memory | None = None, report_url: str | None = None,
            masker: Masker | None = None) -> tuple[str, str, str]:
    target = NotifyTarget(url="json://127.0.0.1/x", on=list(on))  # type: ignore[arg-type]
    decision = decide(run, target, memory, NOW)
    composed = compose(run.suite, decision, report_url, limits, (masker or Masker()).text)
    return composed.title, composed.body, composed.notify_type


def many(count: int) -> tuple[CheckResult, ...]:
    return tuple(failed_check(f"check {i:03}", message="status (503) == 200") for i in range(count))


def test_title_names_the_suite_and_the_counts_errors_included() -> None:
    title, _, kind = message(run_result(passed_check("a"), failed_check("b"), error_check("c"),
                                        skipped_check("d")))
    assert (title, kind) == ("nightly-prod: 2 of 3 checks failing", "failure")


def test_body_groups_checks_with_category_reason_and_report() -> None:
    run = run_result(failed_check("b"), error_check("c", message="no result within 10s"),
                     failed_check("f", group="databases", message="rows (0) > 0",
                                  failing_streak=3, failing_since="2024-05-04T03:00:00+00:00"))
    _, body, _ = message(run, report_url="https://ci/report.html")
    assert body == (
        "apis\n"
        "- b (failed): status (503) == 200\n"
        "databases\n"
        "- c (error: timeout): no result within 10s\n"
        "- f (failed): rows (0) > 0 — failing since 2024-05-04 03:00 UTC (3 runs)\n"
        "\n"
        "Report: https://ci/report.html")


def test_markdown_bolds_names_and_quotes_reasons() -> None:
    run = run_result(failed_check("a_b*c", message="json.x (`y`) == 1"))
    _, body, _ = message(run, MARKDOWN)
    assert body == "**apis**\n- **a\\_b\\*c** (failed): `json.x ('y') == 1`"


@pytest.mark.parametrize("limit", [300, 1000, 2000, 4000])
def test_long_lists_end_with_and_k_more_within_the_limit(limit: int) -> None:
    limits = Limits(markdown=True, body_max=limit, title_max=0, max_lines=0)
    title, body, _ = message(run_result(*many(200)), limits, report_url="https://ci/r.html")
    assert len(title) + 4 + len(body) <= limit
    lines = body.split("\n")
    shown = sum(1 for line in lines if line.startswith("- "))
    assert f"… and {200 - shown} more failing checks" in lines
    assert lines[-1] == "Report: https://ci/r.html"


def test_a_line_limit_is_kept() -> None:
    limits = Limits(markdown=False, body_max=32768, title_max=250, max_lines=6)
    _, body, _ = message(run_result(*many(20)), limits)
    assert body.split("\n") == ["apis", "- check 000 (failed): status (503) == 200",
                                "- check 001 (failed): status (503) == 200",
                                "- check 002 (failed): status (503) == 200",
                                "- check 003 (failed): status (503) == 200",
                                "… and 16 more failing checks"]


def test_a_tiny_limit_still_gives_a_body_within_it() -> None:
    limits = Limits(markdown=False, body_max=40, title_max=250, max_lines=0)
    _, body, _ = message(run_result(*many(3)), limits, report_url="https://ci/" + "r" * 80)
    assert 0 < len(body) <= 40


def test_a_long_title_is_cut_to_the_services_title_limit() -> None:
    limits = Limits(markdown=False, body_max=4000, title_max=30, max_lines=0)
    title, _, _ = message(run_result(*many(2), suite="a-very-long-suite-name-for-a-title"), limits)
    assert len(title) == 30 and title.endswith("…")


def test_recovery_and_green_titles() -> None:
    green = run_result(passed_check("a"), passed_check("b"))
    title, body, kind = message(green, on=("recovery",), memory=Memory(frozenset({"b"}), None))
    assert (title, kind) == ("nightly-prod: all 2 checks passing again", "success")
    assert body == "No longer failing: b."
    title, body, _ = message(green, on=("always",))
    assert (title, body) == ("nightly-prod: all 2 checks passing", "All 2 checks passed.")
    assert message(run_result(skipped_check("a")), on=("always",))[0] == \
        "nightly-prod: no checks ran"


def test_secrets_and_control_characters_never_reach_a_message() -> None:
    secret = "pw-0123456789"
    run = run_result(failed_check(f"db {HOSTILE_TEXT}",
                                  message=f"login {secret} refused\n{HOSTILE_TEXT}"),
                     suite=f"suite {secret}")
    title, body, _ = message(run, masker=Masker([secret]), report_url=f"https://ci/?t={secret}")
    assert secret not in title + body
    assert not any(ord(c) < 32 and c != "\n" for c in title + body)
    body.encode("utf-8")  # no lone surrogates
    assert "\n" not in title
