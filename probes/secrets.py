"""Masking of secret values wherever output is produced.

The config loader registers every value that must never be shown (interpolated
secrets, URL passwords); everything that leaves the process — reports, console
lines, log records, notifications — passes through one `Masker`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from probes.model import AssertionResult, CheckResult, RunResult

MASK = "***"
SECRET_NAME_RE = re.compile(r"PASS|SECRET|TOKEN|KEY|PWD", re.IGNORECASE)
# user:password@ in any URL-like text (scheme://user:pw@host), whoever wrote it.
_URL_PASSWORD_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)@")
# key=value pairs of ODBC connection strings and DSNs that carry a password.
_KV_PASSWORD_RE = re.compile(r"(?P<head>\b(?:PWD|PASSWORD|Password|pwd|password)\s*=\s*)"
                             r"(?P<pw>\{[^}]*\}|[^;\s]+)")
_EMAIL_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MIN_SECRET_LENGTH = 3  # shorter values would mask ordinary text everywhere
# URL parsers end a password at its first `@`; the rest is read as the host, and shows up
# in error messages as such. Said where a URL's host contains `@`, without the host.
AT_IN_PASSWORD_HINT = ("the host name contains `@`: a password containing `@` must be "
                       "written %40 in the URL")


def is_secret_name(name: str) -> bool:
    # `key_file`, `SSH_KEY_PATH`: where a secret is, not the secret; shown as written.
    if name.lower().endswith(("_file", "_path", "_dir")):
        return False
    return bool(SECRET_NAME_RE.search(name))


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._longest_first: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask `secret`. A value with `@` (a password, most likely) is masked in pieces
        too: a URL parser ends a password at its first `@` and shows the rest as (part
        of) the host name in its error messages. Not a URL or an e-mail address, whose
        pieces are host names that would then be masked everywhere."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        if "@" in secret and "://" not in secret and not _EMAIL_RE.match(secret):
            pieces = secret.split("@")
            for cut in range(1, len(pieces)):
                for piece in ("@".join(pieces[:cut]), "@".join(pieces[cut:])):
                    if len(piece) >= MIN_SECRET_LENGTH:
                        self._secrets.add(piece)
        # Longest first, so a secret that contains another is masked whole.
        self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        # Called a dozen times per check result: the cheap tests skip what cannot match.
        if not value:
            return value
        for secret in self._longest_first:
            if secret in value:
                value = value.replace(secret, MASK)
        if "@" in value:
            value = _URL_PASSWORD_RE.sub(lambda m: f"{m.group('head')}{MASK}@", value)
        if "=" in value:
            value = _KV_PASSWORD_RE.sub(lambda m: f"{m.group('head')}{MASK}", value)
        return value

    def value(self, value: Any) -> Any:
        """Mask strings anywhere inside JSON-like data."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return type(value)(self.value(item) for item in value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        return value

    def check(self, result: CheckResult) -> CheckResult:
        return replace(
            result,
            message=self.text(result.message),
            target=self.text(result.target),
            evidence=self.text(result.evidence),
            description=self.text(result.description),
            assertions=tuple(
                # A condition may hold an interpolated secret: `body contains "${TOKEN}"`.
                AssertionResult(self.text(a.expr), self.value(a.actual), a.passed,
                                self.text(a.note))
                for a in result.assertions
            ),
            attempt_log=tuple(replace(a, message=self.text(a.message)) for a in result.attempt_log),
            observations=self.value(result.observations),
        )

    def run(self, run: RunResult) -> RunResult:
        return replace(
            run,
            checks=tuple(self.check(c) for c in run.checks),
            warnings=tuple(self.text(w) for w in run.warnings),
            notifications=tuple(
                replace(n, target=self.text(n.target),
                        error=self.text(n.error) if n.error else None)
                for n in run.notifications
            ),
        )


class MaskingFilter(logging.Filter):
    """Masks secrets in every log record that passes the handler it is attached to."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.masker.text(record.getMessage())
        record.args = None
        return True
