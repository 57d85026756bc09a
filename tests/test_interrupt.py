"""SIGTERM/SIGINT during `probe run`: reports are still written, unfinished checks say why."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import PROBE


@pytest.fixture
def silent_server() -> Iterator[tuple[int, threading.Event]]:
    """Accepts connections and never answers; sets the event once a client is connected."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], connected
    listener.close()
    for conn in held:
        conn.close()


def run_and_signal(config: Path, reports: Path, connected: threading.Event,
                   signum: int) -> tuple[int, str, str]:
    """`probe run`, sent `signum` once it has connected to the silent server."""
    proc = subprocess.Popen([PROBE, "run", "-c", str(config), "--reports", str(reports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        assert connected.wait(30), "probe never connected to the silent server"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_still_writes_reports(
    tmp_path: Path, silent_server: tuple[int, threading.Event], signum: int
) -> None:
    port, connected = silent_server
    config = tmp_path / "checks.yaml"
    config.write_text(f"""
suite: interrupted
checks:
  - name: waits forever
    kind: tcp
    host: 127.0.0.1
    port: {port}
    send: "hello\\n"
    timeout: 60s
""")
    reports = tmp_path / "reports"
    returncode, out, err = run_and_signal(config, reports, connected, signum)
    assert returncode == 1, out + err
    assert "Traceback" not in err
    results = json.loads((reports / "results.json").read_text())
    check = results["checks"][0]
    assert check["status"] == "error"
    assert "interrupted" in check["message"]
    assert results["interrupted"] is True
    assert (reports / "junit.xml").exists()


def test_a_signal_while_notifying_ends_the_wait_and_says_so(
    tmp_path: Path, silent_server: tuple[int, threading.Event]
) -> None:
    # The checks are over and the reports written; a webhook that never answers holds
    # the run until its timeout, and Ctrl-C (or `docker stop`) comes meanwhile.
    port, connected = silent_server
    config = tmp_path / "checks.yaml"
    config.write_text(f"""
notify:
  - {{url: "json://127.0.0.1:{port}/hook", timeout: 60s}}
checks:
  - {{name: closed, kind: tcp, host: 127.0.0.1, port: 9}}
""")
    reports = tmp_path / "reports"
    returncode, out, err = run_and_signal(config, reports, connected, signal.SIGTERM)
    assert returncode == 1, out + err  # the check's verdict, as without the signal
    assert "Traceback" not in err
    (outcome,) = json.loads((reports / "results.json").read_text())["notifications"]
    assert not outcome["sent"]
    assert outcome["error"] == ("the run was interrupted (SIGTERM) while sending; the message "
                                "may or may not have gone")
    assert "interrupted (SIGTERM) while sending" in out


def test_once_the_checks_are_over_a_signal_is_recorded_not_raised() -> None:
    # Raised while reports are written, it could cut one in half; recorded, it ends only
    # what waits for an answer (notifications).
    from probes.cli import _signals_interrupt_run
    from probes.runner import Interrupted, StopRequest

    during_checks = StopRequest()
    with _signals_interrupt_run(during_checks), pytest.raises(Interrupted):
        signal.raise_signal(signal.SIGTERM)
    after_checks = StopRequest()
    after_checks.checks_over = True
    with _signals_interrupt_run(after_checks):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # only the first one counts
    assert after_checks.signal_name == "SIGTERM"
