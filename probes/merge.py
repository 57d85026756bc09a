"""`probe merge`: one run out of the results files of its shards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from probes.config import Config
from probes.model import Category, CheckResult, RunResult, Status

MISSING = ("no result in any of the merged results files: its shard did not run, or its "
           "file was not passed to `probe merge`")


def merge_runs(runs: Sequence[RunResult], config: Config) -> RunResult:
    """Combine shard results in config order; a check found twice is kept once, with a warning.

    A check of the config that no file has a result for is an error: a shard that
    crashed or never started must not make the suite look healthier.
    """
    if not runs:
        raise ValueError("nothing to merge")
    found: dict[str, CheckResult] = {}
    warnings: list[str] = []
    for run in runs:
        warnings.extend(run.warnings)
        for check in run.checks:
            kept = found.get(check.name)
            if kept is None:
                found[check.name] = check
                continue
            warnings.append(f"check {check.name!r} is in more than one results file")
            if kept.status is Status.SKIPPED and check.status is not Status.SKIPPED:
                found[check.name] = check
    for configured in config.checks:
        if configured.name not in found:
            found[configured.name] = CheckResult(
                name=configured.name, kind=configured.kind, group=configured.group_name,
                tags=tuple(configured.tags),
                status=Status.ERROR, category=Category.INTERNAL, message=MISSING,
                duration_s=0.0, attempts=0)
    order = {check.name: index for index, check in enumerate(config.checks)}
    checks = sorted(found.values(), key=lambda c: (order.get(c.name, len(order)), c.name))
    starts = [datetime.fromisoformat(r.started_at) for r in runs]
    ends = [s + timedelta(seconds=r.duration_s) for s, r in zip(starts, runs, strict=True)]
    begin = min(starts)
    return RunResult(
        suite=config.suite,
        started_at=begin.isoformat(timespec="milliseconds"),
        duration_s=round((max(ends) - begin).total_seconds(), 3),
        checks=tuple(checks),
        warnings=tuple(dict.fromkeys(warnings)),
        interrupted=any(r.interrupted for r in runs),
    )
