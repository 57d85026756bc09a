"""A notification target as written under `notify:` in checks.yaml.

The URL is checked when the config loads (apprise is imported then, and only then):
an unknown service or a malformed URL is a config error with its line, worded
without the URL itself, which usually holds a token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes.kinds import Duration
from probes.units import Seconds

When = Literal["failure", "change", "recovery", "always"]
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0


class NotifyTarget(BaseModel):
    # The input of a bad `url` is a secret: keep it out of pydantic's error text.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = Field(description="Any apprise URL, e.g. ${SLACK_WEBHOOK_URL}")
    on: list[When] = Field(
        default_factory=lambda: list[When](["failure"]), min_length=1,
        description="When to send: failure (any failing check), change (the failing set "
                    "changed), recovery (green after red), always")
    tags: list[str] = Field(default_factory=list,
                            description="Only checks with any of these tags")
    groups: list[str] = Field(default_factory=list,
                              description="Only checks in any of these groups")
    failure_threshold: int = Field(
        default=1, ge=1,
        description="A check counts as failing after this many failing runs in a row")
    remind_every: Duration | None = Field(
        default=None, description="With `change`: send the same failing set again after this long")
    timeout: Duration = Field(
        default=Seconds(DEFAULT_TIMEOUT_S),
        description="Bound on delivering one message to this target (default 30s)")

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, url: str) -> str:
        from probes.notify.services import check_url

        check_url(url)
        return url

    @field_validator("timeout")
    @classmethod
    def _bounded_timeout(cls, timeout: float) -> float:
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"must be more than 0s and at most {MAX_TIMEOUT_S:.0f}s, e.g. 30s")
        return timeout

    @field_validator("remind_every")
    @classmethod
    def _positive_reminder(cls, every: float | None) -> float | None:
        if every is not None and every <= 0:
            raise ValueError("must be a positive duration, e.g. 24h; remove it for no reminders")
        return every

    @model_validator(mode="after")
    def _reminders_need_change(self) -> NotifyTarget:
        if self.remind_every is not None and "change" not in self.on:
            raise ValueError("remind_every only applies with `on: [change]`: add change to "
                             "`on`, or remove remind_every (failure already sends every run)")
        return self
