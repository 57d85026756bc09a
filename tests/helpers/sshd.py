"""Debian's OpenSSH server on a loopback port, for SFTP tests.

    with sshd() as server:
        server.port, server.known_hosts, server.password_user, server.password,
        server.key_user, server.key_file, server.drop_dir …

Runs `/usr/sbin/sshd -D -e` (as root, which tests here are) with its own config and
host key in a fresh directory under `workdir` (default: the system temp directory;
the test accounts must be able to reach it, so not pytest's private tmp_path).
Two local accounts exist for it: one logs in with a password, the other with a key
(plain and passphrase-protected). `drop_dir` is a directory both can list, where
tests put the files an SFTP check looks for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SSHD = "/usr/sbin/sshd"
PASSWORD_USER = "probes-sftp-pw"
KEY_USER = "probes-sftp-key"
KEY_PASSPHRASE = "correct horse battery"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    known_hosts: Path  # lists this server's host key for [127.0.0.1]:port
    other_known_hosts: Path  # lists a different key for it: a "mismatch"
    password_user: str
    password: str
    key_user: str
    key_file: Path  # unencrypted private key of key_user
    encrypted_key_file: Path  # the same kind, protected by `key_passphrase`
    key_passphrase: str
    drop_dir: Path  # readable by both users; put files here
    log: list[str]  # sshd's stderr lines, for debugging a failing test


@contextlib.contextmanager
def sshd(workdir: Path | None = None) -> Iterator[SshServer]:
    """Start sshd for the block; the accounts are created once per machine, reused after."""
    if not os.path.exists(SSHD):
        raise RuntimeError(f"{SSHD} is missing: install the openssh-server package "
                           "(scripts/setup-system.sh does)")
    # sshd reads the key user's authorized_keys as that user: the tree must be readable.
    base = Path(tempfile.mkdtemp(prefix="probes-sshd-", dir=workdir))
    base.chmod(0o755)
    password = secrets.token_urlsafe(12)
    _ensure_user(PASSWORD_USER, password)
    _ensure_user(KEY_USER, secrets.token_urlsafe(12))  # a locked account could not log in
    host_key = _keygen(base / "host_ed25519_key")
    key_file = _keygen(base / "client_key")
    encrypted_key_file = _keygen(base / "client_key_encrypted", KEY_PASSPHRASE)
    authorized = base / "authorized_keys"
    authorized.mkdir(mode=0o755)
    (authorized / KEY_USER).write_text(
        Path(f"{key_file}.pub").read_text() + Path(f"{encrypted_key_file}.pub").read_text()
    )
    drop_dir = base / "drop"
    drop_dir.mkdir()
    drop_dir.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir

    process, port, log = _start(base, host_key)
    try:
        known_hosts = base / "known_hosts"
        public = Path(f"{host_key}.pub").read_text().split()
        known_hosts.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        impostor = Path(f"{_keygen(base / 'impostor_key')}.pub").read_text().split()
        other_known_hosts = base / "other_known_hosts"
        other_known_hosts.write_text(f"[127.0.0.1]:{port} {impostor[0]} {impostor[1]}\n")
        yield SshServer(
            host="127.0.0.1", port=port, known_hosts=known_hosts,
            other_known_hosts=other_known_hosts, password_user=PASSWORD_USER,
            password=password, key_user=KEY_USER, key_file=key_file,
            encrypted_key_file=encrypted_key_file, key_passphrase=KEY_PASSPHRASE,
            drop_dir=drop_dir, log=log,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)


def _ensure_user(name: str, password: str) -> None:
    exists = subprocess.run(["id", "-u", name], capture_output=True, check=False).returncode == 0
    if not exists:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name],
                       check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True,
                   capture_output=True)


def _keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "probes-test",
                    "-f", str(path)], check=True, capture_output=True)
    return path


def _config(base: Path, host_key: Path, port: int) -> Path:
    config = base / f"sshd_config_{port}"
    config.write_text("\n".join([
        f"ListenAddress 127.0.0.1:{port}",
        f"HostKey {host_key}",
        f"PidFile {base}/sshd_{port}.pid",
        f"AuthorizedKeysFile {base}/authorized_keys/%u",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin no",
        "UseDNS no",
        "MaxStartups 100",
        "MaxAuthTries 3",
        "PrintMotd no",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
        "",
    ]))
    return config


def _start(base: Path, host_key: Path) -> tuple[subprocess.Popen[str], int, list[str]]:
    """sshd listening on a free port; a port taken meanwhile by someone else is retried."""
    for _ in range(5):
        port = _free_port()
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(_config(base, host_key, port))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        log: list[str] = []
        if _wait_listening(process, log):
            _check_banner(port)
            return process, port, log
        process.kill()
        process.wait()
    raise RuntimeError("sshd did not start:\n" + "\n".join(log))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _wait_listening(process: subprocess.Popen[str], log: list[str]) -> bool:
    """Wait until sshd logs that it listens (True), or exits or time is up (False).

    A thread reads sshd's log for as long as it runs, so sshd never blocks writing it.
    """
    assert process.stderr is not None
    listening = threading.Event()
    settled = threading.Event()  # it listens, or it ended

    def read(stream: IO[str]) -> None:
        for line in stream:
            log.append(line.rstrip("\n"))
            if "Server listening on" in line:
                listening.set()
                settled.set()
        settled.set()

    threading.Thread(target=read, args=(process.stderr,), daemon=True).start()
    settled.wait(START_TIMEOUT_S)
    return listening.is_set()


def _check_banner(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        banner = sock.recv(64)
    if not banner.startswith(b"SSH-2.0-"):
        raise RuntimeError(f"port {port} answered {banner!r}, not an SSH banner")
