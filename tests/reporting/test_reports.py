"""Writing all reports: default paths, overrides, and one failing writer costs only its file."""

from __future__ import annotations

from pathlib import Path

from probes.reporting import ReportPaths, write_reports
from probes.reporting.json import load_json
from tests.helpers.results import error_check, passed_check, run_result


def test_paths_default_to_the_reports_dir_with_overrides(tmp_path: Path) -> None:
    paths = ReportPaths.in_dir(tmp_path / "reports", junit="ci/junit.xml")

    assert paths == ReportPaths(junit=Path("ci/junit.xml"),
                                html=tmp_path / "reports" / "report.html",
                                json=tmp_path / "reports" / "results.json")
    assert paths.all() == (Path("ci/junit.xml"), tmp_path / "reports" / "report.html",
                           tmp_path / "reports" / "results.json")


def test_one_failing_writer_does_not_stop_the_others(tmp_path: Path) -> None:
    blocked = tmp_path / "junit.xml"
    blocked.mkdir()  # a directory where the file should go: os.replace fails for real
    (blocked / "keep").write_text("x")
    paths = ReportPaths(junit=blocked, html=tmp_path / "report.html",
                        json=tmp_path / "out" / "results.json")
    run = run_result(passed_check(), error_check())

    problems = write_reports(run, paths)

    assert len(problems) == 1
    assert problems[0].startswith(f"cannot write {blocked}: IsADirectoryError")
    assert load_json(tmp_path / "out" / "results.json") == run
    assert (blocked / "keep").read_text() == "x"


def test_a_report_set_to_none_is_not_written(tmp_path: Path) -> None:
    paths = ReportPaths(junit=tmp_path / "junit.xml", html=None, json=None)

    assert write_reports(run_result(passed_check()), paths) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml"]
