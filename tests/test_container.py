"""The daily container, for real: build ./Dockerfile with podman and run the image.

The image runs with --network host against an HTTP server started here and this
machine's PostgreSQL (psycopg2 and the PostgreSQL ODBC driver), with checks.yaml
mounted read-only, a secret from an env file, a host directory as /reports, a
read-only root file system as in Kubernetes, and apprise posting to the same server.
`scripts/container-test.sh` builds the image (base image cached, layers reused);
run the lot with `scripts/container-test.sh` or `pytest -m container`.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "container-test.sh"
REPORTS = ("junit.xml", "report.html", "results.json")
PG_URL = "postgresql+psycopg2://postgres:${PG_PASSWORD}@127.0.0.1:5432/postgres"
PG_ODBC = ("Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=postgres;"
           "Uid=postgres;Pwd=${PG_PASSWORD};")


@pytest.fixture(scope="module")
def podman() -> list[str]:
    """podman with the storage and runtime options the build script chose."""
    opts = os.environ.get("PODMAN_OPTS") or subprocess.run(
        [str(SCRIPT), "podman-opts"], capture_output=True, text=True, timeout=900,
        check=True).stdout
    return ["podman", *opts.split()]


@pytest.fixture(scope="module")
def run_image(podman: list[str]) -> list[str]:
    # podman's default rlimits for root (nofile 1048576 and a high nproc) are more than
    # this VM lets runc set; a health-check run needs far less.
    return [*podman, "run", "--rm", "--network", "host",
            "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


@pytest.fixture(scope="module")
def image() -> str:
    built = os.environ.get("PROBES_TEST_IMAGE_BUILT")
    if built:
        return built
    done = subprocess.run([str(SCRIPT), "build"],
                          capture_output=True, text=True, timeout=1700, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"image build failed:\n{done.stderr[-6000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def image_config(podman: list[str], image: str) -> dict[str, Any]:
    done = subprocess.run([*podman, "image", "inspect", image], capture_output=True,
                          text=True, timeout=120, check=True)
    config: dict[str, Any] = json.loads(done.stdout)[0]["Config"]
    return config


@pytest.fixture(scope="module")
def image_uid(image_config: dict[str, Any]) -> int:
    return int(str(image_config["User"]).split(":")[0])


class Target:
    """A real HTTP server on 127.0.0.1 that the container reaches over the host network.

    GET serves files (the checked API); POST records the body (an apprise json:// receiver).
    """

    def __init__(self, root: Path) -> None:
        self.posts: list[dict[str, Any]] = []
        target = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                target.posts.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.apprise_url = f"json://127.0.0.1:{self.server.server_address[1]}/notify"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("http-root")
    (root / "health.json").write_text(json.dumps({"status": "UP"}))
    served = Target(root)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join(timeout=10)


def _checks_yaml(target: Target, *, failing: bool) -> str:
    checks = [
        {"name": "http target", "kind": "http", "url": f"{target.url}/health.json",
         "expect": ["status == 200", 'json.status == "UP"']},
        {"name": "postgres over psycopg2", "kind": "sql", "url": PG_URL,
         "query": "select 41 + 1 as answer", "expect": ["value == 42"]},
        {"name": "postgres over odbc", "kind": "odbc", "connection": PG_ODBC,
         "query": "select 'odbc' as via", "expect": ['row.via == "odbc"']},
    ]
    if failing:
        checks.append({"name": "missing page", "kind": "http", "url": f"{target.url}/missing"})
    return json.dumps({"suite": "container-test", "defaults": {"timeout": "20s"},
                       "notify": [{"url": target.apprise_url, "on": ["failure"]}],
                       "checks": checks}, indent=2)  # JSON is YAML


@dataclass(frozen=True)
class ContainerRun:
    done: subprocess.CompletedProcess[str]
    reports: Path
    password: str
    notifications: list[dict[str, Any]]  # what the container's apprise posted

    @property
    def output(self) -> str:
        done = self.done
        return f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    def results(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.reports / "results.json").read_text())
        return loaded


@dataclass(frozen=True)
class Launcher:
    run_image: list[str]
    image: str
    target: Target

    def run_suite(self, workdir: Path, *, failing: bool, owner: int,
                  options: tuple[str, ...] = ()) -> ContainerRun:
        """`podman run` the image with its default command, as a scheduler would."""
        workdir.mkdir()
        config = workdir / "checks.yaml"
        config.write_text(_checks_yaml(self.target, failing=failing))
        password = f"pw-{secrets.token_hex(8)}"
        env_file = workdir / "probes.env"
        env_file.write_text(f"PG_PASSWORD={password}\n")
        reports = workdir / "reports"
        reports.mkdir()
        os.chown(reports, owner, owner)
        posted = len(self.target.posts)
        done = subprocess.run(
            [*self.run_image, *options, "--env-file", str(env_file),
             "-v", f"{config}:/etc/probes/checks.yaml:ro", "-v", f"{reports}:/reports",
             self.image],
            capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
        return ContainerRun(done, reports, password, self.target.posts[posted:])


# As the Kubernetes manifests run it: the image's user, a read-only root file system
# and a writable /tmp.
HARDENED = ("--read-only", "--tmpfs", "/tmp")


@pytest.fixture(scope="module")
def launcher(run_image: list[str], image: str, target: Target) -> Launcher:
    return Launcher(run_image, image, target)


@pytest.fixture(scope="module")
def passing_run(launcher: Launcher, image_uid: int,
                tmp_path_factory: pytest.TempPathFactory) -> ContainerRun:
    return launcher.run_suite(tmp_path_factory.mktemp("passing") / "run", failing=False,
                              owner=image_uid, options=HARDENED)


@pytest.fixture(scope="module")
def failing_run(launcher: Launcher, image_uid: int,
                tmp_path_factory: pytest.TempPathFactory) -> ContainerRun:
    return launcher.run_suite(tmp_path_factory.mktemp("failing") / "run", failing=True,
                              owner=image_uid, options=HARDENED)


def test_image_is_the_daily_job(image_config: dict[str, Any], image_uid: int) -> None:
    assert image_uid != 0
    assert image_config["Entrypoint"] == ["probe"]
    assert image_config["Cmd"] == ["run", "--config", "/etc/probes/checks.yaml",
                                   "--reports", "/reports"]
    assert "/reports" in image_config["Volumes"]


def test_version_matches_the_package(run_image: list[str], image: str) -> None:
    done = subprocess.run([*run_image, image, "--version"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"probe {version('probes')}"


def test_all_passing_exits_0_and_reports_land_on_the_host(passing_run: ContainerRun,
                                                           image_uid: int) -> None:
    assert passing_run.done.returncode == 0, passing_run.output
    for name in REPORTS:
        path = passing_run.reports / name
        assert path.is_file(), f"{name} missing; {passing_run.output}"
        assert path.stat().st_uid == image_uid, f"{name} not written by the image's user"
    results = passing_run.results()
    assert results["summary"] == {"total": 3, "passed": 3, "failed": 0, "error": 0,
                                  "skipped": 0}, results
    assert {c["kind"] for c in results["checks"]} == {"http", "sql", "odbc"}
    assert passing_run.notifications == []  # `on: [failure]`


def test_a_failing_check_exits_1_and_notifies(failing_run: ContainerRun,
                                              image_uid: int) -> None:
    assert failing_run.done.returncode == 1, failing_run.output
    results = failing_run.results()
    assert results["summary"]["passed"] == 3, results
    assert results["summary"]["failed"] == 1, results
    failed = [c["name"] for c in results["checks"] if c["status"] == "failed"]
    assert failed == ["missing page"]
    junit = (failing_run.reports / "junit.xml").read_text()
    assert "<failure" in junit and "missing page" in junit
    assert (failing_run.reports / "junit.xml").stat().st_uid == image_uid
    (message,) = failing_run.notifications
    assert "container-test: 1 of 4" in message["title"], message
    assert "missing page" in message["message"], message
    assert [n["sent"] for n in results["notifications"]] == [True]


def test_runs_as_the_calling_user_with_user_option(launcher: Launcher, tmp_path: Path) -> None:
    """What CI does (`--user "$(id -u):$(id -g)"`): the reports belong to the workspace user."""
    uid = 23456
    run = launcher.run_suite(tmp_path / "run", failing=False, owner=uid,
                             options=("--user", f"{uid}:{uid}"))
    assert run.done.returncode == 0, run.output
    for name in REPORTS:
        assert (run.reports / name).stat().st_uid == uid, name


def test_the_secret_from_the_env_file_is_in_no_report(passing_run: ContainerRun,
                                                       failing_run: ContainerRun) -> None:
    for run in (passing_run, failing_run):
        assert run.password not in run.done.stdout + run.done.stderr
        for name in REPORTS:
            assert run.password not in (run.reports / name).read_text(), name


def test_probe_drivers_lists_the_odbc_drivers(run_image: list[str], image: str) -> None:
    done = subprocess.run([*run_image, image, "drivers"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for driver in ("PostgreSQL Unicode", "MariaDB Unicode", "FreeTDS"):
        assert driver in done.stdout, done.stdout
