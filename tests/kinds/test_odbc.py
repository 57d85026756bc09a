"""`odbc` checks through the real unixODBC drivers: PostgreSQL Unicode, MariaDB Unicode, FreeTDS.

scripts/setup-databases.sh creates the role, database and tables these tests read;
scripts/setup-system.sh installs unixODBC and the drivers.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from probes.config import ConfigError, parse_config
from probes.kinds.odbc import Check
from probes.model import Category, CheckResult, ProbeError, Status
from tests.helpers.cli import probe
from tests.helpers.databases import (
    CONNECTIONS,
    DATABASE,
    ENV,
    FREETDS_DRIVER,
    GUARDED_ROWS,
    HOST,
    MARIADB_ODBC_DRIVER,
    PASSWORD,
    PG_ODBC_DRIVER,
    PG_PORT,
    ROLE,
    closed_port,
    databases_ready,  # noqa: F401  (a fixture)
    guarded_rows,
    left_behind,
    mariadb_odbc,
    pg_odbc,
    pyodbc_without_unixodbc,
    run_yaml,
    scalar,
    silent_server,
)

pytestmark = pytest.mark.usefixtures("databases_ready")

SERVERS: dict[str, Callable[..., str]] = {"postgresql": pg_odbc, "mariadb": mariadb_odbc}
SLEEP_30 = {"postgresql": "select pg_sleep(30)", "mariadb": "select sleep(30)"}


def odbc_check(name: str = "db", **keys: Any) -> dict[str, Any]:
    return {"name": name, "kind": "odbc", **keys}


def run_one(connection: str | None = None, **keys: Any) -> CheckResult:
    if connection is not None:
        keys["connection"] = connection
    text = yaml.safe_dump({"checks": [odbc_check(**keys)]}, sort_keys=False)
    return run_yaml(text)["db"]


@pytest.fixture
def user_dsn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user data source in an odbc.ini of the test's own (unixODBC reads ODBCINI)."""
    ini = tmp_path / "odbc.ini"
    ini.write_text(f"[probes_pg]\nDriver = {PG_ODBC_DRIVER}\nServername = {HOST}\n"
                   f"Port = {PG_PORT}\nDatabase = {DATABASE}\n", encoding="utf-8")
    monkeypatch.setenv("ODBCINI", str(ini))
    return "probes_pg"


# --- passing checks -----------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_select_one_passes_and_leaves_no_connection_behind(server: str) -> None:
    marker = f"probes_{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"select 1 as {marker}")
    assert result.status is Status.PASSED, result.message
    assert (result.observations["rows"], result.observations["value"]) == (1, 1)
    assert left_behind(server, marker) == 0


@pytest.mark.parametrize("server", SERVERS)
def test_freshness_passes_on_the_fresh_table_and_fails_on_the_stale_one(server: str) -> None:
    checks = [odbc_check(name, connection=SERVERS[server](), expect=["age < 26h"],
                         query=f"select max(loaded_at) from {name}_loads")
              for name in ("fresh", "stale")]
    results = run_yaml(yaml.safe_dump({"checks": checks}, sort_keys=False))
    assert results["fresh"].status is Status.PASSED, results["fresh"].message
    assert results["stale"].status is Status.FAILED
    assert re.search(r"age \(3(\.\d+)?d\) < 26h", results["stale"].message)


@pytest.mark.parametrize("server", SERVERS)
def test_thresholds_on_value_and_columns(server: str) -> None:
    result = run_one(SERVERS[server](), query="select n, name from numbers order by n desc",
                     expect=["value > 1000", 'row.name == "orders"', "rows == 2"])
    assert result.status is Status.PASSED, result.message


def test_a_dsn_with_user_and_password(user_dsn: str) -> None:
    result = run_one(dsn=user_dsn, user=ROLE, password="${DB_PASSWORD}")
    assert result.status is Status.PASSED, result.message
    assert PASSWORD not in result.target


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_wrong_password_is_an_auth_error_and_stays_masked(server: str) -> None:
    wrong = "wrong-pass-5b1c"
    text = yaml.safe_dump({"checks": [odbc_check(connection=SERVERS[server]("${WRONG_PW}"))]})
    result = run_yaml(text, WRONG_PW=wrong)["db"]
    assert (result.status, result.category) == (Status.ERROR, Category.AUTH), result.message
    for field in (result.message, result.evidence, result.target):
        assert wrong not in field
    assert "Pwd=***" in result.target


@pytest.mark.parametrize("server", SERVERS)
def test_a_missing_table_is_a_query_error(server: str) -> None:
    result = run_one(SERVERS[server](), query="select * from no_such_table")
    assert (result.status, result.category) == (Status.ERROR, Category.QUERY), result.message


@pytest.mark.parametrize("server", SERVERS)
def test_a_closed_port_is_a_connect_error(server: str) -> None:
    result = run_one(SERVERS[server](port=closed_port()), timeout="5s")
    assert (result.status, result.category) == (Status.ERROR, Category.CONNECT), result.message
    assert result.duration_s < 5


def test_tls_that_cannot_be_had_is_a_tls_error(tmp_path: Path) -> None:
    # psqlODBC reports it as SQLSTATE 08001, like any failed connection. A CA that signed
    # nothing here: it fails whether the server offers TLS or not.
    import trustme

    ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    result = run_one(pg_odbc() + f";SSLmode=verify-full;pqopt={{sslrootcert={ca}}}")
    assert (result.status, result.category) == (Status.ERROR, Category.TLS), result.message


def test_an_unknown_driver_name_is_a_driver_error_listing_the_installed_ones() -> None:
    result = run_one(pg_odbc(driver="No Such Driver"))
    assert (result.status, result.category) == (Status.ERROR, Category.DRIVER), result.message
    for installed in (PG_ODBC_DRIVER, MARIADB_ODBC_DRIVER, FREETDS_DRIVER):
        assert installed in result.message


def test_an_unknown_dsn_is_a_driver_error_listing_the_known_ones(user_dsn: str) -> None:
    result = run_one(dsn="no_such_dsn")
    assert (result.status, result.category) == (Status.ERROR, Category.DRIVER), result.message
    assert user_dsn in result.message


def test_connection_or_dsn_is_required_and_not_both() -> None:
    for keys in ({}, {"connection": pg_odbc(), "dsn": "x"}):
        text = yaml.safe_dump({"checks": [odbc_check(**keys)]})
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "checks.yaml", ENV)
        assert "exactly one of them" in caught.value.render()


# --- timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_slow_query_is_cancelled_on_the_server_within_the_timeout(server: str) -> None:
    marker = f"probes_{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"{SLEEP_30[server]} as {marker}", timeout="2s")
    assert (result.status, result.category) == (Status.ERROR, Category.TIMEOUT), result.message
    assert result.duration_s < 3
    assert left_behind(server, marker) == 0


@pytest.mark.parametrize("driver", [PG_ODBC_DRIVER, MARIADB_ODBC_DRIVER, FREETDS_DRIVER])
def test_a_server_that_never_answers_times_out_in_the_driver(driver: str) -> None:
    """The driver's own login timeout fires (the runner is not involved here). No SQL
    Server engine can run here; for FreeTDS this shows its login timeout holds."""
    start = time.monotonic()
    with silent_server() as port, pytest.raises(ProbeError) as caught:
        Check(name="silent", connection=f"Driver={{{driver}}};Server={HOST};Port={port};"
              "Database=x;Uid=x;Pwd=x").observe(2.0)
    assert caught.value.category is Category.TIMEOUT, caught.value.message
    # Without its own timeout the driver would wait for minutes; the margin is for load.
    assert time.monotonic() - start < 4


# --- read-only ----------------------------------------------------------------------------


@pytest.mark.parametrize(("server", "query"), [
    ("postgresql", "delete from guarded"),
    ("postgresql", "truncate guarded"),
    ("mariadb", "delete from guarded"),
    ("mariadb", "truncate table guarded"),
])
def test_a_check_cannot_change_data_unless_it_opts_in(server: str, query: str) -> None:
    result = run_one(SERVERS[server](), query=query)
    assert (result.status, result.category) == (Status.ERROR, Category.QUERY), result.message
    assert guarded_rows(server) == GUARDED_ROWS


@pytest.mark.parametrize("server", SERVERS)
def test_read_only_false_commits_the_change(server: str) -> None:
    note = f"written-{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"insert into scratch (note) values ('{note}')",
                     read_only=False)
    assert result.status is Status.PASSED, result.message
    with CONNECTIONS[server]() as connection:
        assert scalar(connection, f"select count(*) from scratch where note = '{note}'") == 1


# --- SQL Server ---------------------------------------------------------------------------


def test_freetds_loads_and_an_absent_server_is_a_connect_error() -> None:
    """No SQL Server engine can run here: FreeTDS itself answers, within the timeout."""
    result = run_one(f"Driver={{{FREETDS_DRIVER}}};Server={HOST};Port={closed_port()};"
                     "Database=master;Uid=sa;Pwd=${DB_PASSWORD}", timeout="5s")
    assert (result.status, result.category) == (Status.ERROR, Category.CONNECT), result.message
    assert "[FreeTDS]" in result.message
    assert result.duration_s < 5


# --- without unixODBC ---------------------------------------------------------------------


def test_without_unixodbc_only_odbc_checks_fail_and_say_what_to_install(tmp_path: Path) -> None:
    site = pyodbc_without_unixodbc(tmp_path / "site")
    config = tmp_path / "checks.yaml"
    config.write_text(yaml.safe_dump({"checks": [
        {"name": "python runs", "kind": "command", "argv": [sys.executable, "-c", "pass"]},
        odbc_check("warehouse", connection=pg_odbc()),
    ]}, sort_keys=False), encoding="utf-8")
    done = probe(["run", "-c", str(config), "--reports", str(tmp_path / "reports"),
                  "--no-notify"], env={**ENV, "PYTHONPATH": str(site)})
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads((tmp_path / "reports" / "results.json").read_text(encoding="utf-8"))
    by_name = {c["name"]: c for c in results["checks"]}
    assert by_name["python runs"]["status"] == "passed"
    warehouse = by_name["warehouse"]
    assert (warehouse["status"], warehouse["category"]) == ("error", "driver")
    assert "apt-get install unixodbc" in warehouse["message"]
