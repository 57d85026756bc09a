"""The runner's guarantees, exercised with the scripted test kind (tests/helpers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from probes.config import Config, parse_config
from probes.model import Category, Status
from probes.runner import run_checks
from probes.selection import select
from tests.helpers import scripted_kind


@pytest.fixture(autouse=True)
def _release_hanging_checks() -> Iterator[None]:
    scripted_kind.RELEASE.clear()
    scripted_kind.ATTEMPTS.clear()
    yield
    scripted_kind.RELEASE.set()  # let abandoned threads end


def load(yaml_text: str, **env: str) -> Config:
    return parse_config(yaml_text, "test.yaml", env)


def run(config: Config, **kwargs: Any) -> dict[str, Any]:
    result = run_checks(config.suite, select(config.checks), masker=config.masker, **kwargs)
    return {"run": result, **{c.name: c for c in result.checks}}


def test_each_check_ends_in_exactly_one_status_in_config_order() -> None:
    config = load("""
checks:
  - {name: passes, kind: scripted}
  - {name: fails, kind: scripted, value: 2}
  - {name: refused, kind: scripted, behaviour: raise}
  - {name: crashes, kind: scripted, behaviour: crash}
  - {name: disabled, kind: scripted, enabled: false}
""")
    out = run(config)
    assert [c.name for c in out["run"].checks] == [
        "passes", "fails", "refused", "crashes", "disabled"]
    assert out["passes"].status is Status.PASSED and out["passes"].category is None
    assert out["fails"].status is Status.FAILED and out["fails"].category is None
    assert out["fails"].message == "value (2) == 1"
    assert out["refused"].status is Status.ERROR and out["refused"].category is Category.CONNECT
    assert out["crashes"].status is Status.ERROR
    assert out["crashes"].category is Category.INTERNAL
    assert "ZeroDivisionError" in out["crashes"].evidence
    assert "Traceback" in out["crashes"].evidence
    assert out["disabled"].status is Status.SKIPPED and out["disabled"].attempts == 0
    assert out["run"].exit_code == 1
    summary = out["run"].summary
    assert (summary.passed, summary.failed, summary.error, summary.skipped) == (1, 1, 2, 1)


def test_a_check_that_ignores_its_timeout_is_cut_off_close_to_it() -> None:
    config = load("""
checks:
  - {name: hangs, kind: scripted, behaviour: hang, timeout: 500ms}
  - {name: fine, kind: scripted}
""")
    start = time.monotonic()
    out = run(config)
    elapsed = time.monotonic() - start
    assert out["hangs"].status is Status.ERROR
    assert out["hangs"].category is Category.TIMEOUT
    assert "500ms" in out["hangs"].message
    assert elapsed < 0.5 + 1.0
    assert out["fine"].status is Status.PASSED


def test_hanging_checks_do_not_block_the_pool() -> None:
    checks = "\n".join(
        f"  - {{name: hang{i}, kind: scripted, behaviour: hang, timeout: 300ms}}"
        for i in range(4))
    config = load(f"checks:\n{checks}\n  - {{name: after, kind: scripted}}\n")
    start = time.monotonic()
    out = run(config, concurrency=2)
    # Two workers, four hanging checks of 300 ms each: two rounds, then the last check.
    assert time.monotonic() - start < 2 * 0.3 + 1.0
    assert out["after"].status is Status.PASSED


def test_retries_record_attempts_and_stop_at_the_first_pass() -> None:
    config = load("""
checks:
  - {name: flaky, kind: scripted, behaviour: flaky, failures_before_success: 2,
     retries: 3, retry_delay: 10ms}
  - {name: broken, kind: scripted, value: 5, retries: 2, retry_delay: 10ms}
""")
    out = run(config)
    assert out["flaky"].status is Status.PASSED
    assert out["flaky"].attempts == 3
    assert [a.status for a in out["flaky"].attempt_log] == [
        Status.FAILED, Status.FAILED, Status.PASSED]
    assert out["broken"].status is Status.FAILED
    assert out["broken"].attempts == 3


def test_defaults_apply_retries_unless_a_check_overrides_them() -> None:
    config = load("""
defaults: {retries: 2, retry_delay: 0s}
checks:
  - {name: inherits, kind: scripted, value: 0}
  - {name: overrides, kind: scripted, value: 0, retries: 0}
""")
    out = run(config)
    assert out["inherits"].attempts == 3
    assert out["overrides"].attempts == 1


def test_deadline_bounds_the_whole_run() -> None:
    config = load("""
checks:
  - {name: quick, kind: scripted}
  - {name: slow1, kind: scripted, behaviour: hang, timeout: 30s}
  - {name: slow2, kind: scripted, behaviour: hang, timeout: 30s}
""")
    start = time.monotonic()
    out = run(config, deadline_s=0.5)
    assert time.monotonic() - start < 1.5
    assert out["quick"].status is Status.PASSED
    for name in ("slow1", "slow2"):
        assert out[name].status is Status.ERROR
        assert out[name].category is Category.TIMEOUT
        assert "deadline" in out[name].message


def test_secrets_never_leave_the_runner() -> None:
    config = load("""
checks:
  - {name: leaky, kind: scripted, behaviour: raise, secret: "${DB_PASSWORD}"}
""", DB_PASSWORD="s3cr3t-value")
    out = run(config)
    leaky = out["leaky"]
    text = " ".join([leaky.message, leaky.evidence, leaky.target])
    assert "s3cr3t-value" not in text
    assert "***" in leaky.message


def test_skipped_checks_have_numeric_duration_and_integer_attempts() -> None:
    config = load("checks:\n  - {name: off, kind: scripted, enabled: false}\n".replace(
        "off", "disabled check"))
    result = run(config)["disabled check"]
    assert isinstance(result.duration_s, float) and result.attempts == 0


def test_selection_by_tag_skip_tag_and_name() -> None:
    config = load("""
checks:
  - {name: db one, kind: scripted, tags: [db]}
  - {name: db two, kind: scripted, tags: [db, slow]}
  - {name: api, kind: scripted, tags: [api]}
""")
    planned = select(config.checks, tags=["db"], skip_tags=["slow"])
    assert [p.check.name for p in planned if p.runs] == ["db one"]
    planned = select(config.checks, names=["db*"])
    assert [p.check.name for p in planned if p.runs] == ["db one", "db two"]
    assert "not selected" in (planned[2].skip_reason or "")


@pytest.mark.parametrize(("deadline_s", "reserve_s"), [
    (1, 0.5), (3, 1.5), (10, 2), (60, 6), (1500, 30),
])
def test_the_checks_leave_part_of_the_deadline_for_what_follows(deadline_s: float,
                                                                reserve_s: float) -> None:
    from probes.pipeline import after_checks_reserve

    assert after_checks_reserve(deadline_s) == pytest.approx(reserve_s)
