"""A kind whose behaviour a test scripts: answer, raise, hang, or fail N times first.

It exercises the runner's guarantees (timeouts, retries, crashes, deadline) without a
network; the network kinds are tested against real servers in tests/kinds/.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Literal

from probes.kinds import KIND_MODULES, CheckBase
from probes.model import Category, ProbeError

# Per check name: how many attempts have been made (for "fail N times then pass").
ATTEMPTS: dict[str, int] = {}
_LOCK = threading.Lock()
RELEASE = threading.Event()  # set by tests to let hanging checks end


class Check(CheckBase):
    kind: Literal["scripted"] = "scripted"
    observations: ClassVar[frozenset[str]] = frozenset({"value", "text"})
    default_expect: ClassVar[tuple[str, ...]] = ("value == 1",)
    secret_keys: ClassVar[frozenset[str]] = frozenset({"secret"})

    behaviour: Literal["answer", "raise", "crash", "hang", "flaky"] = "answer"
    value: Any = 1
    text: str = ""
    secret: str = ""
    failures_before_success: int = 0

    def target(self) -> str:
        return f"scripted:{self.behaviour} secret={self.secret}"

    def observe(self, timeout: float) -> dict[str, Any]:
        with _LOCK:
            ATTEMPTS[self.name] = ATTEMPTS.get(self.name, 0) + 1
            attempt = ATTEMPTS[self.name]
        if self.behaviour == "raise":
            raise ProbeError(Category.CONNECT, f"refused, password was {self.secret}",
                             evidence=f"driver said: {self.secret}")
        if self.behaviour == "crash":
            raise ZeroDivisionError("division by zero in a kind")
        if self.behaviour == "hang":
            # Ignores its timeout on purpose, like a C library stuck in a read.
            RELEASE.wait(600)
        if self.behaviour == "flaky" and attempt <= self.failures_before_success:
            return {"value": 0, "text": self.text}
        return {"value": self.value, "text": self.text}


def register() -> None:
    KIND_MODULES.setdefault("scripted", __name__)
