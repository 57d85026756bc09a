"""`probe drivers`: which database drivers this machine can use, and what is missing.

Lists the ODBC drivers and data sources unixODBC knows (through pyodbc, or through
`odbcinst` when pyodbc cannot load) and the SQLAlchemy URL schemes whose Python driver
imports, so a person can see why a database check cannot connect.
"""

from __future__ import annotations

import configparser
import importlib
import shutil
import subprocess
from pathlib import Path

# (URL scheme, Python module, what to install). Synchronous drivers only: checks do not
# run an event loop.
SQLALCHEMY_DRIVERS: tuple[tuple[str, str, str], ...] = (
    ("postgresql+psycopg2", "psycopg2", "pip install psycopg2-binary"),
    ("postgresql+psycopg", "psycopg", "pip install 'psycopg[binary]'"),
    ("postgresql+pg8000", "pg8000", "pip install pg8000"),
    ("mysql+mysqldb", "MySQLdb", "pip install mysqlclient"),
    ("mysql+pymysql", "pymysql", "pip install PyMySQL"),
    ("mariadb+mariadbconnector", "mariadb", "pip install mariadb"),
    ("mysql+mysqlconnector", "mysql.connector", "pip install mysql-connector-python"),
    ("mssql+pyodbc", "pyodbc", "pip install pyodbc, and an ODBC driver (see above)"),
    ("mssql+pymssql", "pymssql", "pip install pymssql"),
    ("oracle+cx_oracle", "cx_Oracle", "pip install cx_Oracle"),
    ("oracle+oracledb", "oracledb", "pip install oracledb"),
    ("sqlite+pysqlite", "sqlite3", "a Python built with sqlite3"),
)
_ODBCINST_TIMEOUT_S = 10
_UNIXODBC_HINT = ("apt-get install unixodbc (Debian/Ubuntu), dnf install unixODBC (RHEL/Fedora), "
                  "apk add unixodbc (Alpine)")
_DRIVER_PACKAGES = ("odbc-postgresql (PostgreSQL Unicode), odbc-mariadb (MariaDB Unicode), "
                    "tdsodbc (FreeTDS, for SQL Server), msodbcsql18 from Microsoft "
                    "(ODBC Driver 18 for SQL Server)")


def describe_drivers() -> str:
    return "\n".join([*odbc_lines(), "", *sqlalchemy_lines()])


def odbc_lines() -> list[str]:
    names, sources, problem = _odbc_inventory()
    if problem:
        return ["ODBC (for `odbc` checks and mssql+pyodbc://):", f"  {problem}"]
    libraries = _driver_libraries()
    lines = ["ODBC drivers known to unixODBC (write them as Driver={NAME}):"]
    width = max((len(name) for name in names), default=0)
    for name in names:
        library = libraries.get(name, "")
        missing = library.startswith("/") and not Path(library).exists()
        note = "  (library file missing)" if missing else ""
        lines.append(f"  {name.ljust(width)}  {library}{note}")
    if not names:
        lines.append(f"  none; install one: {_DRIVER_PACKAGES}")
    lines.append("ODBC data sources (for `dsn:`): "
                 + (", ".join(f"{dsn} ({driver})" for dsn, driver in sources.items()) or "none"))
    return lines


def sqlalchemy_lines() -> list[str]:
    usable, missing = [], []
    for scheme, module, install in SQLALCHEMY_DRIVERS:
        problem = _import_problem(module)
        if problem is None:
            usable.append(f"  {scheme}://")
        else:
            missing.append(f"  {scheme}://  ({problem}; {install})")
    for scheme, problem in _third_party_dialects():
        (usable if problem is None else missing).append(
            f"  {scheme}://" + ("  (third-party dialect)" if problem is None else f"  ({problem})"))
    lines = ["SQLAlchemy URLs whose Python driver imports (for `sql` checks):", *usable]
    lines += ["Not usable here:", *missing] if missing else []
    return [*lines, *bare_scheme_lines()]


def bare_scheme_lines() -> list[str]:
    """Which driver a URL without `+driver` gets: SQLAlchemy's default, or the driver
    probes ships where that default is not installed."""
    from sqlalchemy.engine import make_url

    from probes.kinds.sql import SHIPPED_DRIVERS

    modules = {scheme: module for scheme, module, _ in SQLALCHEMY_DRIVERS}
    lines = ["A URL without +driver uses:"]
    for backend in ("postgresql", "mysql", "mariadb", "mssql", "sqlite"):
        default = f"{backend}+{make_url(f'{backend}://').get_dialect().driver}"
        module = modules.get(default) or modules.get(default.replace("mariadb+", "mysql+"))
        if backend not in SHIPPED_DRIVERS or module is None or _import_problem(module) is None:
            lines.append(f"  {backend}://  as {default}://")
        else:
            lines.append(f"  {backend}://  as {SHIPPED_DRIVERS[backend]}:// "
                         f"({default}:// is not installed)")
    return lines


def _odbc_inventory() -> tuple[list[str], dict[str, str], str]:
    """Driver names, DSNs, and a problem when unixODBC cannot be asked at all."""
    try:
        import pyodbc
    except ImportError as exc:
        names = _odbcinst_driver_names()
        if names is None:
            return [], {}, f"unixODBC is not installed ({exc}): {_UNIXODBC_HINT}"
        note = f"pyodbc cannot load ({exc}); unixODBC lists these drivers: {', '.join(names)}"
        return [], {}, note
    return list(pyodbc.drivers()), dict(pyodbc.dataSources()), ""


def _odbcinst_driver_names() -> list[str] | None:
    odbcinst = shutil.which("odbcinst")
    if odbcinst is None:
        return None
    try:
        listing = subprocess.run([odbcinst, "-q", "-d"], capture_output=True, text=True,
                                 timeout=_ODBCINST_TIMEOUT_S, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [line.strip()[1:-1] for line in listing.splitlines()
            if line.strip().startswith("[") and line.strip().endswith("]")]


def _driver_libraries() -> dict[str, str]:
    """Driver name → its library, from the odbcinst.ini unixODBC reads."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read(_odbcinst_ini(), encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return {section: parser.get(section, "Driver", fallback="") for section in parser.sections()}


def _odbcinst_ini() -> str:
    odbcinst = shutil.which("odbcinst")
    if odbcinst is not None:
        try:
            listing = subprocess.run([odbcinst, "-j"], capture_output=True, text=True,
                                     timeout=_ODBCINST_TIMEOUT_S, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            listing = ""
        for line in listing.splitlines():
            if line.startswith("DRIVERS"):
                return line.split(":", 1)[1].strip()
    return "/etc/odbcinst.ini"


def _third_party_dialects() -> list[tuple[str, str | None]]:
    """Dialects that other packages register with SQLAlchemy (Snowflake, Trino, …)."""
    from importlib.metadata import entry_points

    found: list[tuple[str, str | None]] = []
    for entry in entry_points(group="sqlalchemy.dialects"):
        try:
            dialect = entry.load()
            dialect.import_dbapi()
        except Exception as exc:  # a broken plug-in is reported, not raised
            found.append((entry.name.replace(".", "+"), f"{type(exc).__name__}: {exc}"))
        else:
            found.append((entry.name.replace(".", "+"), None))
    return found


def _import_problem(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return str(exc)
    return None
