"""`expect:` conditions: `<subject> <operator> <value>`, parsed at load time, never eval'd.

A kind observes named facts (`status`, `json`, `header`, …); a condition reaches into
them with `.key` and `[index]` and judges the value it finds. Every judgement keeps
the actual value so a report can say `status (503) == 200`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probes.model import AssertionResult
from probes.units import DURATION_UNITS, SIZE_UNITS, Bytes, Seconds

MATCH_TIMEOUT_S = 1.0  # how long one `matches` may search one value
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "not contains", "contains", "matches", "in")
OPERATOR_HINT = "use one of: ==, !=, <, <=, >, >=, contains, not contains, matches, in"
ACTUAL_TEXT_LIMIT = 500  # characters of an actual value kept in reports

_ROOT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_RE = re.compile(r"[A-Za-z0-9_$@-][A-Za-z0-9_$@:-]*")
_OP_RE = re.compile(r"(==|!=|<=|>=|<|>|not\s+contains\b|contains\b|matches\b|in\b)")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_UNIT_RE = re.compile(r"(ms|s|m|h|d|KiB|MiB|GiB|KB|MB|GB|B)(?![A-Za-z0-9_])")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")


class ConditionSyntaxError(ValueError):
    pass


_MISSING = object()


@dataclass(frozen=True)
class Condition:
    text: str
    subject: str  # as written: `json.items[0].id`
    path: tuple[str | int, ...]  # ("json", "items", 0, "id")
    operator: str
    value: Any
    value_text: str
    # A compiled `regex.Pattern` for `matches`. Typed Any because pydantic resolves this
    # dataclass's annotations, and the regex module is loaded only when a config uses it.
    pattern: Any = None

    @property
    def root(self) -> str:
        return str(self.path[0])

    def evaluate(self, observations: Mapping[str, Any]) -> AssertionResult:
        actual = resolve(observations, self.path)
        present = actual is not _MISSING
        value = actual if present else None
        try:
            passed, note = _judge(self, value, present)
        except Exception as exc:  # an odd value must not cost the other conditions
            passed, note = False, f"cannot be judged: {type(exc).__name__}: {exc}"
        return AssertionResult(self.text, _json_safe(value), passed, note)


def parse(text: str) -> Condition:
    """Parse one condition; raises ConditionSyntaxError saying what to write instead."""
    if not isinstance(text, str):
        raise ConditionSyntaxError(
            f"a condition is text like `status == 200`, not {type(text).__name__}"
        )
    source = text.strip()
    path, pos = _parse_subject(source)
    subject = source[:pos]
    pos = _skip_space(source, pos)
    match = _OP_RE.match(source, pos)
    if not match:
        found = source[pos:].split(" ", 1)[0] or "nothing"
        raise ConditionSyntaxError(f"expected an operator after `{subject}`, found `{found}`; "
                                   f"{OPERATOR_HINT}")
    operator = re.sub(r"\s+", " ", match.group(1))
    pos = match.end()
    comparison = operator in ("==", "!=", "<", ">", "<=", ">=")
    if comparison and source[pos:pos + 1] in ("=", "<", ">", "!"):
        bad = operator + source[pos]
        raise ConditionSyntaxError(f"`{bad}` is not an operator; {OPERATOR_HINT}")
    pos = _skip_space(source, pos)
    if pos >= len(source):
        raise ConditionSyntaxError(f"`{source}` has no value after `{operator}`")
    value_start = pos
    value, pos = _parse_value(source, pos)
    pos = _skip_space(source, pos)
    if pos != len(source):
        raise ConditionSyntaxError(
            f"unexpected `{source[pos:]}` after the value in `{source}`; "
            "quote text values: \"like this\""
        )
    pattern = None
    if operator == "in" and not isinstance(value, list):
        raise ConditionSyntaxError(f"`in` takes a list, e.g. `{subject} in [200, 204]`")
    if operator == "matches":
        if not isinstance(value, str):
            raise ConditionSyntaxError("`matches` takes a quoted regular expression")
        import regex  # only configs with `matches` pay for loading it (20 ms)

        try:
            pattern = regex.compile(value)
        except (regex.error, OverflowError, ValueError) as exc:
            raise ConditionSyntaxError(f"invalid regular expression {value!r}: {exc}") from None
    return Condition(source, subject, path, operator, value, source[value_start:pos].strip(),
                     pattern)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_subject(text: str) -> tuple[tuple[str | int, ...], int]:
    match = _ROOT_RE.match(text)
    if not match:
        raise ConditionSyntaxError(
            f"`{text}` does not start with a subject such as `status` or `json.data[0].id`"
        )
    path: list[str | int] = [match.group(0)]
    pos = match.end()
    while pos < len(text) and text[pos] in ".[":
        if text[pos] == ".":
            key = _KEY_RE.match(text, pos + 1)
            if not key:
                raise ConditionSyntaxError(f"expected a name after `.` in `{text[:pos + 1]}`")
            path.append(key.group(0))
            pos = key.end()
            continue
        close = text.find("]", pos)
        if close < 0:
            raise ConditionSyntaxError(f"missing `]` in `{text}`")
        inner = text[pos + 1:close].strip()
        if re.fullmatch(r"-?\d+", inner):
            path.append(int(inner))
        elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
            path.append(inner[1:-1])
        else:
            raise ConditionSyntaxError(
                f"`[{inner}]` is neither an index like [0] nor a quoted key like [\"a.b\"]"
            )
        pos = close + 1
    return tuple(path), pos


def _parse_value(text: str, pos: int) -> tuple[Any, int]:
    char = text[pos]
    if char == "[":
        items: list[Any] = []
        pos = _skip_space(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            return items, pos + 1
        while True:
            if pos >= len(text):
                raise ConditionSyntaxError(f"missing `]` in `{text}`")
            item, pos = _parse_value(text, pos)
            items.append(item)
            pos = _skip_space(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_space(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                return items, pos + 1
            raise ConditionSyntaxError(f"expected `,` or `]` in the list of `{text}`")
    if char in "\"'":
        return _parse_string(text, pos)
    number = _NUMBER_RE.match(text, pos)
    if number:
        end = number.end()
        unit = _UNIT_RE.match(text, end) or _UNIT_RE.match(text, _skip_space(text, end))
        if unit:
            amount = float(number.group(0))
            name = unit.group(1)
            if name in DURATION_UNITS:
                return Seconds(amount * DURATION_UNITS[name]), unit.end()
            return Bytes(round(amount * SIZE_UNITS[name])), unit.end()
        raw = number.group(0)
        return (float(raw) if any(c in raw for c in ".eE") else int(raw)), end
    word = _WORD_RE.match(text, pos)
    if word:
        literal = {"true": True, "false": False, "null": None}
        if word.group(0) in literal:
            return literal[word.group(0)], word.end()
        # A bare word is text: `rcode == NXDOMAIN` reads as a person means it.
        return word.group(0), word.end()
    raise ConditionSyntaxError(f"cannot read a value at `{text[pos:]}`; quote text values")


def _parse_string(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos]
    end = pos + 1
    while end < len(text):
        if text[end] == "\\":
            end += 2
            continue
        if text[end] == quote:
            raw = text[pos + 1:end]
            if quote == '"':
                try:
                    return str(json.loads(f'"{raw}"')), end + 1
                except json.JSONDecodeError:
                    return raw, end + 1
            return raw.replace("\\'", "'"), end + 1
        end += 1
    raise ConditionSyntaxError(f"unterminated string in `{text}`")


def resolve(observations: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    """Walk `path` through nested mappings and lists; `_MISSING` when a step is absent."""
    current: Any = observations
    for step in path:
        if isinstance(current, Mapping):
            if step in current:
                current = current[step]
                continue
            if isinstance(step, str):
                # Header names and similar keys are matched case-insensitively.
                lowered = step.lower()
                for key in current:
                    if isinstance(key, str) and key.lower() == lowered:
                        current = current[key]
                        break
                else:
                    return _MISSING
                continue
            return _MISSING
        if isinstance(current, list | tuple) and isinstance(step, int):
            if -len(current) <= step < len(current):
                current = current[step]
                continue
            return _MISSING
        return _MISSING
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(actual: Any, expected: Any) -> bool:
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)
    if isinstance(expected, str) and _is_number(actual):
        return str(actual) == expected
    if isinstance(actual, str) and _is_number(expected):
        try:
            return float(actual) == float(expected)
        except ValueError:
            return False
    return bool(actual == expected)


def _judge(cond: Condition, actual: Any, present: bool) -> tuple[bool, str]:
    op, expected = cond.operator, cond.value
    note = "" if present else "no such value"
    if op == "==":
        return (_equal(actual, expected) if present else expected is None), note
    if op == "!=":
        return (not _equal(actual, expected) if present else expected is not None), note
    if op in ("<", "<=", ">", ">="):
        if not present:
            return False, note
        comparable = (_is_number(actual) and _is_number(expected)) or (
            isinstance(actual, str) and isinstance(expected, str)
        )
        if not comparable and isinstance(actual, str) and _is_number(expected):
            with contextlib.suppress(ValueError):
                actual, comparable = float(actual), True
        if not comparable:
            return False, f"cannot compare {type(actual).__name__} with {type(expected).__name__}"
        return _ORDER[op](actual, expected), note
    if op in ("contains", "not contains"):
        found = present and _contains(actual, expected)
        return (found if op == "contains" else not found), note
    if op == "matches":
        assert cond.pattern is not None
        if not present:
            return False, note
        try:
            # `concurrent`: the GIL is let go while matching, so a slow pattern holds up
            # neither the other checks nor the runner's watchdog and signal handling.
            found = cond.pattern.search(_as_text(actual), timeout=MATCH_TIMEOUT_S,
                                        concurrent=True)
        except TimeoutError:
            return False, (f"the pattern took longer than {MATCH_TIMEOUT_S:g}s on this value; "
                           "simplify it (nested repeats such as (a|aa)+ backtrack without end)")
        return found is not None, note
    if op == "in":
        return present and any(_equal(actual, item) for item in expected), note
    raise AssertionError(f"unknown operator {op}")  # parse() admits no other


_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return _as_text(expected) in actual
    if isinstance(actual, Mapping):  # a key of an object: a list or object is none
        return isinstance(expected, str | int | float | bool) and expected in actual
    if isinstance(actual, list | tuple | set | frozenset):
        return any(_equal(item, expected) for item in actual)
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _json_safe(value: Any) -> Any:
    """Keep what a report can show: scalars as they are, long text cut, containers as JSON."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > ACTUAL_TEXT_LIMIT:
            return value[:ACTUAL_TEXT_LIMIT] + f"… ({len(value)} characters)"
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value[:50]]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in list(value.items())[:50]}
    return str(value)


def format_actual(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, Seconds | Bytes):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 120 else text[:120] + "…"
    return str(value)


def render_with_actual(result: AssertionResult) -> str:
    """`status (503) == 200`: the actual value right after the subject."""
    split = _subject_and_rest(result.expr)
    if split is None:
        return f"{result.expr} (actual {format_actual(result.actual)})"
    subject, rest = split
    return f"{subject} ({format_actual(result.actual)}) {rest}"


@functools.lru_cache(maxsize=4096)
def _subject_and_rest(expr: str) -> tuple[str, str] | None:
    """Parsed once per distinct text: a report describes the same few conditions of
    thousands of checks."""
    try:
        cond = parse(expr)
    except ConditionSyntaxError:
        return None
    return cond.subject, expr.strip()[len(cond.subject):].strip()
