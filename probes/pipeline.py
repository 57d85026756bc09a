"""`probe run` from start to end: select, run, add history, write reports, notify.

Each step's failure is contained: reports are written whatever the checks did, and
notifications go out only after the reports are on disk.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from probes.config import Config
from probes.model import CheckResult, RunResult
from probes.reporting import ReportPaths
from probes.selection import Planned, select

if TYPE_CHECKING:
    from probes.reporting.console import ConsoleReporter


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


def execute(config: Config, options: RunOptions, out: TextIO | None = None) -> RunResult:
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
        masker=config.masker,
        on_result=on_result,
    )
    stop_abandoned_work()  # a check cut off by the deadline or a signal leaves nothing running
    if options.extra_warnings:
        run = replace(run, warnings=run.warnings + options.extra_warnings)
    return finish(config, options, run, console)


def finish(config: Config, options: RunOptions, run: RunResult,
           console: ConsoleReporter) -> RunResult:
    """History, reports, notifications, summary: what follows the checks (and `merge`)."""
    from probes import state
    from probes.reporting import write_reports
    from probes.reporting.json import write_json

    base, paths = report_paths(config, options)
    # A shard is a part of a run: history and notifications wait for `probe merge`.
    whole_run = options.shard is None
    if whole_run:
        run = state.record_and_enrich(run, config.state, base, config.state_retention)
    run = config.masker.run(run)
    warnings = write_reports(run, paths)
    if options.prometheus:
        warnings += _write_prometheus(run, Path(options.prometheus))
    if warnings:  # so far, every warning is a file that could not be written
        run = replace(run, reports_written=False)
    if config.report.pushgateway and whole_run:
        warnings += _push_metrics(run, config.report.pushgateway)
    run = replace(run, warnings=run.warnings + tuple(config.masker.text(w) for w in warnings))
    if options.notify and config.notify and whole_run:
        from probes.notify import deliver

        outcomes = deliver(run, config.notify, config.report.report_url, config.masker,
                           config.state, reports_dir=base)
        run = config.masker.run(replace(run, notifications=outcomes))
        if paths.json is not None:
            try:
                write_json(run, paths.json)
            except OSError as exc:
                run = replace(run, reports_written=False,
                              warnings=(*run.warnings, f"cannot write {paths.json}: {exc}"))
    console.summary(run, [p for p in paths.all() if p.exists()])
    return run


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
