"""What `probe run` prints while the checks run and when they are done.

On a terminal: one progress line rewritten in place (`[12/40] 2 failing`), with a
line printed above it for each failing check as soon as it finishes. In a CI log
(not a terminal): no carriage returns and nothing for passing checks, only one
line per failing check as it finishes (`[3/40] FAIL  scoring api  status (503) == 200`),
so a log reader sees problems immediately and the log stays short for 1,000 checks.
Then the summary: every failing check with its reason, warnings, notification
outcomes, and one closing line with the counts.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from probes.model import CheckResult, RunResult, Status
from probes.units import format_duration

REASON_LIMIT = 300  # characters of a reason on one console line

_RED, _YELLOW, _GREEN, _BOLD, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[1m", "\x1b[0m"
# A target's body or a driver message could carry terminal escapes; never pass them on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def color_wanted(is_tty: bool, color: bool | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return is_tty and color is not False and not os.environ.get("NO_COLOR")


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` made safe for one console line: no newlines, no control characters."""
    flat = " ".join(text.split("\n"))
    flat = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def reason(check: CheckResult) -> str:
    """Why a check is failing: `status (503) == 200`, `[timeout] no result within 10s`."""
    if check.status is Status.ERROR:
        category = f"[{check.category}] " if check.category else ""
        return f"{category}{check.message}".strip()
    if check.message:
        return check.message
    failed = [a.describe() for a in check.assertions if not a.passed]
    return "; ".join(failed)


class ConsoleReporter:
    """Thread-safe: `check_done` is called from the runner's worker threads."""

    def __init__(self, stream: TextIO, is_tty: bool, color: bool | None = None) -> None:
        self.stream = stream
        self.is_tty = is_tty
        self.color = color_wanted(is_tty, color)
        self._lock = threading.Lock()
        self._failing = 0
        self._done_shown = 0  # the progress line never counts backwards
        self._progress_width = 0  # length of the progress line now on screen

    def start(self, total: int) -> None:
        with self._lock:
            if self.is_tty:
                self._draw_progress(0, total)
            else:
                self._write(f"running {total} check{'s' if total != 1 else ''}\n")

    def check_done(self, result: CheckResult, done: int, total: int) -> None:
        with self._lock:
            if result.failing:
                self._failing += 1
            if self.is_tty:
                if result.failing:
                    self._clear_progress()
                    self._write(self._failing_line(result) + "\n")
                # Numbers are taken before the lock: a thread may arrive with an older one.
                self._done_shown = max(self._done_shown, done)
                self._draw_progress(self._done_shown, total)
            elif result.failing:
                self._write(f"[{done}/{total}] {self._failing_line(result)}\n")

    def summary(self, run: RunResult, report_paths: Iterable[Path | str] = ()) -> None:
        with self._lock:
            self._clear_progress()
            lines = [self._failing_line(check) for check in run.failing]
            lines += [self._paint(f"warning: {one_line(w)}", _YELLOW) for w in run.warnings]
            if run.interrupted:
                lines.append(self._paint(
                    "interrupted: the run was stopped; unfinished checks are errors", _YELLOW))
            lines += [self._notification_line(n.target, n.sent, n.error)
                      for n in run.notifications]
            lines.append(self._closing_line(run))
            if not run.reports_written:
                lines.append(self._paint("reports NOT all written (see the warnings above): "
                                         f"exit code {run.exit_code}", _RED + _BOLD))
            lines += [f"report: {path}" for path in report_paths]
            self._write("".join(f"{line}\n" for line in lines))

    def _failing_line(self, check: CheckResult) -> str:
        label = "FAIL" if check.status is Status.FAILED else "ERROR"
        head = self._paint(f"{label:<5}", _RED + _BOLD)
        return f"{head} {one_line(check.name, 120)}  {one_line(reason(check))}"

    def _notification_line(self, target: str, sent: bool, error: str | None) -> str:
        if sent:
            return f"notified: {one_line(target)}"
        why = f": {one_line(error)}" if error else ""
        return self._paint(f"notification NOT sent to {one_line(target)}{why}", _YELLOW)

    def _closing_line(self, run: RunResult) -> str:
        s = run.summary
        line = (f"{one_line(run.suite, 120)}: {s.failing} of {s.total} checks failing "
                f"({s.failed} failed, {s.error} error, {s.passed} passed, {s.skipped} skipped) "
                f"in {format_duration(run.duration_s)}")
        return self._paint(line, _RED + _BOLD if s.failing else _GREEN)

    def _draw_progress(self, done: int, total: int) -> None:
        text = f"[{done}/{total}] {self._failing} failing"
        padding = " " * max(0, self._progress_width - len(text))
        self._write(f"\r{text}{padding}")
        self._progress_width = len(text)

    def _clear_progress(self) -> None:
        if self.is_tty and self._progress_width:
            self._write("\r" + " " * self._progress_width + "\r")
            self._progress_width = 0

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
