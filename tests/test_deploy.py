"""The Dockerfile and the schedules under deploy/: linted, validated, and run where possible.

Validators are the real tools, installed from PyPI with the test extras and working
offline: hadolint (Dockerfile), kubernetes-validate (bundles the Kubernetes schemas),
actionlint and check-jsonschema's bundled GitHub workflow and Compose schemas,
shellcheck (scripts). Each is first shown a broken file, so a validator that accepts
anything fails the test.
The Jenkinsfile has no validator without a Jenkins; its steps are checked as text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
CRONJOB = DEPLOY / "kubernetes" / "cronjob.yaml"
INDEXED = DEPLOY / "kubernetes" / "indexed-job.yaml"
WORKFLOW = DEPLOY / "github" / "probes.yml"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
JENKINSFILE = DEPLOY / "jenkins" / "Jenkinsfile"
K8S_VERSION = "1.30.0"  # the oldest the manifests claim (backoffLimitPerIndex is 1.29+)
EXAMPLE_ENV = {"WAREHOUSE_PASSWORD": "pw", "API_TOKEN": "token", "SLACK_WEBHOOK_URL": "",
               "PROBES_STATE_PASSWORD": "pw"}


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing: pip install -e '.[test]'"
    return str(path)


def run_tool(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    # BIN first on PATH: actionlint runs the `run:` scripts through shellcheck from there.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def of_kind(path: Path, kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(path) if doc["kind"] == kind]
    return found


def dockerfile_default(arg: str) -> str:
    match = re.search(rf"^ARG {arg}=(\S+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"ARG {arg} has no default"
    return match.group(1)


# --- every file parses ------------------------------------------------------------------

YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml"), REPO / ".hadolint.yaml"])


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses(path: Path) -> None:
    assert documents(path), f"{path} is empty"


def test_every_schedule_is_there() -> None:
    for path in (CRONJOB, INDEXED, WORKFLOW, COMPOSE, JENKINSFILE, DEPLOY / "README.md"):
        assert path.is_file(), path
    readme = (DEPLOY / "README.md").read_text()
    for path in (CRONJOB, INDEXED, WORKFLOW, COMPOSE, JENKINSFILE):
        assert str(path.relative_to(DEPLOY)) in readme, f"README does not mention {path.name}"


# --- Dockerfile ---------------------------------------------------------------------------

def test_hadolint_finds_a_known_problem(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm-slim\nRUN cd /tmp && apt-get install -y curl\n")
    done = run_tool(tool("hadolint"), "--config", str(REPO / ".hadolint.yaml"), str(bad))
    assert done.returncode != 0
    assert "DL3003" in done.stdout  # `cd` instead of WORKDIR: not among the ignored rules


def test_hadolint_is_clean_on_the_dockerfile() -> None:
    done = run_tool(tool("hadolint"), "Dockerfile")  # picks up .hadolint.yaml
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_ignored_hadolint_rule_is_justified() -> None:
    lines = (REPO / ".hadolint.yaml").read_text().splitlines()
    ignored = yaml.safe_load("\n".join(lines))["ignored"]
    for rule in ignored:
        above = lines[:lines.index(f"  - {rule}")]
        reason = [line for line in reversed(above) if line.strip().startswith("#")]
        assert above[-1].strip().startswith("#") and len(reason) >= 2, f"{rule} unexplained"


def test_dockerfile_is_the_daily_job() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert dockerfile_default("BASE_IMAGE") == "debian:bookworm-slim"
    assert dockerfile_default("INSTALL_MSODBC") == "0"
    stages = re.findall(r"^FROM (.+)$", text, re.MULTILINE)
    assert "python AS builder" in stages
    assert stages[-1] == "${BASE_IMAGE}"  # the runtime: no build tools, only the venv
    assert re.search(r"^COPY --from=builder /opt/probes /opt/probes$", text, re.MULTILINE)
    for package in ("python3", "unixodbc", "odbc-postgresql", "odbc-mariadb", "tdsodbc",
                    "ca-certificates", "openssh-client"):
        assert re.search(rf"^\s+{re.escape(package)} \\$", text, re.MULTILINE), package
    assert 'ENTRYPOINT ["probe"]' in text
    assert ('CMD ["run", "--config", "/etc/probes/checks.yaml", "--reports", "/reports"]'
            in text)
    assert 'VOLUME ["/reports"]' in text
    assert int(dockerfile_default("PROBE_UID")) >= 1000
    assert re.search(r"^USER \$\{PROBE_UID\}", text, re.MULTILINE)


def test_msodbc_is_fetched_only_on_request() -> None:
    code = "\n".join(line for line in (REPO / "Dockerfile").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    (step,) = [s for s in code.split("\nRUN ") if "packages.microsoft.com" in s]
    assert step.lstrip().startswith('if [ "${INSTALL_MSODBC}" = "1" ]; then')
    assert "ACCEPT_EULA=Y" in step and "msodbcsql18" in step


def test_dockerignore_keeps_only_what_builds_the_wheel() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!probes/"} <= set(lines)


# --- Kubernetes ---------------------------------------------------------------------------

def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run_tool(tool("kubernetes-validate"), "--strict", "--kubernetes-version",
                    K8S_VERSION, *map(str, paths))


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    docs = documents(CRONJOB)
    cronjob = next(d for d in docs if d["kind"] == "CronJob")
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["envFrm"] = []
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(docs))
    done = kubernetes_validate(broken)
    assert done.returncode != 0
    assert "envFrm" in done.stdout + done.stderr


@pytest.mark.parametrize("path", [CRONJOB, INDEXED], ids=lambda p: p.name)
def test_kubernetes_manifests_match_the_schemas(path: Path) -> None:
    done = kubernetes_validate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(documents(path))


def pod_of(cronjob: Mapping[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def mounts_of(pod: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """mountPath → the volume mounted there."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = pod["containers"]
    return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


def assert_runs_as_the_image_user(pod: Mapping[str, Any]) -> None:
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == int(dockerfile_default("PROBE_UID"))
    assert security["fsGroup"] == security["runAsUser"]  # the reports volume is writable
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "emptyDir" in mounts_of(pod)["/tmp"]


def test_cronjob_runs_the_container_daily() -> None:
    cronjob = of_kind(CRONJOB, "CronJob")
    assert cronjob["spec"]["schedule"] == "0 5 * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    pod = pod_of(cronjob)
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:5] == ["run", "--config", "/etc/probes/checks.yaml", "--reports", "/reports"]
    deadline_s = int(args[args.index("--deadline") + 1].removesuffix("m")) * 60
    assert deadline_s < job["activeDeadlineSeconds"]  # the reports get written in time
    assert container["envFrom"] == [{"secretRef": {"name": "probes-secrets"}}]
    assert_runs_as_the_image_user(pod)


def test_cronjob_mounts_config_map_and_reports_volume() -> None:
    pod = pod_of(of_kind(CRONJOB, "CronJob"))
    mounts = mounts_of(pod)
    assert mounts["/etc/probes"]["configMap"]["name"] == "probes-checks"
    claim = mounts["/reports"]["persistentVolumeClaim"]["claimName"]
    assert of_kind(CRONJOB, "PersistentVolumeClaim")["metadata"]["name"] == claim
    checks = of_kind(CRONJOB, "ConfigMap")
    assert checks["metadata"]["name"] == "probes-checks"
    assert "checks.yaml" in checks["data"]


def test_cronjob_keeps_state_in_postgresql() -> None:
    config = yaml.safe_load(of_kind(CRONJOB, "ConfigMap")["data"]["checks.yaml"])
    assert config["state"].startswith("postgresql+psycopg2://")
    assert "${PROBES_STATE_PASSWORD}" in config["state"]  # from the Secret, never written down


def test_indexed_job_has_one_pod_per_shard_and_one_to_merge() -> None:
    cronjob = of_kind(INDEXED, "CronJob")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    pod = pod_of(cronjob)
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    shards = int(env["SHARDS"]["value"])
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == shards + 1
    assert job["backoffLimitPerIndex"] == 0
    assert env["JOB_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['batch.kubernetes.io/job-name']")
    mounts = mounts_of(pod)
    script_dir, script_name = container["command"][1].rsplit("/", 1)
    assert container["command"][0] == "/bin/sh"
    assert mounts[script_dir]["configMap"]["name"] == "probes-shards"
    assert script_name in of_kind(INDEXED, "ConfigMap")["data"]
    assert mounts["/etc/probes"]["configMap"]["name"] == "probes-checks"
    claim = mounts["/reports"]["persistentVolumeClaim"]["claimName"]
    shared = of_kind(INDEXED, "PersistentVolumeClaim")
    assert shared["metadata"]["name"] == claim
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]
    assert container["envFrom"] == [{"secretRef": {"name": "probes-secrets"}}]
    assert_runs_as_the_image_user(pod)


# --- the shard script of indexed-job.yaml, run for real -----------------------------------

SHARD_SUITE = "\n".join(
    ["suite: sharded", "checks:"]
    + [f"  - {{name: check-{i:02d}, kind: command, argv: [\"true\"]}}" for i in range(12)]
    + ['  - {name: broken, kind: command, argv: ["false"]}']) + "\n"


@pytest.fixture
def shard_script(tmp_path: Path) -> Path:
    script = tmp_path / "run-shard.sh"
    script.write_text(of_kind(INDEXED, "ConfigMap")["data"]["run-shard.sh"])
    return script


def shard_env(tmp_path: Path, index: int, shards: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
            "PROBE_CONFIG": str(tmp_path / "checks.yaml"), "REPORTS": str(tmp_path / "reports"),
            "JOB_NAME": "probes-shards-29000000", "SHARDS": str(shards),
            "JOB_COMPLETION_INDEX": str(index), **extra}


def run_pods(script: Path, tmp_path: Path, indexes: list[int], shards: int,
             **extra: str) -> dict[int, tuple[int, str]]:
    """Run the pods of an Indexed Job as processes, all at once as Kubernetes does.

    Returns each index's exit code and output."""
    pods = {i: subprocess.Popen(["sh", str(script)], env=shard_env(tmp_path, i, shards, **extra),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in indexes}
    outputs = {i: pod.communicate(timeout=120)[0] for i, pod in pods.items()}
    return {i: (pod.returncode, outputs[i]) for i, pod in pods.items()}


def test_shellcheck_finds_a_known_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\nrm -rf $1/reports\n")
    done = run_tool(tool("shellcheck"), str(bad))
    assert done.returncode != 0
    assert "SC2086" in done.stdout  # unquoted expansion


def test_shard_script_passes_shellcheck(shard_script: Path) -> None:
    done = run_tool(tool("shellcheck"), "--shell=sh", str(shard_script))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", ["container-test.sh", "make-test-base.sh"])
def test_container_scripts_pass_shellcheck(script: str) -> None:
    done = run_tool(tool("shellcheck"), str(REPO / "scripts" / script))
    assert done.returncode == 0, done.stdout + done.stderr


def test_shards_and_merge_give_the_unsharded_result(shard_script: Path, tmp_path: Path) -> None:
    (tmp_path / "checks.yaml").write_text(SHARD_SUITE)
    shards = 3
    exits = run_pods(shard_script, tmp_path, list(range(shards + 1)), shards, MERGE_WAIT_S="60")
    for index in range(shards):
        assert exits[index][0] == 0, exits[index]  # a failing check does not fail its shard
    assert exits[shards][0] == 1, exits[shards]  # the merge carries the run's outcome

    run_dir = tmp_path / "reports" / "shards" / "probes-shards-29000000"
    names = [
        {c["name"] for c in json.loads((run_dir / f"results-{k}.json").read_text())["checks"]
         if c["status"] != "skipped"}
        for k in range(1, shards + 1)]
    assert sum(len(n) for n in names) == 13 and set().union(*names) == {
        *(f"check-{i:02d}" for i in range(12)), "broken"}  # no overlap, nothing left out

    unsharded = subprocess.run(
        [str(BIN / "probe"), "run", "-c", str(tmp_path / "checks.yaml"), "--reports",
         str(tmp_path / "unsharded")], capture_output=True, text=True, timeout=120, check=False)
    assert unsharded.returncode == 1, unsharded.stdout + unsharded.stderr
    merged = json.loads((tmp_path / "reports" / "results.json").read_text())
    whole = json.loads((tmp_path / "unsharded" / "results.json").read_text())
    assert merged["summary"] == whole["summary"] == {
        "total": 13, "passed": 12, "failed": 1, "error": 0, "skipped": 0}
    assert ([(c["name"], c["status"]) for c in merged["checks"]]
            == [(c["name"], c["status"]) for c in whole["checks"]])
    for name in ("junit.xml", "report.html"):
        assert (tmp_path / "reports" / name).is_file()


def test_merge_fails_when_a_shard_never_reports(shard_script: Path, tmp_path: Path) -> None:
    (tmp_path / "checks.yaml").write_text(SHARD_SUITE)
    shards = 3
    # Shard 3 (index 2) never runs, as if its pod could not start.
    exits = run_pods(shard_script, tmp_path, [0, 1, shards], shards, MERGE_WAIT_S="5")
    code, output = exits[shards]
    assert code == 3, output
    assert "only 2 of 3 shards wrote results" in output
    assert (tmp_path / "reports" / "results.json").is_file()  # what was found is reported


# --- GitHub Actions -------------------------------------------------------------------------

def test_actionlint_finds_a_known_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")
    done = run_tool(tool("actionlint"), "-no-color", str(bad))
    assert done.returncode != 0
    assert "nope" in done.stdout


def test_workflow_passes_actionlint() -> None:
    done = run_tool(tool("actionlint"), "-no-color", str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_matches_the_github_schema() -> None:
    done = run_tool(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                    str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_runs_daily_and_uploads_the_reports() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"] == [{"cron": "0 5 * * *"}]
    steps = workflow["jobs"]["probes"]["steps"]
    (run_step,) = [s for s in steps if "docker run" in s.get("run", "")]
    assert "/etc/probes/checks.yaml:ro" in run_step["run"]
    assert '-v "$PWD/reports:/reports"' in run_step["run"]
    for secret in ("WAREHOUSE_PASSWORD", "API_TOKEN", "SLACK_WEBHOOK_URL"):
        assert run_step["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].split()) == {
        "reports/junit.xml", "reports/report.html", "reports/results.json"}
    assert not (REPO / ".github" / "workflows" / WORKFLOW.name).exists()  # an example only


# --- Jenkins ------------------------------------------------------------------------------

def test_jenkinsfile_publishes_junit_and_archives_the_html() -> None:
    text = JENKINSFILE.read_text()
    assert "cron('H 5 * * *')" in text
    assert re.search(r"^\s+junit testResults: 'reports/junit\.xml'", text, re.MULTILINE)
    archive = re.search(r"^\s+archiveArtifacts artifacts: '([^']+)'", text, re.MULTILINE)
    assert archive and "reports/report.html" in archive.group(1)
    post = text[text.index("post {"):]
    assert "always {" in post and "junit " in post and "archiveArtifacts " in post
    assert '-v "$WORKSPACE/checks.yaml:/etc/probes/checks.yaml:ro"' in text
    assert "returnStatus: true" in text and "if (code > 1)" in text
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")


# --- Docker Compose -----------------------------------------------------------------------

def test_check_jsonschema_finds_a_known_problem(tmp_path: Path) -> None:
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  probes:\n    image: probes\n    volumez: [./reports:/reports]\n")
    done = run_tool(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                    str(bad))
    assert done.returncode != 0
    assert "volumez" in done.stdout


def test_compose_file_matches_the_compose_spec() -> None:
    done = run_tool(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                    str(COMPOSE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_probes_with_a_postgresql_state_store() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    probes, postgres = compose["services"]["probes"], compose["services"]["postgres"]
    assert "./checks.yaml:/etc/probes/checks.yaml:ro" in probes["volumes"]
    assert "./reports:/reports" in probes["volumes"]
    assert probes["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in postgres
    assert probes["build"]["context"] == "../.."
    assert (COMPOSE.parent / probes["build"]["context"] / "Dockerfile").is_file()
    config = yaml.safe_load((COMPOSE.parent / "checks.yaml").read_text())
    assert config["state"].startswith("postgresql+psycopg2://probes:")
    assert "@postgres:5432/probes" in config["state"]
    example = (COMPOSE.parent / "probes.env.example").read_text()
    assert "PROBES_STATE_PASSWORD=" in example


# --- the example checks.yaml files are valid configs ------------------------------------

def example_configs(tmp_path: Path) -> dict[str, Path]:
    configmap = tmp_path / "configmap-checks.yaml"
    configmap.write_text(of_kind(CRONJOB, "ConfigMap")["data"]["checks.yaml"])
    return {"kubernetes": configmap, "compose": COMPOSE.parent / "checks.yaml"}


@pytest.mark.parametrize("where", ["kubernetes", "compose"])
def test_example_config_validates(where: str, tmp_path: Path) -> None:
    config = example_configs(tmp_path)[where]
    done = subprocess.run([str(BIN / "probe"), "validate", "-c", str(config)],
                          env={**os.environ, **EXAMPLE_ENV}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

