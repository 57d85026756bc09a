"""The words of a notification: a title with the counts, a body listing what fails.

    nightly-prod: 2 of 40 checks failing

    databases
    - warehouse freshness (failed): age (30h) < 26h — failing since 2024-05-05 03:00 UTC (2 runs)
    apis
    - scoring api (error: connect): connection refused — new
    … and 3 more failing checks

    Report: https://ci.example.com/…/report.html

Markdown for services that render it (names in bold, reasons as code), plain text
for the others. The body never exceeds what the service accepts: checks that do not
fit are counted in "… and K more".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from probes.model import CheckResult, Status
from probes.notify.policy import CHANGE, RECOVERY, REMINDER, Decision
from probes.notify.services import Limits

REASON_LIMIT = 200  # characters of a check's reason
NAMES_SHOWN = 10  # names listed in one "Newly failing: …" line
SAFETY = 0.9  # of the service's limit: apprise and the service add a little
DEFAULT_BODY_MAX = 32768
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")

Mask = Callable[[str], str]


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    notify_type: str  # apprise's NotifyType: failure, success, info


def clean(text: str, limit: int = REASON_LIMIT) -> str:
    """One line of text any service accepts: no control characters, valid UTF-8."""
    flat = " ".join(text.split())
    flat = _CONTROL.sub("", flat).encode("utf-8", "replace").decode("utf-8")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compose(suite: str, decision: Decision, report_url: str | None, limits: Limits,
            mask: Mask) -> Message:
    failing, ran = decision.failing, decision.ran
    title = _title(mask(clean(suite, 120)), len(failing), len(ran), decision)
    if limits.title_max and len(title) > limits.title_max:
        title = title[: limits.title_max - 1] + "…"
    style = _Markdown() if limits.markdown else _Text()
    intro = _intro(decision, style, mask)
    items = _items(failing, style, mask)
    footer = [f"Report: {mask(report_url.strip())}"] if report_url else []
    if not items and not intro:
        intro = [f"All {_checks(len(ran))} passed." if ran else "No checks ran."]
    body = _fit(intro, items, footer, _budget(title, limits), limits.max_lines)
    kind = "failure" if failing else "success"
    return Message(title=title, body=body, notify_type=kind)


def test_message(suite: str, description: str, mask: Mask) -> Message:
    name = mask(clean(suite, 120))
    return Message(
        title=f"{name}: test notification",
        body=("This is a test message from `probe notify-test`: notifications of "
              f"{name} reach this channel. {mask(description)}"),
        notify_type="info",
    )


def _title(suite: str, failing: int, ran: int, decision: Decision) -> str:
    if failing:
        return f"{suite}: {failing} of {_checks(ran)} failing"
    if not ran:
        return f"{suite}: no checks ran"
    if decision.below_threshold:
        return f"{suite}: 0 of {_checks(ran)} failing"
    again = " again" if RECOVERY in decision.reasons or decision.known else ""
    return f"{suite}: all {_checks(ran)} passing{again}"


def _checks(count: int) -> str:
    return f"{count} check" if count == 1 else f"{count} checks"


def _intro(decision: Decision, style: _Style, mask: Mask) -> list[str]:
    lines = []
    if REMINDER in decision.reasons and CHANGE not in decision.reasons:
        since = _when(decision.notified_at) if decision.notified_at else "earlier"
        lines.append(f"Reminder: still failing as in the message of {since}.")
    if decision.known or CHANGE in decision.reasons:
        new = [c.name for c in decision.newly_failing] if decision.known else []
        if new:
            lines.append(f"Newly failing: {_names(new, style, mask)}.")
        if decision.no_longer_failing:
            lines.append(f"No longer failing: {_names(decision.no_longer_failing, style, mask)}.")
    if decision.below_threshold:
        names = [c.name for c in decision.below_threshold]
        lines.append(f"Failing, not counted until {decision.threshold} runs in a row: "
                     f"{_names(names, style, mask)}.")
    return lines


def _names(names: Sequence[str], style: _Style, mask: Mask) -> str:
    shown = [style.name(mask(clean(n, 80))) for n in names[:NAMES_SHOWN]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _items(failing: Iterable[CheckResult], style: _Style, mask: Mask) -> list[tuple[str, str]]:
    """(group heading, line) for each failing check, grouped in the order of the run."""
    by_group: dict[str, list[str]] = {}
    for check in failing:
        by_group.setdefault(check.group, []).append(_line(check, style, mask))
    return [(style.group(mask(clean(group, 80))), line)
            for group, lines in by_group.items() for line in lines]


def _line(check: CheckResult, style: _Style, mask: Mask) -> str:
    label = (f"error: {check.category}" if check.status is Status.ERROR and check.category
             else str(check.status))
    reason = mask(clean(_reason(check)))
    since = _since(check)
    tail = f" — {since}" if since else ""
    return f"- {style.name(mask(clean(check.name, 120)))} ({label}): {style.code(reason)}{tail}"


def _reason(check: CheckResult) -> str:
    if check.message:
        return check.message
    failed = [a.describe() for a in check.assertions if not a.passed]
    return "; ".join(failed) or str(check.status)


def _since(check: CheckResult) -> str:
    if check.failing_streak is None:
        return ""
    if check.failing_streak <= 1 or not check.failing_since:
        return "new"
    try:
        when = _when(datetime.fromisoformat(check.failing_since))
    except ValueError:
        when = clean(check.failing_since, 40)
    return f"failing since {when} ({check.failing_streak} runs)"


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _budget(title: str, limits: Limits) -> int:
    available = limits.body_max or DEFAULT_BODY_MAX
    if limits.title_max <= 0:
        available -= len(title) + 4  # apprise puts the title on the body's first line
    return max(int(available * SAFETY), 1)


def _fit(intro: list[str], items: list[tuple[str, str]], footer: list[str], budget: int,
         max_lines: int) -> str:
    """The body within `budget` characters (and `max_lines`), dropping checks from the end."""

    def render(count: int) -> str:
        lines = list(intro)
        if items and lines:
            lines.append("")
        heading = None
        for group, line in items[:count]:
            if group != heading:
                lines.append(group)
                heading = group
            lines.append(line)
        if count < len(items):
            lines.append(f"… and {len(items) - count} more failing "
                         f"{'check' if len(items) - count == 1 else 'checks'}")
        if footer:
            lines += ["", *footer]
        return "\n".join(lines)

    def fits(text: str) -> bool:
        return len(text) <= budget and (not max_lines or text.count("\n") + 1 <= max_lines)

    shown = len(items)
    body = render(shown)
    while shown > 0 and not fits(body):
        shown -= 1
        body = render(shown)
    if not fits(body):
        if max_lines:
            body = "\n".join(body.split("\n")[:max_lines])
        if len(body) > budget:
            body = body[: max(budget - 1, 0)] + "…"
    return body


class _Style:
    def name(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return text

    def group(self, text: str) -> str:
        return text


class _Text(_Style):
    pass


class _Markdown(_Style):
    def name(self, text: str) -> str:
        return "**" + _MD_SPECIAL.sub(r"\\\1", text) + "**"

    def code(self, text: str) -> str:
        return "`" + text.replace("`", "'") + "`"

    def group(self, text: str) -> str:
        return self.name(text)
