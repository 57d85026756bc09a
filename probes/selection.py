"""Choosing which checks run: `--tag`, `--skip-tag`, `--name`, `enabled: false`."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from probes.kinds import CheckBase


@dataclass(frozen=True)
class Planned:
    check: CheckBase
    skip_reason: str | None = None  # set when the check is reported as skipped

    @property
    def runs(self) -> bool:
        return self.skip_reason is None


def select(
    checks: Sequence[CheckBase],
    tags: Sequence[str] = (),
    skip_tags: Sequence[str] = (),
    names: Sequence[str] = (),
) -> list[Planned]:
    """Plan every check in config order; those not to run carry the reason why."""
    planned = []
    for check in checks:
        planned.append(Planned(check, _skip_reason(check, tags, skip_tags, names)))
    return planned


def matches_nothing(checks: Sequence[CheckBase], tags: Sequence[str] = (),
                    skip_tags: Sequence[str] = (), names: Sequence[str] = ()) -> bool:
    """A selection was given and no check answers it (a typo in a CI job's `--tag`?).

    A check that is selected but `enabled: false` counts as an answer: it is reported
    as skipped, as asked.
    """
    if not (tags or skip_tags or names):
        return False
    return all(_unselected_reason(check, tags, skip_tags, names) for check in checks)


def _skip_reason(check: CheckBase, tags: Sequence[str], skip_tags: Sequence[str],
                 names: Sequence[str]) -> str | None:
    if not check.enabled:
        return "disabled (enabled: false)"
    return _unselected_reason(check, tags, skip_tags, names)


def _unselected_reason(check: CheckBase, tags: Sequence[str], skip_tags: Sequence[str],
                       names: Sequence[str]) -> str | None:
    if names and not any(fnmatch.fnmatchcase(check.name, pattern) for pattern in names):
        return f"not selected: name matches none of {', '.join(names)}"
    if tags and not set(tags) & set(check.tags):
        return f"not selected: has none of the tags {', '.join(tags)}"
    excluded = set(skip_tags) & set(check.tags)
    if excluded:
        return f"not selected: tagged {', '.join(sorted(excluded))} (--skip-tag)"
    return None
