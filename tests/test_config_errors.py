"""Each invalid config in tests/config_errors/ beside the exact error it must produce.

`probe validate` must exit 2, name the file, line and key, and never show a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.cli import probe

CASES = Path(__file__).parent / "config_errors"


@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_invalid_config_is_reported_with_line_and_key(case: str) -> None:
    config = CASES / f"{case}.yaml"
    expected = (CASES / f"{case}.expected").read_text().splitlines()
    result = probe(["validate", "-c", str(config)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    reported = result.stderr.splitlines()
    for line in expected:
        wanted = line.replace("{file}", str(config))
        assert any(r.startswith(wanted) for r in reported), (
            f"expected a line starting with\n  {wanted}\ngot:\n" + result.stderr
        )
    assert reported[-1].endswith("nothing was run.")


def test_every_case_has_its_expected_error() -> None:
    for config in CASES.glob("*.yaml"):
        assert (CASES / f"{config.stem}.expected").exists(), config.name


def test_run_with_an_invalid_config_runs_nothing_and_exits_2(tmp_path: Path) -> None:
    result = probe(["run", "-c", str(CASES / "unknown_kind.yaml"), "--reports",
                    str(tmp_path / "reports")])
    assert result.returncode == 2
    assert not (tmp_path / "reports").exists()


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    result = probe(["validate", "-c", str(tmp_path / "nope.yaml")])
    assert result.returncode == 2
    assert "file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_pipe_or_device_as_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    fifo = tmp_path / "checks.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    for config in (fifo, Path("/dev/zero")):  # ... or never end
        result = probe(["validate", "-c", str(config)], timeout=30)
        assert result.returncode == 2
        assert "not a regular file" in result.stderr
