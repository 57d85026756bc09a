"""`--shard K/N` splits a suite stably; `probe merge` puts the shards back together."""

from __future__ import annotations

import io
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from probes.config import Config, parse_config
from probes.merge import merge_runs
from probes.model import Category, Status
from probes.pipeline import RunOptions, execute, plan
from probes.reporting.console import ConsoleReporter
from probes.reporting.json import load_json
from probes.shards import shard_of


def suite(tmp_path: Path) -> Config:
    checks = []
    for i in range(30):
        value = 2 if i % 7 == 0 else 1  # every seventh check fails
        checks.append(f"  - {{name: check {i:02d}, kind: scripted, value: {value}, "
                      f"group: g{i % 3}}}")
    text = "suite: sharded\nchecks:\n" + "\n".join(checks) + "\n"
    return parse_config(text, str(tmp_path / "checks.yaml"), {})


def test_shards_are_a_partition_of_the_suite(tmp_path: Path) -> None:
    config = suite(tmp_path)
    names = [c.name for c in config.checks]
    shards = [
        [p.check.name for p in plan(config, RunOptions(shard=(k, 3))) if p.runs]
        for k in (1, 2, 3)
    ]
    union = [name for shard in shards for name in shard]
    assert sorted(union) == sorted(names)
    assert len(union) == len(set(union))
    assert all(shards), "with 30 checks no shard should be empty"


def test_shard_assignment_is_stable() -> None:
    assert [shard_of(f"check {i}", 4) for i in range(20)] == [
        shard_of(f"check {i}", 4) for i in range(20)]


def test_merge_of_three_shards_equals_one_unsharded_run(tmp_path: Path) -> None:
    config = suite(tmp_path)
    out = io.StringIO()
    whole = execute(config, RunOptions(reports_dir=str(tmp_path / "whole"), notify=False), out)
    runs = []
    for k in (1, 2, 3):
        json_file = tmp_path / f"results-{k}.json"
        execute(config, RunOptions(reports_dir=str(tmp_path / f"shard{k}"), json=str(json_file),
                                   shard=(k, 3), notify=False), out)
        runs.append(load_json(json_file))
    merged = merge_runs(runs, config)
    assert merged.summary == whole.summary
    assert [c.name for c in merged.checks] == [c.name for c in whole.checks]
    assert [c.status for c in merged.checks] == [c.status for c in whole.checks]


def test_a_shard_that_never_reported_leaves_its_checks_as_errors(tmp_path: Path) -> None:
    config = suite(tmp_path)
    runs = []
    for k in (1, 3):  # shard 2 of 3 crashed: no results file
        json_file = tmp_path / f"results-{k}.json"
        execute(config, RunOptions(reports_dir=str(tmp_path / f"shard{k}"), json=str(json_file),
                                   shard=(k, 3), notify=False), io.StringIO())
        runs.append(load_json(json_file))
    reported = {c.name for run in runs for c in run.checks if c.status is not Status.SKIPPED}
    merged = merge_runs(runs, config)
    assert [c.name for c in merged.checks] == [c.name for c in config.checks]
    missing = [c for c in merged.checks if c.name not in reported]
    assert missing and all(c.status is Status.ERROR and c.category is Category.INTERNAL
                           and "shard did not run" in c.message for c in missing)
    assert merged.exit_code == 1


def test_prometheus_textfile_has_one_success_sample_per_check(tmp_path: Path) -> None:
    config = suite(tmp_path)
    prom = tmp_path / "metrics" / "probes.prom"
    run = execute(config, RunOptions(reports_dir=str(tmp_path / "r"), notify=False,
                                     prometheus=str(prom)), io.StringIO())
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    success = families["probe_success"].samples
    assert len(success) == len(config.checks)
    by_check = {s.labels["check"]: s.value for s in success}
    assert by_check["check 00"] == 0.0 and by_check["check 01"] == 1.0
    counts = {s.labels["status"]: s.value for s in families["probe_run_checks"].samples}
    assert counts["failed"] == run.summary.failed
    assert "probe_duration_seconds" in families


def test_console_reporter_is_used_for_merge(tmp_path: Path) -> None:
    # merge reuses the same finishing steps as run: reports land in the target dir.
    config = suite(tmp_path)
    json_file = tmp_path / "results-1.json"
    execute(config, RunOptions(reports_dir=str(tmp_path / "s"), json=str(json_file),
                               shard=(1, 1), notify=False), io.StringIO())
    from probes.pipeline import finish

    stream = io.StringIO()
    merged = finish(config, RunOptions(reports_dir=str(tmp_path / "merged")),
                    merge_runs([load_json(json_file)], config),
                    ConsoleReporter(stream, is_tty=False))
    assert (tmp_path / "merged" / "junit.xml").exists()
    assert "sharded" in stream.getvalue()
    assert merged.summary.total == 30
