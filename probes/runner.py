"""Running checks: a bounded pool of threads, per-attempt timeouts, retries, a run deadline.

Whatever a kind does — hang in a C library, raise, loop — the runner returns one
`CheckResult` per planned check, in config order, within the timeouts.

Workers run attempts directly (no thread per attempt: at thousands of checks the
hand-offs cost more than the requests). The calling thread is the watchdog: an
attempt that overstays its timeout is recorded as `error/timeout` there, its
worker is abandoned to finish in the background, and a fresh worker takes its
place, so a hanging target never shrinks the pool. Retries are queued with their
delay instead of sleeping in a worker.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from probes.kinds import CheckBase
from probes.model import (
    AssertionResult,
    Attempt,
    Category,
    CheckResult,
    ProbeError,
    RunResult,
    Status,
)
from probes.secrets import Masker
from probes.selection import Planned
from probes.units import format_duration

# How long past its timeout an attempt may run before the runner gives up on it:
# the kind's own library timeouts should fire first; this only catches hangs.
TIMEOUT_GRACE_S = 0.25
OBSERVATION_TEXT_LIMIT = 200  # longer observed text is not kept in results


class Interrupted(Exception):
    """Raised in the main thread by the SIGINT/SIGTERM handler the CLI installs."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class StopRequest:
    """How SIGINT/SIGTERM act on a run.

    While the checks run, the CLI's handler raises `Interrupted`, which the runner turns
    into results. Once they are over, raising could cut a report in half: the handler
    only records the signal here, and what waits for someone else's answer (a webhook)
    sees it and stops waiting.
    """

    def __init__(self) -> None:
        self.checks_over = False
        self.signal_name: str | None = None

    def receive(self, signal_name: str) -> None:
        self.signal_name = signal_name


@dataclass(frozen=True)
class _Outcome:
    status: Status
    category: Category | None
    message: str
    assertions: tuple[AssertionResult, ...] = ()
    evidence: str = ""
    observations: dict[str, Any] | None = None


@dataclass
class _CheckState:
    plan: Planned
    started: float = 0.0
    log: list[Attempt] = field(default_factory=list)
    outcome: _Outcome | None = None


@dataclass(frozen=True)
class _InFlight:
    index: int
    number: int
    started: float
    expires: float  # when the watchdog gives up on it
    by_deadline: bool  # expires because the run deadline comes first


class _Run:
    """The shared state of one run; every field is guarded by `cond`."""

    def __init__(self, planned: Sequence[Planned], deadline_at: float | None,
                 masker: Masker, on_result: Callable[[CheckResult], None] | None) -> None:
        self.states = [_CheckState(p) for p in planned]
        self.deadline_at = deadline_at
        self.masker = masker
        self.on_result = on_result
        self.cond = threading.Condition()
        self.ready: list[tuple[float, int, int, int]] = []  # (not before, seq, index, attempt)
        self.seq = itertools.count()
        self.in_flight: dict[int, _InFlight] = {}  # token → attempt
        self.tokens = itertools.count()
        self.results: list[CheckResult | None] = [None] * len(planned)
        self.remaining = 0
        self.stopped = False

    # --- scheduling (caller holds cond) ---------------------------------------------
    def schedule(self, index: int, number: int, not_before: float) -> None:
        heapq.heappush(self.ready, (not_before, next(self.seq), index, number))
        self.cond.notify()

    def settle(self, index: int, number: int, outcome: _Outcome, started: float) -> None:
        """Record an attempt's outcome; queue a retry or finish the check."""
        state = self.states[index]
        now = time.monotonic()
        state.log.append(Attempt(number, outcome.status, outcome.category, outcome.message,
                                 round(now - started, 3)))
        state.outcome = outcome
        check = state.plan.check
        last = number >= check.retries + 1
        if outcome.status is Status.PASSED or last or self.stopped:
            self.finish(index)
            return
        retry_at = now + check.retry_delay
        if self.deadline_at is not None and retry_at >= self.deadline_at:
            self.finish(index)
            return
        self.schedule(index, number + 1, retry_at)

    def finish(self, index: int) -> None:
        state = self.states[index]
        outcome = state.outcome
        assert outcome is not None
        result = self.masker.check(CheckResult(
            status=outcome.status,
            category=outcome.category,
            message=outcome.message,
            duration_s=round(time.monotonic() - state.started, 3),
            attempts=len(state.log),
            assertions=outcome.assertions,
            evidence=outcome.evidence,
            attempt_log=tuple(state.log),
            observations=outcome.observations or {},
            **_base(state.plan.check),
        ))
        self.results[index] = result
        self.remaining -= 1
        if self.on_result is not None:
            self.on_result(result)
        self.cond.notify_all()

    # --- workers ---------------------------------------------------------------------
    def worker(self) -> None:
        while True:
            with self.cond:
                job = self._next_job()
                if job is None:
                    return
                token, flight = job
            outcome = _attempt(self.states[flight.index].plan.check)
            with self.cond:
                if self.in_flight.pop(token, None) is None:
                    return  # the watchdog gave up on this attempt; a new worker took over
                if not self.stopped:
                    self.settle(flight.index, flight.number, outcome, flight.started)

    def _next_job(self) -> tuple[int, _InFlight] | None:
        while not self.stopped:
            if not self.ready:
                if self.remaining == 0:
                    return None
                self.cond.wait()
                continue
            not_before = self.ready[0][0]
            now = time.monotonic()
            if not_before > now:
                self.cond.wait(not_before - now)
                continue
            _, _, index, number = heapq.heappop(self.ready)
            state = self.states[index]
            if number == 1:
                state.started = now
            timeout = float(state.plan.check.timeout)
            expires, by_deadline = now + timeout + TIMEOUT_GRACE_S, False
            if self.deadline_at is not None and self.deadline_at < expires:
                expires, by_deadline = self.deadline_at, True
            token = next(self.tokens)
            flight = _InFlight(index, number, now, expires, by_deadline)
            self.in_flight[token] = flight
            self.cond.notify_all()  # the watchdog may need to wake earlier now
            return token, flight
        return None

    # --- the watchdog (the calling thread) ------------------------------------------------
    def watch(self, start_worker: Callable[[], None]) -> None:
        with self.cond:
            while self.remaining > 0:
                now = time.monotonic()
                if self.deadline_at is not None and now >= self.deadline_at:
                    return
                for token, flight in list(self.in_flight.items()):
                    if flight.expires <= now:
                        del self.in_flight[token]
                        self.settle(flight.index, flight.number, _overstayed(
                            self.states[flight.index].plan.check, flight), flight.started)
                        start_worker()  # replaces the worker left waiting on the target
                wake = [f.expires for f in self.in_flight.values()]
                if self.deadline_at is not None:
                    wake.append(self.deadline_at)
                if self.remaining > 0:
                    self.cond.wait(max(0.0, min(wake) - now) if wake else None)


def run_checks(
    suite: str,
    planned: Sequence[Planned],
    *,
    concurrency: int = 32,
    deadline_s: float | None = None,
    deadline_at: float | None = None,
    masker: Masker | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> RunResult:
    """Run the planned checks. `deadline_s` is the run's deadline as the user gave it
    (for messages); the checks are cut off at `deadline_at` (a `time.monotonic()`
    instant, which leaves time for what follows them) or, without it, `deadline_s`
    from now."""
    masker = masker or Masker()
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    t0 = time.monotonic()
    if deadline_at is None and deadline_s is not None:
        deadline_at = t0 + deadline_s
    run = _Run(planned, deadline_at, masker, on_result)
    to_run = [i for i, p in enumerate(planned) if p.runs]
    for index, plan in enumerate(planned):
        if not plan.runs:
            run.results[index] = masker.check(_skipped(plan))
    with run.cond:
        run.remaining = len(to_run)
        for index in to_run:
            run.schedule(index, 1, t0)

    def start_worker() -> None:
        threading.Thread(target=run.worker, name="probe-worker", daemon=True).start()

    for _ in range(min(concurrency, len(to_run))):
        start_worker()

    cut_off_message = (f"cut off by the run deadline ({format_duration(deadline_s or 0)}) "
                       "before it finished")
    interrupted = False
    try:
        run.watch(start_worker)
    except Interrupted as exc:
        interrupted = True
        cut_off_message = f"the run was interrupted ({exc.signal_name}) before this check finished"
    with run.cond:
        run.stopped = True
        run.cond.notify_all()
        category = Category.INTERNAL if interrupted else Category.TIMEOUT
        for index, plan in enumerate(planned):
            if run.results[index] is None:
                run.results[index] = masker.check(_unfinished(
                    plan.check, category, cut_off_message, time.monotonic() - t0,
                    run.states[index].log))
        final = tuple(r for r in run.results if r is not None)
    return RunResult(
        suite=suite,
        started_at=started_at,
        duration_s=round(time.monotonic() - t0, 3),
        checks=final,
        interrupted=interrupted,
    )


def _base(check: CheckBase) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "group": check.group_name,
        "tags": tuple(check.tags),
        "description": check.description,
        "target": _safe_target(check),
    }


def _safe_target(check: CheckBase) -> str:
    try:
        return check.target()
    except Exception:  # a report must not fail because a description did
        return ""


def _skipped(plan: Planned) -> CheckResult:
    return CheckResult(status=Status.SKIPPED, category=None, message=plan.skip_reason or "",
                       duration_s=0.0, attempts=0, **_base(plan.check))


def _unfinished(check: CheckBase, category: Category, message: str, elapsed: float,
                log: list[Attempt]) -> CheckResult:
    return CheckResult(status=Status.ERROR, category=category, message=message,
                       duration_s=round(elapsed, 3), attempts=len(log), attempt_log=tuple(log),
                       **_base(check))


def _overstayed(check: CheckBase, flight: _InFlight) -> _Outcome:
    if flight.by_deadline:
        return _Outcome(Status.ERROR, Category.TIMEOUT,
                        "cut off by the run deadline before it finished")
    return _Outcome(Status.ERROR, Category.TIMEOUT,
                    f"no result within the {format_duration(float(check.timeout))} timeout")


def _attempt(check: CheckBase) -> _Outcome:
    """One attempt, in the calling worker; any failure of the kind becomes an outcome."""
    try:
        observations = check.observe(float(check.timeout))
    except ProbeError as err:
        return _Outcome(Status.ERROR, err.category, err.message, evidence=err.evidence)
    except Exception:
        trace = traceback.format_exc()
        last = trace.strip().splitlines()[-1]
        return _Outcome(Status.ERROR, Category.INTERNAL, f"the check crashed: {last}",
                        evidence=trace)
    return _judge(check, observations)


def _judge(check: CheckBase, observations: dict[str, Any]) -> _Outcome:
    try:
        assertions = tuple(c.evaluate(observations) for c in check.conditions)
    except Exception:
        return _Outcome(Status.ERROR, Category.INTERNAL, "evaluating the conditions failed",
                        evidence=traceback.format_exc())
    failed = [a for a in assertions if not a.passed]
    kept = _scalar_observations(observations)
    if failed:
        message = "; ".join(a.describe() + (f" [{a.note}]" if a.note else "") for a in failed)
        return _Outcome(Status.FAILED, None, message, assertions, observations=kept)
    return _Outcome(Status.PASSED, None, "", assertions, observations=kept)


def _scalar_observations(observations: dict[str, Any]) -> dict[str, Any]:
    """The small facts worth keeping in results (latency, status, days_left…)."""
    kept: dict[str, Any] = {}
    for key, value in observations.items():
        short_text = isinstance(value, str) and len(value) <= OBSERVATION_TEXT_LIMIT
        if value is None or isinstance(value, bool | int | float) or short_text:
            kept[key] = value
    return kept
