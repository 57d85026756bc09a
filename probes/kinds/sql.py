"""`sql`: run a query through any SQLAlchemy URL and observe its result.

Each check opens a connection of its own and closes it (engines use NullPool, so no
connection outlives the check). The driver gets the check's timeout for connecting,
and the server gets what is left of it as a statement timeout, so a slow query is
cancelled where it runs. By default the query runs in a read-only transaction that is
rolled back.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from probes.kinds._db import (
    FREETDS_TDS_VERSION,
    Budget,
    DatabaseCheck,
    Family,
    Phase,
    classify,
    driver_import_error,
    run_query,
)
from probes.kinds._net import resolve_host
from probes.model import Category, ProbeError
from probes.secrets import AT_IN_PASSWORD_HINT

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Dialect, Engine

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\+[A-Za-z0-9_]+)?://")
_URL_HINT = ("write a SQLAlchemy URL: dialect+driver://user:password@host:port/database, e.g. "
             "postgresql+psycopg2://reader:${DB_PASSWORD}@db:5432/warehouse or "
             "sqlite:////data/app.db")
_MAX_ENGINES = 64
# A bare scheme means SQLAlchemy's default driver, which for MySQL is mysqlclient (built
# from C against libmysqlclient). Where it is not installed, the driver probes ships for
# the same servers is used: a `mysql://` URL copied from another tool's config works.
SHIPPED_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}

# Engines are kept per URL only so that SQLAlchemy learns a server's dialect details once;
# with NullPool they hold no connection. Per-check timeouts reach connect() through this.
_ENGINES: dict[tuple[URL, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()
_CONNECT_ARGS: ContextVar[dict[str, Any]] = ContextVar("probes_sql_connect_args")


class Check(DatabaseCheck):
    kind: Literal["sql"] = "sql"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"url", "connect_args"})

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg2://user:pw@host/db")
    connect_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for the driver's connect() (e.g. sslmode)",
    )

    @field_validator("url")
    @classmethod
    def _looks_like_url(cls, value: str) -> str:
        if not _URL_RE.match(value):
            raise ValueError(f"{value.split('@')[-1]!r} is not a database URL; {_URL_HINT}")
        return value

    def target(self) -> str:
        return self.url  # the runner masks the password

    def observe(self, timeout: float) -> dict[str, Any]:
        budget = Budget(timeout)
        url = self._parsed_url()
        engine = _engine(url, self.connect_args)  # first: an unknown dialect is not a DNS error
        if url.host:
            resolve_host(url.host, url.port or 0, budget.remaining())
        token = _CONNECT_ARGS.set(_driver_timeouts(engine.url, budget))
        phase: Phase = "connect"
        try:
            # The driver's own connection: SQLAlchemy's Connection would add nothing here.
            connection = engine.raw_connection()
            try:
                phase = "query"
                _bound_driver(connection.dbapi_connection, engine.dialect, budget)
                observed = run_query(connection, _family(engine.dialect), self, budget)
            finally:
                connection.close()  # NullPool: this closes it
        except ProbeError:
            raise
        except ImportError as exc:
            raise driver_import_error(exc, f"{url.drivername}://") from None
        except Exception as exc:
            raise classify(exc, phase, budget) from None
        finally:
            _CONNECT_ARGS.reset(token)
        return observed

    def _parsed_url(self) -> URL:
        try:
            from sqlalchemy.exc import ArgumentError
        except ImportError as exc:
            raise driver_import_error(exc, "sql checks") from None
        try:
            url = _parse_url(self.url)
        except ArgumentError as exc:
            raise ProbeError(Category.CONFIG, f"the url is not a SQLAlchemy URL; {_URL_HINT}",
                             evidence=str(exc)) from None
        except ValueError as exc:  # e.g. a port that is not a number
            raise ProbeError(Category.CONFIG, f"the url cannot be read: {exc}") from None
        if "@" in (url.host or ""):
            raise ProbeError(Category.CONFIG, f"{AT_IN_PASSWORD_HINT}, or given in "
                             "connect_args: {password: ${DB_PASSWORD}}")
        if self.read_only and url.get_backend_name() == "sqlite":
            return _read_only_sqlite(url)
        uses_freetds = "freetds" in str(url.query.get("driver", "")).lower()
        if uses_freetds and not any(key.lower() == "tds_version" for key in url.query):
            return url.update_query_dict({"TDS_Version": FREETDS_TDS_VERSION})
        return url


@functools.lru_cache(maxsize=_MAX_ENGINES)
def _parse_url(text: str) -> URL:
    """Parsed once per distinct URL: a suite's checks mostly share a few databases, and
    a URL is immutable."""
    from sqlalchemy.engine import make_url

    return make_url(text)


def _read_only_sqlite(url: URL) -> URL:
    """Open the file read-only: a missing file is an error rather than created empty."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = quote(str(Path(database).absolute()))
    return url.set(database=f"file:{path}", query={**url.query, "mode": "ro", "uri": "true"})


def _engine(url: URL, connect_args: dict[str, Any]) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.pool import NullPool

    # URL is an immutable, hashable tuple; connect_args a plain mapping from the config.
    key = (url, json.dumps(connect_args, sort_keys=True, default=repr) if connect_args else "")
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            return engine
        # No reset on return: each check ends its own transaction, then the connection
        # is closed.
        options: dict[str, Any] = {"poolclass": NullPool, "pool_reset_on_return": None,
                                   "connect_args": connect_args}
        try:
            engine = create_engine(url, **options)
        except NoSuchModuleError as exc:
            raise ProbeError(Category.DRIVER, f"SQLAlchemy has no dialect for "
                             f"{url.drivername}://; `probe drivers` lists the installed ones",
                             evidence=str(exc)) from None
        except ImportError as exc:
            shipped = SHIPPED_DRIVERS.get(url.drivername)
            if shipped is None:
                raise driver_import_error(exc, f"{url.drivername}://") from None
            try:
                engine = create_engine(url.set(drivername=shipped), **options)
            except ImportError:
                raise driver_import_error(exc, f"{url.drivername}://") from None
        event.listen(engine, "do_connect", _add_timeouts)
        if len(_ENGINES) >= _MAX_ENGINES:
            _ENGINES.pop(next(iter(_ENGINES))).dispose()
        _ENGINES[key] = engine
        return engine


def _add_timeouts(_dialect: Dialect, _record: Any, _cargs: list[Any],
                  cparams: dict[str, Any]) -> None:
    for name, value in _CONNECT_ARGS.get({}).items():
        cparams.setdefault(name, value)  # a value the user wrote wins


def _driver_timeouts(url: URL, budget: Budget) -> dict[str, Any]:
    """The connect/login timeout in the form each driver takes it."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    seconds = budget.remaining()
    if backend == "postgresql" and driver in ("psycopg2", "psycopg"):
        return {"connect_timeout": budget.whole_seconds()}
    if backend == "postgresql" and driver == "pg8000":
        return {"timeout": seconds}
    if backend in ("mysql", "mariadb") and driver == "pymysql":
        # connect_timeout covers only the TCP connect; the handshake is a read. The server's
        # statement timeout, set later from what is left, still speaks before read_timeout.
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if backend in ("mysql", "mariadb") and driver in ("mysqldb", "mariadbconnector"):
        return {"connect_timeout": budget.whole_seconds()}
    if backend == "sqlite":
        return {"timeout": seconds}  # how long to wait for a lock
    if driver == "pyodbc":
        return {"timeout": budget.whole_seconds()}  # login timeout
    if backend == "mssql" and driver == "pymssql":
        return {"login_timeout": budget.whole_seconds(), "timeout": budget.whole_seconds()}
    return {}


def _bound_driver(raw: Any, dialect: Dialect, budget: Budget) -> None:
    """Statement timeouts the driver enforces itself (where the server has none)."""
    if dialect.name == "sqlite" and hasattr(raw, "set_progress_handler"):
        import time

        deadline = time.monotonic() + budget.remaining()
        # A non-zero return interrupts the statement ("interrupted").
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    elif dialect.driver == "pyodbc":
        # The ODBC query timeout; a driver that refuses it still has the runner's bound.
        with contextlib.suppress(Exception):
            raw.timeout = budget.whole_seconds()


def _family(dialect: Dialect) -> Family:
    name = dialect.name
    if name in ("mysql", "mariadb"):
        return "mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"
    if name == "postgresql":
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    if name == "mssql":
        return "mssql"
    return "other"
