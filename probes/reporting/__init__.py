"""Report writers. Each only reads a `RunResult`; none of them runs anything.

junit.py (CI), json.py (scripts, `probe merge`), html.py (people), console.py
(the terminal or CI log), prometheus.py (metrics). Writers are imported when
used, so importing this package costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probes.model import RunResult

JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"
JSON_FILE = "results.json"


@dataclass(frozen=True)
class ReportPaths:
    """Where each report goes; None means that report is not written."""

    junit: Path | None
    html: Path | None
    json: Path | None

    @classmethod
    def in_dir(
        cls,
        reports_dir: Path | str,
        *,
        junit: Path | str | None = None,
        html: Path | str | None = None,
        json: Path | str | None = None,
    ) -> ReportPaths:
        """The default file names in `reports_dir`, each replaced by its override when given."""
        base = Path(reports_dir)
        return cls(
            junit=Path(junit) if junit else base / JUNIT_FILE,
            html=Path(html) if html else base / HTML_FILE,
            json=Path(json) if json else base / JSON_FILE,
        )

    def all(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.junit, self.html, self.json) if p is not None)


def write_reports(run: RunResult, paths: ReportPaths) -> list[str]:
    """Write each report on its own: one failing writer must not cost the others.

    Returns one warning per report that could not be written. JSON goes first: it is
    the file every other report can be rebuilt from.
    """
    problems: list[str] = []
    for path, writer in ((paths.json, _json_writer), (paths.junit, _junit_writer),
                         (paths.html, _html_writer)):
        if path is None:
            continue
        try:
            writer()(run, path)
        except Exception as exc:  # a writer's bug must not lose the other reports
            problems.append(f"cannot write {path}: {type(exc).__name__}: {exc}")
    return problems


Writer = Callable[[RunResult, Path], None]


def _json_writer() -> Writer:
    from probes.reporting.json import write_json

    return write_json


def _junit_writer() -> Writer:
    from probes.reporting.junit import write_junit

    return write_junit


def _html_writer() -> Writer:
    from probes.reporting.html import write_html

    return write_html
