"""`odbc`: run a query through an ODBC driver (pyodbc over unixODBC) and observe its result.

For databases reached through a vendor's ODBC driver, or a DSN an administrator set up.
pyodbc is imported only when such a check runs: without unixODBC on the machine, only
ODBC checks fail, with an error saying what to install.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from probes.kinds._db import (
    FREETDS_TDS_VERSION,
    Budget,
    DatabaseCheck,
    Family,
    Phase,
    classify,
    import_pyodbc,
    run_query,
)
from probes.kinds._net import resolve_host

# Server=host / Server=tcp:host,1433 / Host=host. Not Servername: for FreeTDS that names
# a section of freetds.conf (the drivers that take a host there report DNS errors anyway).
_HOST_RE = re.compile(r"(?:^|;)\s*(?:server|host)\s*=\s*(?:tcp:)?([^;,\\]+)",
                      re.IGNORECASE)
_DRIVER_RE = re.compile(r"(?:^|;)\s*driver\s*=\s*\{?([^;}]*)", re.IGNORECASE)
_PORT_RE = re.compile(r"(?:^|;)\s*port\s*=\s*(\d+)", re.IGNORECASE)


class Check(DatabaseCheck):
    kind: Literal["odbc"] = "odbc"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"connection", "password"})

    connection: str | None = Field(
        None,
        description="ODBC connection string, e.g. Driver={PostgreSQL Unicode};Server=db;"
        "Port=5432;Database=dw;Uid=reader;Pwd=${DB_PASSWORD}",
    )
    dsn: str | None = Field(None, description="A data source name from odbc.ini")
    user: str | None = Field(None, description="Login (added as UID)")
    password: str | None = Field(None, description="Password (added as PWD)")

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Check:
        if (self.connection is None) == (self.dsn is None):
            raise ValueError("write either `connection` (an ODBC connection string, e.g. "
                             "\"Driver={PostgreSQL Unicode};Server=db;Database=dw\") or `dsn` "
                             "(a name from odbc.ini), exactly one of them")
        return self

    def connection_string(self) -> str:
        parts = [self.connection.rstrip(";")] if self.connection else [f"DSN={_braced(self.dsn)}"]
        if self.user is not None:
            parts.append(f"UID={_braced(self.user)}")
        if self.password is not None:
            parts.append(f"PWD={_braced(self.password)}")
        return ";".join(parts)

    def _driver(self, pyodbc: Any) -> str:
        """The driver's name as written in the connection string or registered for the DSN."""
        if self.connection is not None:
            match = _DRIVER_RE.search(self.connection)
            return match.group(1).strip() if match else ""
        try:
            return str(pyodbc.dataSources().get(self.dsn, ""))
        except pyodbc.Error:
            return ""

    def target(self) -> str:
        return self.connection_string()  # the runner masks PWD=

    def observe(self, timeout: float) -> dict[str, Any]:
        budget = Budget(timeout)
        pyodbc = import_pyodbc()
        text = _with_driver_timeouts(self.connection_string(), self._driver(pyodbc), budget)
        host = _network_host(text)
        if host:
            port = _PORT_RE.search(text)
            resolve_host(host, int(port.group(1)) if port else 0, budget.remaining())
        phase: Phase = "connect"
        try:
            connection = pyodbc.connect(text, timeout=budget.whole_seconds(), autocommit=False)
            try:
                phase = "query"
                # The ODBC query timeout; psqlODBC refuses it, and its server-side limit holds.
                with contextlib.suppress(pyodbc.Error):
                    connection.timeout = budget.whole_seconds()
                observed = run_query(connection, _family(connection, pyodbc), self, budget)
            finally:
                connection.close()
        except pyodbc.Error as exc:
            raise classify(exc, phase, budget) from None
        return observed


def _network_host(text: str) -> str | None:
    """The host name to resolve first, if the connection string names one."""
    match = _HOST_RE.search(text)
    host = match.group(1).strip().strip("[]") if match else ""
    # A socket directory (/var/run/mysqld) or SQL Server's "(local)" is not a host name.
    return host if host and not host.startswith(("/", "(", ".")) else None


def _with_driver_timeouts(text: str, driver: str, budget: Budget) -> str:
    """Keys some drivers need to honour the timeout (pyodbc's login timeout is not enough)."""
    additions: list[str] = []
    driver = driver.lower()
    if "freetds" in driver and _DRIVER_RE.search(text) and not _has_key(text, "tds_version"):
        additions.append(f"TDS_Version={FREETDS_TDS_VERSION}")
    if "mariadb" in driver:
        seconds = budget.whole_seconds()
        for key, value in (("CONN_TIMEOUT", seconds), ("READ_TIMEOUT", seconds),
                           ("WRITE_TIMEOUT", seconds)):
            if not _has_key(text, key):
                additions.append(f"{key}={value}")
    return ";".join([text, *additions])


def _has_key(text: str, key: str) -> bool:
    return re.search(rf"(?:^|;)\s*{key}\s*=", text, re.IGNORECASE) is not None


def _family(connection: Any, pyodbc: Any) -> Family:
    name = str(connection.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
    if "postgres" in name:
        return "postgresql"
    if "mariadb" in name:
        return "mariadb"
    if "mysql" in name:
        version = str(connection.getinfo(pyodbc.SQL_DBMS_VER)).lower()
        return "mariadb" if "mariadb" in version else "mysql"
    if "sql server" in name:
        return "mssql"
    if "sqlite" in name:
        return "sqlite"
    return "other"


def _braced(value: str | None) -> str:
    """A value as ODBC needs it: in braces when it has `;`, `{`, `}` or edge spaces."""
    text = value or ""
    if any(ch in text for ch in ";{}") or text != text.strip():
        return "{" + text.replace("}", "}}") + "}"
    return text
