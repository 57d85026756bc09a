"""Loading checks.yaml: interpolation, defaults, secrets, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probes.config import ConfigError, json_schema, parse_config
from probes.kinds import KIND_MODULES


def load(text: str, **env: str):  # type: ignore[no-untyped-def]
    return parse_config(text, "checks.yaml", env)


def test_interpolation_forms() -> None:
    config = load("""
checks:
  - name: "api ${ENV_NAME}"
    kind: scripted
    text: "${MISSING:-fallback} and $${LITERAL} and ${ENV_NAME}"
""", ENV_NAME="prod")
    check = config.checks[0]
    assert check.name == "api prod"
    assert check.text == "fallback and ${LITERAL} and prod"  # type: ignore[attr-defined]


def test_a_default_may_hold_variables_used_only_when_it_applies() -> None:
    # As in the shell and Docker Compose: ${A:-${B}}, ${A:-${B:-literal}}.
    config = load('''
checks:
  - name: a
    kind: scripted
    text: "${URL:-${FALLBACK_URL}} | ${A:-x${B:-y}z} | ${SET:-${UNSET_NOT_NEEDED}} | ${A:-}}"
    description: "${AUTH:-Bearer ${API_TOKEN}}"
''', FALLBACK_URL="http://backup", SET="given", API_TOKEN="tok-7f3a9")
    assert config.checks[0].text == "http://backup | xyz | given | }"  # type: ignore[attr-defined]
    assert config.masker.text("Bearer tok-7f3a9") == "Bearer ***"  # secret inside a default


def test_a_default_covers_a_variable_set_but_empty() -> None:
    # An empty `PORT=` line in an env file: the default applies, as in the shell.
    config = load("""
checks:
  - name: a
    kind: scripted
    text: "port ${PORT:-8080}, host ${HOST}"
""", PORT="", HOST="")
    assert config.checks[0].text == "port 8080, host "  # type: ignore[attr-defined]


def test_every_unset_variable_is_reported_with_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        load("""
checks:
  - name: a
    kind: scripted
    text: ${FIRST_MISSING}
  - name: b
    kind: scripted
    text: ${SECOND_MISSING}
""")
    rendered = info.value.render()
    assert ("checks.yaml:5: checks[0].text: environment variable FIRST_MISSING is not set"
            in rendered)
    assert "checks.yaml:8: checks[1].text: environment variable SECOND_MISSING" in rendered


def test_a_secret_in_a_mounted_file_is_read_through_var_file(tmp_path: Path) -> None:
    secret = tmp_path / "warehouse_token"
    secret.write_text("s3cret-from-a-file\n")  # as `echo` or a Kubernetes Secret leaves it
    config = load("""
checks:
  - name: a
    kind: scripted
    text: "token=${WAREHOUSE_TOKEN}"
  - name: b
    kind: scripted
    text: "${SET_DIRECTLY}"
""", WAREHOUSE_TOKEN_FILE=str(secret), SET_DIRECTLY="direct",
        SET_DIRECTLY_FILE=str(tmp_path / "absent"))
    assert config.checks[0].text == "token=s3cret-from-a-file"  # type: ignore[attr-defined]
    assert config.checks[1].text == "direct"  # type: ignore[attr-defined]  # VAR wins
    # A file's content is a secret whatever the variable is called.
    assert config.masker.text("s3cret-from-a-file") == "***"


def test_an_unreadable_var_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load("""
checks:
  - name: a
    kind: scripted
    text: ${DB_PASSWORD:-unused}
""", DB_PASSWORD_FILE=str(tmp_path / "missing"))
    rendered = info.value.render()
    assert f"checks.yaml:5: checks[0].text: DB_PASSWORD_FILE names {tmp_path / 'missing'}, " \
        "which cannot be read (No such file or directory)" in rendered


def test_a_config_error_does_not_quote_a_secret() -> None:
    with pytest.raises(ConfigError) as info:
        load("""
checks:
  - name: a
    kind: tcp
    host: db
    port: ${DB_PASSWORD}
    timeout: ${API_TOKEN}
""", DB_PASSWORD="hunter2-pw", API_TOKEN="tok-abcdef")
    rendered = info.value.render()
    assert "checks.yaml:6: checks[0].port" in rendered
    assert "checks.yaml:7: checks[0].timeout" in rendered
    assert "hunter2-pw" not in rendered and "tok-abcdef" not in rendered


def test_a_secret_may_not_name_a_suite_check_group_or_tag() -> None:
    with pytest.raises(ConfigError) as info:
        load("""
suite: "${API_TOKEN}"
checks:
  - {name: "chk ${API_TOKEN}", group: "g", tags: ["${API_TOKEN}"], kind: scripted}
  - {name: "api ${ENV_NAME}", kind: scripted}
""", API_TOKEN="tok-in-a-name", ENV_NAME="prod")
    rendered = info.value.render()
    assert "checks.yaml:2: suite: ${API_TOKEN} holds a secret" in rendered
    assert "checks.yaml:4: checks[0].name: ${API_TOKEN} holds a secret" in rendered
    assert "checks.yaml:4: checks[0].tags[0]: ${API_TOKEN} holds a secret" in rendered
    assert "checks[1]" not in rendered  # ENV_NAME is no secret
    assert "tok-in-a-name" not in rendered


def test_defaults_merge_and_the_checks_own_keys_win() -> None:
    config = load("""
defaults:
  timeout: 3s
  retries: 2
  tags: [nightly]
checks:
  - {name: a, kind: scripted}
  - {name: b, kind: scripted, timeout: 250ms, tags: [own]}
""")
    a, b = config.checks
    assert (a.timeout, a.retries, a.tags) == (3.0, 2, ["nightly"])
    assert (b.timeout, b.retries, b.tags) == (0.25, 2, ["own"])


def test_durations_sizes_and_bare_seconds() -> None:
    config = load("checks:\n  - {name: a, kind: scripted, timeout: 2m, retry_delay: 1.5}\n")
    assert config.checks[0].timeout == 120.0
    assert config.checks[0].retry_delay == 1.5
    assert str(config.checks[0].timeout) == "2m"
    # A number that arrives as text (an environment variable) is seconds too.
    config = load("checks:\n  - {name: a, kind: scripted, timeout: '${T}'}\n", T="30")
    assert config.checks[0].timeout == 30.0


def test_secret_named_variables_and_secret_places_are_masked() -> None:
    config = load("""
checks:
  - name: a
    kind: scripted
    text: "${API_TOKEN} ${PLAIN_VALUE}"
    secret: "${INNOCENT_NAME}"
""", API_TOKEN="tok-123456", PLAIN_VALUE="visible-value", INNOCENT_NAME="hidden-by-place")
    masked = config.masker.text("tok-123456 visible-value hidden-by-place")
    assert masked == "*** visible-value ***"


def test_url_passwords_and_odbc_passwords_are_masked_whoever_wrote_them() -> None:
    config = load("checks:\n  - {name: a, kind: scripted}\n")
    text = ("postgresql://reader:pa55word@db:5432/x and "
            "Driver={PostgreSQL Unicode};Server=db;UID=u;PWD=hunter2;")
    masked = config.masker.text(text)
    assert "pa55word" not in masked and "hunter2" not in masked
    assert "postgresql://reader:***@db:5432/x" in masked


def test_schema_is_derived_from_the_registry() -> None:
    schema = json_schema()
    text = json.dumps(schema)
    check_defs = schema["properties"]["checks"]["items"]
    assert "discriminator" in check_defs or "oneOf" in check_defs
    for kind in KIND_MODULES:
        assert f'"const": "{kind}"' in text or f'"{kind}"' in text
    assert schema["additionalProperties"] is False


def test_the_schema_takes_what_validate_takes_and_refuses_what_it_refuses() -> None:
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(json_schema())
    accepted = yaml.safe_load("""
concurrency: ${CONCURRENCY:-16}
checks:
  - {name: db port, kind: tcp, host: db, port: "${PORT}", timeout: "${T:-10s}",
     enabled: "${ENABLED}", retries: 2}
  - {name: api, kind: http, url: "https://api/health", timeout: 5s}
""")
    assert list(validator.iter_errors(accepted)) == []
    refused = yaml.safe_load("checks: [{name: a, kind: tcp, host: db, port: eighty}]")
    assert list(validator.iter_errors(refused))
    assert list(validator.iter_errors({"checks": []})), "an empty list is refused by both"
