"""Console output: a live line on a terminal, plain lines in CI logs, one summary."""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.model import Category, CheckResult, NotificationOutcome, RunResult
from probes.reporting.console import ConsoleReporter
from tests.helpers.results import (
    HOSTILE_TEXT,
    error_check,
    failed_check,
    hostile_run,
    passed_check,
    run_result,
    skipped_check,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def colour_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)


def sample_run() -> tuple[tuple[CheckResult, ...], RunResult]:
    checks = (passed_check("api"), failed_check("scoring api"), error_check("warehouse"),
              skipped_check("ftp"))
    return checks, run_result(*checks)


def test_ci_log_prints_failing_checks_as_they_finish_and_nothing_for_passes() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, is_tty=False, color=True)
    checks, _ = sample_run()

    console.start(3)
    lines_after_start = out.getvalue()
    console.check_done(checks[0], 1, 3)
    assert out.getvalue() == lines_after_start  # a pass adds nothing
    console.check_done(checks[1], 2, 3)
    console.check_done(checks[2], 3, 3)

    assert out.getvalue() == (
        "running 3 checks\n"
        "[2/3] FAIL  scoring api  status (503) == 200\n"
        "[3/3] ERROR warehouse  [timeout] no result within the 10s timeout\n"
    )
    assert "\r" not in out.getvalue() and not ANSI.search(out.getvalue())


def test_terminal_rewrites_one_progress_line_and_prints_failures_above_it() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, is_tty=True, color=False)
    checks, run = sample_run()

    console.start(3)
    console.check_done(checks[0], 1, 3)
    assert out.getvalue() == "\r[0/3] 0 failing\r[1/3] 0 failing"
    console.check_done(checks[1], 2, 3)
    assert out.getvalue().endswith(
        "\r[1/3] 0 failing" + "\r" + " " * 15 + "\r"
        "FAIL  scoring api  status (503) == 200\n" + "\r[2/3] 1 failing")
    console.summary(run)

    # the summary starts on a cleared line: no leftover progress text before it
    assert out.getvalue().split("\r")[-1].startswith("FAIL  scoring api")


def test_progress_line_is_padded_when_it_gets_shorter() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, is_tty=True, color=False)
    console.start(100)
    for done in range(1, 11):
        console.check_done(passed_check(f"c{done}"), done, 10)

    # "[1/10] 0 failing" is one character shorter than "[0/100] 0 failing" it replaces
    assert out.getvalue().startswith("\r[0/100] 0 failing\r[1/10] 0 failing \r[2/10] 0 failing\r")


def test_summary_lists_reasons_warnings_notifications_and_counts() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, is_tty=False, color=False)
    checks, run = sample_run()
    run = run_result(
        *checks, passed_check("api 2"), error_check("dns", category=Category.DNS,
                                                     message="db.internal does not resolve"),
        warnings=("cannot write reports/report.html: PermissionError: denied",),
        notifications=(NotificationOutcome("slack://T***/B***/***", True),
                       NotificationOutcome("mailto://ops@***", False, "connection refused")),
    )
    console.summary(run, [Path("reports/junit.xml"), "reports/results.json"])

    assert out.getvalue().splitlines() == [
        "FAIL  scoring api  status (503) == 200",
        "ERROR warehouse  [timeout] no result within the 10s timeout",
        "ERROR dns  [dns] db.internal does not resolve",
        "warning: cannot write reports/report.html: PermissionError: denied",
        "notified: slack://T***/B***/***",
        "notification NOT sent to mailto://ops@***: connection refused",
        "nightly-prod: 3 of 6 checks failing (1 failed, 2 error, 2 passed, 1 skipped) in 3.2s",
        "report: reports/junit.xml",
        "report: reports/results.json",
    ]


def test_green_and_interrupted_runs() -> None:
    out = io.StringIO()
    ConsoleReporter(out, is_tty=False).summary(
        run_result(passed_check(), skipped_check(), duration_s=0.05, interrupted=True))

    assert out.getvalue().splitlines() == [
        "interrupted: the run was stopped; unfinished checks are errors",
        "nightly-prod: 0 of 2 checks failing (0 failed, 0 error, 1 passed, 1 skipped) in 50ms",
    ]


def test_colour_on_a_terminal_only_and_never_with_no_color(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, run = sample_run()

    def rendered(is_tty: bool, color: bool | None = None) -> str:
        out = io.StringIO()
        ConsoleReporter(out, is_tty=is_tty, color=color).summary(run)
        return out.getvalue()

    coloured = rendered(is_tty=True)
    assert "\x1b[31m\x1b[1mFAIL \x1b[0m scoring api" in coloured
    assert ANSI.sub("", coloured) == rendered(is_tty=False)
    assert not ANSI.search(rendered(is_tty=True, color=False))
    assert not ANSI.search(rendered(is_tty=False, color=True))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(rendered(is_tty=True, color=True))


def test_control_characters_from_targets_never_reach_the_terminal() -> None:
    out = io.StringIO()
    console = ConsoleReporter(out, is_tty=False, color=False)
    run = hostile_run()
    for done, check in enumerate(run.checks, 1):
        console.check_done(check, done, len(run.checks))
    console.summary(run)
    text = out.getvalue()

    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
    assert "\\x1b[31mred" in text and "é ü 🚀" in text
    assert HOSTILE_TEXT not in text


def test_multi_line_and_huge_reasons_stay_on_one_line() -> None:
    out = io.StringIO()
    check = error_check(message="first\nsecond " + "x" * 10_000)
    ConsoleReporter(out, is_tty=False).check_done(check, 1, 1)

    line = out.getvalue()
    assert line.count("\n") == 1 and "first second" in line and len(line) < 500


class RecordingStream(io.StringIO):
    """Remembers which thread made each write, to see whether writes interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((threading.get_ident(), text))
        return super().write(text)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_check_done_from_many_threads_keeps_lines_whole() -> None:
    out = RecordingStream()
    console = ConsoleReporter(out, is_tty=True, color=False)
    threads_n, per_thread = 8, 150
    total = threads_n * per_thread
    counter = iter(range(1, total + 1))
    counter_lock = threading.Lock()
    go = threading.Event()

    def worker(index: int) -> None:
        go.wait()
        for i in range(per_thread):
            with counter_lock:
                done = next(counter)
            check = failed_check(f"w{index}-{i}") if i % 2 else passed_check(f"w{index}-{i}")
            console.check_done(check, done, total)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(timeout=60)

    # each failing check is written as clear + line + progress by one thread, uninterrupted
    for index, (owner, text) in enumerate(out.writes):
        if text.startswith("FAIL"):
            assert out.writes[index - 1][0] == owner and out.writes[index - 1][1].strip() == ""
            assert out.writes[index + 1][0] == owner
            assert out.writes[index + 1][1].startswith("\r[")
    assert sum(text.startswith("FAIL") for _, text in out.writes) == total // 2
    assert out.getvalue().rstrip().endswith(f"[{total}/{total}] {total // 2} failing")
