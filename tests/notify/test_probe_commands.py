"""Notifications through the installed `probe` command: `probe run` and `probe notify-test`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import probe
from tests.helpers.receiver import Receiver, closed_port, receiver

HOOK_TOKEN = "Hk7webhook5ecret42"
API_TOKEN = "tok-3c2b1a09f8e7"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def write_config(tmp_path: Path, notify: str, marker: Path) -> Path:
    config = tmp_path / "checks.yaml"
    config.write_text(f"""
suite: e2e-nightly
notify:
{notify}
checks:
  - name: always fine
    kind: command
    argv: ["true"]
  - name: marker present
    kind: command
    group: files
    argv: ["test", "-e", "{marker}"]
  - name: api with token
    kind: http
    group: apis
    url: http://127.0.0.1:{{port}}/health?api_key=${{API_TOKEN}}
    headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
    timeout: 2s
""")
    return config


def run_probe(config: Path, tmp_path: Path, hook: Receiver, *extra: str,
              port: int) -> tuple[int, str, Path]:
    config.write_text(config.read_text().replace("{port}", str(port)))
    reports = tmp_path / "reports"
    result = probe(["run", "-c", str(config), "--reports", str(reports), *extra],
                   env={"API_TOKEN": API_TOKEN,
                        "HOOK_URL": hook.url("mmost", f"/{HOOK_TOKEN}")})
    return result.returncode, result.stdout + result.stderr, reports


def test_a_receiver_that_is_down_is_reported_and_the_exit_code_stays_the_checks(
        tmp_path: Path, hook: Receiver) -> None:
    with closed_port() as down, closed_port() as api:
        config = write_config(tmp_path, f"""
  - url: ${{HOOK_URL}}
    on: [failure]
  - url: json://127.0.0.1:{down}/notify
""", tmp_path / "absent")
        code, output, reports = run_probe(config, tmp_path, hook, port=api)

    assert code == 1, output
    assert {p.name for p in reports.iterdir()} >= {"junit.xml", "report.html", "results.json"}
    assert (f"notification NOT sent to json://127.0.0.1:{down}/notify: A Connection error "
            "occurred sending JSON notification to 127.0.0.1 (Connection refused)") in output
    assert f"notified: mmost://127.0.0.1:{hook.port}/H...2/" in output
    results = json.loads((reports / "results.json").read_text())
    assert results["notifications"] == [
        {"target": f"mmost://127.0.0.1:{hook.port}/H...2/", "sent": True, "error": None},
        {"target": f"json://127.0.0.1:{down}/notify", "sent": False,
         "error": "A Connection error occurred sending JSON notification to 127.0.0.1 "
                  "(Connection refused)"},
    ]
    [message] = [r.json()["text"] for r in hook.requests]
    assert message.startswith("e2e-nightly: 2 of 3 checks failing")
    assert "marker present" in message and "api with token" in message
    assert "always fine" not in message
    # No secret anywhere: console, reports, the message itself.
    texts = [output, message, *(p.read_text() for p in reports.iterdir() if p.suffix != ".db")]
    for text in texts:
        assert HOOK_TOKEN not in text
        assert API_TOKEN not in text


def test_red_red_green_green_with_change_and_recovery(tmp_path: Path, hook: Receiver) -> None:
    marker = tmp_path / "marker"
    with closed_port() as api:
        template = write_config(tmp_path, """
  - url: ${HOOK_URL}
    on: [change, recovery]
    groups: [files]
""", marker).read_text()
        counts = []
        for present in (False, False, True, True):
            if present:
                marker.touch()
            (tmp_path / "checks.yaml").write_text(template)
            before = len(hook.requests)
            code, output, _ = run_probe(tmp_path / "checks.yaml", tmp_path, hook, port=api)
            assert code == 1, output  # `api with token` fails every time
            counts.append(len(hook.requests) - before)

    assert counts == [1, 0, 1, 0]
    first, recovery = (r.json()["text"] for r in hook.requests)
    assert first.startswith("e2e-nightly: 1 of 1 check failing\r\nfiles\n- marker present")
    assert recovery.startswith("e2e-nightly: all 1 check passing again")


def test_no_notify_sends_nothing(tmp_path: Path, hook: Receiver) -> None:
    with closed_port() as api:
        config = write_config(tmp_path, "  - url: ${HOOK_URL}", tmp_path / "absent")
        code, output, reports = run_probe(config, tmp_path, hook, "--no-notify", port=api)

    assert code == 1, output
    assert hook.requests == []
    assert json.loads((reports / "results.json").read_text())["notifications"] == []


def test_notify_test_sends_to_every_target_and_says_which_got_it(tmp_path: Path,
                                                                  hook: Receiver) -> None:
    with closed_port() as down:
        config = tmp_path / "checks.yaml"
        config.write_text(f"""
suite: e2e-nightly
notify:
  - url: ${{HOOK_URL}}
    tags: [db]
  - url: json://127.0.0.1:{down}/notify
checks:
  - {{name: a, kind: command, argv: ["true"]}}
""")
        result = probe(["notify-test", "-c", str(config)],
                       env={"HOOK_URL": hook.url("mmost", f"/{HOOK_TOKEN}")})

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"sent: mmost://127.0.0.1:{hook.port}/H...2/",
        f"NOT sent: json://127.0.0.1:{down}/notify: A Connection error occurred sending JSON "
        "notification to 127.0.0.1 (Connection refused)",
        "1 of 2 targets got the test message",
    ]
    [text] = [r.json()["text"] for r in hook.requests]
    assert text.startswith("e2e-nightly: test notification\r\n")
    assert "on: failure, about checks tagged db" in text
    assert HOOK_TOKEN not in result.stdout + result.stderr


def test_notify_test_without_targets_says_so(tmp_path: Path) -> None:
    config = tmp_path / "checks.yaml"
    config.write_text('checks:\n  - {name: a, kind: command, argv: ["true"]}\n')
    result = probe(["notify-test", "-c", str(config)])
    assert result.returncode == 2
    assert "no notify targets" in result.stderr
