"""Notifications: one message per run per target, through apprise.

`deliver` runs after the reports are written. For each target it decides whether to
send (`policy`), composes the message for that service (`message`), and sends every
message at once, each in its own thread bounded by the target's `timeout`. It never
raises: a target that is down, answers an error or does not answer in time becomes a
`NotificationOutcome(sent=False, error=…)`, and the others still get theirs. Targets
using `change` or `recovery` remember what they last knew in the run-history store
(`history`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probes.model import NotificationOutcome, RunResult
from probes.notify.target import NotifyTarget
from probes.secrets import Masker

if TYPE_CHECKING:
    from probes.notify.message import Mask, Message
    from probes.notify.services import Limits
    from probes.runner import StopRequest

JOIN_MARGIN_S = 0.5  # beyond a target's timeout, for the service's own error to arrive
STOP_POLL_S = 0.1  # how often a wait for an answer looks for a signal
NEEDS_MEMORY = frozenset({"change", "recovery"})

log = logging.getLogger(__name__)

Compose = Callable[["Limits", "Mask"], "Message"]


@dataclass
class _Delivery:
    """One message on its way to one target."""

    shown: str  # the masked URL
    masker: Masker  # the config's secrets and this URL's
    timeout: float
    send: Callable[[], str | None] | None  # returns None when the service took it
    error: str | None = None  # the outcome: None once sent
    finished: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # set by the sending thread before `finished`

    def outcome(self) -> NotificationOutcome:
        return NotificationOutcome(target=self.shown, sent=self.error is None, error=self.error)


def deliver(
    run: RunResult,
    targets: Sequence[NotifyTarget],
    report_url: str | None,
    masker: Masker,
    state_url: str | None,
    *,
    reports_dir: Path | str = "reports",
    until: float | None = None,
    stop: StopRequest | None = None,
) -> tuple[NotificationOutcome, ...]:
    """Send one message per target that wants one; never raises.

    Returns an outcome for each target that was due a message, in the order of
    `targets`; a target that wanted no message this run has none. `until` (a
    `time.monotonic()` instant, the run's deadline) bounds the wait for answers, and a
    signal recorded in `stop` ends it.
    """
    try:
        return _deliver(run, targets, report_url, masker, state_url, reports_dir, until, stop)
    except Exception as exc:  # a bug of ours: say so for every target, raise nothing
        error = masker.text(f"internal error: {type(exc).__name__}: {exc}")
        return tuple(NotificationOutcome(_shown_safely(t, masker), False, error) for t in targets)


def _deliver(run: RunResult, targets: Sequence[NotifyTarget], report_url: str | None,
             masker: Masker, state_url: str | None, reports_dir: Path | str,
             until: float | None, stop: StopRequest | None) -> tuple[NotificationOutcome, ...]:
    from probes.notify.history import TargetHistory, naive_utc, target_key
    from probes.notify.message import compose
    from probes.notify.policy import Memory, decide

    if not targets:
        return ()
    run = masker.run(run)
    try:
        now = naive_utc(datetime.fromisoformat(run.started_at))
    except ValueError:
        now = datetime.now(UTC).replace(tzinfo=None)
    keys = [target_key(run.suite, t) for t in targets]
    remembers = [bool(NEEDS_MEMORY & set(t.on)) for t in targets]
    history: TargetHistory | None = None
    memories: dict[str, Memory] = {}
    if any(remembers):
        try:
            history = TargetHistory(state_url, reports_dir)
            memories = history.load(k for k, r in zip(keys, remembers, strict=True) if r)
        except Exception as exc:
            history = None
            _warn_memory("read", exc, masker)

    deliveries: list[tuple[str, _Delivery]] = []
    remember: dict[str, tuple[str, Memory]] = {}  # written unless the delivery fails
    for key, wants_memory, target in zip(keys, remembers, targets, strict=True):
        try:
            decision = decide(run, target, memories.get(key) if wants_memory else None, now)
            if wants_memory:
                notified_at = now if decision.send else decision.notified_at
                remember[key] = (_shown(target, masker), Memory(decision.remembered, notified_at))
            if decision.send:
                composer = functools.partial(compose, run.suite, decision, report_url)
                deliveries.append((key, _prepare(target, masker, composer)))
        except Exception as exc:  # a bug here must not cost the other targets theirs
            deliveries.append((key, _finished(target, masker, f"internal error: "
                                              f"{type(exc).__name__}: {exc}")))

    _run_all([d for _, d in deliveries], until, stop)
    if history is not None:
        failed = {key for key, d in deliveries if d.error is not None}
        try:
            history.save({key: (run.suite, shown, memory)
                          for key, (shown, memory) in remember.items() if key not in failed},
                         now)
        except Exception as exc:
            _warn_memory("write", exc, masker)
        finally:
            history.close()
    return tuple(d.outcome() for _, d in deliveries)


def send_test(targets: Sequence[NotifyTarget], masker: Masker, *,
              suite: str = "probes") -> tuple[NotificationOutcome, ...]:
    """Send a short test message to every target; one outcome each. Never raises."""
    deliveries = []
    for target in targets:
        try:
            composer = functools.partial(_test_message, suite, _describe(target))
            deliveries.append(_prepare(target, masker, composer, markdown=False))
        except Exception as exc:
            deliveries.append(_finished(target, masker,
                                        f"internal error: {type(exc).__name__}: {exc}"))
    _run_all(deliveries)
    return tuple(d.outcome() for d in deliveries)


def _test_message(suite: str, description: str, _limits: Limits, mask: Mask) -> Message:
    from probes.notify.message import test_message

    return test_message(suite, description, mask)


def _prepare(target: NotifyTarget, masker: Masker, compose: Compose,
             markdown: bool | None = None) -> _Delivery:
    """The message composed for the target's service, ready to send (or why it cannot be)."""
    from probes.notify import services

    timeout = float(target.timeout)
    try:
        service = services.open_service(target.url, timeout=timeout)
    except ValueError as exc:
        return _finished(target, masker, f"the URL {exc}")
    own = Masker(masker.secrets | services.url_secrets(target.url, service))
    limits = services.limits(service)
    message = compose(limits, own.text)
    title, body, kind = own.text(message.title), own.text(message.body), message.notify_type
    as_markdown = limits.markdown if markdown is None else markdown

    def send() -> str | None:
        return services.send(service, title, body, kind, as_markdown)

    shown = _without_whole_url(own, target).text(services.display_url(target.url, service))
    return _Delivery(shown=shown, masker=own, timeout=timeout, send=send)


def _run_all(deliveries: Sequence[_Delivery], until: float | None = None,
             stop: StopRequest | None = None) -> None:
    """Send all at once; wait for each at most its timeout (plus a margin), not past
    `until`, and not after a signal."""
    started = []
    for delivery in deliveries:
        if delivery.send is None:
            continue
        thread = threading.Thread(target=_attempt, args=(delivery,), daemon=True,
                                  name="probes-notify")
        thread.start()
        started.append((delivery, time.monotonic() + delivery.timeout + JOIN_MARGIN_S))
    for delivery, deadline in started:
        end = deadline if until is None else min(deadline, until)
        if _answered(delivery, end, stop):
            delivery.error = delivery.reason
        elif stop is not None and stop.signal_name:
            delivery.error = (f"the run was interrupted ({stop.signal_name}) while sending; "
                              "the message may or may not have gone")
        elif end < deadline:  # the run's deadline came before the target's timeout
            delivery.error = ("no answer before the run's deadline (--deadline); the message "
                              "may still arrive")
        else:
            # The daemon thread is abandoned: it cannot hold the run past this bound.
            delivery.error = (f"no answer within {delivery.timeout:g}s (the target's "
                              "timeout); the message may still arrive")


def _answered(delivery: _Delivery, end: float, stop: StopRequest | None) -> bool:
    """Wait for `delivery`'s answer until `end`, or until a signal comes; True if it came.

    A signal only sets a flag once the checks are over (see `StopRequest`), so the wait
    looks at it every tenth of a second.
    """
    while True:
        left = end - time.monotonic()
        step = left if stop is None else min(left, STOP_POLL_S)
        if delivery.finished.wait(max(step, 0.0)):
            return True
        if left <= 0 or (stop is not None and stop.signal_name):
            return False


def undelivered(targets: Sequence[NotifyTarget], masker: Masker,
                error: str) -> tuple[NotificationOutcome, ...]:
    """The same unsent outcome for every target, when delivery was cut short as a whole."""
    return tuple(NotificationOutcome(_shown_safely(t, masker), False, error) for t in targets)


def _attempt(delivery: _Delivery) -> None:
    assert delivery.send is not None
    try:
        reason = delivery.send()
    except Exception as exc:  # services.send does not raise; this is a last resort
        reason = f"{type(exc).__name__}: {exc}"
    delivery.reason = None if reason is None else delivery.masker.text(reason)
    delivery.finished.set()


def _finished(target: NotifyTarget, masker: Masker, error: str) -> _Delivery:
    """A delivery that failed before sending."""
    from probes.notify import services

    own = Masker(masker.secrets | services.url_secrets(target.url))
    return _Delivery(shown=_shown(target, masker), masker=own, timeout=0.0, send=None,
                     error=own.text(error))


def _shown(target: NotifyTarget, masker: Masker) -> str:
    from probes.notify import services

    own = Masker(masker.secrets | services.url_secrets(target.url))
    return _without_whole_url(own, target).text(services.display_url(target.url))


def _shown_safely(target: NotifyTarget, masker: Masker) -> str:
    try:
        return _shown(target, masker)
    except Exception:
        return "notification target"


def _without_whole_url(masker: Masker, target: NotifyTarget) -> Masker:
    """For showing the URL: its secret parts masked, not the whole of it.

    A URL interpolated from `${SLACK_WEBHOOK_URL}` is registered as a secret whole;
    apprise's rendering of it never equals it unless it holds no token.
    """
    return Masker(masker.secrets - {target.url, target.url.strip()})


def _describe(target: NotifyTarget) -> str:
    scope = []
    if target.tags:
        scope.append(f"tagged {', '.join(target.tags)}")
    if target.groups:
        scope.append(f"in group {', '.join(target.groups)}")
    checks = f"checks {' and '.join(scope)}" if scope else "all checks"
    return f"This target gets messages on: {', '.join(target.on)}, about {checks}."


def _warn_memory(action: str, exc: Exception, masker: Masker) -> None:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = masker.text(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    log.warning("notifications: cannot %s what each target was last sent (%s); "
                "`change` and `recovery` decide as on a first run", action, reason)
