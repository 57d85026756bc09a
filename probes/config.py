"""Loading checks.yaml: read with line numbers, interpolate ${VAR}, merge defaults, validate.

Every problem found is reported, each with `file:line`, the key and what to do;
`ConfigError` carries them all and the CLI turns it into exit code 2.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from probes.kinds import KIND_MODULES, CheckBase, Duration, all_kind_models, kind_model
from probes.notify.target import NotifyTarget
from probes.secrets import AT_IN_PASSWORD_HINT, Masker, is_secret_name
from probes.units import Seconds
from probes.yamlfile import LineMap, Path_, YamlSyntaxError, load_with_lines

DEFAULT_CONFIG = "checks.yaml"
_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Variable:
    """`${name}`, or `${name:-default}` whose default may hold variables of its own."""

    name: str
    default: tuple[str | _Variable, ...] | None


class _Malformed(ValueError):
    pass


def _parse_variables(text: str, start: int = 0, nested: bool = False
                     ) -> tuple[tuple[str | _Variable, ...], int]:
    """`text` as literal pieces and variables, read up to its end or, inside a default,
    up to the `}` that closes it (the index returned is that of the `}`)."""
    parts: list[str | _Variable] = []
    literal: list[str] = []
    i = start
    while i < len(text):
        if text.startswith("$${", i):  # an escaped, literal `${`
            literal.append("${")
            i += 3
        elif nested and text[i] == "}":
            break
        elif text.startswith("${", i):
            name = _VAR_NAME_RE.match(text, i + 2)
            if name is None:
                raise _Malformed
            i = name.end()
            default: tuple[str | _Variable, ...] | None = None
            if text.startswith(":-", i):
                default, i = _parse_variables(text, i + 2, nested=True)
            if not text.startswith("}", i):
                raise _Malformed
            parts += ["".join(literal), _Variable(name.group(0), default)]
            literal = []
            i += 1
        else:
            literal.append(text[i])
            i += 1
    parts.append("".join(literal))
    return tuple(part for part in parts if part != ""), i


@dataclass(frozen=True)
class Problem:
    line: int | None
    key: str  # dotted path: checks[3].timeout
    message: str


class ConfigError(Exception):
    """One or more problems in a config file; each names its line and key."""

    def __init__(self, path: Path | str, problems: Iterable[Problem]) -> None:
        self.path = str(path)
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.key))
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for p in self.problems:
            where = f"{self.path}:{p.line}" if p.line else self.path
            key = f" {p.key}:" if p.key else ""
            lines.append(f"{where}:{key} {p.message}")
        return "\n".join(lines)


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str = Field("reports", description="Directory for junit.xml, report.html, results.json")
    report_url: str | None = Field(None, description="Link to the HTML report, for messages")
    junit: str | None = Field(None, description="JUnit file (default <dir>/junit.xml)")
    html: str | None = Field(None, description="HTML file (default <dir>/report.html)")
    json_file: str | None = Field(None, alias="json", description="JSON (default results.json)")
    pushgateway: str | None = Field(None, description="Prometheus Pushgateway URL")


class SuiteSettings(BaseModel):
    """The top level of checks.yaml, with `checks` validated one by one afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = Field("probes", min_length=1, description="Names the run")
    concurrency: int = Field(32, ge=1, le=1024, description="Checks in flight at once")
    defaults: dict[str, Any] = Field(default_factory=dict,
                                     description="Keys merged into every check")
    report: ReportSettings = Field(default_factory=ReportSettings)  # type: ignore[arg-type]
    state: str | None = Field(None, description="Run history: an SQLAlchemy URL")
    state_retention: Duration = Field(Seconds(90 * 86400.0), description="History kept")
    notify: list[Any] = Field(default_factory=list, description="Where to send the summary")
    checks: list[Any] = Field(description="The checks")

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str | None) -> str | None:
        """A URL SQLAlchemy has a dialect for; whether its server answers is the run's
        business (a warning then, as the history is not what the checks are about)."""
        if not value:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        example = "sqlite:///reports/state.db or postgresql://probes@db.internal:5432/probes"
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(f"not an SQLAlchemy URL; write e.g. {example}") from None
        if "@" in (url.host or ""):
            raise ValueError(AT_IN_PASSWORD_HINT)
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"SQLAlchemy knows no database called {url.drivername!r}; "
                             f"write e.g. {example}") from None
        return value


@dataclass(frozen=True)
class Config:
    path: str
    suite: str
    concurrency: int
    report: ReportSettings
    state: str | None
    state_retention: float
    notify: tuple[NotifyTarget, ...]
    checks: tuple[CheckBase, ...]
    masker: Masker = field(compare=False)


@dataclass
class _Substitution:
    path: Path_
    var: str
    value: str
    from_file: bool = False  # came from VAR_FILE: a mounted secret, masked wherever it is

    @property
    def secret(self) -> bool:
        """Secret whatever key it lands in: a secret-looking name, or a mounted file."""
        return self.from_file or is_secret_name(self.var)


class _Interpolator:
    """Replaces ${VAR} in every string, remembering what came from where."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[Problem] = []
        self.substitutions: list[_Substitution] = []

    def __call__(self, path: Path_, text: str, line: int) -> str:
        if "$" not in text:
            return text
        try:
            parts, _ = _parse_variables(text)
        except _Malformed:
            self.problems.append(Problem(line, _dotted(path),
                                         "malformed ${…}: write ${NAME}, ${NAME:-default}, "
                                         "or $${ for a literal ${"))
            return text
        return self._expand(parts, path, line)

    def _expand(self, parts: tuple[str | _Variable, ...], path: Path_, line: int) -> str:
        # A default is expanded only when it is used, as in the shell: a variable in
        # an unused default need not be set, and is not recorded.
        return "".join(part if isinstance(part, str) else self._value(part, path, line)
                       for part in parts)

    def _value(self, variable: _Variable, path: Path_, line: int) -> str:
        var, default = variable.name, variable.default
        value = self.environ.get(var)
        if value == "" and default is not None:
            value = None  # as in the shell and compose: `:-` covers set-but-empty too
        from_file = value is None and f"{var}_FILE" in self.environ
        if from_file:
            value = self._from_file(var, path, line)
            if value is None:  # unreadable: a problem of its own, already recorded
                return ""
        if value is None:
            if default is not None:
                return self._expand(default, path, line)
            self.problems.append(Problem(
                line, _dotted(path),
                f"environment variable {var} is not set; export it (or {var}_FILE, "
                f"the path of a file holding it), or write ${{{var}:-default}} to give "
                "a default"))
            return ""
        self.substitutions.append(_Substitution(path, var, value, from_file))
        return value

    def _from_file(self, var: str, path: Path_, line: int) -> str | None:
        """The value in the file `VAR_FILE` names (Docker and Kubernetes secrets), or None.

        The convention of the official database images; one trailing newline (as
        `echo` leaves) is not part of the value.
        """
        file_name = self.environ[f"{var}_FILE"]
        try:
            content = _read_regular_file(Path(file_name), MAX_SECRET_FILE_BYTES)
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(
                line, _dotted(path),
                f"{var}_FILE names {file_name}, which cannot be read ({_why(exc)}); mount the "
                f"secret there or set {var} itself"))
            return None
        return content.removesuffix("\n").removesuffix("\r")


MAX_CONFIG_BYTES = 50 * 1024 * 1024
MAX_SECRET_FILE_BYTES = 1024 * 1024


def _why(exc: OSError | UnicodeDecodeError) -> str:
    """`No such file or directory`, not `[Errno 2] No such file or directory: 'x'`."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _read_regular_file(file: Path, limit: int) -> str:
    """A file's text; a pipe or a device (which could block or never end) and a file
    larger than `limit` are refused with an OSError saying so."""
    if file.exists() and not file.is_file():
        raise OSError(0, "not a regular file (a directory, a pipe or a device?)")
    with file.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(0, f"larger than {limit // (1024 * 1024)} MB")
    return data.decode("utf-8")


def _dotted(path: Path_) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config file; raise ConfigError listing every problem."""
    file = Path(path)
    try:
        text = _read_regular_file(file, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(file, [Problem(None, "", "file not found; create it (see the README) "
                                         "or pass -c/--config FILE")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [Problem(None, "", f"cannot read the file: {_why(exc)}")]
                          ) from None
    return parse_config(text, str(file), os.environ if environ is None else environ)


def parse_config(text: str, source: str, environ: Mapping[str, str]) -> Config:
    interpolate = _Interpolator(environ)
    try:
        raw, lines = load_with_lines(text, interpolate)
    except YamlSyntaxError as exc:
        raise ConfigError(source, [Problem(exc.line, "", exc.message)]) from None
    if raw is None:
        raise ConfigError(source, [Problem(1, "", "the file is empty; it needs at least "
                                           "`checks:` with a list of checks")])
    if not isinstance(raw, dict):
        raise ConfigError(source, [Problem(1, "", "the top level must be a mapping with "
                                           "`checks:` (and optionally suite, defaults, …)")])
    problems = list(interpolate.problems)
    problems += _secrets_in_names(interpolate.substitutions, lines)
    problems += [Problem(lines.line_of(path), _dotted(path),
                         "contains a NUL character (\\0), which no program, header or file "
                         "name can carry; remove it")
                 for path, value in _walk(raw) if isinstance(value, str) and "\0" in value]
    settings = _validate_settings(raw, lines, problems)
    checks = _validate_checks(raw, settings, lines, problems)
    targets = _validate_notify(raw, settings, lines, problems)
    if problems:
        raise ConfigError(source, _masked(problems, interpolate.substitutions))
    assert settings is not None
    masker = _build_masker(raw, checks, interpolate.substitutions)
    return Config(
        path=source,
        suite=settings.suite,
        concurrency=settings.concurrency,
        report=settings.report,
        state=settings.state,
        state_retention=float(settings.state_retention),
        notify=tuple(targets),
        checks=tuple(checks),
        masker=masker,
    )


_SHOWN_AS_IS = ("name", "group", "tags")  # identify checks everywhere, history included


def _secrets_in_names(substitutions: list[_Substitution], lines: LineMap) -> list[Problem]:
    """A secret may not name anything: names, groups and tags are shown unmasked, and
    the history is kept by name."""
    problems = []
    for sub in substitutions:
        if not sub.secret:
            continue
        path = sub.path
        naming = (path == ("suite",)
                  or (len(path) >= 3 and path[0] == "checks" and path[2] in _SHOWN_AS_IS)
                  or (len(path) >= 2 and path[0] == "defaults" and path[1] in _SHOWN_AS_IS))
        if naming:
            problems.append(Problem(lines.line_of(path), _dotted(path),
                                    f"${{{sub.var}}} holds a secret, and this is shown as it is "
                                    "in every report; keep secrets out of the suite, names, "
                                    "groups and tags"))
    return problems


def _masked(problems: list[Problem], substitutions: list[_Substitution]) -> list[Problem]:
    """Problems worded without the secrets they may quote (`'hunter2' is not a duration`).

    The checks did not validate, so only what is known without them counts as
    secret here: secret-named variables, mounted secret files, URL passwords.
    """
    masker = Masker()
    for sub in substitutions:
        if sub.secret or sub.path[:1] in (("notify",), ("state",)):
            masker.add(sub.value)
    return [replace(p, message=masker.text(p.message)) for p in problems]


def _validate_settings(raw: dict[str, Any], lines: LineMap,
                       problems: list[Problem]) -> SuiteSettings | None:
    if "checks" not in raw:
        problems.append(Problem(1, "checks", "required key `checks` is missing; add a list "
                                "of checks"))
        raw = {**raw, "checks": []}
    elif not isinstance(raw["checks"], list):
        problems.append(Problem(lines.line_of(("checks",)), "checks",
                                "must be a list of checks (each item starts with `- name:`)"))
        raw = {**raw, "checks": []}
    elif not raw["checks"]:
        # A run of nothing passes every morning and proves nothing (pytest exits 5).
        problems.append(Problem(lines.line_of(("checks",)), "checks",
                                "the list is empty; add at least one check"))
    try:
        return SuiteSettings.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, (), lines, "the top level", SuiteSettings))
        return None


def _validate_notify(raw: dict[str, Any], settings: SuiteSettings | None, lines: LineMap,
                     problems: list[Problem]) -> list[NotifyTarget]:
    # Read from the raw config when another top-level key is wrong: every problem is
    # reported at once, not the notify ones only after the others are fixed.
    items = settings.notify if settings else raw.get("notify")
    targets = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("url") == "":
            continue  # `url: ${SLACK_WEBHOOK_URL:-}` unset: the target is switched off
        try:
            targets.append(NotifyTarget.model_validate(item))
        except ValidationError as exc:
            problems.extend(_problems_from(exc, ("notify", index), lines, "a notify target",
                                           NotifyTarget))
    return targets


def _field_names(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _validate_checks(raw: dict[str, Any], settings: SuiteSettings | None, lines: LineMap,
                     problems: list[Problem]) -> list[CheckBase]:
    items = raw.get("checks") if isinstance(raw.get("checks"), list) else []
    assert isinstance(items, list)
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(Problem(lines.line_of(("defaults",)), "defaults",
                                "must be a mapping of keys merged into every check"))
        defaults = {}
    common = _field_names(CheckBase)
    if set(defaults) - common:
        # Only a kind-specific default needs every kind loaded to know whether it exists.
        models = all_kind_models()
        known_anywhere = set().union(*(_field_names(m) for m in models.values())) - {"name", "kind"}
    else:
        known_anywhere = common
    for key in defaults:
        if key in ("name", "kind"):
            problems.append(Problem(lines.line_of(("defaults", key)), f"defaults.{key}",
                                    f"`{key}` cannot have a default: every check names its own"))
        elif key not in known_anywhere:
            problems.append(Problem(lines.line_of(("defaults", key)), f"defaults.{key}",
                                    f"unknown key `{key}`{_suggest(key, known_anywhere)}"))
    checks: list[CheckBase] = []
    first_line_of: dict[str, int | None] = {}
    for index, item in enumerate(items):
        path: Path_ = ("checks", index)
        check = _validate_check(item, path, defaults, lines, problems)
        if check is None:
            continue
        if check.name in first_line_of:
            problems.append(Problem(
                lines.line_of((*path, "name")), f"checks[{index}].name",
                f"duplicate check name {check.name!r} (first used at line "
                f"{first_line_of[check.name]}); names must be unique"))
            continue
        first_line_of[check.name] = lines.line_of((*path, "name"))
        checks.append(check)
    del settings
    return checks


def _validate_check(item: Any, path: Path_, defaults: dict[str, Any], lines: LineMap,
                    problems: list[Problem]) -> CheckBase | None:
    where = _dotted(path)
    if not isinstance(item, dict):
        problems.append(Problem(lines.line_of(path), where,
                                "a check must be a mapping with at least `name` and `kind`"))
        return None
    kinds = ", ".join(KIND_MODULES)
    kind = item.get("kind")
    if kind is None:
        problems.append(Problem(lines.line_of(path), f"{where}.kind",
                                f"required key `kind` is missing; one of: {kinds}"))
        if "name" not in item:
            problems.append(Problem(lines.line_of(path), f"{where}.name",
                                    "required key `name` is missing; give every check a "
                                    "unique name"))
        return None
    if not isinstance(kind, str) or kind not in KIND_MODULES:
        problems.append(Problem(lines.line_of((*path, "kind")), f"{where}.kind",
                                f"unknown kind {kind!r}{_suggest(str(kind), KIND_MODULES)}; "
                                f"known kinds: {kinds}"))
        return None
    model = kind_model(kind)
    accepted = _field_names(model)
    merged = {k: v for k, v in defaults.items() if k in accepted and k not in ("name", "kind")}
    merged.update(item)
    from_defaults = {k for k in merged if k not in item}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        for problem in _problems_from(exc, path, lines, f"a {kind} check", model, from_defaults):
            if problem not in problems:  # a bad default would repeat for every check
                problems.append(problem)
        return None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


_ITEM_RE = re.compile(r"^item (\d+): ")


def _problems_from(exc: ValidationError, base: Path_, lines: LineMap, what: str,
                   model: type[BaseModel], from_defaults: set[str] | None = None
                   ) -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        loc: Path_ = tuple(error["loc"])
        # A value merged in from `defaults:` is reported where it was written.
        origin = ("defaults",) if loc and from_defaults and loc[0] in from_defaults else base
        message = str(error["msg"]).removeprefix("Value error, ")
        item = _ITEM_RE.match(message)
        if item:
            loc = (*loc, int(item.group(1)))
            message = message[item.end():]
        kind = error["type"]
        field_name = str(loc[-1]) if loc else ""
        if kind == "extra_forbidden":
            owner = _nested_model(model, loc[:-1])
            allowed = sorted(_field_names(owner)) if owner else []
            hint = _suggest(field_name, allowed)
            listing = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            section = what if len(loc) == 1 else f"`{_dotted(loc[:-1])}`"
            message = f"unknown key `{field_name}` for {section}{hint}{listing}"
        elif kind == "missing":
            message = f"required key `{field_name}` is missing"
        elif "input" in error and kind not in ("value_error", "assertion_error"):
            shown = error["input"]
            if isinstance(shown, str | int | float | bool) and len(str(shown)) < 80:
                message = f"{message} (got {shown!r})"
        full = (*origin, *loc)
        out.append(Problem(lines.line_of(full), _dotted(full), message))
    return out


def _nested_model(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    """The model that validates the mapping at `path` inside `model` (e.g. `report`)."""
    for step in path:
        field = model.model_fields.get(str(step)) if isinstance(step, str) else None
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _build_masker(raw: dict[str, Any], checks: list[CheckBase],
                  substitutions: list[_Substitution]) -> Masker:
    masker = Masker()
    by_name = {index: check for index, check in enumerate(checks)}
    raw_checks = raw.get("checks") or []
    for sub in substitutions:
        if sub.secret or _is_secret_place(sub.path, raw_checks, by_name):
            masker.add(sub.value)
    # Literal values of password-like keys are secrets too, wherever they come from.
    for path, value in _walk(raw):
        if path and isinstance(path[-1], str) and is_secret_name(path[-1]) and isinstance(
            value, str
        ):
            masker.add(value)
    return masker


def _is_secret_place(path: Path_, raw_checks: list[Any], checks: dict[int, CheckBase]) -> bool:
    if path[:1] == ("notify",) or path[:1] == ("state",):
        return True
    if len(path) >= 3 and path[0] == "checks" and isinstance(path[1], int):
        item = raw_checks[path[1]] if path[1] < len(raw_checks) else None
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind in KIND_MODULES:
            return str(path[2]) in kind_model(kind).secret_keys
    if len(path) >= 2 and path[0] == "defaults":
        return any(str(path[1]) in m.secret_keys for m in all_kind_models().values())
    del checks
    return False


def _walk(value: Any, path: Path_ = ()) -> Iterable[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of checks.yaml, derived from the same models that validate it."""
    import warnings
    from typing import Annotated, Union

    from pydantic import TypeAdapter
    from pydantic.json_schema import PydanticJsonSchemaWarning

    # Duration defaults are numbers of seconds that pydantic cannot show as "10s";
    # the descriptions say the defaults instead.
    warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
    models = tuple(all_kind_models().values())
    check_union = Annotated[Union[models], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    settings = SuiteSettings.model_json_schema(by_alias=True)
    checks_schema = TypeAdapter(list[check_union]).json_schema(by_alias=True)
    checks_schema["minItems"] = 1
    notify_schema = TypeAdapter(list[NotifyTarget]).json_schema(by_alias=True)
    defs = {**settings.pop("$defs", {}), **checks_schema.pop("$defs", {}),
            **notify_schema.pop("$defs", {})}
    settings["properties"]["checks"] = checks_schema
    settings["properties"]["notify"] = notify_schema
    settings["$defs"] = defs
    settings["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    settings["title"] = "probes checks.yaml"
    admitted: dict[str, Any] = _admit_variables(settings)
    return admitted


# A value that is a variable stands for what the variable holds: `port: ${PORT}`.
_VARIABLE_SCHEMA = {
    "type": "string",
    "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-.*)?\}$",  # a default may nest ${…}
    "description": "an environment variable: ${NAME} or ${NAME:-default}",
}
_NOT_TEXT = ("integer", "number", "boolean")


def _admit_variables(node: Any) -> Any:
    """Let every number, duration and boolean of the schema be written as `${VAR}` too,
    as the config accepts it: editors must not flag what `probe validate` passes."""
    if isinstance(node, list):
        return [_admit_variables(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _admit_variables(value) for key, value in node.items()}
    alternatives = node.get("anyOf")
    if isinstance(alternatives, list):
        if any(isinstance(a, dict) and a.get("type") in _NOT_TEXT for a in alternatives):
            node["anyOf"] = [*alternatives, _VARIABLE_SCHEMA]
        return node
    if node.get("type") in _NOT_TEXT:
        kept = {k: v for k, v in node.items() if k in ("title", "description", "default")}
        typed = {k: v for k, v in node.items() if k not in kept}
        return {**kept, "anyOf": [typed, _VARIABLE_SCHEMA]}
    return node
