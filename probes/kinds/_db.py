"""What the `sql` and `odbc` kinds share, so a database check reads the same through either.

- the keys both kinds have (`query`, `read_only`, `timezone`) and what they observe;
- the time budget of an attempt, and the statements that make a session read-only and
  bounded on the server (a query past the timeout is cancelled there, not left running);
- a result turned into observations (`rows`, `value`, `row.<column>`, `age`, `latency`);
- a driver's exception turned into an error category a person can act on, with the
  driver's own words kept as evidence.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from probes.kinds import CheckBase
from probes.model import Category, ProbeError
from probes.units import Seconds, format_duration

Family = Literal["postgresql", "mariadb", "mysql", "sqlite", "mssql", "other"]
Phase = Literal["connect", "query"]

_FETCH_BATCH = 500
KILL_CONNECT_TIMEOUT_S = 3  # a run that is ending does not wait long on a cancel
# (connection, cursor) of each query in flight, for cancel_running_queries().
_RUNNING: set[tuple[Any, Any]] = set()
_RUNNING_LOCK = threading.Lock()
# FreeTDS left at `tds version = auto` ignores the login timeout against a server that
# does not answer; every supported SQL Server speaks 7.4, so it is the default we add.
FREETDS_TDS_VERSION = "7.4"
_MESSAGE_LIMIT = 300
_TIME_UP_S = 0.05  # a connection that failed this close to the deadline timed out
_SQL_TOKEN_RE = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`"
    r"|(\$[A-Za-z_0-9]*\$).*?\1|;|\w+|\s+|.",
    re.DOTALL,
)
_ISO_TIMESTAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
)


class DatabaseCheck(CheckBase):
    """Keys of every database kind; `sql` and `odbc` add how to connect."""

    @classmethod
    def stop_abandoned(cls) -> None:
        cancel_running_queries()

    observations: ClassVar[frozenset[str]] = frozenset(
        {"rows", "value", "row", "age", "latency"}
    )
    default_expect: ClassVar[tuple[str, ...]] = ("rows >= 0",)  # the query ran

    query: str = Field("select 1", min_length=1, description="The query to run")
    read_only: bool = Field(
        True,
        description="Run in a read-only transaction that is rolled back; false lets the "
        "query change data (and commits)",
    )
    timezone: str = Field(
        "UTC", description="Time zone of timestamps that have none, for `age` (e.g. Europe/Paris)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @model_validator(mode="after")
    def _stays_in_its_transaction(self) -> DatabaseCheck:
        enders = transaction_enders(self.query) if self.read_only else []
        if enders:
            raise ValueError(f"`{enders[0]}` in the query would end the read-only transaction "
                             "the check runs in; remove it, or write `read_only: false` if the "
                             "query is meant to change data")
        return self


def zone_of(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; write an IANA name such as UTC or Europe/Paris"
        ) from None


class Budget:
    """The time an attempt may take, handed out to each step (connect, statements)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._started = time.perf_counter()

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def whole_seconds(self) -> int:
        """For drivers that only take whole seconds: at least 1, rounded up."""
        return max(1, math.ceil(self.remaining()))

    def elapsed(self) -> Seconds:
        return Seconds(time.perf_counter() - self._started)


def run_query(connection: Any, family: Family, check: DatabaseCheck, budget: Budget
              ) -> dict[str, Any]:
    """Run the check's query on a DB-API connection (already connected) and observe it.

    The transaction is made read-only and bounded by what is left of the budget, and is
    rolled back at the end — or committed when the check says `read_only: false`.
    """
    cursor = connection.cursor()
    entry = (connection, cursor)
    with _RUNNING_LOCK:
        _RUNNING.add(entry)
    try:
        for statement in _setup_statements(family, check.read_only, budget):
            cursor.execute(statement)
        cursor.execute(check.query)  # no parameters: a `%` or `?` is just text
        if cursor.description:
            columns = [str(column[0]) for column in cursor.description]
            first, count = read_rows(cursor.fetchmany)
        else:
            columns, first, count = [], None, max(cursor.rowcount, 0)
        if check.read_only:
            connection.rollback()
        else:
            connection.commit()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(entry)
        cursor.close()
    return observations(columns, first, count, budget.elapsed(), zone_of(check.timezone))


def cancel_running_queries() -> None:
    """Ask the server to cancel every query still running (attempts the runner left
    behind at the deadline or on a signal), where the driver can: psycopg's
    `connection.cancel()`, pyodbc's `cursor.cancel()`, `KILL QUERY` for PyMySQL.
    Elsewhere the statement timeout the check set on the server ends it."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for connection, cursor in running:
        raw = getattr(connection, "dbapi_connection", connection)  # SQLAlchemy's wrapper
        for holder in (raw, cursor):
            cancel = getattr(holder, "cancel", None)
            if callable(cancel):
                with contextlib.suppress(Exception):
                    cancel()
                break
        else:
            with contextlib.suppress(Exception):
                _kill_pymysql_query(raw)


def _kill_pymysql_query(raw: Any) -> None:
    """MySQL's protocol has no cancel request: a second connection of the same user asks
    the server to `KILL QUERY` the first one's statement, as the mysql client does on
    Ctrl-C. Without it the statement would run on after the process has gone, until its
    own time limit, as the server notices a vanished client only when it answers."""
    if not type(raw).__module__.startswith("pymysql."):
        return
    import pymysql

    # TLS as the first connection had it: required (its context), or PyMySQL's "preferred"
    # (`ssl` true, `_ssl_required` false since PyMySQL 1.1), which a new connection also uses.
    tls_required = getattr(raw, "_ssl_required", raw.ssl)
    killer = pymysql.connect(host=raw.host, port=raw.port, user=raw.user, password=raw.password,
                             unix_socket=raw.unix_socket, ssl=raw.ctx if tls_required else None,
                             connect_timeout=KILL_CONNECT_TIMEOUT_S)
    try:
        with killer.cursor() as cursor:
            cursor.execute(f"KILL QUERY {int(raw.thread_id())}")
    finally:
        killer.close()


def _setup_statements(family: Family, read_only: bool, budget: Budget) -> list[str]:
    """Statements that open the check's transaction: read-only mode, statement timeout."""
    ms = max(1, int(budget.remaining() * 1000))  # 0 would mean "no timeout"
    if family == "postgresql":
        # Transaction-scoped (LOCAL), so a pooler such as PgBouncer passes nothing on;
        # one round trip, as PostgreSQL drivers send several statements at once.
        read_only_sql = ["SET TRANSACTION READ ONLY"] if read_only else []
        return ["; ".join([*read_only_sql, f"SET LOCAL statement_timeout = {ms}"])]
    if family in ("mariadb", "mysql"):
        limit = (f"SET SESSION max_statement_time = {ms / 1000:.3f}" if family == "mariadb"
                 else f"SET SESSION max_execution_time = {ms}")
        if not read_only:
            return [limit]
        # DDL commits implicitly and starts a new transaction: the session default makes
        # that one read-only too. START, not SET: the driver may be inside one already.
        return [limit, "SET SESSION TRANSACTION READ ONLY", "START TRANSACTION READ ONLY"]
    if family == "sqlite":
        return ["PRAGMA query_only = ON"] if read_only else []
    return []  # elsewhere the rollback at the end is the protection


def transaction_enders(query: str) -> list[str]:
    """Statements of a query that would end the check's transaction (`commit; delete …`).

    A light tokenizer: comments, quoted text and dollar-quoted bodies are skipped, and
    the first word after each `;` is looked at.
    """
    found: list[str] = []
    at_start = True
    tokens = [m.group(0) for m in _SQL_TOKEN_RE.finditer(query) if not m.group(0).isspace()]
    for index, token in enumerate(tokens):
        if token == ";":
            at_start = True
            continue
        word = token.lower()
        if at_start and word in ("commit", "rollback", "abort"):
            found.append(word)
        elif at_start and word == "end":  # PostgreSQL's COMMIT; not T-SQL's BEGIN … END
            following = tokens[index + 1].lower() if index + 1 < len(tokens) else ";"
            if following in (";", "work", "transaction"):
                found.append(word)
        if not token.startswith(("--", "/*")):
            at_start = False
    return found


def read_rows(fetchmany: Callable[[int], Sequence[Sequence[Any]]]
              ) -> tuple[Sequence[Any] | None, int]:
    """The first row and the number of rows, without holding a large result in memory."""
    first: Sequence[Any] | None = None
    count = 0
    while batch := fetchmany(_FETCH_BATCH):
        if first is None:
            first = batch[0]
        count += len(batch)
    return first, count


def observations(columns: Sequence[str], first: Sequence[Any] | None, count: int,
                 latency: Seconds, zone: tzinfo) -> dict[str, Any]:
    observed: dict[str, Any] = {"rows": count, "latency": latency}
    if first is None:
        return observed
    observed["value"] = plain(first[0]) if len(first) else None
    observed["row"] = {column: plain(value) for column, value in zip(columns, first, strict=False)}
    age = first_age(first, zone, datetime.now(UTC))
    if age is not None:
        observed["age"] = age
    return observed


def plain(value: Any) -> Any:
    """A database value as a condition compares it and a report shows it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, timedelta):
        return Seconds(value.total_seconds())  # `select now() - max(t)` compares with 26h
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw.hex()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def first_age(row: Sequence[Any], zone: tzinfo, now: datetime) -> Seconds | None:
    """Now minus the first timestamp of the row; timestamps without a zone are in `zone`."""
    for value in row:
        moment = _as_moment(value, zone)
        if moment is not None:
            return Seconds((now - moment).total_seconds())
    return None


def _as_moment(value: Any, zone: tzinfo) -> datetime | None:
    if isinstance(value, str) and _ISO_TIMESTAMP_RE.match(value.strip()):
        try:  # SQLite keeps timestamps as text
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time_of_day(), zone)
    return None


# --- errors -------------------------------------------------------------------------------

# Matched in order against "<code> <message>" in lower case; the first match decides.
# Connection problems come before query problems: "server … does not exist" is a server.
# Codes: SQLSTATE (PostgreSQL, ODBC), MySQL/MariaDB error numbers, SQL Server numbers.
_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern)) for category, pattern in (
        (Category.TIMEOUT, r"^(57014|hyt00|hyt01|hy008|1969|3024)\b|statement timeout"
                           r"|max_statement_time|maximum statement execution time|timeout expired"
                           r"|timed out|^interrupted$|execution was interrupted"
                           r"|database is locked"),
        (Category.DRIVER, r"^im0\d\d\b|can't open lib|driver could not be loaded"
                          r"|data source name not found"),
        (Category.DNS, r"could not translate host name|name or service not known"
                       r"|unknown (mysql|mariadb) server host|temporary failure in name resolution"
                       r"|no address associated with hostname|nodename nor servname"),
        (Category.AUTH, r"^(28000|28p01|3d000|1044|1045|1049|18456)\b"
                        r"|password authentication failed|no password supplied"
                        r"|role \"[^\"]*\" does not exist|access denied for user|login failed"
                        r"|authentication failed|unknown database"
                        r"|database \"[^\"]*\" does not exist|pg_hba\.conf"),
        # Before CONNECT: an ODBC driver reports a failed TLS handshake as 08001.
        (Category.TLS, r"\bssl\b|\btls\b|certificate|sslmode"),
        (Category.CONNECT, r"^(08|2002|2003|2006|2013)|connection refused|could not connect"
                           r"|can't connect|unable to connect|unable to open database file"
                           r"|server closed the connection|connection reset|no route to host"
                           r"|network is unreachable|adaptive server is unavailable"
                           r"|lost connection"),
        (Category.QUERY, r"^(42|22|23|25006|0a|1054|1064|1142|1143|1146|1227|1792)"
                         r"|syntax|(relation|table|column|function|schema|view|type|operator)"
                         r" .*does not exist"
                         r"|no such (table|column|function)|permission denied"
                         r"|denied to user|read-only|readonly|read only"),
    )
)
_READ_ONLY_VIOLATION_RE = re.compile(r"^(25006|1792)\b|read-only transaction|read only transaction"
                                     r"|readonly database")
_SUMMARIES = {
    Category.DNS: "cannot resolve the database server's name",
    Category.CONNECT: "cannot connect to the database",
    Category.TLS: "the TLS (SSL) connection to the database failed",
    Category.AUTH: "the database refused the login (user, password or database name)",
    Category.QUERY: "the query failed",
    Category.DRIVER: "the database driver cannot be used",
}


def classify(exc: BaseException, phase: Phase, budget: Budget) -> ProbeError:
    """Turn a driver's exception (bare or wrapped by SQLAlchemy) into a ProbeError."""
    if isinstance(exc, ProbeError):
        return exc
    original = getattr(exc, "orig", None) or exc  # SQLAlchemy keeps the driver's as .orig
    code, text = _code_and_text(original)
    signature = " ".join(part for part in (code, text) if part).lower()
    category = next((c for c, rule in _RULES if rule.search(signature)), None)
    if category is None:
        category = Category.CONNECT if phase == "connect" else Category.QUERY
    if category is Category.CONNECT and budget.remaining() < _TIME_UP_S:
        category = Category.TIMEOUT  # e.g. "lost connection … system error: 110" at the limit
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), text)
    if len(first_line) > _MESSAGE_LIMIT:
        first_line = first_line[:_MESSAGE_LIMIT] + "…"
    evidence = f"{type(original).__module__}.{type(original).__qualname__}"
    evidence += f" [{code}]: {text}" if code else f": {text}"
    return ProbeError(category, _message(category, phase, budget, first_line, signature, original),
                      evidence=evidence)


def _message(category: Category, phase: Phase, budget: Budget, first_line: str,
             signature: str, original: BaseException) -> str:
    if category is Category.TIMEOUT:
        limit = format_duration(budget.timeout)
        summary = (f"no connection within the {limit} timeout" if phase == "connect" else
                   f"the query ran past the {limit} timeout and was cancelled")
        return f"{summary}: {first_line}"
    message = f"{_SUMMARIES.get(category, 'the database check failed')}: {first_line}"
    if category is Category.QUERY and _READ_ONLY_VIOLATION_RE.search(signature):
        message += " (the check is read-only; write `read_only: false` to let it change data)"
    if category is Category.DRIVER and type(original).__module__ == "pyodbc":
        message += f"; {odbc_inventory()}"
    return message


def _code_and_text(exc: BaseException) -> tuple[str, str]:
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], int | str) and isinstance(args[1], str):
        return str(args[0]), args[1]  # PyMySQL (errno, text), pyodbc (sqlstate, text)
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    return str(code or ""), str(exc).strip()


# --- drivers ------------------------------------------------------------------------------

# Python module → what to install when it is missing.
_PIP_PACKAGES = {
    "psycopg2": "psycopg2-binary", "psycopg": "'psycopg[binary]'", "pg8000": "pg8000",
    "pymysql": "PyMySQL", "MySQLdb": "mysqlclient", "mariadb": "mariadb",
    "mysql": "mysql-connector-python", "pyodbc": "pyodbc", "pymssql": "pymssql",
    "cx_Oracle": "cx_Oracle", "oracledb": "oracledb",
}
# Shared library → Debian package that provides it.
_SYSTEM_PACKAGES = {"libodbc.so.2": "unixodbc", "libpq.so.5": "libpq5",
                    "libmariadb.so.3": "libmariadb3"}
_MISSING_LIBRARY_RE = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


def driver_import_error(exc: ImportError, used_for: str) -> ProbeError:
    """A Python driver module, or the system library it needs, is missing."""
    text = str(exc)
    missing_library = _MISSING_LIBRARY_RE.search(text)
    if missing_library:
        library = missing_library.group(1)
        if library.startswith("libodbc"):
            return ProbeError(
                Category.DRIVER,
                f"unixODBC is not installed ({exc.name or 'pyodbc'} needs {library}): "
                "apt-get install unixodbc (Debian/Ubuntu), dnf install unixODBC (RHEL/Fedora), "
                "apk add unixodbc (Alpine)",
                evidence=text,
            )
        package = _SYSTEM_PACKAGES.get(library, "the package that provides it")
        return ProbeError(Category.DRIVER, f"the driver for {used_for} cannot load the system "
                          f"library {library}: install {package}", evidence=text)
    module = (exc.name or "").split(".")[0] or "?"
    package = _PIP_PACKAGES.get(module, module)
    return ProbeError(Category.DRIVER, f"the Python driver `{module}` for {used_for} is not "
                      f"installed: pip install {package} (`probe drivers` lists what is)",
                      evidence=text)


def import_pyodbc() -> Any:
    try:
        import pyodbc
    except ImportError as exc:
        raise driver_import_error(exc, "ODBC") from None
    return pyodbc


def odbc_inventory() -> str:
    """The ODBC drivers and DSNs unixODBC knows, for messages about a name it does not."""
    try:
        import pyodbc

        drivers = ", ".join(pyodbc.drivers()) or "none"
        sources = ", ".join(pyodbc.dataSources()) or "none"
    except Exception as exc:  # a listing must not hide the original error
        return f"the installed ODBC drivers cannot be listed ({exc})"
    return f"installed ODBC drivers: {drivers}; data sources (DSN): {sources}"
