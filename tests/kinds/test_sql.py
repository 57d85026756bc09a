"""`sql` checks against the machine's real PostgreSQL and MariaDB, and SQLite files.

scripts/setup-databases.sh creates the role, database and tables these tests read.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from probes.config import ConfigError, parse_config
from probes.kinds.sql import Check
from probes.model import Category, CheckResult, ProbeError, Status
from tests.helpers.cli import probe
from tests.helpers.databases import (
    CONNECTIONS,
    ENV,
    GUARDED_ROWS,
    ORDERS,
    PASSWORD,
    ROLE,
    closed_port,
    databases_ready,  # noqa: F401  (a fixture)
    guarded_rows,
    left_behind,
    mariadb_url,
    pg_odbc,
    pg_url,
    run_yaml,
    scalar,
    silent_server,
)

pytestmark = pytest.mark.usefixtures("databases_ready")



def bare_pg_url(password: str = "${DB_PASSWORD}", **keys: Any) -> str:
    """`postgresql://` with no driver: SQLAlchemy's default for it, psycopg 3."""
    return pg_url(password, **keys).replace("postgresql+psycopg2://", "postgresql://", 1)


SERVERS: dict[str, Callable[..., str]] = {
    "postgresql": pg_url, "postgresql-psycopg3": bare_pg_url, "mariadb": mariadb_url,
}
DATABASE_OF = {"postgresql": "postgresql", "postgresql-psycopg3": "postgresql",
               "mariadb": "mariadb"}
SLEEP_30 = {"postgresql": "select pg_sleep(30)", "postgresql-psycopg3": "select pg_sleep(30)",
            "mariadb": "select sleep(30)"}
AGE_RE = r"age \(3(\.\d+)?d\) < 26h"


def sql_check(url: str, name: str = "db", **keys: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": url, **keys}


def run_checks_yaml(*checks: dict[str, Any], **env: str) -> dict[str, CheckResult]:
    return run_yaml(yaml.safe_dump({"checks": list(checks)}, sort_keys=False), **env)


def run_one(url: str, **keys: Any) -> CheckResult:
    return run_checks_yaml(sql_check(url, **keys))["db"]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("create table loads (loaded_at text)")
        connection.execute("insert into loads values (datetime('now', '-1 hour'))")
        connection.execute("create table guarded (id integer)")
        connection.executemany("insert into guarded values (?)", [(1,), (2,), (3,)])
    return path


# --- passing checks -----------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_select_one_passes_and_leaves_no_connection_behind(server: str) -> None:
    marker = f"probes_{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"select 1 as {marker}")
    assert result.status is Status.PASSED, result.message
    assert result.observations["rows"] == 1
    assert result.observations["value"] == 1
    assert left_behind(DATABASE_OF[server], marker) == 0


@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
def test_a_mysql_url_without_driver_uses_the_installed_one(scheme: str) -> None:
    # SQLAlchemy's default for mysql:// is mysqlclient, which probes does not install.
    url = mariadb_url().replace("mysql+pymysql://", f"{scheme}://", 1)
    result = run_one(url, expect=["value == 1"])
    assert result.status is Status.PASSED, result.message


def test_the_default_query_is_select_one(sqlite_file: Path) -> None:
    result = run_one(f"sqlite:///{sqlite_file}")
    assert result.status is Status.PASSED, result.message
    assert (result.observations["rows"], result.observations["value"]) == (1, 1)
    assert [a.expr for a in result.assertions] == ["rows >= 0"]


@pytest.mark.parametrize(("server", "column"), [
    ("postgresql", "loaded_at"),  # timestamptz: an aware datetime
    ("postgresql", "loaded_at_utc"),  # timestamp: naive, read as UTC
    ("mariadb", "loaded_at_utc"),  # datetime: naive, read as UTC
])
def test_freshness_passes_on_the_fresh_table_and_fails_on_the_stale_one(server: str,
                                                                        column: str) -> None:
    url = SERVERS[server]()
    results = run_checks_yaml(
        sql_check(url, "fresh", query=f"select max({column}) from fresh_loads",
                  expect=["age < 26h"]),
        sql_check(url, "stale", query=f"select max({column}) from stale_loads",
                  expect=["age < 26h"]),
    )
    assert results["fresh"].status is Status.PASSED, results["fresh"].message
    stale = results["stale"]
    assert stale.status is Status.FAILED
    assert re.search(AGE_RE, stale.message), stale.message
    assert stale.assertions[0].actual > 3 * 86400


def test_naive_timestamps_are_read_in_the_configured_time_zone() -> None:
    # loaded_at_utc holds UTC wall-clock time; read as Tokyo time (UTC+9) it is 9h older.
    result = run_one(pg_url(), query="select loaded_at_utc from fresh_loads",
                     timezone="Asia/Tokyo", expect=["age > 8h", "age < 10h"])
    assert result.status is Status.PASSED, result.message


def test_an_interval_value_compares_with_a_duration() -> None:
    result = run_one(pg_url(), query="select now() - max(loaded_at) from stale_loads",
                     expect=["value > 2d", "value < 4d"])
    assert result.status is Status.PASSED, result.message


@pytest.mark.parametrize("server", SERVERS)
def test_thresholds_on_value_and_columns_of_the_first_row(server: str) -> None:
    query = "select n, name from numbers where name = 'orders'"
    url = SERVERS[server]()
    results = run_checks_yaml(
        sql_check(url, "ok", query=query,
                  expect=["value > 1000", 'row.name == "orders"', "rows == 1"]),
        sql_check(url, "low", query=query, expect=["value > 2000"]),
    )
    assert results["ok"].status is Status.PASSED, results["ok"].message
    assert results["low"].status is Status.FAILED
    assert f"value ({ORDERS}) > 2000" in results["low"].message


@pytest.mark.parametrize("server", SERVERS)
def test_a_percent_sign_in_a_query_is_just_text(server: str) -> None:
    result = run_one(SERVERS[server](), query="select 'a%b'", expect=['value == "a%b"'])
    assert result.status is Status.PASSED, result.message


def test_sqlite_text_timestamps_have_an_age(sqlite_file: Path) -> None:
    result = run_one(f"sqlite:///{sqlite_file}", query="select max(loaded_at) from loads",
                     expect=["age > 50m", "age < 70m"])
    assert result.status is Status.PASSED, result.message


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_wrong_password_is_an_auth_error_and_stays_masked(server: str) -> None:
    wrong = "wrong-pass-7d2f"
    result = run_checks_yaml(sql_check(SERVERS[server]("${WRONG_PASSWORD}")),
                             WRONG_PASSWORD=wrong)["db"]
    assert (result.status, result.category) == (Status.ERROR, Category.AUTH), result.message
    assert ROLE in result.evidence  # the driver's own words are kept
    for text in (result.message, result.evidence, result.target):
        assert wrong not in text


def test_an_unknown_role_is_an_auth_error() -> None:
    result = run_one(pg_url(user="no_such_role"))
    assert (result.status, result.category) == (Status.ERROR, Category.AUTH), result.message
    assert "no_such_role" in result.message


@pytest.mark.parametrize(("server", "query"), [
    ("postgresql", "select * from no_such_table"),
    ("postgresql", "selec 1"),
    ("postgresql", "select * from forbidden"),
    ("mariadb", "select * from no_such_table"),
    ("mariadb", "selec 1"),
    ("mariadb", "select * from forbidden"),
])
def test_missing_tables_syntax_and_permissions_are_query_errors(server: str, query: str) -> None:
    result = run_one(SERVERS[server](), query=query)
    assert (result.status, result.category) == (Status.ERROR, Category.QUERY), result.message
    assert result.evidence


@pytest.mark.parametrize("server", SERVERS)
def test_a_closed_port_is_a_connect_error(server: str) -> None:
    result = run_one(SERVERS[server](port=closed_port()), timeout="5s")
    assert (result.status, result.category) == (Status.ERROR, Category.CONNECT), result.message
    assert result.duration_s < 5


# Verified TLS against a CA that signed nothing here: it fails whether the server offers
# TLS (the chain does not verify) or not (TLS is required), and must say TLS either way.
TLS_REQUIRED = {"postgresql": "?sslmode=verify-full&sslrootcert={ca}",
                "postgresql-psycopg3": "?sslmode=verify-full&sslrootcert={ca}",
                "mariadb": "?ssl_ca={ca}&ssl_verify_cert=true"}


@pytest.mark.parametrize("server", SERVERS)
def test_tls_that_cannot_be_had_is_a_tls_error(server: str, tmp_path: Path) -> None:
    import trustme

    ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    result = run_one(SERVERS[server]() + TLS_REQUIRED[server].format(ca=ca))
    assert (result.status, result.category) == (Status.ERROR, Category.TLS), result.message


@pytest.mark.parametrize("scheme", ["postgresql+psycopg2", "postgresql", "mysql+pymysql"])
def test_a_server_that_never_answers_times_out_in_the_driver(scheme: str) -> None:
    """The driver's own connect timeout fires (the runner is not involved here)."""
    start = time.monotonic()
    with silent_server() as port, pytest.raises(ProbeError) as caught:
        Check(name="silent", url=f"{scheme}://u:p@127.0.0.1:{port}/db").observe(2.0)
    assert caught.value.category is Category.TIMEOUT, caught.value.message
    # Without its own timeout the driver would wait for minutes; the margin is for load.
    assert time.monotonic() - start < 4


def test_a_missing_python_driver_is_a_driver_error_naming_what_to_install() -> None:
    # (URL scheme, module, pip package): the first whose module is not installed is used.
    candidates = [("mysql+mysqldb", "MySQLdb", "mysqlclient"),
                  ("oracle+cx_oracle", "cx_Oracle", "cx_Oracle"),
                  ("mssql+pymssql", "pymssql", "pymssql")]
    scheme, _, package = next(c for c in candidates if importlib.util.find_spec(c[1]) is None)
    result = run_one(f"{scheme}://u:${{DB_PASSWORD}}@127.0.0.1/db")
    assert (result.status, result.category) == (Status.ERROR, Category.DRIVER), result.message
    assert f"pip install {package}" in result.message


def test_an_unknown_dialect_is_a_driver_error() -> None:
    result = run_one("nosuchdb://u@127.0.0.1/db")
    assert (result.status, result.category) == (Status.ERROR, Category.DRIVER), result.message
    assert "probe drivers" in result.message


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    result = run_one(f"sqlite:///{path}")
    assert (result.status, result.category) == (Status.ERROR, Category.CONNECT), result.message
    assert not path.exists()


def test_a_url_that_is_not_one_is_a_config_error() -> None:
    text = yaml.safe_dump({"checks": [sql_check("warehouse.internal:5432")]}, sort_keys=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "checks.yaml", {})
    assert "SQLAlchemy URL" in caught.value.render()


def test_an_unknown_time_zone_is_a_config_error() -> None:
    text = yaml.safe_dump({"checks": [sql_check(pg_url(), timezone="Mars/Olympus")]})
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "checks.yaml", ENV)
    assert "Mars/Olympus" in caught.value.render()


# --- timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_a_slow_query_is_cancelled_on_the_server_within_the_timeout(server: str) -> None:
    marker = f"probes_{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"{SLEEP_30[server]} as {marker}", timeout="2s")
    assert (result.status, result.category) == (Status.ERROR, Category.TIMEOUT), result.message
    assert result.duration_s < 3
    assert "cancelled" in result.message
    assert left_behind(DATABASE_OF[server], marker) == 0


def test_a_slow_sqlite_query_is_interrupted_within_the_timeout(sqlite_file: Path) -> None:
    endless = ("with recursive c(x) as (select 1 union all select x + 1 from c) "
               "select count(*) from c")
    result = run_one(f"sqlite:///{sqlite_file}", query=endless, timeout="1s")
    assert (result.status, result.category) == (Status.ERROR, Category.TIMEOUT), result.message
    assert result.duration_s < 1.5


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
    assert "read_only: false" in result.message
    assert guarded_rows(DATABASE_OF[server]) == GUARDED_ROWS


@pytest.mark.parametrize("query", ["commit; delete from guarded",
                                   "select 1; rollback; delete from guarded",
                                   "select 1;\n/* done */ END"])
def test_a_read_only_query_may_not_end_its_transaction(query: str) -> None:
    text = yaml.safe_dump({"checks": [sql_check(pg_url(), query=query)]})
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "checks.yaml", ENV)
    assert "read_only: false" in caught.value.render()
    assert guarded_rows("postgresql") == GUARDED_ROWS


@pytest.mark.parametrize("query", ["select 'commit; rollback'", "select 1 -- ; commit",
                                   "select $$; commit$$"])
def test_transaction_words_inside_text_and_comments_are_allowed(query: str) -> None:
    result = run_one(pg_url(), query=query)
    assert result.status is Status.PASSED, result.message


def test_a_sqlite_check_cannot_change_data_unless_it_opts_in(sqlite_file: Path) -> None:
    result = run_one(f"sqlite:///{sqlite_file}", query="delete from guarded")
    assert (result.status, result.category) == (Status.ERROR, Category.QUERY), result.message
    with closing(sqlite3.connect(sqlite_file)) as connection:
        assert connection.execute("select count(*) from guarded").fetchone()[0] == GUARDED_ROWS


@pytest.mark.parametrize("server", SERVERS)
def test_read_only_false_commits_the_change(server: str) -> None:
    note = f"written-{uuid.uuid4().hex}"
    result = run_one(SERVERS[server](), query=f"insert into scratch (note) values ('{note}')",
                     read_only=False, expect=["rows == 1"])
    assert result.status is Status.PASSED, result.message
    with CONNECTIONS[DATABASE_OF[server]]() as connection:
        assert scalar(connection, f"select count(*) from scratch where note = '{note}'") == 1


def test_sqlite_read_only_false_commits_the_change(sqlite_file: Path) -> None:
    result = run_one(f"sqlite:///{sqlite_file}", query="delete from guarded", read_only=False,
                     expect=[f"rows == {GUARDED_ROWS}"])
    assert result.status is Status.PASSED, result.message
    with closing(sqlite3.connect(sqlite_file)) as connection:
        assert connection.execute("select count(*) from guarded").fetchone()[0] == 0


# --- SQL Server ---------------------------------------------------------------------------


def test_sql_server_through_freetds_fails_to_connect_within_the_timeout() -> None:
    """No SQL Server engine can run here: this shows the FreeTDS driver loads and a server
    that is not there gives error/connect well within the timeout."""
    url = f"mssql+pyodbc://sa:${{DB_PASSWORD}}@127.0.0.1:{closed_port()}/master?driver=FreeTDS"
    result = run_one(url, timeout="5s")
    assert (result.status, result.category) == (Status.ERROR, Category.CONNECT), result.message
    assert "[FreeTDS]" in result.message  # the driver itself answered
    assert result.duration_s < 5


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["odbc", "sql", "sql-mariadb"])
def test_a_query_cut_off_by_the_deadline_is_cancelled_on_the_server(tmp_path: Path,
                                                                   how: str) -> None:
    marker = f"probes_{uuid.uuid4().hex}"
    query = f"select pg_sleep(60) as {marker}"
    check = (sql_check(pg_url(), "slow", query=query, timeout="60s") if how == "sql" else
             {"name": "slow", "kind": "odbc", "connection": pg_odbc(), "query": query,
              "timeout": "60s"})
    if how == "sql-mariadb":  # PyMySQL has no cancel: probes sends KILL QUERY
        # Busy on the server: unlike sleep(), it does not notice that its client has gone.
        busy = f"select benchmark(10000000000, md5('x')) as {marker}"
        check = sql_check(mariadb_url(), "slow", query=busy, timeout="60s")
    config = tmp_path / "checks.yaml"
    config.write_text(yaml.safe_dump({"checks": [check]}), encoding="utf-8")
    done = probe(["run", "-c", str(config), "--reports", str(tmp_path / "r"),
                  "--deadline", "3s", "--no-notify"], env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    # Not left running until its own 60 s statement timeout.
    assert left_behind("mariadb" if how == "sql-mariadb" else "postgresql", marker) == 0


def test_the_password_appears_in_no_report_console_line_or_log(tmp_path: Path) -> None:
    config = tmp_path / "checks.yaml"
    config.write_text(yaml.safe_dump({"suite": "masking", "checks": [
        sql_check(pg_url(), "passes"),
        sql_check(pg_url(), "fails", expect=["value == 2"]),
        sql_check(pg_url(), "query error", query="select * from no_such_table"),
        sql_check(mariadb_url(), "mariadb"),
        sql_check(pg_url("${DB_PASSWORD}x"), "wrong password"),
    ]}, sort_keys=False), encoding="utf-8")
    reports = tmp_path / "reports"
    done = probe(["run", "-c", str(config), "--reports", str(reports), "--no-notify"],
                 env={**ENV, "PROBE_DEBUG": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    assert {c["name"]: (c["status"], c["category"]) for c in results["checks"]} == {
        "passes": ("passed", None), "fails": ("failed", None), "mariadb": ("passed", None),
        "query error": ("error", "query"), "wrong password": ("error", "auth")}
    files = [path for path in reports.rglob("*") if path.is_file()]
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in done.stdout
    assert PASSWORD not in done.stderr


def test_a_password_with_an_at_sign_is_a_config_error_that_shows_no_piece_of_it(
        tmp_path: Path) -> None:
    # SQLAlchemy ends the password at its first `@` and reads the rest as the host name,
    # which DNS errors used to show: "cannot resolve 2secret@127.0.0.1".
    secret = "hunter@2secret"
    config = tmp_path / "checks.yaml"
    config.write_text(yaml.safe_dump({"checks": [sql_check(pg_url("${AT_PASSWORD}"))]}),
                      encoding="utf-8")
    reports = tmp_path / "reports"
    done = probe(["run", "-c", str(config), "--reports", str(reports), "--no-notify"],
                 env={"AT_PASSWORD": secret})
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads((reports / "results.json").read_text(encoding="utf-8"))["checks"][0]
    assert (result["status"], result["category"]) == ("error", "config")
    assert "%40" in result["message"]
    for piece in ("hunter", "2secret"):
        assert piece not in done.stdout + done.stderr
        for path in reports.rglob("*"):
            if path.is_file():
                assert piece.encode() not in path.read_bytes(), path


def test_the_password_given_in_connect_args_needs_no_encoding() -> None:
    result = run_one(pg_url().replace(":${DB_PASSWORD}@", "@"),
                     connect_args={"password": "${DB_PASSWORD}"})
    assert result.status is Status.PASSED, result.message
