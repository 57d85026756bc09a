"""The kinds of check, and the one registry they are listed in.

A kind is a pydantic model (its keys in checks.yaml) with an `observe()` method that
returns named facts, or raises `ProbeError` when it cannot observe. Conditions judge
the facts; the runner bounds the time. The config schema and `probe schema` are built
from `KINDS`, so adding a kind here is all it takes to make it known everywhere.

Kind modules import their heavy libraries inside `observe()`: loading the registry
must stay cheap, and a missing driver must only affect checks of that kind.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from probes.conditions import Condition, ConditionSyntaxError, parse
from probes.units import DURATION_HINT, SIZE_HINT, Seconds, coerce_duration, coerce_size

# kind name → module under probes.kinds defining `Check`. One list of kinds.
KIND_MODULES: dict[str, str] = {
    "http": "probes.kinds.http",
    "tcp": "probes.kinds.tcp",
    "dns": "probes.kinds.dns",
    "tls": "probes.kinds.tls",
    "file": "probes.kinds.file",
    "command": "probes.kinds.command",
    "sftp": "probes.kinds.sftp",
    "sql": "probes.kinds.sql",
    "odbc": "probes.kinds.odbc",
}

MAX_ATTEMPT_S = 86400.0  # the longest timeout or retry_delay of a check

# Typed float for pydantic; the value is a `Seconds`, which prints with its unit.
Duration = Annotated[
    float,
    PlainValidator(coerce_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*(ms|s|m|h|d)$"},
                {"type": "number", "minimum": 0},
            ],
            "description": f"A duration; {DURATION_HINT}. A bare number is seconds.",
        }
    ),
]

Size = Annotated[
    int,
    PlainValidator(coerce_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": f"A size; {SIZE_HINT}. A bare number is bytes.",
        }
    ),
]


def _parse_condition(value: Any) -> Condition:
    try:
        return parse(value)
    except ConditionSyntaxError as exc:
        raise ValueError(str(exc)) from None


ConditionField = Annotated[
    Condition,
    BeforeValidator(_parse_condition),
    WithJsonSchema(
        {
            "type": "string",
            "description": "`<subject> <operator> <value>`, e.g. `status == 200`",
        }
    ),
]


class CheckBase(BaseModel):
    """Keys common to every kind. A kind subclasses this and adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    # Facts the kind observes: the roots a condition's subject may start with.
    observations: ClassVar[frozenset[str]] = frozenset()
    # Conditions applied when a check has no `expect`.
    default_expect: ClassVar[tuple[str, ...]] = ()
    # Keys whose values are secret-bearing: anything interpolated into them is masked.
    secret_keys: ClassVar[frozenset[str]] = frozenset()

    name: str = Field(min_length=1, description="Unique name of the check")
    kind: str
    group: str | None = Field(None, description="Report group; defaults to the kind")
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    timeout: Duration = Field(Seconds(10.0), description="Bound on each attempt")
    retries: int = Field(0, ge=0, le=20, description="Extra attempts after a failed one")
    retry_delay: Duration = Field(Seconds(1.0), description="Pause between attempts")
    expect: list[ConditionField] | None = None
    enabled: bool = True

    @field_validator("timeout", "retry_delay")
    @classmethod
    def _within_a_day(cls, value: float, info: ValidationInfo) -> float:
        if info.field_name == "timeout" and value <= 0:
            raise ValueError("must be more than 0, e.g. 10s")
        if value > MAX_ATTEMPT_S:
            raise ValueError("must be at most a day (24h); a longer wait is a job for the "
                             "scheduler, not for one check")
        return value

    @field_validator("expect")
    @classmethod
    def _subjects_are_observed(cls, value: list[Condition] | None) -> list[Condition] | None:
        for index, condition in enumerate(value or ()):
            if cls.observations and condition.root not in cls.observations:
                known = ", ".join(sorted(cls.observations))
                raise ValueError(
                    f"item {index}: `{condition.root}` is not observed by a "
                    f"{cls.model_fields['kind'].default} check; subjects: {known}"
                )
        return value

    @property
    def group_name(self) -> str:
        return self.group or self.kind

    @property
    def conditions(self) -> list[Condition]:
        if self.expect is not None:
            return self.expect
        return [parse(text) for text in self.default_expect]

    def target(self) -> str:
        """What is probed, for the report (masked by the runner before it is shown)."""
        return ""

    def observe(self, timeout: float) -> dict[str, Any]:
        """Observe the target within `timeout` seconds; raise ProbeError if it cannot."""
        raise NotImplementedError

    @classmethod
    def stop_abandoned(cls) -> None:
        """End whatever this kind still has running once the run is over.

        The runner leaves an attempt behind when the deadline passes or the run is
        interrupted; a kind whose work outlives the process (a child process) ends
        it here. Most kinds have nothing of the sort.
        """


@cache
def kind_model(kind: str) -> type[CheckBase]:
    module = importlib.import_module(KIND_MODULES[kind])
    model: type[CheckBase] = module.Check
    return model


def stop_abandoned_work() -> None:
    """`stop_abandoned` of every kind this run has used (whose module is loaded)."""
    for kind, module in KIND_MODULES.items():
        if module in sys.modules:
            kind_model(kind).stop_abandoned()


def all_kind_models() -> dict[str, type[CheckBase]]:
    return {kind: kind_model(kind) for kind in KIND_MODULES}
