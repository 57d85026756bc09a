"""`junit.xml`: the run as JUnit XML, valid against the junit-10 schema (Jenkins, pytest).

`<testsuites>` is the run, one `<testsuite>` per group, one `<testcase>` per check.
A failed check carries `<failure>`, an error `<error type=<category>>`, a skipped
check `<skipped>`; the evidence a person needs at 3 a.m. (the conditions with their
actual values, the attempts, the target, tracebacks, history) is in `<system-out>`.
"""

from __future__ import annotations

import math
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from probes.conditions import format_actual
from probes.model import Attempt, CheckResult, RunResult, Status
from probes.reporting.files import write_atomic
from probes.units import format_duration

FAILURE_TYPE = "assertion"
MESSAGE_LIMIT = 1000  # characters of a message attribute; more of it is in <system-out>
LINE_LIMIT = 2_000  # characters of one line of evidence (a condition, an attempt, a value)
TEXT_LIMIT = 100_000  # characters of one evidence block, so one check cannot bloat the file

# Characters XML 1.0 cannot carry, even escaped: C0 controls but tab/LF/CR,
# lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def write_junit(run: RunResult, path: Path) -> None:
    write_atomic(Path(path), render_junit(run))


def render_junit(run: RunResult, hostname: str | None = None) -> bytes:
    host = hostname if hostname is not None else socket.gethostname()
    summary = run.summary
    root = ET.Element("testsuites", {
        "name": xml_text(run.suite),
        "time": junit_time(run.duration_s),
        "tests": str(summary.total),
        "failures": str(summary.failed),
        "errors": str(summary.error),
    })
    for group, checks in _by_group(run.checks).items():
        root.append(_testsuite(run, group, checks, host))
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry written as a visible escape."""
    return _NOT_XML.sub(_visible_escape, text)


def junit_time(seconds: float) -> str:
    """Seconds with 3 decimals, the most the schema's SUREFIRE_TIME allows."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    return f"{seconds:.3f}"


def _visible_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _by_group(checks: tuple[CheckResult, ...]) -> dict[str, list[CheckResult]]:
    groups: dict[str, list[CheckResult]] = {}
    for check in checks:
        groups.setdefault(check.group, []).append(check)
    return groups


def _testsuite(run: RunResult, group: str, checks: list[CheckResult], host: str) -> ET.Element:
    suite = ET.Element("testsuite", {
        "name": xml_text(group),
        "tests": str(len(checks)),
        "failures": str(sum(c.status is Status.FAILED for c in checks)),
        "errors": str(sum(c.status is Status.ERROR for c in checks)),
        "skipped": str(sum(c.status is Status.SKIPPED for c in checks)),
        # Checks of a group run concurrently: this is the time they took, not wall time.
        "time": junit_time(sum(c.duration_s for c in checks)),
        "timestamp": xml_text(run.started_at),
        "hostname": xml_text(host),
    })
    for check in checks:
        suite.append(_testcase(run.suite, check))
    return suite


def _testcase(suite_name: str, check: CheckResult) -> ET.Element:
    case = ET.Element("testcase", {
        "classname": xml_text(f"{suite_name}.{check.group}"),
        "name": xml_text(check.name),
        "time": junit_time(check.duration_s),
    })
    outcome = _outcome(check)
    if outcome is not None:
        case.append(outcome)
    out = ET.SubElement(case, "system-out")
    out.text = xml_text(evidence_text(check))
    return case


def _outcome(check: CheckResult) -> ET.Element | None:
    if check.status is Status.FAILED:
        element = ET.Element("failure", {"type": FAILURE_TYPE, "message": _message(check)})
        failed = [a for a in check.assertions if not a.passed]
        lines = [_assertion_line(a.describe(), a.note) for a in failed]
        element.text = xml_text(_cap("\n".join(lines) or check.message, TEXT_LIMIT))
        return element
    if check.status is Status.ERROR:
        category = str(check.category) if check.category else "internal"
        element = ET.Element("error", {"type": category, "message": _message(check)})
        element.text = xml_text(_cap(check.evidence or check.message, TEXT_LIMIT))
        return element
    if check.status is Status.SKIPPED:
        attributes = {"message": _message(check)} if check.message else {}
        return ET.Element("skipped", attributes)
    return None


def _message(check: CheckResult) -> str:
    message = check.message or str(check.status)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "…"
    return xml_text(message)


def _assertion_line(described: str, note: str) -> str:
    return _cap(f"{described} [{note}]" if note else described, LINE_LIMIT)


def evidence_text(check: CheckResult) -> str:
    """What a person reads to understand the result, as plain text."""
    lines = [f"status: {check.status}" + (f" [{check.category}]" if check.category else "")]
    if check.message:
        lines.append(f"message: {_cap(check.message, LINE_LIMIT)}")
    lines.append(f"kind: {check.kind}")
    if check.target:
        lines.append(f"target: {_cap(check.target, LINE_LIMIT)}")
    if check.description:
        lines.append(f"description: {_cap(check.description, LINE_LIMIT)}")
    if check.tags:
        lines.append(f"tags: {', '.join(check.tags)}")
    if check.assertions:
        lines.append("conditions:")
        for assertion in check.assertions:
            mark = "pass" if assertion.passed else "FAIL"
            lines.append(f"  {mark}  {_assertion_line(assertion.describe(), assertion.note)}")
    if check.attempt_log:
        lines.append(f"attempts: {check.attempts}")
        lines.extend(f"  {_attempt_line(attempt)}" for attempt in check.attempt_log)
    if check.observations:
        lines.append("observations:")
        lines.extend(f"  {key}: {_cap(format_actual(value), LINE_LIMIT)}"
                     for key, value in check.observations.items())
    lines.extend(_history_lines(check))
    if check.evidence:
        lines.append("evidence:")
        lines.append(_cap(check.evidence, TEXT_LIMIT))
    return "\n".join(lines)


def _attempt_line(attempt: Attempt) -> str:
    outcome = str(attempt.status)
    if attempt.category:
        outcome += f" [{attempt.category}]"
    line = f"#{attempt.number} {outcome} in {format_duration(attempt.duration_s)}"
    return _cap(f"{line}: {attempt.message}", LINE_LIMIT) if attempt.message else line


def _history_lines(check: CheckResult) -> list[str]:
    lines = []
    if check.previous_status is not None:
        lines.append(f"previous run: {check.previous_status}")
    if check.failing_since:
        streak = f" ({check.failing_streak} runs in a row)" if check.failing_streak else ""
        lines.append(f"failing since: {check.failing_since}{streak}")
    if check.history:
        lines.append(f"history (oldest first): {' '.join(str(s) for s in check.history)}")
    return lines


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [… {len(text) - limit} more characters cut]"
