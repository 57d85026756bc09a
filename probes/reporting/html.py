"""`report.html`: the run for a person: what is broken, since when, how, and what is fine.

One self-contained file (inline CSS and JS, nothing fetched), readable with JS off.
Rendered by Jinja2 with autoescape on, so text from a target (a body, a driver
message) is always text, never markup; a Content-Security-Policy that allows only
the report's own script is a second wall. Control characters and lone surrogates
from a target are shown as visible escapes (`\\x1b`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probes.model import FAILING, CheckResult, RunResult, Status
from probes.reporting.files import write_atomic
from probes.units import format_duration

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, Environment

TEMPLATE = "report.html.j2"
ICONS = {Status.PASSED: "✓", Status.FAILED: "✗", Status.ERROR: "!", Status.SKIPPED: "\u2013"}
# The history strip is the largest part of a big report: a passed run is one bare
# character, the others one short element, each styled by the stylesheet.
_STRIP = {Status.PASSED: "✓", Status.FAILED: "<b>✗</b>", Status.ERROR: "<i>!</i>",
          Status.SKIPPED: "<u>\u2013</u>"}
_TABLE_ORDER = {Status.FAILED: 0, Status.ERROR: 0, Status.PASSED: 1, Status.SKIPPED: 2}
TEXT_LIMIT = 20_000  # characters of one evidence text shown
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class Row:
    """One check as the report shows it."""

    anchor: str  # its row is `r<anchor>` in the page, its card `c<anchor>`
    check: CheckResult
    icon: str
    duration: str
    strip: Any  # Markup: the history strip

    @property
    def failing(self) -> bool:
        return self.check.status in FAILING

    @functools.cached_property
    def held(self) -> str:
        """A passed check's conditions with their actual values (`age (3h) < 26h`): how
        close to failing it is, a certificate at 20 days say."""
        if self.check.status is not Status.PASSED:
            return ""
        return " · ".join(assertion.describe() for assertion in self.check.assertions)

    @property
    def ambiguous_tags(self) -> bool:
        """The table shows tags as `a, b`: a tag containing `, ` needs them listed apart."""
        return any(", " in tag for tag in self.check.tags)


def write_html(run: RunResult, path: Path) -> None:
    write_atomic(Path(path), render_html(run).encode("utf-8"))


def render_html(run: RunResult) -> str:
    from markupsafe import Markup

    script = _asset("report.js")
    rows = [
        Row(anchor=str(index), check=check, icon=ICONS[check.status],
            duration=_took(check),
            strip=Markup("".join(_STRIP[status] for status in check.history)))
        for index, check in enumerate(run.checks)
    ]
    summary = run.summary
    return _environment().get_template(TEMPLATE).render(
        run=run,
        summary=summary,
        verdict=_verdict(run),
        started=moment(run.started_at),
        duration=format_duration(max(run.duration_s, 0.0)),
        failing=[row for row in rows if row.failing],
        table=sorted(rows, key=lambda row: _TABLE_ORDER[row.check.status]),
        groups=sorted({check.group for check in run.checks}),
        tags=sorted({tag for check in run.checks for tag in check.tags}),
        has_history=any(check.history or check.failing_streak is not None
                        for check in run.checks),
        icons=ICONS,
        statuses=list(Status),
        style=Markup(_asset("report.css")),
        script=Markup(script),
        script_hash=base64.b64encode(hashlib.sha256(script.encode()).digest()).decode(),
    )


def moment(iso: str | None) -> str:
    """`2024-05-06 03:00:00 UTC` (or `+02:00`): an ISO-8601 time for a person."""
    if not iso:
        return ""
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    text = parsed.strftime("%Y-%m-%d %H:%M:%S")
    offset = parsed.utcoffset()
    if offset is None:
        return text
    if not offset:
        return f"{text} UTC"
    zone = parsed.strftime("%z")
    return f"{text} {zone[:3]}:{zone[3:]}"


def _took(check: CheckResult) -> str:
    if check.status is Status.SKIPPED and not check.duration_s:
        return "\u2013"
    return format_duration(max(check.duration_s, 0.0))


def _verdict(run: RunResult) -> str:
    summary = run.summary
    ran = summary.total - summary.skipped
    skipped = f", {summary.skipped} skipped" if summary.skipped else ""
    if summary.total == 0:
        return "No checks"
    if summary.failing:
        return f"{summary.failing} of {summary.total} checks failing"
    if ran == 0:
        return f"All {summary.total} checks skipped"
    return f"All {ran} checks passed{skipped}"


def visible(text: str) -> str:
    """`text` without what a page cannot show: controls and lone surrogates, escaped."""
    return _INVISIBLE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _capped(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… {len(text) - limit} more characters in results.json"


def _actual(value: Any) -> str:
    from probes.conditions import format_actual

    return _capped(format_actual(value), 2000)


@functools.cache
def _asset(name: str) -> str:
    return resources.files("probes.reporting").joinpath("templates", name).read_text("utf-8")


def _bytecode_cache() -> BytecodeCache | None:
    """Jinja's cache of compiled templates, in a private folder of the system's temp dir.

    Compiling the report template is a tenth of a second of every run; with the cache,
    only the first run on a machine (or after an upgrade: entries are keyed by the
    template's source) pays it. A cache that cannot be written is simply not used.
    """
    from jinja2 import FileSystemBytecodeCache

    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp dir: compile every time
        return None


@functools.cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    def finalize(value: Any) -> Any:  # every {{ value }}; markup we built is left alone
        if isinstance(value, str) and not isinstance(value, Markup):
            return visible(value)
        return value

    env = Environment(
        loader=PackageLoader("probes.reporting", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["moment"] = moment
    env.filters["duration"] = lambda seconds: format_duration(max(float(seconds), 0.0))
    env.filters["capped"] = _capped
    env.filters["actual"] = _actual
    return env
