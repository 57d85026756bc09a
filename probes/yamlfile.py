"""Reading YAML while keeping the line of every key and item.

PyYAML's node tree knows where each value was written; plain `safe_load` forgets
it. Config errors must name `file:line`, so values are built from the nodes and a
map from each value's path (`("checks", 3, "timeout")`) to its line is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
# libyaml parses ~10x faster than the pure-Python parser and keeps line marks too.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LineMap:
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# A scalar transform gets (path, text, line) and returns the value to use; config
# loading uses it to interpolate ${VAR} with the line at hand.
ScalarHook = Callable[[Path_, str, int], Any]


def load_with_lines(text: str, on_string: ScalarHook | None = None) -> tuple[Any, LineMap]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise YamlSyntaxError(line, f"YAML syntax error: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"YAML syntax error: {exc}") from None
    lines = LineMap()
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")
    budget = _Budget(MAX_VALUES)
    try:
        return _build(node, (), lines, constructor, on_string, budget), lines
    except yaml.MarkedYAMLError as exc:  # a tag or merge key PyYAML cannot build
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(mark.line + 1 if mark else None,
                              f"YAML: {exc.problem or exc}{_tag_hint(exc)}") from None
    except RecursionError:
        raise YamlSyntaxError(None, "the file nests too deep, or an alias (*name) refers to "
                              "the value that holds it") from None


MAX_VALUES = 1_000_000  # far beyond any real config; stops "billion laughs" aliases


class _Budget:
    def __init__(self, values: int) -> None:
        self.left = values

    def spend(self, node: yaml.Node) -> None:
        self.left -= 1
        if self.left < 0:
            raise YamlSyntaxError(node.start_mark.line + 1, f"the file expands to more than "
                                  f"{MAX_VALUES:,} values: aliases (*name) repeat too much")


def _tag_hint(exc: yaml.MarkedYAMLError) -> str:
    text = str(exc.problem or "")
    if "constructor for the tag" in text:
        return "; checks.yaml has no tags such as !Ref or !env: write ${VAR} for a variable"
    return ""


def _scalar(constructor: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return constructor.construct_object(node, deep=True)
    except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
        # e.g. `!!int abc`, `!!bool maybe`: an explicit tag on a value that is not one.
        raise YamlSyntaxError(node.start_mark.line + 1,
                              f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}; "
                              "drop the !! tag or fix the value") from None


def _refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    """A key written twice: YAML loaders keep the last silently, which can drop a whole
    `checks:` list. Keys that `<<:` merges in may be overridden; those written may not."""
    first_seen: dict[str, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first_seen:
            raise YamlSyntaxError(line, f"`{key_node.value}` is written twice in the same "
                                  f"mapping (first on line {first_seen[key_node.value]}); "
                                  "keep one")
        first_seen[key_node.value] = line


def _build(
    node: yaml.Node,
    path: Path_,
    lines: LineMap,
    constructor: yaml.SafeLoader,
    on_string: ScalarHook | None,
    budget: _Budget,
) -> Any:
    budget.spend(node)
    lines.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        _refuse_duplicate_keys(node)
        constructor.flatten_mapping(node)  # resolves `<<:` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(constructor, key_node)
            if isinstance(key, list | dict):
                raise YamlSyntaxError(key_node.start_mark.line + 1, "a key must be plain text")
            # A key is a name as written: YAML 1.1 would turn `on:` (of notify) into True.
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
            child = (*path, name)
            lines.lines[child] = key_node.start_mark.line + 1
            result[name] = _build(value_node, child, lines, constructor, on_string, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines.lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, lines, constructor, on_string, budget))
        return items
    value = _scalar(constructor, node)
    if isinstance(value, str) and on_string is not None:
        return on_string(path, value, node.start_mark.line + 1)
    return value
