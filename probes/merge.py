"""`probe merge`: one run out of the results files of its shards."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from probes.config import Config
from probes.model import CheckResult, RunResult, Status


def merge_runs(runs: Sequence[RunResult], config: Config) -> RunResult:
    """Combine shard results in config order; a check found twice is kept once, with a warning."""
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
