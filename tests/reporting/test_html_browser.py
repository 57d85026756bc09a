"""report.html opened in headless Chromium: what a person actually sees.

Screenshots and a PDF print go to test-artifacts/ for a human look.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import lxml.html
import pytest

from probes import state
from probes.model import Category, RunResult, Status
from probes.reporting.html import write_html
from tests.helpers.browser import ARTIFACTS, DevTools, dump_dom, file_url, screenshot
from tests.helpers.results import (
    assertion,
    error_check,
    failed_check,
    passed_check,
    rich_run,
    run_result,
    skipped_check,
)

PAYLOAD = ('<img src=x onerror="document.title=\'pwned\';'
           'document.body.setAttribute(\'data-pwned\',\'img\')">'
           '<script>document.title="pwned";'
           'document.body.setAttribute("data-pwned","script")</script>')
# Rows and cards as the page lays them out: status, vertical position, visibility, text.
ITEMS_JS = """
Array.from(document.querySelectorAll('#failing article, #checks tbody tr')).map(e => ({
  card: e.tagName === 'ARTICLE',
  status: ['passed', 'failed', 'error', 'skipped'].find(s => e.classList.contains(s)),
  top: e.getBoundingClientRect().top + window.scrollY,
  shown: !e.hidden && e.getClientRects().length > 0,
  name: (e.cells ? e.cells[1].firstChild : e.querySelector('.name')).textContent,
  text: e.textContent.replace(/\\s+/g, ' ').trim(),
}))
"""
NEXT_FRAMES = ("new Promise(done => requestAnimationFrame("
               "() => requestAnimationFrame(() => done(true))))")


def mixed_run() -> RunResult:
    """Passing, failing, erroring and skipped checks interleaved in config order."""
    return run_result(
        passed_check("orders api", group="apis", tags=("critical",)),
        failed_check("scoring api", group="apis", tags=("critical", "ml"),
                     message="status (503) == 200",
                     assertions=(assertion("status == 200", 503, False),
                                 assertion("json.status == \"UP\"", "DOWN", False),
                                 assertion("latency < 500ms", 0.045, True))),
        passed_check("warehouse freshness", kind="sql", group="databases", tags=("db",)),
        skipped_check("legacy ftp", tags=()),
        error_check("warehouse", category=Category.TIMEOUT, tags=("db", "critical")),
        passed_check("tls expiry", kind="tls", group="certificates", tags=()),
        passed_check("partner feed", kind="file", group="files", tags=("partner",)),
    )


@pytest.fixture(scope="module")
def page() -> Iterator[DevTools]:
    with DevTools() as browser:
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000,
                     deviceScaleFactor=1, mobile=False)
        yield browser


def open_report(page: DevTools, path: Path, fragment: str = "") -> None:
    page.events.clear()
    page.navigate(file_url(path, fragment))


def items(page: DevTools) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(ITEMS_JS)
    return found


def save_screenshot(page: DevTools, name: str) -> Path:
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_failing_checks_are_shown_above_every_passing_one_with_reasons_and_counts(
    page: DevTools, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    write_html(mixed_run(), report)
    open_report(page, report)

    shown = items(page)
    failing = [i for i in shown if i["status"] in ("failed", "error")]
    passing = [i for i in shown if i["status"] == "passed"]
    assert [i["card"] for i in failing].count(True) == 2
    assert max(i["top"] for i in failing) < min(i["top"] for i in passing)
    assert all(i["shown"] for i in shown)

    cards = [i for i in failing if i["card"]]
    assert "scoring api" in cards[0]["text"]
    assert "status (503) == 200" in cards[0]["text"]
    assert 'json.status ("DOWN") == "UP"' in cards[0]["text"]
    assert "timeout" in cards[1]["text"]
    assert "no result within the 10s timeout" in cards[1]["text"]

    counts = page.evaluate("Array.from(document.querySelectorAll('.count')).map("
                           "li => li.textContent.replace(/\\s+/g, ' ').trim())")
    assert counts == ["✓ 4 passed", "✗ 1 failed", "! 1 error", "\u2013 1 skipped"]
    assert page.evaluate("document.querySelector('.verdict').textContent") == (
        "2 of 7 checks failing")
    assert page.evaluate("document.getElementById('shown').textContent") == "7 of 7 checks shown"
    assert not [e for e in page.events if e["method"] == "Runtime.exceptionThrown"]
    save_screenshot(page, "html-report-mixed.png")


def test_a_screenshot_of_a_rich_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(rich_run(), report)
    shot = screenshot(file_url(report), ARTIFACTS / "html-report.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_a_filter_in_the_address_hides_passing_rows(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(mixed_run(), report)
    doc = lxml.html.fromstring(dump_dom(file_url(report, "status=failing")))
    rows = doc.get_element_by_id("checks").findall("tbody/tr")
    visible = {row.get("class") for row in rows if row.get("hidden") is None}
    hidden = {row.get("class") for row in rows if row.get("hidden") is not None}
    assert visible == {"failed", "error"}
    assert hidden == {"passed", "skipped"}
    assert doc.get_element_by_id("shown").text_content() == "2 of 7 checks shown"
    assert doc.get_element_by_id("filters").get("hidden") is None


@pytest.mark.parametrize(("fragment", "names"), [
    ("group=databases", {"warehouse freshness", "warehouse"}),
    ("tag=critical", {"orders api", "scoring api", "warehouse"}),
    ("tag=critical&status=passed", {"orders api"}),
    ("q=WAREHOUSE", {"warehouse freshness", "warehouse"}),
    ("q=partner&group=files", {"partner feed"}),
    ("status=skipped", {"legacy ftp"}),
    ("c1", {"orders api", "scoring api", "warehouse freshness", "legacy ftp", "warehouse",
            "tls expiry", "partner feed"}),  # a plain anchor is not a filter
])
def test_filters_by_status_group_tag_and_search(page: DevTools, tmp_path: Path,
                                                fragment: str, names: set[str]) -> None:
    report = tmp_path / "report.html"
    write_html(mixed_run(), report)
    open_report(page, report, fragment)
    rows = [i for i in items(page) if not i["card"]]
    assert {row["name"] for row in rows if row["shown"]} == names
    assert len([row for row in rows if row["shown"]]) == len(names)


@pytest.mark.parametrize(("tag", "names"), [("x", {"plain"}), ("x, y", {"odd"}),
                                            ("z", {"odd", "plain"})])
def test_a_tag_containing_the_separator_filters_exactly(page: DevTools, tmp_path: Path,
                                                       tag: str, names: set[str]) -> None:
    report = tmp_path / "report.html"
    write_html(run_result(passed_check("odd", tags=("x, y", "z")),
                          passed_check("plain", tags=("x", "z")),
                          passed_check("none", tags=())), report)
    open_report(page, report, f"tag={quote(tag)}")
    assert {i["name"] for i in items(page) if i["shown"]} == names


def test_the_filter_controls_hide_rows_and_update_the_address(page: DevTools,
                                                              tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(mixed_run(), report)
    open_report(page, report)

    page.evaluate("""(() => {
        const status = document.querySelector('select[name=status]');
        status.value = 'failed';
        status.dispatchEvent(new Event('change', {bubbles: true}));
    })()""")
    page.evaluate(NEXT_FRAMES)
    rows = [i for i in items(page) if not i["card"]]
    assert [r["status"] for r in rows if r["shown"]] == ["failed"]
    cards = [i for i in items(page) if i["card"]]
    assert [c["status"] for c in cards if c["shown"]] == ["failed"]
    assert page.evaluate("location.hash") == "#status=failed"

    page.evaluate("document.querySelector('select[name=status]').value = '';"
                  "document.querySelector('input[name=q]').focus()")
    page.call("Input.insertText", text="tls")
    page.evaluate(NEXT_FRAMES)
    rows = [i for i in items(page) if not i["card"]]
    assert [r["name"] for r in rows if r["shown"]] == ["tls expiry"]
    assert page.evaluate("location.hash") == "#q=tls"
    assert page.evaluate("document.getElementById('failing').hidden") is True
    save_screenshot(page, "html-report-filtered.png")

    page.evaluate("document.querySelector('#filters button[type=reset]').click()")
    page.evaluate("new Promise(done => setTimeout(() => done(true), 0))")
    assert all(i["shown"] for i in items(page))
    assert page.evaluate("location.hash") == ""


def test_without_javascript_every_check_is_listed(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(mixed_run(), report)
    with DevTools() as page:
        page.disable_scripts()
        page.navigate(file_url(report, "status=failed"))
        doc = lxml.html.fromstring(page.outer_html())
        assert page.evaluate("document.querySelectorAll('#checks tbody tr').length") == 7
    rows = doc.get_element_by_id("checks").findall("tbody/tr")
    assert len(rows) == 7 and all(row.get("hidden") is None for row in rows)
    assert doc.get_element_by_id("filters").get("hidden") is not None


def test_a_targets_markup_and_script_cannot_change_the_report(page: DevTools,
                                                              tmp_path: Path) -> None:
    hostile = failed_check(
        f"api {PAYLOAD}", group=PAYLOAD, tags=(PAYLOAD, "critical"),
        message=f"body was {PAYLOAD}", evidence=PAYLOAD, target=PAYLOAD,
        description=PAYLOAD,
        assertions=(assertion("body contains \"ok\"", PAYLOAD, False),),
        observations={"body": PAYLOAD, "header": {"X-Evil": PAYLOAD}},
        attempt_log=(replace(failed_check().attempt_log[0], message=PAYLOAD),),
    )
    run = run_result(hostile, passed_check("fine"), suite=f"nightly {PAYLOAD}",
                     warnings=(PAYLOAD,))
    report = tmp_path / "report.html"
    write_html(run, report)
    page.call("Runtime.enable")
    page.call("Log.enable")
    # The payload as a filter value too: the script puts it into the page only as text.
    open_report(page, report, f"q={quote(PAYLOAD)}&group={quote(PAYLOAD)}")

    title = page.evaluate("document.title")
    assert title == f"1 of 2 checks failing · nightly {PAYLOAD}"
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.evaluate("document.querySelector('#failing article .reason').textContent") == (
        f"body was {PAYLOAD}")
    # Nothing even tried to run: a blocked attempt would show as a CSP violation.
    problems = [e for e in page.events if e["method"] in ("Runtime.exceptionThrown",
                                                          "Log.entryAdded")]
    assert problems == [], json.dumps(problems)[:2000]
    rows = [i for i in items(page) if not i["card"]]
    assert [r["shown"] for r in rows] == [True, False]  # the filter matched the text
    save_screenshot(page, "html-report-hostile.png")


def test_opening_the_report_makes_no_network_request(page: DevTools, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(rich_run(), report)
    page.call("Network.enable")
    try:
        open_report(page, report)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.evaluate(NEXT_FRAMES)
        requested = [e["params"]["request"]["url"] for e in page.events
                     if e["method"] == "Network.requestWillBeSent"]
    finally:
        page.call("Network.disable")
    assert requested == [file_url(report)]


def test_printing_hides_the_filters_and_opens_the_evidence(page: DevTools,
                                                          tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(rich_run(), report)
    open_report(page, report)
    page.call("Emulation.setEmulatedMedia", media="print")
    try:
        assert page.evaluate(
            "getComputedStyle(document.getElementById('filters')).display") == "none"
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        assert page.evaluate("Array.from(document.querySelectorAll('details'))"
                             ".every(d => d.open)") is True
        pdf = base64.b64decode(page.call("Page.printToPDF")["data"])
    finally:
        page.call("Emulation.setEmulatedMedia", media="")
    assert pdf.startswith(b"%PDF")
    (ARTIFACTS / "html-report.pdf").write_bytes(pdf)
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert page.evaluate("Array.from(document.querySelectorAll('details'))"
                         ".some(d => d.open)") is False


def test_three_runs_fail_pass_fail_show_since_and_the_history_strip(page: DevTools,
                                                                    tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    outcome = None
    for day, status in enumerate((Status.FAILED, Status.PASSED, Status.FAILED)):
        check = failed_check("api") if status is Status.FAILED else passed_check("api")
        started = datetime(2024, 5, 1, 3, 0) + timedelta(days=day)
        run = replace(run_result(check, passed_check("steady")),
                      started_at=started.isoformat() + "+00:00")
        outcome = state.record_and_enrich(run, None, reports, 90 * 86400.0)
    assert outcome is not None and outcome.warnings == ()
    report = reports / "report.html"
    write_html(outcome, report)
    open_report(page, report)

    strips = page.evaluate("Array.from(document.querySelectorAll('#checks tbody tr'))"
                           ".map(r => [r.cells[1].firstChild.textContent, r.cells[6].textContent,"
                           " Array.from(r.cells[6].children).map(c => c.tagName)])")
    assert strips == [["api", "✗✓", ["B"]], ["steady", "✓✓", []]]
    since = page.evaluate("document.querySelector('#failing .since').textContent")
    assert " ".join(since.split()) == (
        "failing since 2024-05-03 03:00:00 UTC (1 run) · previous run: passed")
    colours = page.evaluate("Array.from(document.querySelector('#checks tbody tr').cells[6]"
                            ".childNodes).map(n => getComputedStyle(n.nodeType === 1 ? n :"
                            " n.parentElement).color)")
    assert colours[0] != colours[1]  # failed and passed differ in colour as well as shape
