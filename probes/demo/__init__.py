"""`probe demo`: the bundled demo config run against throwaway local targets."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probes.runner import StopRequest


def demo_config_text() -> str:
    return resources.files("probes.demo").joinpath("checks.yaml").read_text(encoding="utf-8")


def run_demo(reports_dir: str, stop: StopRequest | None = None) -> int:
    from probes.config import parse_config
    from probes.demo.targets import demo_targets
    from probes.pipeline import RunOptions, execute

    workdir = Path(reports_dir).resolve() / "demo-targets"
    with demo_targets(workdir) as env:
        config = parse_config(demo_config_text(), "demo/checks.yaml", {**os.environ, **env})
        print(f"probe demo: targets started on 127.0.0.1 (API {env['DEMO_HTTP']}); "
              f"files in {workdir}")
        result = execute(config, RunOptions(reports_dir=reports_dir, notify=False), stop=stop)
    return result.exit_code
