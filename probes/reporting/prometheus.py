"""A node_exporter textfile (and optionally a Pushgateway push) of a run's results.

prometheus_client does the formatting and the atomic write; it is imported only
when metrics are asked for.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probes.model import RunResult, Status

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


def build_registry(run: RunResult) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    labels = ["suite", "check", "group", "kind"]
    success = Gauge("probe_success", "1 if the check passed, 0 if it failed or errored",
                    labels, registry=registry)
    duration = Gauge("probe_duration_seconds", "How long the check took, attempts included",
                     labels, registry=registry)
    attempts = Gauge("probe_attempts", "Attempts made", labels, registry=registry)
    days_left = Gauge("probe_tls_days_left", "Days until the certificate expires",
                      labels, registry=registry)
    checks = Gauge("probe_run_checks", "Checks of the run by status", ["suite", "status"],
                   registry=registry)
    started = Gauge("probe_run_timestamp_seconds", "When the run started (Unix time)",
                    ["suite"], registry=registry)
    run_duration = Gauge("probe_run_duration_seconds", "How long the run took", ["suite"],
                         registry=registry)
    for check in run.checks:
        if check.status is Status.SKIPPED:
            continue
        values = (run.suite, check.name, check.group, check.kind)
        success.labels(*values).set(1 if check.status is Status.PASSED else 0)
        duration.labels(*values).set(check.duration_s)
        attempts.labels(*values).set(check.attempts)
        left = check.observations.get("days_left")
        if isinstance(left, int | float) and not isinstance(left, bool):
            days_left.labels(*values).set(float(left))
    summary = run.summary
    for status, count in (("passed", summary.passed), ("failed", summary.failed),
                          ("error", summary.error), ("skipped", summary.skipped)):
        checks.labels(run.suite, status).set(count)
    started.labels(run.suite).set(datetime.fromisoformat(run.started_at).timestamp())
    run_duration.labels(run.suite).set(run.duration_s)
    return registry


def write_textfile(run: RunResult, path: Path) -> None:
    """Write atomically, so node_exporter never reads half a file."""
    from prometheus_client import write_to_textfile

    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), build_registry(run))


def push(run: RunResult, gateway: str, timeout_s: float = 10.0) -> None:
    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import default_handler

    def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                data: bytes) -> object:
        return default_handler(url, method, timeout_s, headers, data)

    push_to_gateway(gateway, job="probes", registry=build_registry(run),
                    grouping_key={"suite": run.suite}, handler=handler)
