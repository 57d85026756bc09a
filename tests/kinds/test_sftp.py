"""`sftp` checks against Debian's OpenSSH server on a loopback port (tests/helpers/sshd.py)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.config import ConfigError, parse_config
from probes.model import Category, CheckResult, Status
from probes.runner import run_checks
from probes.selection import select
from tests.helpers.sshd import SshServer, sshd

HOUR = 3600.0


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with sshd() as running:
        yield running


@pytest.fixture
def drop(server: SshServer) -> Iterator[Path]:
    """An empty directory on the server for one test."""
    directory = server.drop_dir / f"t{time.monotonic_ns()}"
    directory.mkdir()
    directory.chmod(0o755)
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


def put(path: Path, size: int, age_s: float) -> None:
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def run_one(yaml_text: str, **env: str) -> CheckResult:
    config = parse_config(yaml_text, "checks.yaml", env)
    return run_checks(config.suite, select(config.checks), masker=config.masker).checks[0]


def sftp_check(server: SshServer, path: str, login: str = "", extra: str = "",
               password: str | None = None) -> CheckResult:
    login = login or f"""user: {server.password_user}
    password: ${{SFTP_PASSWORD}}"""
    # A key may be written once: `extra` replaces the default known_hosts.
    trust = "" if "known_hosts:" in extra else f"known_hosts: {server.known_hosts}"
    return run_one(f"""
checks:
  - name: vendor drop
    kind: sftp
    host: {server.host}
    port: {server.port}
    {trust}
    timeout: 5s
    path: {path}
    {login}
    {extra}
""", SFTP_PASSWORD=server.password if password is None else password)


def test_todays_file_is_found_with_password_login(server: SshServer, drop: Path) -> None:
    put(drop / "sales_today.csv", 1200, 2 * HOUR)
    put(drop / "sales_old.csv", 10, 50 * HOUR)
    put(drop / "notes.txt", 1, 1)
    result = sftp_check(server, f"{drop}/sales_*.csv", extra="""expect:
      - connected == true
      - exists == true
      - count == 2
      - age < 26h
      - size == 1.2KB
      - total_size == 1210B
      - latency < 5s""")
    assert result.status is Status.PASSED, result.message
    assert result.observations["match"] == f"{drop}/sales_today.csv"
    assert result.target == (f"sftp://{server.password_user}@127.0.0.1:{server.port}"
                             f"{drop}/sales_*.csv")


def test_a_stale_file_fails_the_age_condition(server: SshServer, drop: Path) -> None:
    put(drop / "sales.csv", 10, 30 * HOUR)
    result = sftp_check(server, f"{drop}/sales.csv", extra="expect: [age < 26h]")
    assert result.status is Status.FAILED
    assert result.message == "age (30h) < 26h"


def test_oldest_and_missing(server: SshServer, drop: Path) -> None:
    put(drop / "a.csv", 1, HOUR)
    put(drop / "b.csv", 2, 3 * HOUR)
    put(drop / ".c.csv", 3, 9 * HOUR)  # hidden: an upload in progress
    oldest = sftp_check(server, f"{drop}/*.csv", extra="select: oldest\n    expect: [size == 2B]")
    assert oldest.status is Status.PASSED, oldest.message
    missing = sftp_check(server, f"{drop}/absent_*.csv")
    assert missing.status is Status.FAILED and missing.message == "exists (false) == true"
    no_directory = sftp_check(server, f"{drop}/nowhere/*.csv", extra="expect: [count == 0]")
    assert no_directory.status is Status.PASSED, no_directory.message


def test_key_login(server: SshServer, drop: Path) -> None:
    put(drop / "x.csv", 1, 1)
    result = sftp_check(server, f"{drop}/*.csv",
                        login=f"user: {server.key_user}\n    key_file: {server.key_file}")
    assert result.status is Status.PASSED, result.message
    as_other = sftp_check(server, f"{drop}/*.csv",
                          login=f"user: {server.password_user}\n    key_file: {server.key_file}")
    assert as_other.status is Status.ERROR and as_other.category is Category.AUTH


def test_passphrase_protected_key(server: SshServer, drop: Path) -> None:
    put(drop / "x.csv", 1, 1)
    result = run_one(f"""
checks:
  - name: with key
    kind: sftp
    host: {server.host}
    port: {server.port}
    known_hosts: {server.known_hosts}
    user: {server.key_user}
    key_file: {server.encrypted_key_file}
    key_passphrase: ${{KEY_PASSPHRASE}}
    path: {drop}/x.csv
""", KEY_PASSPHRASE=server.key_passphrase)
    assert result.status is Status.PASSED, result.message
    wrong = run_one(f"""
checks:
  - name: with key
    kind: sftp
    host: {server.host}
    port: {server.port}
    known_hosts: {server.known_hosts}
    user: {server.key_user}
    key_file: {server.encrypted_key_file}
    key_passphrase: ${{KEY_PASSPHRASE}}
    path: {drop}/x.csv
""", KEY_PASSPHRASE="not the passphrase")
    assert wrong.status is Status.ERROR and wrong.category is Category.AUTH
    assert "wrong key_passphrase" in wrong.message


def test_a_wrong_password_is_an_auth_error_and_never_shown(server: SshServer, drop: Path) -> None:
    result = sftp_check(server, f"{drop}/*.csv", password="wrong-password-123")
    assert result.status is Status.ERROR and result.category is Category.AUTH
    assert result.message == (f"127.0.0.1:{server.port} rejected the login of "
                              f"'{server.password_user}'")
    assert "wrong-password-123" not in repr(result)


def test_an_unknown_or_changed_host_key_is_refused(server: SshServer, drop: Path,
                                                   tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = sftp_check(server, f"{drop}/*.csv", extra=f"known_hosts: {empty}")
    assert unknown.status is Status.ERROR and unknown.category is Category.AUTH
    assert unknown.message.startswith(f"host key of 127.0.0.1:{server.port} is not in {empty}")
    changed = sftp_check(server, f"{drop}/*.csv",
                         extra=f"known_hosts: {server.other_known_hosts}")
    assert changed.status is Status.ERROR and changed.category is Category.AUTH
    assert "does not match the one in" in changed.message
    absent = sftp_check(server, f"{drop}/*.csv", extra=f"known_hosts: {tmp_path}/absent")
    assert absent.status is Status.ERROR and absent.category is Category.AUTH
    assert "does not exist; create it with `ssh-keyscan" in absent.message


def test_host_key_checking_can_be_switched_off_explicitly(server: SshServer,
                                                          drop: Path, tmp_path: Path) -> None:
    put(drop / "x.csv", 1, 1)
    result = sftp_check(server, f"{drop}/*.csv", extra="known_hosts: false")
    assert result.status is Status.PASSED, result.message


def test_a_refused_port_is_a_connect_error(server: SshServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]  # bound, not listening
        result = run_one(f"""
checks:
  - name: refused
    kind: sftp
    host: 127.0.0.1
    port: {port}
    user: nobody
    password: x
    known_hosts: false
    path: /x
""")
    assert result.status is Status.ERROR and result.category is Category.CONNECT
    assert result.message == f"connection to 127.0.0.1:{port} refused"


def test_a_server_that_never_sends_a_banner_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        result = run_one(f"""
checks:
  - name: silent
    kind: sftp
    host: 127.0.0.1
    port: {silent.getsockname()[1]}
    user: nobody
    password: x
    known_hosts: false
    path: /x
    timeout: 1s
""")
        elapsed = time.monotonic() - started
    assert result.status is Status.ERROR and result.category is Category.TIMEOUT
    assert elapsed < 1.5


@pytest.mark.parametrize(("keys", "expected"), [
    ("path: /x/*.csv", "give `password` (as ${VARIABLE}) or `key_file` to log in with"),
    ("password: x\n    path: /in/*/x.csv", "a glob may only be in the file name part"),
    ("password: x\n    path: /in/", "end the path with a file name or a glob"),
    ("password: x\n    path: /x\n    known_hosts: true", "write the path of a known_hosts file"),
    ("password: x\n    path: /x\n    key_passphrase: y", "`key_passphrase` unlocks `key_file`"),
    ("password: x\n    path: /x\n    passwrd: y", "unknown key `passwrd` for a sftp check"),
])
def test_config_mistakes_are_errors_with_their_line(keys: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"""
checks:
  - name: drop
    kind: sftp
    host: sftp.example.com
    user: reader
    {keys}
""", "checks.yaml", {})
    assert expected in str(caught.value)
    assert str(caught.value).startswith("checks.yaml:")
