"""The test databases that scripts/setup-databases.sh creates, and how tests reach them.

The facts here repeat the ones in that script: keep both in step. The role's password
is a test fixture, not a secret; the tests still pass it through `${VAR}` to prove it
is masked.

A test module that needs the databases imports `databases_ready` (a pytest fixture);
it fails, naming the script to run, when the set-up has not been done.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from probes.config import parse_config
from probes.model import CheckResult
from probes.runner import run_checks
from probes.selection import select

HOST = "127.0.0.1"
ROLE = "probes_test"
DATABASE = "probes_test"
PASSWORD = "probes-test-pw-4c1e"
PG_PORT = int(os.environ.get("PROBES_PG_PORT", "5432"))
MARIADB_PORT = int(os.environ.get("PROBES_MARIADB_PORT", "3306"))
GUARDED_ROWS = 3  # rows of the `guarded` table a read-only check must leave alone
ORDERS = 1500  # numbers.n where name = 'orders'
PG_ODBC_DRIVER = "PostgreSQL Unicode"
MARIADB_ODBC_DRIVER = "MariaDB Unicode"
FREETDS_DRIVER = "FreeTDS"
SETUP_HINT = "run scripts/setup-databases.sh (scripts/test.sh runs it) before these tests"


def pg_url(password: str = "${DB_PASSWORD}", *, user: str = ROLE, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg2://{user}:{password}@{HOST}:{port}/{DATABASE}"


def mariadb_url(password: str = "${DB_PASSWORD}", *, user: str = ROLE,
                port: int = MARIADB_PORT) -> str:
    return f"mysql+pymysql://{user}:{password}@{HOST}:{port}/{DATABASE}"


def pg_odbc(password: str = "${DB_PASSWORD}", *, user: str = ROLE, port: int = PG_PORT,
            driver: str = PG_ODBC_DRIVER) -> str:
    return (f"Driver={{{driver}}};Server={HOST};Port={port};Database={DATABASE};"
            f"Uid={user};Pwd={password}")


def mariadb_odbc(password: str = "${DB_PASSWORD}", *, user: str = ROLE,
                 port: int = MARIADB_PORT) -> str:
    return (f"Driver={{{MARIADB_ODBC_DRIVER}}};Server={HOST};Port={port};"
            f"Database={DATABASE};Uid={user};Pwd={password}")


ENV = {"DB_PASSWORD": PASSWORD}


def run_yaml(yaml_text: str, **env: str) -> dict[str, CheckResult]:
    """Load a config as `probe run` does (interpolation, masking) and run it; by name."""
    config = parse_config(yaml_text, "checks.yaml", {**ENV, **env})
    result = run_checks(config.suite, select(config.checks), masker=config.masker)
    return {check.name: check for check in result.checks}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with closing(socket.socket()) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word."""
    with closing(socket.socket()) as sock:
        sock.bind((HOST, 0))
        sock.listen(64)  # the kernel completes handshakes; nothing ever answers
        yield sock.getsockname()[1]


def pyodbc_without_unixodbc(directory: Path) -> Path:
    """A copy of the installed pyodbc that links to a unixODBC library that is not there.

    With `directory` first on PYTHONPATH, `import pyodbc` fails in the dynamic loader as on
    a machine without unixODBC; only the library's name differs (libodbc.so.9, not .2).
    """
    spec = importlib.util.find_spec("pyodbc")
    assert spec is not None and spec.origin is not None, "pyodbc is a dependency"
    original = Path(spec.origin)
    binary = original.read_bytes()
    assert binary.count(b"libodbc.so.2") == 1, "pyodbc no longer links to libodbc.so.2"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / original.name).write_bytes(binary.replace(b"libodbc.so.2", b"libodbc.so.9"))
    return directory


@contextmanager
def pg_connection() -> Iterator[Any]:
    import psycopg2

    connection = psycopg2.connect(host=HOST, port=PG_PORT, user=ROLE, password=PASSWORD,
                                  dbname=DATABASE, connect_timeout=5)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


@contextmanager
def mariadb_connection() -> Iterator[Any]:
    import pymysql

    connection = pymysql.connect(host=HOST, port=MARIADB_PORT, user=ROLE, password=PASSWORD,
                                 database=DATABASE, connect_timeout=5, autocommit=True)
    try:
        yield connection
    finally:
        connection.close()


def scalar(connection: Any, query: str) -> Any:
    with closing(connection.cursor()) as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    return row[0] if row else None


CONNECTIONS = {"postgresql": pg_connection, "mariadb": mariadb_connection}
# Where a statement still running (or a connection still open) would show.
_LEFT_BEHIND = {
    "postgresql": "select count(*) from pg_stat_activity "
                  "where query like '%{marker}%' and pid <> pg_backend_pid()",
    "mariadb": "select count(*) from information_schema.processlist "
               "where info like '%{marker}%' and id <> connection_id()",
}


def left_behind(database: str, marker: str, within_s: float = 5.0) -> int:
    """Statements/connections carrying `marker` on `database` ("postgresql" or "mariadb"),
    polled until none are left or time is up.

    A backend ends a moment after its client closes; the bound keeps the test finite.
    """
    deadline = time.monotonic() + within_s
    with CONNECTIONS[database]() as connection:
        while True:
            count = int(scalar(connection, _LEFT_BEHIND[database].format(marker=marker)))
            if count == 0 or time.monotonic() > deadline:
                return count


def guarded_rows(database: str) -> int:
    with CONNECTIONS[database]() as connection:
        return int(scalar(connection, "select count(*) from guarded"))


@pytest.fixture(scope="session")
def databases_ready() -> None:
    """The role, database and tables exist, and PostgreSQL wants the role's password."""
    problems = []
    try:
        with pg_connection() as connection:
            scalar(connection, "select count(*) from fresh_loads, stale_loads, guarded")
    except Exception as exc:
        problems.append(f"PostgreSQL on {HOST}:{PG_PORT}: {exc}".strip())
    else:
        import psycopg2

        try:
            psycopg2.connect(host=HOST, port=PG_PORT, user=ROLE, password="wrong",
                             dbname=DATABASE, connect_timeout=5).close()
            problems.append("PostgreSQL accepts a wrong password for the test role "
                            "(the pg_hba.conf rule is missing)")
        except psycopg2.OperationalError:
            pass
    try:
        with mariadb_connection() as connection:
            scalar(connection, "select count(*) from fresh_loads, stale_loads, guarded")
    except Exception as exc:
        problems.append(f"MariaDB on {HOST}:{MARIADB_PORT}: {exc}")
    if problems:
        pytest.fail(f"the test databases are not set up; {SETUP_HINT}:\n  "
                    + "\n  ".join(problems), pytrace=False)
