"""What apprise's plugins declare, as used here: masked URLs, secrets, limits."""

from __future__ import annotations

import pytest

from probes.notify import services

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts"


@pytest.mark.parametrize(("url", "shown", "hidden"), [
    (SLACK, "slack://T...2/A...D/T...Q/%23alerts/", ["T1JJ3T3L2", "TIiajkdnlazkcOXrIdevi7FQ"]),
    ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
     "slack://T...2/A...D/T...Q//", ["TIiajkdnlazkcOXrIdevi7FQ"]),
    ("mmosts://chat.example.com/x7k2mmwebhooktoken9", "mmosts://chat.example.com/x...9/",
     ["x7k2mmwebhooktoken9"]),
    ("json://user:pa55word@127.0.0.1:8080/hooks/AbC123xYz789?+Authorization=Bearer%20tok123456",
     "json://user:***@127.0.0.1:8080/hooks/A...9", ["pa55word", "AbC123xYz789", "tok123456"]),
    ("mailtos://alerts:app-pass-42@example.com?to=team@example.com",
     "mailtos://alerts:***@example.com/team%40example.com", ["app-pass-42"]),
    ("json://127.0.0.1:8080/notify", "json://127.0.0.1:8080/notify", []),
])
def test_display_url_uses_apprise_privacy_and_masks_path_tokens(
        url: str, shown: str, hidden: list[str]) -> None:
    displayed = services.display_url(url)
    assert displayed == shown
    for secret in hidden:
        assert secret not in displayed


def test_display_url_of_an_unusable_url_shows_only_its_scheme() -> None:
    assert services.display_url("slak://secret-token-123") == "slak://***"
    assert services.display_url("no scheme at all") == "***"


def test_url_secrets_include_the_private_tokens_apprise_declares() -> None:
    service = services.open_service(SLACK)
    secrets = services.url_secrets(SLACK, service)
    assert {"T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ"} <= secrets
    assert "alerts" not in secrets


def test_limits_come_from_the_plugin() -> None:
    mattermost = services.limits(services.open_service("mmost://127.0.0.1/tokentoken12"))
    slack = services.limits(services.open_service(SLACK))
    markdown_json = services.limits(services.open_service("json://127.0.0.1/x?format=markdown"))
    assert (mattermost.markdown, mattermost.body_max, mattermost.title_max) == (False, 4000, 0)
    assert slack.markdown and slack.title_max > 0
    assert markdown_json.markdown
    assert not services.limits(services.open_service("json://127.0.0.1/x")).markdown


def test_a_targets_timeout_caps_apprise_socket_timeouts() -> None:
    service = services.open_service("json://127.0.0.1/x?rto=30", timeout=2.5)
    assert (service.socket_connect_timeout, service.socket_read_timeout) == (2.5, 2.5)
    untouched = services.open_service("json://127.0.0.1/x", timeout=60)
    assert untouched.socket_read_timeout < 60


def test_apprise_log_records_do_not_reach_the_console(capfd: pytest.CaptureFixture[str]) -> None:
    # apprise logs the token of a malformed URL; none of it may reach stderr.
    with pytest.raises(ValueError):
        services.check_url("slack://T1JJ3T3L2/SeCrEtToKeN99")
    assert "SeCrEtToKeN99" not in capfd.readouterr().err
