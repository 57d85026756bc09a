"""`command`: run a program (or, when asked explicitly, a shell line) and observe its result.

The program runs in a session of its own so that, on timeout, it is killed together
with everything it started. Output is captured up to a cap: a chatty tool cannot
exhaust the harness's memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from probes.kinds import CheckBase
from probes.model import Category, ProbeError
from probes.units import Seconds, format_duration

OUTPUT_CAP = 64 * 1024  # bytes kept of stdout and of stderr each
# Programs started and not yet reaped, so that the end of a run can stop those whose
# attempt the runner left behind (deadline, interrupt).
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()
_CHUNK = 8192
_SHELL = "/bin/sh"


def _text_values(value: Any) -> Any:
    """`PORT: 5432` in YAML is a number; the environment (like argv) only holds text."""
    if isinstance(value, dict):
        return {key: _as_text(v) for key, v in value.items()}
    return value


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvMapping = Annotated[dict[str, str], BeforeValidator(_text_values)]


class Check(CheckBase):
    kind: Literal["command"] = "command"
    observations: ClassVar[frozenset[str]] = frozenset(
        {"exit_code", "stdout", "stderr", "latency"}
    )
    default_expect: ClassVar[tuple[str, ...]] = ("exit_code == 0",)
    secret_keys: ClassVar[frozenset[str]] = frozenset({"env"})

    argv: list[str] | None = Field(
        None, description="The program and its arguments, run without a shell"
    )
    run: str | None = Field(None, description="A shell line for /bin/sh -c; needs `shell: true`")
    shell: bool = Field(False, description="Run `run` through /bin/sh; must be written to use it")
    env: EnvMapping = Field(
        default_factory=dict, description="Variables added to the inherited environment"
    )
    cwd: str | None = Field(None, description="Working directory (default: the current one)")

    @field_validator("env")
    @classmethod
    def _variable_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not name or "=" in name:
                raise ValueError(f"{name!r} cannot be the name of an environment variable "
                                 "(empty, or holding `=`)")
        return env

    @field_validator("argv", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("argv is a list, one item per argument: [\"pg_isready\", \"-h\", "
                             "\"db\"]; for a shell line write `run:` with `shell: true`")
        if isinstance(value, list):
            return [_as_text(item) for item in value]  # `-p, 5432` means the text "5432"
        return value

    @model_validator(mode="after")
    def _one_way_to_run(self) -> Check:
        if self.argv is not None and self.run is not None:
            raise ValueError("write either `argv` (a list, no shell) or `run` with "
                             "`shell: true`, not both")
        if self.run is not None and not self.shell:
            raise ValueError("`run` is a shell line; add `shell: true` to run it through "
                             "/bin/sh, or write the program as a list in `argv`")
        if self.shell and self.run is None:
            raise ValueError("`shell: true` runs the text of `run`; write the line there, "
                             "e.g. run: \"ls /data | wc -l\"")
        if self.run is None and not self.argv:
            raise ValueError("write the program to run as a list: argv: [\"pg_isready\", "
                             "\"-h\", \"db\"], or a shell line in `run` with `shell: true`")
        if self.run is not None and not self.run.strip():
            raise ValueError("`run` is empty; write the shell line to run")
        return self

    @property
    def program(self) -> list[str]:
        if self.run is not None:
            return [_SHELL, "-c", self.run]
        assert self.argv is not None
        return list(self.argv)

    def target(self) -> str:
        if self.run is not None:
            return f"sh -c {self.run}"
        return " ".join(self.argv or ())

    def observe(self, timeout: float) -> dict[str, Any]:
        program = self.program
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                program,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,  # its own process group, killed whole on timeout
            )
        except OSError as exc:
            raise _start_error(exc, program[0], self.cwd) from None
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        assert process.stdout is not None and process.stderr is not None
        readers = _CappedReader(process.stdout), _CappedReader(process.stderr)
        try:
            exit_code: int | None = process.wait(timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        latency = Seconds(time.perf_counter() - started)
        # Also after a normal exit: nothing a check started may outlive it.
        _kill_group(process)
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
        stdout, stderr = (reader.finish() for reader in readers)
        if exit_code is None:
            raise ProbeError(
                Category.TIMEOUT,
                f"`{program[0]}` was still running after {format_duration(timeout)}; "
                "killed it and every process it started",
                evidence=_evidence(stdout, stderr),
            )
        return {"exit_code": exit_code, "stdout": stdout, "stderr": stderr, "latency": latency}

    @classmethod
    def stop_abandoned(cls) -> None:
        with _RUNNING_LOCK:
            left = list(_RUNNING)
        for process in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _evidence(stdout: str, stderr: str) -> str:
    parts = [f"{name} so far:\n{text[-2000:]}" for name, text in
             (("stdout", stdout), ("stderr", stderr)) if text]
    return "\n".join(parts)


def _start_error(exc: OSError, executable: str, cwd: str | None) -> ProbeError:
    # A missing tool is an environment problem, like a missing database driver:
    # the same checks.yaml works on a machine (or image) that has it installed.
    if cwd is not None and not os.path.isdir(cwd):
        return ProbeError(Category.CONFIG, f"cwd {cwd} is not a directory")
    if isinstance(exc, FileNotFoundError):
        where = "" if os.sep in executable else " on PATH"
        return ProbeError(Category.DRIVER, f"`{executable}` not found{where}; install it "
                          "where the checks run, or write its full path")
    if isinstance(exc, PermissionError):
        return ProbeError(Category.DRIVER, f"`{executable}` is not executable "
                          f"({exc.strerror})")
    return ProbeError(Category.DRIVER, f"cannot start `{executable}`: {exc.strerror or exc}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # ProcessLookupError: the program and everything it started have already ended.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class _CappedReader:
    """Drains one pipe in a thread, keeping the first OUTPUT_CAP bytes."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._kept = bytearray()
        self._thread = threading.Thread(target=self._drain, name="probe-command-output",
                                        daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._pipe:
            while chunk := os.read(self._pipe.fileno(), _CHUNK):
                room = OUTPUT_CAP - len(self._kept)
                if room > 0:
                    self._kept += chunk[:room]

    def finish(self) -> str:
        """The text read so far.

        A process that left the group (setsid) may hold the pipe open; the thread then
        ends when that process does. The check does not wait for it.
        """
        self._thread.join(1.0)
        # `$(cmd)` drops trailing newlines; `stdout == "ok"` should read the same way.
        return bytes(self._kept).decode("utf-8", errors="replace").rstrip("\n")
