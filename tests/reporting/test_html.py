"""report.html as markup: content, order, escaping, self-containment, `probe report`.

What a browser makes of it (scripts, filters, rendering) is in test_html_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner

from probes.cli import main
from probes.model import Category, RunResult, Status
from probes.reporting.html import moment, render_html, write_html
from probes.reporting.json import write_json
from tests.helpers.results import (
    HOSTILE_TEXT,
    assertion,
    error_check,
    failed_check,
    hostile_run,
    passed_check,
    rich_run,
    run_result,
    skipped_check,
)

PAYLOAD = ('<img src=x onerror="document.title=\'pwned\'">'
           '<script>document.title="pwned"</script>')


def parse(run: RunResult) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(render_html(run))


def text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def test_header_names_the_suite_start_duration_and_counts() -> None:
    doc = parse(rich_run())
    header = doc.get_element_by_id("top")
    assert text(header.find_class("suite")[0]) == "nightly-prod"
    assert text(header.find_class("verdict")[0]) == "4 of 7 checks failing"
    assert "2024-05-06 03:00:00 UTC" in text(header)
    assert "took 3.2s" in text(header)
    counts = {li.get("class").split()[1]: text(li) for li in header.find_class("count")}
    assert counts == {"passed": "✓ 2 passed", "failed": "✗ 1 failed", "error": "! 3 error",
                      "skipped": "\u2013 1 skipped"}
    assert doc.find(".//title").text == "4 of 7 checks failing · nightly-prod"


@pytest.mark.parametrize(("checks", "verdict"), [
    ((passed_check("a"), skipped_check("b")), "All 1 checks passed, 1 skipped"),
    ((skipped_check("b"),), "All 1 checks skipped"),
    ((), "No checks"),
])
def test_the_verdict_of_a_green_run(checks: tuple, verdict: str) -> None:
    doc = parse(run_result(*checks))
    assert text(doc.find_class("verdict")[0]) == verdict
    assert doc.find(".//body").get("class") == "is-ok"


def test_failing_checks_come_first_with_reason_category_since_and_false_conditions() -> None:
    run = run_result(
        passed_check("first passing"),
        failed_check("api", message="status (503) == 200",
                     assertions=(assertion("status == 200", 503, False),
                                 assertion("latency < 500ms", 0.01, True)),
                     failing_since="2024-05-04T03:00:00+00:00", failing_streak=3,
                     previous_status=Status.FAILED),
        skipped_check("old"),
        error_check("warehouse", category=Category.AUTH, message="password rejected"),
    )
    doc = parse(run)
    cards = doc.get_element_by_id("failing").findall("article")
    assert [text(card.find_class("name")[0]) for card in cards] == ["api", "warehouse"]
    api, warehouse = cards
    assert text(api.find_class("reason")[0]) == "status (503) == 200"
    assert text(api.find_class("since")[0]) == (
        "failing since 2024-05-04 03:00:00 UTC (3 runs) · previous run: failed")
    assert [text(li) for li in api.find_class("conditions")[0].findall("li")] == [
        "✗ status (503) == 200"]
    assert text(warehouse.find_class("category")[0]) == "auth"
    assert text(warehouse.find_class("reason")[0]) == "password rejected"

    rows = doc.get_element_by_id("checks").findall("tbody/tr")
    assert [row.get("class") for row in rows] == ["failed", "error", "passed", "skipped"]
    # The cards come before the table in the document, so above every passing row.
    body = list(doc.iter())
    assert body.index(cards[-1]) < body.index(rows[2])


def test_the_evidence_has_every_condition_attempts_duration_target_and_text() -> None:
    run = rich_run()
    doc = parse(run)
    card = doc.get_element_by_id("failing").findall("article")[0]
    evidence = card.find(".//details")
    assert text(evidence.find("summary")) == "Evidence"
    content = text(evidence)
    for described in ('json.items[0].id (absent) == 7 [no such value]',
                      'header.Content-Type ("text/html") contains "json"',
                      "status (200) in [200, 204]"):
        assert described in content
    facts = evidence.find_class("facts")[0]
    shown = {text(dt): text(dt.getnext()) for dt in facts.findall("dt")}
    assert shown["target"] == "GET https://api.internal/health"
    assert shown["description"] == "Orders for the morning report"
    assert shown["duration"] == "123ms"
    assert shown["attempts"] == "2"
    assert len(evidence.find_class("attempts")[0].findall("tbody/tr")) == 2
    crashed = doc.get_element_by_id("failing").findall("article")[2]
    assert "ZeroDivisionError: division by zero" in crashed.find(".//pre").text


def test_the_table_has_status_group_kind_tags_duration_and_history_strip() -> None:
    check = passed_check("api", tags=("critical", "db"), duration_s=1.5,
                         history=(Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED))
    doc = parse(run_result(check))
    [row] = doc.get_element_by_id("checks").findall("tbody/tr")
    cells = [text(td) for td in row.findall("td")]
    # a passed check shows its conditions held, with the actual values
    assert cells == ["✓ passed", "apistatus (200) == 200 · latency (45ms) < 500ms", "apis",
                     "http", "critical, db", "1.5s", "✓✗!\u2013"]
    assert row.get("data-tags") is None  # the text says it all
    strip = row.findall("td")[-1]
    assert [child.tag for child in strip] == ["b", "i", "u"]  # styled per status


def test_tags_that_contain_the_separator_are_also_listed_apart() -> None:
    doc = parse(run_result(passed_check("api", tags=("team a, b", "z"))))
    [row] = doc.get_element_by_id("checks").findall("tbody/tr")
    assert row.get("data-tags") == "team a, b\nz"


def test_a_strip_shows_at_most_what_history_holds() -> None:
    doc = parse(run_result(passed_check("new")))
    [row] = doc.get_element_by_id("checks").findall("tbody/tr")
    assert text(row.findall("td")[-1]) == ""
    assert "No run history was available" in text(doc.find_class("legend")[0])


def test_text_from_a_target_is_escaped_everywhere() -> None:
    check = failed_check(
        PAYLOAD, group=PAYLOAD, tags=(PAYLOAD,), message=PAYLOAD, evidence=PAYLOAD,
        target=PAYLOAD, description=PAYLOAD,
        assertions=(assertion("body contains \"ok\"", PAYLOAD, False),),
        observations={"body": PAYLOAD, PAYLOAD: 1},
    )
    run = run_result(check, suite=PAYLOAD, warnings=(PAYLOAD,))
    html = render_html(run)
    doc = lxml.html.fromstring(html)
    assert doc.findall(".//img") == []
    scripts = doc.findall(".//script")
    assert len(scripts) == 1 and "pwned" not in scripts[0].text
    assert not [el for el in doc.iter() if any(a.startswith("on") for a in el.attrib)]
    assert html.count("&lt;img src=x onerror=") >= 10
    assert PAYLOAD in text(doc.get_element_by_id("failing"))


def test_control_characters_and_lone_surrogates_become_visible_escapes(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(hostile_run(), path)
    html = path.read_text(encoding="utf-8")
    assert "\x00" not in html and "\x1b" not in html
    assert "bad\\x00byte \\x1b[31mred" in html
    assert "\\ud800" in html
    assert "é ü 🚀" in html
    assert HOSTILE_TEXT not in html


def test_the_report_is_self_contained() -> None:
    html = render_html(rich_run())
    doc = lxml.html.fromstring(html)
    for element in doc.iter():
        for attribute in ("src", "href", "action", "srcset", "poster", "data"):
            value = element.get(attribute)
            if value is not None:
                assert value.startswith(("#", "data:")), (element.tag, attribute, value)
    assert not doc.xpath("//link[@rel='stylesheet'] | //script[@src] | //iframe | //object")
    style = doc.find(".//style").text
    assert "@import" not in style
    assert re.findall(r"url\(", style) == []
    assert "http://" not in style and "https://" not in style
    assert "http" not in doc.find(".//script").text


def test_a_content_security_policy_allows_only_the_reports_own_script() -> None:
    doc = parse(rich_run())
    [meta] = doc.xpath("//meta[@http-equiv='Content-Security-Policy']")
    policy = dict(part.strip().split(" ", 1) for part in meta.get("content").split(";"))
    assert policy["default-src"] == "'none'"
    script = doc.find(".//script").text
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"


def test_without_scripts_the_filters_are_hidden_and_every_check_is_listed() -> None:
    doc = parse(rich_run())
    assert doc.get_element_by_id("filters").get("hidden") is not None
    rows = doc.get_element_by_id("checks").findall("tbody/tr")
    assert len(rows) == 7 and all(row.get("hidden") is None for row in rows)


def test_filter_choices_are_the_runs_groups_and_tags() -> None:
    run = run_result(passed_check("a", group="apis", tags=("x", "critical")),
                     failed_check("b", group="databases", tags=("x",)))
    doc = parse(run)
    form = doc.get_element_by_id("filters")
    options = {select.get("name"): [o.get("value") for o in select.findall("option")]
               for select in form.findall(".//select")}
    assert options["group"] == ["", "apis", "databases"]
    assert options["tag"] == ["", "critical", "x"]
    assert options["status"] == ["", "failing", "passed", "failed", "error", "skipped"]


def test_long_evidence_is_cut_with_a_pointer_to_the_full_text() -> None:
    long_text = "x" * 50_000
    doc = parse(run_result(error_check("big", evidence=long_text)))
    pre = doc.find(".//pre").text
    assert len(pre) < 21_000
    assert pre.endswith("30000 more characters in results.json")


def test_warnings_notifications_and_interruption_are_shown() -> None:
    doc = parse(replace(rich_run(), interrupted=True))
    header = text(doc.get_element_by_id("top"))
    assert "This run was interrupted" in header
    assert "cannot write reports/report.html: PermissionError: denied" in header
    assert "✓ notified slack://T***/B***/***" in header
    assert "✗ not notified mailto://ops@***: connection refused" in header


@pytest.mark.parametrize(("iso", "shown"), [
    ("2024-05-06T03:00:00.000+00:00", "2024-05-06 03:00:00 UTC"),
    ("2024-05-06T05:00:00+02:00", "2024-05-06 05:00:00 +02:00"),
    ("2024-05-06T03:00:00", "2024-05-06 03:00:00"),
    ("not a time", "not a time"),
])
def test_times_are_shown_for_people(iso: str, shown: str) -> None:
    assert moment(iso) == shown


def test_write_html_writes_utf8_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.html"
    write_html(rich_run(), path)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_probe_report_rebuilds_html_and_junit_beside_the_results(tmp_path: Path) -> None:
    results = tmp_path / "saved" / "results.json"
    write_json(rich_run(), results)
    outcome = CliRunner().invoke(main, ["report", str(results)])
    assert outcome.exit_code == 0, outcome.output
    html = (results.parent / "report.html").read_text(encoding="utf-8")
    assert "4 of 7 checks failing" in html
    assert "failing since" in html
    junit = (results.parent / "junit.xml").read_text(encoding="utf-8")
    assert '<testsuites name="nightly-prod"' in junit
    assert f"wrote {results.parent / 'report.html'}" in outcome.output


def test_probe_report_writes_where_it_is_told(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    write_json(rich_run(), results)
    html, junit = tmp_path / "out" / "r.html", tmp_path / "ci" / "j.xml"
    outcome = CliRunner().invoke(main, ["report", str(results), "--html", str(html),
                                        "--junit", str(junit)])
    assert outcome.exit_code == 0, outcome.output
    assert html.is_file() and junit.is_file()
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("content", [
    json.dumps({"hello": "world"}),
    '{"suite": "x", "started_at": "not a date", "duration_s": 1, "checks": []}',
    '{"suite": "x", "started_at": "2026-01-01T00:00:00+00:00", "duration_s": NaN, "checks": []}',
    '{"suite": "x", "checks": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
@pytest.mark.parametrize("command", ["report", "merge"])
def test_report_and_merge_reject_a_file_that_is_not_results(tmp_path: Path, content: str,
                                                             command: str) -> None:
    bogus = tmp_path / "results.json"
    bogus.write_text(content)
    config = tmp_path / "checks.yaml"
    config.write_text("checks: [{name: a, kind: file, path: /x}]\n")
    args = [command, str(bogus)] + (["-c", str(config)] if command == "merge" else [])
    outcome = CliRunner().invoke(main, args)
    assert outcome.exit_code == 2, outcome.output
    assert "not a probes results file" in outcome.output
    assert not (tmp_path / "report.html").exists()


def test_probe_report_says_which_report_it_could_not_write(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    write_json(rich_run(), results)
    blocker = tmp_path / "file"
    blocker.write_text("")
    outcome = CliRunner().invoke(main, ["report", str(results),
                                        "--html", str(blocker / "report.html")])
    assert outcome.exit_code == 1
    assert "cannot write" in outcome.output
    assert (tmp_path / "junit.xml").is_file()  # the other one is still written
