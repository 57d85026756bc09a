"""junit.xml: valid against the junit-10 XSD whatever the checks produced, and readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from probes.model import Category
from probes.reporting.junit import MESSAGE_LIMIT, TEXT_LIMIT, junit_time, render_junit, write_junit
from tests.helpers.results import (
    assertion,
    error_check,
    failed_check,
    hostile_run,
    passed_check,
    rich_run,
    run_result,
    skipped_check,
)

# The junit-10 schema used by Jenkins and pytest (MIT, Gregory Boissinot), kept beside the tests.
XSD = Path(__file__).with_name("junit-10.xsd")
SUREFIRE_TIME = r"^\d+\.\d{3}$"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def valid_tree(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    schema.assertValid(root)
    return root


def test_rich_run_is_valid_and_counts_every_status(schema: etree.XMLSchema) -> None:
    run = rich_run()
    root = valid_tree(schema, render_junit(run, hostname="runner-1"))

    assert root.tag == "testsuites"
    assert set(root.attrib) == {"name", "time", "tests", "failures", "errors"}
    assert root.get("name") == "nightly-prod"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "1", "3")
    assert root.get("time") == "3.200"


def test_one_testsuite_per_group_and_testcases_in_run_order(schema: etree.XMLSchema) -> None:
    run = run_result(
        passed_check("a", group="apis"),
        error_check("b", group="databases"),
        failed_check("c", group="apis", duration_s=0.5),
        skipped_check("d", group="databases"),
    )
    root = valid_tree(schema, render_junit(run, hostname="runner-1"))

    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["apis", "databases"]
    apis, databases = suites
    assert [c.get("name") for c in apis.findall("testcase")] == ["a", "c"]
    assert [c.get("name") for c in databases.findall("testcase")] == ["b", "d"]
    assert {c.get("classname") for c in apis.findall("testcase")} == {"nightly-prod.apis"}
    assert dict(apis.attrib) == {
        "name": "apis", "tests": "2", "failures": "1", "errors": "0", "skipped": "0",
        "time": "0.623", "timestamp": run.started_at, "hostname": "runner-1",
    }
    assert (databases.get("errors"), databases.get("skipped")) == ("1", "1")


def test_failed_check_has_a_failure_with_the_actual_values(schema: etree.XMLSchema) -> None:
    run = run_result(failed_check("scoring api"))
    case = valid_tree(schema, render_junit(run)).find("testsuite/testcase")

    failure = case.find("failure")
    assert failure.get("type") == "assertion"
    assert failure.get("message") == "status (503) == 200"
    # only the false conditions in the failure body; all of them in system-out
    assert failure.text == "status (503) == 200"
    out = case.find("system-out").text
    assert "FAIL  status (503) == 200" in out
    assert "pass  latency (45ms) < 500ms" in out
    assert "target: GET https://api.internal/health" in out
    assert "#2 failed in 100ms: status (503) == 200" in out
    assert case.find("error") is None and case.find("skipped") is None


def test_error_check_has_its_category_and_evidence(schema: etree.XMLSchema) -> None:
    traceback = "Traceback (most recent call last):\nZeroDivisionError: division by zero"
    run = run_result(error_check("warehouse", category=Category.INTERNAL,
                                 message="the check crashed", evidence=traceback))
    case = valid_tree(schema, render_junit(run)).find("testsuite/testcase")

    error = case.find("error")
    assert (error.get("type"), error.get("message")) == ("internal", "the check crashed")
    assert error.text == traceback
    assert "status: error [internal]" in case.find("system-out").text
    assert case.find("failure") is None


def test_skipped_check_says_why(schema: etree.XMLSchema) -> None:
    case = valid_tree(schema, render_junit(run_result(skipped_check()))).find("testsuite/testcase")

    assert case.find("skipped").get("message") == "disabled"
    assert case.get("time") == "0.000"


def test_history_and_notes_are_in_the_evidence() -> None:
    root = etree.fromstring(render_junit(rich_run()))
    case = root.find("testsuite/testcase[@name='orders api']")
    out = case.find("system-out").text

    assert "json.items[0].id (absent) == 7 [no such value]" in case.find("failure").text
    assert 'header.Content-Type ("text/html") contains "json"' in case.find("failure").text
    assert "previous run: passed" in out
    assert "failing since: 2024-05-05T03:00:00+00:00 (2 runs in a row)" in out
    assert "history (oldest first): passed passed failed" in out
    assert "description: Orders for the morning report" in out


def test_control_characters_are_escaped_and_unicode_kept(schema: etree.XMLSchema) -> None:
    xml = render_junit(hostile_run())
    root = valid_tree(schema, xml)

    for raw in ("\x00", "\x1b", "\x07", "\ud800", "\ufffe"):
        assert raw.encode("utf-8", "surrogatepass") not in xml
    failed = root.find("testsuite/testcase")
    assert failed.get("name").startswith("name bad\\x00byte \\x1b[31mred")
    assert "é ü 🚀 <&>\"'" in failed.get("name")
    classname = failed.get("classname")
    assert classname.startswith("suite bad\\x00byte \\x1b[31mred")
    assert "\\ud800 \\ufffe \\uffff é ü 🚀" in classname and classname.endswith(".apis")
    error = root.find("testsuite[2]/testcase/error")
    assert "\\x1b[31mred" in error.text


def test_huge_messages_stay_valid_and_bounded(schema: etree.XMLSchema) -> None:
    huge = "x" * 3_000_000
    run = run_result(
        error_check("huge", message=huge, evidence=huge),
        failed_check("huge failure", message=huge,
                     assertions=(assertion("body == \"ok\"", huge, False),)),
    )
    xml = render_junit(run)
    root = valid_tree(schema, xml)

    error = root.find("testsuite[@name='databases']/testcase/error")
    assert len(error.get("message")) == MESSAGE_LIMIT + 1
    assert error.text.endswith(f"[… {len(huge) - TEXT_LIMIT} more characters cut]")
    failure = root.find("testsuite[@name='apis']/testcase/failure")
    assert len(failure.get("message")) == MESSAGE_LIMIT + 1
    assert len(xml) < 1_000_000


def test_empty_run_is_valid(schema: etree.XMLSchema) -> None:
    root = valid_tree(schema, render_junit(run_result(duration_s=0.0)))

    assert len(root) == 0
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")


@pytest.mark.parametrize(("seconds", "expected"), [
    (0.0, "0.000"), (0.0004, "0.000"), (0.1234567, "0.123"), (12345.6789, "12345.679"),
    (float("nan"), "0.000"), (float("inf"), "0.000"), (-1.0, "0.000"),
])
def test_times_have_at_most_three_decimals(seconds: float, expected: str) -> None:
    assert junit_time(seconds) == expected


def test_odd_durations_still_validate(schema: etree.XMLSchema) -> None:
    run = run_result(passed_check("slow", duration_s=86_400.123456),
                     passed_check("nan", duration_s=float("nan")), duration_s=1e7 / 3)
    root = valid_tree(schema, render_junit(run))

    assert root.get("time") == "3333333.333"
    assert [c.get("time") for c in root.iter("testcase")] == ["86400.123", "0.000"]


def test_write_junit_creates_the_directory(tmp_path: Path, schema: etree.XMLSchema) -> None:
    target = tmp_path / "nested" / "reports" / "junit.xml"
    run = run_result(passed_check(), failed_check("db"))
    write_junit(run, target)

    root = valid_tree(schema, target.read_bytes())
    assert root.get("tests") == "2"
    assert [p.name for p in target.parent.iterdir()] == ["junit.xml"]
