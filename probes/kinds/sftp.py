"""`sftp`: log in to an SFTP server and observe the files matching a glob in one directory.

The server's host key is checked against a known_hosts file unless the check says
`known_hosts: false`. The facts (`exists`, `count`, `age`, `size`, …) are those of
the `file` kind, computed by the same code.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import posixpath
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from probes.kinds import CheckBase
from probes.kinds._glob_stats import (
    DEFAULT_EXPECT,
    OBSERVATIONS,
    Entry,
    EntryType,
    Select,
    has_glob,
    summarize,
    wanted,
)
from probes.kinds._net import classify
from probes.model import Category, ProbeError
from probes.units import Seconds

if TYPE_CHECKING:
    import paramiko

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class Check(CheckBase):
    kind: Literal["sftp"] = "sftp"
    observations: ClassVar[frozenset[str]] = OBSERVATIONS | {"connected", "latency"}
    default_expect: ClassVar[tuple[str, ...]] = DEFAULT_EXPECT
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password", "key_passphrase"})

    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str = Field(min_length=1)
    password: str | None = Field(None, description="Password; write it as ${VARIABLE}")
    key_file: str | None = Field(None, description="Private key file (OpenSSH or PEM format)")
    key_passphrase: str | None = Field(None, description="Passphrase of an encrypted key_file")
    known_hosts: str | Literal[False] = Field(
        DEFAULT_KNOWN_HOSTS,
        description="known_hosts file holding the server's key; false skips the check (insecure)",
    )
    path: str = Field(description="A glob in one remote directory: /outgoing/sales_*.csv")
    select: Select = Field("newest", description="Which match `age`, `size` and `match` describe")
    type: EntryType = Field("file", description="What may match: files (default), "
                            "directories, or any")

    @field_validator("known_hosts", mode="before")
    @classmethod
    def _known_hosts(cls, value: Any) -> Any:
        if value is True:
            raise ValueError("write the path of a known_hosts file, or false to skip the "
                             "host key check")
        return value

    @field_validator("path")
    @classmethod
    def _glob_in_file_name_only(cls, value: str) -> str:
        directory, pattern = posixpath.split(value)
        if not pattern:
            raise ValueError("end the path with a file name or a glob, e.g. /outgoing/*.csv")
        if has_glob(directory):
            raise ValueError("a glob may only be in the file name part of the path "
                             f"({pattern!r}), not in the directory {directory!r}")
        return value

    @model_validator(mode="after")
    def _some_credential(self) -> Check:
        if self.password is None and self.key_file is None:
            raise ValueError("give `password` (as ${VARIABLE}) or `key_file` to log in with")
        if self.key_passphrase is not None and self.key_file is None:
            raise ValueError("`key_passphrase` unlocks `key_file`; write key_file too")
        return self

    def target(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{_slash(self.path)}"

    def observe(self, timeout: float) -> dict[str, Any]:
        import paramiko

        logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # failures are reported here
        deadline = time.monotonic() + timeout
        started = time.perf_counter()
        client = paramiko.SSHClient()
        try:
            self._trust_host_keys(client)
            self._connect(client, self._private_key(), timeout, deadline)
            latency = Seconds(time.perf_counter() - started)
            entries = self._list(client, deadline)
        finally:
            client.close()
        return {**summarize(entries, self.select, time.time()), "connected": True,
                "latency": latency}

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _trust_host_keys(self, client: paramiko.SSHClient) -> None:
        import paramiko

        if self.known_hosts is False:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return
        path = os.path.expanduser(self.known_hosts)
        if not os.path.exists(path):
            raise ProbeError(Category.AUTH, f"cannot check the host key of {self._where}: "
                             f"known_hosts file {path} does not exist; create it with "
                             f"`ssh-keyscan -p {self.port} {self.host} >> {path}` (and check "
                             "the key), or set known_hosts: false")
        client.load_host_keys(path)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def _private_key(self) -> paramiko.PKey | None:
        import paramiko

        if self.key_file is None:
            return None
        path = os.path.expanduser(self.key_file)
        passphrase = None if self.key_passphrase is None else self.key_passphrase.encode()
        try:
            return paramiko.PKey.from_path(path, password=passphrase)
        except FileNotFoundError:
            raise ProbeError(Category.CONFIG, f"key_file {path} does not exist") from None
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            # cryptography raises TypeError for an encrypted key given no passphrase.
            if self.key_passphrase is None:
                raise ProbeError(Category.CONFIG, f"key_file {path} is encrypted; set "
                                 "key_passphrase", evidence=str(exc)) from None
            raise ProbeError(Category.CONFIG, f"cannot load key_file {path}: {exc}") from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            if self.key_passphrase is not None:
                raise ProbeError(Category.AUTH, f"cannot unlock key_file {path}: wrong "
                                 "key_passphrase (or not a private key)",
                                 evidence=str(exc)) from None
            raise ProbeError(Category.CONFIG, f"key_file {path} is not a private key",
                             evidence=str(exc)) from None

    def _connect(self, client: paramiko.SSHClient, key: paramiko.PKey | None, timeout: float,
                 deadline: float) -> None:
        import paramiko

        try:
            # Each phase (TCP, banner, login) gets the timeout; the runner bounds the sum.
            client.connect(
                self.host, self.port, username=self.user, password=self.password, pkey=key,
                timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                channel_timeout=timeout, allow_agent=False, look_for_keys=False,
            )
        except paramiko.BadHostKeyException:
            raise ProbeError(Category.AUTH, f"host key of {self._where} does not match the one "
                             f"in {self.known_hosts}: the server was reinstalled, or this is "
                             "not the server you think it is") from None
        except paramiko.AuthenticationException as exc:
            raise ProbeError(Category.AUTH, f"{self._where} rejected the login of "
                             f"{self.user!r}", evidence=str(exc)) from None
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            # Every address of the host refused (or was unreachable): the first says why.
            first = next(iter(exc.errors.values()), exc)
            raise classify(first, self._where) from None
        except paramiko.SSHException as exc:
            raise self._ssh_failure(exc, deadline) from None
        except (OSError, EOFError) as exc:
            raise classify(exc, self._where) from None

    def _ssh_failure(self, exc: Exception, deadline: float) -> ProbeError:
        text = str(exc)
        if "not found in known_hosts" in text:
            return ProbeError(Category.AUTH, f"host key of {self._where} is not in "
                              f"{self.known_hosts}; add it with `ssh-keyscan -p {self.port} "
                              f"{self.host}` (and check it), or set known_hosts: false")
        if time.monotonic() >= deadline or "timeout" in text.lower():
            return ProbeError(Category.TIMEOUT, f"SSH handshake with {self._where} did not "
                              "finish in time", evidence=text)
        if "banner" in text:
            return ProbeError(Category.CONNECT, f"{self._where} did not answer like an SSH "
                              "server", evidence=text)
        return ProbeError(Category.CONNECT, f"SSH handshake with {self._where} failed: {text}")

    def _list(self, client: paramiko.SSHClient, deadline: float) -> list[Entry]:
        directory, pattern = posixpath.split(self.path)
        directory = directory or "."
        try:
            sftp = client.open_sftp()
        except Exception as exc:
            raise ProbeError(Category.CONNECT, f"{self._where} has no SFTP subsystem for "
                             f"{self.user!r}", evidence=str(exc)) from None
        sftp.get_channel().settimeout(max(0.001, deadline - time.monotonic()))
        try:
            listing = sftp.listdir_attr(directory)
        except FileNotFoundError:
            return []  # no directory, no matches: `exists` is false
        except PermissionError:
            raise ProbeError(Category.AUTH, f"{self.user!r} may not list {directory} on "
                             f"{self._where}") from None
        except TimeoutError:
            raise ProbeError(Category.TIMEOUT, f"listing {directory} on {self._where} took "
                             "longer than the timeout") from None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return []
            raise ProbeError(Category.CONNECT, f"cannot list {directory} on {self._where}: "
                             f"{exc}") from None
        finally:
            sftp.close()
        # Like a shell glob, `*` does not match hidden files (partial uploads are often such).
        hidden_ok = pattern.startswith(".")
        entries = [
            Entry(posixpath.join(directory, attr.filename), float(attr.st_mtime or 0),
                  int(attr.st_size or 0), int(attr.st_mode or 0))
            for attr in listing
            if fnmatch.fnmatchcase(attr.filename, pattern)
            and (hidden_ok or not attr.filename.startswith("."))
        ]
        return [entry for entry in entries if wanted(entry, self.type)]


def _slash(path: str) -> str:
    return path if path.startswith("/") else f"/~/{path}"
