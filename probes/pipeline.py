"""`probe run` from start to end: select, run, add history, write reports, notify.

Each step's failure is contained: reports are written whatever the checks did, and
notifications go out only after the reports are on disk.
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from probes.config import Config
from probes.model import CheckResult, RunResult
from probes.reporting import ReportPaths
from probes.selection import Planned, select

if TYPE_CHECKING:
    from probes.reporting.console import ConsoleReporter
    from probes.runner import StopRequest


@dataclass(frozen=True)
class RunOptions:
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    reports_dir: str | None = None  # None: the config's report.dir
    junit: str | None = None
    html: str | None = None
    json: str | None = None
    notify: bool = True
    concurrency: int | None = None
    deadline_s: float | None = None
    shard: tuple[int, int] | None = None  # (index, count), 1-based index
    prometheus: str | None = None
    extra_warnings: tuple[str, ...] = field(default=())
    # When the run began (time.monotonic()): `--deadline` counts from here.
    started_at: float = field(default_factory=time.monotonic)

    def ends_at(self) -> float | None:
        """The instant by which `--deadline` wants the whole run over, if it was given."""
        return None if self.deadline_s is None else self.started_at + self.deadline_s

    def checks_end_at(self) -> float | None:
        """When the checks are cut off: the deadline less what follows them needs."""
        if self.deadline_s is None:
            return None
        return self.started_at + self.deadline_s - after_checks_reserve(self.deadline_s)


T = TypeVar("T")
WRAP_UP_S = 0.25  # kept from the deadline for a step to return what it has


def after_checks_reserve(deadline_s: float) -> float:
    """How much of `--deadline` is kept for what follows the checks: history, reports,
    notifications. They take well under a second when all is well; the reserve is
    there for a store or a webhook that is slow to answer. A tenth of the deadline,
    at least 2 s (or half of a shorter deadline), at most 30 s."""
    return min(30.0, max(deadline_s / 10, min(2.0, deadline_s / 2)))


def plan(config: Config, options: RunOptions) -> list[Planned]:
    planned = select(config.checks, options.tags, options.skip_tags, options.names)
    if options.shard is not None:
        from probes.shards import in_shard

        index, count = options.shard
        planned = [p for p in planned if in_shard(p.check.name, index, count)]
    return planned


def report_paths(config: Config, options: RunOptions) -> tuple[Path, ReportPaths]:
    """The reports directory and the report files, command-line options over config."""
    base = Path(options.reports_dir or config.report.dir)
    paths = ReportPaths.in_dir(
        base,
        junit=options.junit or config.report.junit,
        html=options.html or config.report.html,
        json=options.json or config.report.json_file,
    )
    return base, paths


def execute(config: Config, options: RunOptions, out: TextIO | None = None,
            stop: StopRequest | None = None) -> RunResult:
    from probes.kinds import stop_abandoned_work
    from probes.reporting.console import ConsoleReporter
    from probes.runner import run_checks

    stream = out or sys.stdout
    console = ConsoleReporter(stream, is_tty=stream.isatty(), color=None)
    planned = plan(config, options)
    total = sum(1 for p in planned if p.runs)
    console.start(total)
    finished = itertools.count(1)  # next() is atomic under the GIL; workers share it

    def on_result(result: CheckResult) -> None:
        console.check_done(result, next(finished), total)

    run = run_checks(
        config.suite,
        planned,
        concurrency=options.concurrency or config.concurrency,
        deadline_s=options.deadline_s,
        deadline_at=options.checks_end_at(),
        masker=config.masker,
        on_result=on_result,
    )
    if stop is not None:
        stop.checks_over = True
    stop_abandoned_work()  # a check cut off by the deadline or a signal leaves nothing running
    if options.extra_warnings:
        run = replace(run, warnings=run.warnings + options.extra_warnings)
    return finish(config, options, run, console, stop)


def finish(config: Config, options: RunOptions, run: RunResult,
           console: ConsoleReporter, stop: StopRequest | None = None) -> RunResult:
    """History, reports, notifications, summary: what follows the checks (and `merge`)."""
    from probes import state
    from probes.reporting import write_reports
    from probes.reporting.json import write_json

    base, paths = report_paths(config, options)
    ends_at = options.ends_at()
    # A shard is a part of a run: history and notifications wait for `probe merge`.
    whole_run = options.shard is None
    if whole_run:
        enriched = _by(ends_at, functools.partial(
            state.record_and_enrich, run, config.state, base, config.state_retention))
        run = enriched if enriched is not None else replace(run, warnings=(
            *run.warnings, f"run history not recorded: {_deadline_came(options)}"))
    run = config.masker.run(run)
    warnings = write_reports(run, paths)
    if options.prometheus:
        warnings += _write_prometheus(run, Path(options.prometheus))
    if warnings:  # so far, every warning is a file that could not be written
        run = replace(run, reports_written=False)
    if config.report.pushgateway and whole_run:
        gateway = config.report.pushgateway
        push_warnings = _by(ends_at, functools.partial(_push_metrics, run, gateway))
        warnings += push_warnings if push_warnings is not None else [
            f"metrics not pushed to {gateway}: {_deadline_came(options)}"]
    run = replace(run, warnings=run.warnings + tuple(config.masker.text(w) for w in warnings))
    if options.notify and config.notify and whole_run:
        from probes.notify import deliver, undelivered

        # Delivery stops waiting a moment before the deadline, so that its own outcomes
        # (which target did not answer) come back before `_by` gives up on it.
        answers_until = None if ends_at is None else ends_at - WRAP_UP_S
        outcomes = _by(ends_at, functools.partial(
            deliver, run, config.notify, config.report.report_url, config.masker, config.state,
            reports_dir=base, until=answers_until, stop=stop))
        if outcomes is None:  # the run-history store held it up past the deadline
            outcomes = undelivered(config.notify, config.masker,
                                   f"not sent: {_deadline_came(options)}")
        run = config.masker.run(replace(run, notifications=outcomes))
        if paths.json is not None:
            try:
                write_json(run, paths.json)
            except OSError as exc:
                run = replace(run, reports_written=False,
                              warnings=(*run.warnings, f"cannot write {paths.json}: {exc}"))
    console.summary(run, [p for p in paths.all() if p.exists()])
    return run


def _by(ends_at: float | None, work: Callable[[], T]) -> T | None:
    """`work()`, or None if it has not returned by `ends_at` (no bound when None).

    Work that overstays goes on in a daemon thread, which ends with the process; a
    database left in the middle of a transaction rolls it back.
    """
    if ends_at is None:
        return work()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def attempt() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # raised again in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=attempt, daemon=True, name="probes-after-checks")
    thread.start()
    thread.join(max(0.0, ends_at - time.monotonic()))
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None


def _deadline_came(options: RunOptions) -> str:
    from probes.units import format_duration

    return f"the run's deadline (--deadline {format_duration(options.deadline_s or 0)}) came first"


def _push_metrics(run: RunResult, gateway: str) -> list[str]:
    try:
        from probes.reporting.prometheus import push

        push(run, gateway)
    except Exception as exc:
        return [f"cannot push metrics to {gateway}: {type(exc).__name__}: {exc}"]
    return []


def _write_prometheus(run: RunResult, path: Path) -> list[str]:
    try:
        from probes.reporting.prometheus import write_textfile

        write_textfile(run, path)
    except Exception as exc:
        return [f"cannot write {path}: {type(exc).__name__}: {exc}"]
    return []
