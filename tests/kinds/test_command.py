"""`command` checks running real programs."""

from __future__ import annotations

import os
import selectors
import sys
import time
from pathlib import Path

import pytest

from probes.config import ConfigError, parse_config
from probes.kinds.command import OUTPUT_CAP
from probes.model import Category, CheckResult, Status
from probes.runner import run_checks
from probes.selection import select
from tests.helpers.cli import probe

PYTHON = sys.executable


def run_one(yaml_text: str, **env: str) -> CheckResult:
    config = parse_config(yaml_text, "checks.yaml", env)
    return run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]


def config_error(yaml_text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml_text, "checks.yaml", {})
    return str(caught.value)


def process_gone(pid: int, within_s: float = 2.0) -> bool:
    """True when the process ends within the time (SIGKILL is delivered asynchronously).

    A pidfd becomes readable when its process exits; unreaped remains (a zombie, whose
    parent is now init) count as gone.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(pidfd, selectors.EVENT_READ)
            selector.select(within_s)
    finally:
        os.close(pidfd)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_program_that_succeeds_passes_the_default_expectation() -> None:
    result = run_one("""
checks:
  - name: echo
    kind: command
    argv: [echo, hello world]
""")
    assert result.status is Status.PASSED, result.message
    assert [a.expr for a in result.assertions] == ["exit_code == 0"]
    assert result.observations["stdout"] == "hello world"  # trailing newline dropped
    assert result.observations["exit_code"] == 0
    assert result.target == "echo hello world"


def test_exit_code_stdout_stderr_and_latency_are_observed() -> None:
    result = run_one(f"""
checks:
  - name: tool
    kind: command
    argv: ["{PYTHON}", "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"]
    expect: [exit_code == 3, stdout == "out", stderr contains err, latency < 10s]
""")
    assert result.status is Status.PASSED, result.message


def test_a_failing_program_fails_showing_its_exit_code() -> None:
    result = run_one("""
checks:
  - name: exits 1
    kind: command
    argv: ["false"]
""")
    assert result.status is Status.FAILED
    assert result.message == "exit_code (1) == 0"


def test_numbers_in_argv_are_passed_as_text() -> None:
    result = run_one("""
checks:
  - name: numbers
    kind: command
    argv: [echo, -p, 5432, 1.5, true]
    expect: [stdout == "-p 5432 1.5 true"]
""")
    assert result.status is Status.PASSED, result.message


def test_arguments_are_not_interpreted_by_a_shell() -> None:
    result = run_one("""
checks:
  - name: literal
    kind: command
    argv: [echo, "$HOME; rm -rf /tmp/nothing | cat"]
    expect: ['stdout == "$HOME; rm -rf /tmp/nothing | cat"']
""")
    assert result.status is Status.PASSED, result.message


def test_shell_line_runs_only_with_shell_true() -> None:
    result = run_one("""
checks:
  - name: pipeline
    kind: command
    shell: true
    run: printf 'a\\nb\\nc\\n' | wc -l
    expect: [stdout matches "^ *3$"]
""")
    assert result.status is Status.PASSED, result.message
    assert result.target.startswith("sh -c printf")


def test_env_is_added_and_cwd_is_used(tmp_path: Path) -> None:
    result = run_one(f"""
checks:
  - name: env and cwd
    kind: command
    argv:
      - {PYTHON}
      - -c
      - import os; e = os.environ; print(e['REGION'], e['PORT'], os.getcwd(), 'PATH' in e)
    env: {{REGION: eu-west, PORT: 5432}}
    cwd: {tmp_path}
    expect: ['stdout == "eu-west 5432 {tmp_path} True"']
""")
    assert result.status is Status.PASSED, result.message


def test_a_secret_passed_in_env_is_masked_in_what_the_command_prints() -> None:
    result = run_one("""
checks:
  - name: leaky
    kind: command
    argv: [printenv, API_CREDENTIAL]
    env: {API_CREDENTIAL: "${CREDENTIAL}"}
    expect: [stdout == nothing]
""", CREDENTIAL="hunter2-very-secret")
    assert result.status is Status.FAILED
    assert result.message == 'stdout ("***") == nothing'
    assert "hunter2" not in repr(result)


def test_output_is_capped_and_decoded_with_replacement() -> None:
    result = run_one(f"""
checks:
  - name: chatty
    kind: command
    argv: ["{PYTHON}", "-c", "import sys; sys.stdout.buffer.write(b'\\\\xff' + b'x' * 1000000)"]
    expect: [stdout contains "\\ufffdxxx"]
""")
    assert result.status is Status.PASSED, result.message
    from probes.kinds.command import Check

    facts = Check.model_validate({"name": "c", "kind": "command", "argv": [
        PYTHON, "-c", "print('y' * 1000000)"]}).observe(10)
    assert len(facts["stdout"]) == OUTPUT_CAP


def test_on_timeout_the_program_and_its_children_are_killed() -> None:
    started = time.monotonic()
    result = run_one("""
checks:
  - name: hangs
    kind: command
    shell: true
    run: sleep 60 & echo $!; sleep 60
    timeout: 1s
""")
    elapsed = time.monotonic() - started
    assert result.status is Status.ERROR and result.category is Category.TIMEOUT
    assert "still running after 1s; killed it and every process it started" in result.message
    assert elapsed < 3
    child_pid = int(result.evidence.split("stdout so far:\n")[1].split()[0])
    assert process_gone(child_pid)


def test_processes_left_behind_by_a_finished_program_are_killed() -> None:
    from probes.kinds.command import Check

    facts = Check.model_validate({"name": "c", "kind": "command", "shell": True,
                                  "run": "sleep 60 >/dev/null 2>&1 & echo $!"}).observe(5)
    assert facts["exit_code"] == 0
    assert process_gone(int(facts["stdout"]))


def test_a_program_cut_off_by_the_deadline_does_not_outlive_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    config = tmp_path / "checks.yaml"
    config.write_text(f"""
checks:
  - name: long job
    kind: command
    shell: true
    run: sleep 60 & echo $! > {pid_file}; wait
    timeout: 120s
""")
    done = probe(["run", "-c", str(config), "--reports", str(tmp_path / "reports"),
                  "--deadline", "2s"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error/timeout" in done.stdout or "[timeout]" in done.stdout
    assert process_gone(int(pid_file.read_text()))


def test_a_missing_program_is_a_driver_error_naming_it() -> None:
    result = run_one("""
checks:
  - name: missing
    kind: command
    argv: [pg_isready_not_installed, -h, db]
""")
    assert result.status is Status.ERROR and result.category is Category.DRIVER
    assert result.message == ("`pg_isready_not_installed` not found on PATH; install it where "
                              "the checks run, or write its full path")


def test_a_missing_working_directory_is_a_config_error(tmp_path: Path) -> None:
    result = run_one(f"""
checks:
  - name: nowhere
    kind: command
    argv: ["true"]
    cwd: {tmp_path}/absent
""")
    assert result.status is Status.ERROR and result.category is Category.CONFIG
    assert "absent is not a directory" in result.message


@pytest.mark.parametrize(("keys", "expected"), [
    ("run: ls | wc -l", "`run` is a shell line; add `shell: true`"),
    ("argv: ls -l /data", "argv is a list, one item per argument"),
    ("argv: [ls]\n    run: ls\n    shell: true", "write either `argv`"),
    ("shell: true\n    argv: [ls]", "`shell: true` runs the text of `run`"),
    ("argv: []", "write the program to run as a list"),
    ("argv: [ls]\n    shel: true", "unknown key `shel` for a command check (did you mean "
                                   "`shell`?)"),
])
def test_ambiguous_or_mistyped_commands_are_config_errors(keys: str, expected: str) -> None:
    text = config_error(f"""
checks:
  - name: cmd
    kind: command
    {keys}
""")
    assert expected in text
    assert text.startswith("checks.yaml:")
