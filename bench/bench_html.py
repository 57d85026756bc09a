"""The HTML report for a large run: file size, render time, and load time in Chromium.

Builds a run of N checks (2% failed, 1% error, 2% skipped, each with a 14-run
history, the failing ones with conditions, attempts and evidence), renders
`report.html`, and opens it in headless Chromium:

- load: navigationStart → loadEventEnd as the page itself measures it (reading,
  parsing, styling, layout and the report's script): the first load in a freshly
  started browser, and two more loads in the same browser, in each of R browsers;
- dump: the wall time of `chromium --dump-dom` on the report minus the same on an
  empty page: what the report adds to a browser started just for it, including
  the browser's own start-up work competing with the page and the serialisation
  of the whole DOM.

    .venv/bin/python bench/bench_html.py [--checks 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes.model import (
    AssertionResult,
    Attempt,
    Category,
    CheckResult,
    RunResult,
    Status,
)
from probes.reporting.html import render_html, write_html
from probes.units import Seconds
from tests.helpers.browser import DevTools, dump_dom, file_url

GROUPS = ("apis", "databases", "files", "certificates", "network", "jobs", "partners", "ml")
LOAD_TIME_JS = ("(() => { const t = performance.getEntriesByType('navigation')[0];"
                " return t.loadEventEnd - t.startTime; })()")
TAGS = ("critical", "db", "nightly", "team-a", "team-b", "pii", "external")


def big_run(count: int) -> RunResult:
    checks = []
    for i in range(count):
        status = (Status.FAILED if i % 50 == 0 else Status.ERROR if i % 100 == 1
                  else Status.SKIPPED if i % 50 == 2 else Status.PASSED)
        history = tuple(Status.FAILED if (i + run) % 23 == 0 else Status.PASSED
                        for run in range(14))
        common = {
            "name": f"check {i:05d} {GROUPS[i % len(GROUPS)]} endpoint",
            "kind": ("http", "sql", "tcp", "tls", "dns", "file")[i % 6],
            "group": GROUPS[i % len(GROUPS)],
            "tags": (TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)]),
            "duration_s": 0.01 + (i % 97) / 100,
            "target": f"GET https://service-{i}.internal/health",
            "history": history,
            "previous_status": Status.PASSED,
            "failing_streak": 0,
        }
        if status is Status.FAILED:
            failing = AssertionResult("status == 200", 503, False)
            checks.append(CheckResult(
                status=status, category=None, message=failing.describe(), attempts=2,
                assertions=(failing, AssertionResult("latency < 500ms", Seconds(0.2), True)),
                attempt_log=(Attempt(1, status, None, failing.describe(), 0.2),
                             Attempt(2, status, None, failing.describe(), 0.2)),
                observations={"status": 503, "latency": Seconds(0.2)},
                evidence='{"status": "DOWN", "detail": "upstream timeout"}',
                **{**common, "failing_streak": 3,
                   "failing_since": "2024-05-04T03:00:00+00:00"},
            ))
        elif status is Status.ERROR:
            message = f"connection refused by service-{i}.internal:443"
            checks.append(CheckResult(
                status=status, category=Category.CONNECT, message=message, attempts=1,
                attempt_log=(Attempt(1, status, Category.CONNECT, message, 0.01),),
                evidence="ConnectionRefusedError: [Errno 111] Connection refused",
                **{**common, "failing_streak": 1,
                   "failing_since": "2024-05-06T03:00:00+00:00"},
            ))
        else:
            checks.append(CheckResult(
                status=status, category=None,
                message="disabled (enabled: false)" if status is Status.SKIPPED else "",
                attempts=0 if status is Status.SKIPPED else 1,
                assertions=() if status is Status.SKIPPED else (
                    AssertionResult("status == 200", 200, True),),
                **common,
            ))
    return RunResult(suite="bench", started_at="2024-05-06T03:00:00.000+00:00",
                     duration_s=42.0, checks=tuple(checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    run = big_run(args.checks)
    render_s = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        html = render_html(run)
        render_s.append(time.perf_counter() - start)
    size = len(html.encode("utf-8"))

    with tempfile.TemporaryDirectory() as tmp:
        report, empty = Path(tmp) / "report.html", Path(tmp) / "empty.html"
        write_html(run, report)
        empty.write_text("<!DOCTYPE html><title>empty</title>", encoding="utf-8")

        cold_ms, warm_ms = [], []
        for _ in range(args.repeat):
            with DevTools() as page:  # a fresh browser: its first load is the cold one
                for loads in (cold_ms, warm_ms, warm_ms):
                    page.navigate(file_url(report))
                    loads.append(page.evaluate(LOAD_TIME_JS))
                rows = page.evaluate("document.querySelectorAll('#checks tbody tr').length")
                assert rows == args.checks, rows

        dump_extra = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            dump_dom(file_url(empty))
            empty_s = time.perf_counter() - start
            start = time.perf_counter()
            dom = dump_dom(file_url(report))
            dump_extra.append(time.perf_counter() - start - empty_s)
            assert f"{args.checks} of {args.checks} checks shown" in dom

    print(f"{'checks:':<27}{args.checks}")
    print(f"{'report.html size:':<27}{size / 1e6:.2f} MB")
    print(f"{'render (Python):':<27}{statistics.median(render_s):.2f} s median, "
          f"{max(render_s):.2f} s worst of {len(render_s)}")
    for label, loads in (("first load, fresh browser", cold_ms), ("load again", warm_ms)):
        print(f"{label + ':':<27}{statistics.median(loads) / 1000:.2f} s median, "
              f"{max(loads) / 1000:.2f} s worst of {len(loads)} (navigationStart → loadEventEnd)")
    print(f"{'--dump-dom minus empty:':<27}{statistics.median(dump_extra):.2f} s median, "
          f"{max(dump_extra):.2f} s worst of {len(dump_extra)}")


if __name__ == "__main__":
    main()
