"""`file` checks against real files whose mtimes and sizes the tests set."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from probes.config import ConfigError, parse_config
from probes.kinds._glob_stats import Entry, summarize
from probes.kinds.file import Check
from probes.model import CheckResult, Status
from probes.runner import run_checks
from probes.selection import select

HOUR = 3600.0
DAY = 86400.0


def run_one(yaml_text: str) -> CheckResult:
    config = parse_config(yaml_text, "checks.yaml", {})
    return run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]


def put(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def observe(**keys: Any) -> dict[str, Any]:
    return Check.model_validate({"name": "f", "kind": "file", **keys}).observe(5.0)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    put(tmp_path / "sales_2.csv", 300, 2 * HOUR)
    put(tmp_path / "sales_1.csv", 100, 30 * HOUR)
    put(tmp_path / "sales_3.csv", 50, 5 * DAY)
    put(tmp_path / "readme.txt", 7, 60)
    return tmp_path


def test_newest_match_gives_age_and_size_and_all_matches_count(drop: Path) -> None:
    facts = observe(path=f"{drop}/sales_*.csv")
    assert facts["exists"] is True
    assert facts["count"] == 3
    assert facts["total_size"] == 450
    assert facts["size"] == 300
    assert facts["match"] == f"{drop}/sales_2.csv"
    assert 2 * HOUR - 5 < facts["age"] < 2 * HOUR + 5
    assert str(facts["age"]) == "2h" and str(facts["size"]) == "300B"


def test_oldest_can_be_selected(drop: Path) -> None:
    facts = observe(path=f"{drop}/sales_*.csv", select="oldest")
    assert facts["match"] == f"{drop}/sales_3.csv"
    assert facts["size"] == 50
    assert 5 * DAY - 5 < facts["age"] < 5 * DAY + 5


def test_double_star_reaches_any_depth(tmp_path: Path) -> None:
    put(tmp_path / "a" / "b" / "c" / "deep.parquet", 10, 60)
    put(tmp_path / "top.parquet", 20, 120)
    facts = observe(path=f"{tmp_path}/**/*.parquet")
    assert facts["count"] == 2
    assert facts["match"] == f"{tmp_path}/a/b/c/deep.parquet"


def test_hidden_files_are_not_matched_by_a_star(tmp_path: Path) -> None:
    put(tmp_path / ".sales.csv.part", 10, 1)  # an upload still in progress
    put(tmp_path / "sales.csv", 10, DAY)
    assert observe(path=f"{tmp_path}/*.csv*")["match"] == f"{tmp_path}/sales.csv"


def test_directories_match_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "mnt" / "share").mkdir(parents=True)
    assert observe(path=f"{tmp_path}/mnt/share")["exists"] is False
    facts = observe(path=f"{tmp_path}/mnt/share", type="directory")
    assert facts["exists"] is True and facts["count"] == 1
    put(tmp_path / "mnt" / "file", 1, 1)
    assert observe(path=f"{tmp_path}/mnt/*", type="any")["count"] == 2


def test_a_file_dated_in_the_future_has_age_zero(tmp_path: Path) -> None:
    put(tmp_path / "skewed.csv", 1, -HOUR)
    assert observe(path=f"{tmp_path}/*.csv")["age"] == 0


def test_present_file_passes_the_default_expectation(drop: Path) -> None:
    result = run_one(f"""
checks:
  - name: nightly drop
    kind: file
    path: {drop}/sales_*.csv
""")
    assert result.status is Status.PASSED, result.message
    assert [a.expr for a in result.assertions] == ["exists == true"]
    assert result.target == f"{drop}/sales_*.csv"


def test_missing_file_fails_the_default_expectation(tmp_path: Path) -> None:
    result = run_one(f"""
checks:
  - name: nightly drop
    kind: file
    path: {tmp_path}/nothing_*.csv
    expect: [exists == true, age < 26h]
""")
    assert result.status is Status.FAILED
    assert "exists (false) == true" in result.message
    assert "age (absent) < 26h [no such value]" in result.message


def test_stale_newest_file_fails_an_age_condition_showing_the_age(tmp_path: Path) -> None:
    put(tmp_path / "sales.csv", 10, 3 * DAY)
    result = run_one(f"""
checks:
  - name: fresh drop
    kind: file
    path: {tmp_path}/*.csv
    expect: [age < 26h, size > 0B]
""")
    assert result.status is Status.FAILED
    assert result.message == "age (3d) < 26h"


def test_a_mistyped_key_is_a_config_error_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("""
checks:
  - name: drop
    kind: file
    path: /data/*.csv
    selct: oldest
""", "checks.yaml", {})
    text = str(caught.value)
    assert "checks.yaml:6: checks[0].selct: unknown key `selct` for a file check" in text
    assert "did you mean `select`?" in text


def test_select_accepts_only_newest_or_oldest() -> None:
    with pytest.raises(ConfigError, match=r"checks.yaml:6: checks\[0\].select"):
        parse_config("""
checks:
  - name: drop
    kind: file
    path: /data/*.csv
    select: latest
""", "checks.yaml", {})


def test_summary_of_no_entries_has_no_age_or_size() -> None:
    assert summarize([], "newest", time.time()) == {"exists": False, "count": 0,
                                                    "total_size": 0}
    older, newer = Entry("/a", 100.0, 1, 0o100644), Entry("/b", 200.0, 2, 0o100644)
    assert summarize([older, newer], "newest", 300.0)["match"] == "/b"
    assert summarize([older, newer], "oldest", 300.0)["age"] == 200.0
