"""`notify:` targets in checks.yaml: URLs checked by apprise at load time, other keys."""

from __future__ import annotations

import subprocess
import sys

import pytest

from probes.config import ConfigError, parse_config
from probes.notify.target import NotifyTarget

SLACK_TOKEN = "TIiajkdnlazkcOXrIdevi7FQ"


def load_notify(targets: str, **env: str) -> ConfigError | list[NotifyTarget]:
    text = f"""suite: s
notify:
{targets}
checks:
  - name: a
    kind: command
    argv: ["true"]
"""
    try:
        return list(parse_config(text, "checks.yaml", env).notify)
    except ConfigError as exc:
        return exc


def problem(targets: str, **env: str) -> str:
    result = load_notify(targets, **env)
    assert isinstance(result, ConfigError), result
    assert len(result.problems) == 1, result.render()
    return result.render()


@pytest.mark.parametrize("url", [
    "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN,
    "slack://T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN + "/#alerts",
    "mmosts://chat.example.com/x7k2mmwebhooktoken9",
    "workflows://prod-00.westus.logic.azure.com:443/abc123/sigsecret456",
    "mailtos://alerts:app-password@example.com?to=team@example.com",
    "json://127.0.0.1:8080/notify",
    "ntfys://ntfy.example.com/probes-alerts",
])
def test_apprise_urls_of_common_services_load(url: str) -> None:
    targets = load_notify(f"  - url: {url}")
    assert isinstance(targets, list)
    assert targets[0].url == url


def test_on_is_read_as_a_key_not_as_yaml_true() -> None:
    targets = load_notify("  - url: json://127.0.0.1/x\n    on: [change, recovery]")
    assert isinstance(targets, list)
    assert targets[0].on == ["change", "recovery"]


def test_a_url_from_the_environment_loads() -> None:
    url = "slack://T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN
    targets = load_notify("  - url: ${SLACK_WEBHOOK_URL}", SLACK_WEBHOOK_URL=url)
    assert isinstance(targets, list) and targets[0].url == url


@pytest.mark.parametrize(("url", "expected"), [
    ("hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN,
     "checks.yaml:3: notify[0].url: is not an apprise URL: it must start with the service"),
    ("slak://T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN,
     "checks.yaml:3: notify[0].url: unsupported notification service `slak://` "
     "(did you mean `slack://`?)"),
    ("msteams://T1JJ3T3L2/A1BRTD4JD/" + SLACK_TOKEN,
     "Microsoft retired Teams incoming webhooks: create a Teams workflow"),
    ("slack://T1JJ3T3L2/" + SLACK_TOKEN,
     "checks.yaml:3: notify[0].url: is not a valid Slack URL: "),
    ("https://example.com/hooks/" + SLACK_TOKEN,
     "a plain https:// URL is accepted only when it is a service's own webhook address"),
    ("mmost://", "is not a valid Mattermost URL"),
])
def test_a_bad_url_is_a_config_error_that_says_what_to_write_and_hides_the_url(
        url: str, expected: str) -> None:
    message = problem(f"  - url: {url}")
    assert expected in message
    assert SLACK_TOKEN not in message
    assert "T1JJ3T3L2" not in message


def test_a_token_that_apprise_quotes_in_its_error_is_masked() -> None:
    # apprise's own message is "An invalid Slack (first) Token (lower!case) was specified".
    message = problem("  - url: slack://lower!case/BBBBBB/CCCCCCC")
    assert "Token (***) was specified" in message
    assert "lower!case" not in message


def test_a_bad_slack_url_shows_the_expected_form() -> None:
    message = problem("  - url: slack://T1JJ3T3L2/" + SLACK_TOKEN)
    assert "write it as slack://{token_a}/{token_b}/{token_c}" in message


def test_a_bad_url_from_the_environment_is_reported_at_its_line_without_its_value() -> None:
    message = problem("  - on: [failure]\n    url: ${HOOK}", HOOK="slak://secret-hook-token-42")
    assert message.startswith("checks.yaml:4: notify[0].url: unsupported notification service")
    assert "secret-hook-token-42" not in message


def test_an_empty_url_switches_the_target_off() -> None:
    assert load_notify("  - url: ${SLACK_WEBHOOK_URL:-}") == []


@pytest.mark.parametrize(("item", "expected"), [
    ("  - url: json://127.0.0.1/x\n    on: [failur]", "checks.yaml:4: notify[0].on[0]:"),
    ("  - url: json://127.0.0.1/x\n    on: []", "checks.yaml:4: notify[0].on:"),
    ("  - url: json://127.0.0.1/x\n    failure_threshold: 0", "notify[0].failure_threshold:"),
    ("  - url: json://127.0.0.1/x\n    timeout: 0s",
     "notify[0].timeout: must be more than 0s and at most 600s"),
    ("  - url: json://127.0.0.1/x\n    remind_every: 24h",
     "checks.yaml:3: notify[0]: remind_every only applies with `on: [change]`"),
    ("  - url: json://127.0.0.1/x\n    on: [change]\n    remind_every: daily",
     "checks.yaml:5: notify[0].remind_every: 'daily' is not a duration"),
    ("  - url: json://127.0.0.1/x\n    channel: ops", "unknown key `channel` for a notify target"),
])
def test_other_keys_are_checked_too(item: str, expected: str) -> None:
    assert expected in problem(item)


def test_defaults() -> None:
    target = NotifyTarget(url="json://127.0.0.1/x")
    assert (target.on, target.tags, target.groups, target.failure_threshold,
            target.remind_every, float(target.timeout)) == (["failure"], [], [], 1, None, 30.0)


def test_pydantic_errors_do_not_echo_the_url() -> None:
    with pytest.raises(ValueError) as raised:
        NotifyTarget(url="slak://hook-secret-99")
    assert "hook-secret-99" not in str(raised.value)


def test_loading_a_config_without_notify_does_not_import_apprise() -> None:
    code = """
import sys
from probes.config import parse_config
parse_config('checks:\\n  - {name: a, kind: command, argv: ["true"]}\\n', 'c.yaml', {})
import probes.notify, probes.cli
print('apprise' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"
