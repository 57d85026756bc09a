"""Running the installed `probe` command the way a user or a CI job does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

PROBE = str(Path(sys.executable).parent / "probe")


def probe(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `probe ARGS` and capture its output; the environment is the test's plus `env`."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([PROBE, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
