"""`probe drivers`: what the machine's unixODBC and Python can connect with."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from tests.helpers.cli import probe
from tests.helpers.databases import pyodbc_without_unixodbc


def odbcinst_driver_names() -> list[str]:
    """The drivers unixODBC has registered, asked independently of the code under test."""
    odbcinst = shutil.which("odbcinst")
    assert odbcinst, "unixODBC is missing; scripts/setup-system.sh installs it"
    listing = subprocess.run([odbcinst, "-q", "-d"], capture_output=True, text=True,
                             check=True, timeout=10).stdout
    return [line.strip()[1:-1] for line in listing.splitlines() if line.startswith("[")]


def test_lists_every_registered_odbc_driver_and_the_usable_urls() -> None:
    done = probe(["drivers"])
    assert done.returncode == 0, done.stderr
    names = odbcinst_driver_names()
    assert {"PostgreSQL Unicode", "MariaDB Unicode", "FreeTDS"} <= set(names)
    odbc_part, sqlalchemy_part = done.stdout.split("\n\n", 1)
    for name in names:
        assert name in odbc_part
    usable = sqlalchemy_part.split("Not usable here:")[0]
    for scheme in ("postgresql+psycopg2://", "mysql+pymysql://", "mssql+pyodbc://",
                   "sqlite+pysqlite://"):
        assert scheme in usable


def test_says_which_driver_a_url_without_one_gets() -> None:
    done = probe(["drivers"])
    bare = done.stdout.split("A URL without +driver uses:", 1)[1]
    assert "postgresql://  as postgresql+psycopg://" in bare  # SQLAlchemy 2.1's default
    if importlib.util.find_spec("MySQLdb") is None:  # mysqlclient: not a dependency
        assert "mysql://  as mysql+pymysql:// (mysql+mysqldb:// is not installed)" in bare
        assert "mariadb://  as mariadb+pymysql://" in bare


def test_says_what_to_install_for_a_missing_python_driver() -> None:
    done = probe(["drivers"])
    missing = done.stdout.split("Not usable here:", 1)[1]
    if importlib.util.find_spec("MySQLdb") is None:
        assert "mysql+mysqldb://" in missing
        assert "pip install mysqlclient" in missing
    assert importlib.util.find_spec("cx_Oracle") is None  # not a dependency of this project
    assert "pip install cx_Oracle" in missing


def test_lists_data_sources(tmp_path: Path) -> None:
    ini = tmp_path / "odbc.ini"
    ini.write_text("[nightly_dw]\nDriver = PostgreSQL Unicode\nServername = 127.0.0.1\n",
                   encoding="utf-8")
    done = probe(["drivers"], env={"ODBCINI": str(ini)})
    assert "nightly_dw (PostgreSQL Unicode)" in done.stdout


def test_without_unixodbc_it_says_which_package_to_install(tmp_path: Path) -> None:
    site = pyodbc_without_unixodbc(tmp_path / "site")
    empty_path = tmp_path / "bin"  # no odbcinst either
    empty_path.mkdir()
    done = probe(["drivers"], env={"PYTHONPATH": str(site), "PATH": str(empty_path)})
    assert done.returncode == 0, done.stderr
    assert "unixODBC is not installed" in done.stdout
    assert "apt-get install unixodbc" in done.stdout
    assert "postgresql+psycopg2://" in done.stdout  # the rest still works


def test_when_pyodbc_cannot_load_it_still_lists_what_odbcinst_knows(tmp_path: Path) -> None:
    site = pyodbc_without_unixodbc(tmp_path / "site")
    done = probe(["drivers"], env={"PYTHONPATH": str(site)})
    assert "pyodbc cannot load" in done.stdout
    assert "PostgreSQL Unicode" in done.stdout
