"""The `probe` command. Maps outcomes and exceptions to exit codes, nothing else.

Exit codes: 0 all selected checks passed or were skipped; 1 a check failed or
errored; 2 the config or the command line is invalid; 3 an internal error.
Heavy modules are imported inside the commands so `probe --help` stays fast.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pathlib import Path

    from probes.config import Config
    from probes.model import RunResult
    from probes.runner import StopRequest

EXIT_OK, EXIT_FAILING, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 2, 3
F = TypeVar("F", bound=Callable[..., Any])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("probes")
    except PackageNotFoundError:
        return "unknown"


def config_option(func: F) -> F:
    return click.option(
        "-c", "--config", "config_path", default="checks.yaml", envvar="PROBE_CONFIG",
        show_default=True, type=click.Path(dir_okay=False),
        help="The checks file (also PROBE_CONFIG).",
    )(func)


def selection_options(func: F) -> F:
    for option in reversed([
        click.option("--tag", "tags", multiple=True, help="Run checks having any of these tags."),
        click.option("--skip-tag", "skip_tags", multiple=True, help="Skip checks with this tag."),
        click.option("--name", "names", multiple=True, help="Run checks whose name matches "
                     "this glob (repeatable)."),
    ]):
        func = option(func)
    return func


def report_options(func: F) -> F:
    """Where the reports go and whether to notify: shared by `run` and `merge`."""
    for option in reversed([
        click.option("--reports", "reports_dir", type=click.Path(file_okay=False),
                     help="Directory for the reports (default: report.dir of the config)."),
        click.option("--junit", type=click.Path(dir_okay=False), help="JUnit XML file."),
        click.option("--html", type=click.Path(dir_okay=False), help="HTML report file."),
        click.option("--json", "json_file", type=click.Path(dir_okay=False),
                     help="JSON results file."),
        click.option("--no-notify", is_flag=True, help="Do not send notifications."),
    ]):
        func = option(func)
    return func


def prometheus_option(func: F) -> F:
    return click.option("--prometheus", type=click.Path(dir_okay=False),
                        help="Also write a node_exporter textfile with the results.")(func)


def handle_errors(func: F) -> F:
    """One place where a user's mistake becomes exit 2 and a harness bug exit 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from probes.config import ConfigError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(exc.render(), err=True)
            count = len(exc.problems)
            click.echo(f"{count} problem{'s' if count != 1 else ''} in {exc.path}; "
                       "nothing was run.", err=True)
            sys.exit(EXIT_INVALID)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.Abort):
            raise
        except SystemExit:
            raise
        except Exception as exc:
            click.echo(f"probe: internal error: {type(exc).__name__}: {exc}", err=True)
            if os.environ.get("PROBE_DEBUG"):
                traceback.print_exc()
            else:
                click.echo("Set PROBE_DEBUG=1 to see the traceback, and please report it.",
                           err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def load(config_path: str) -> Config:
    from probes.config import load_config

    config = load_config(config_path)
    # What is loaded by now (modules, models, the config) lives until the process ends:
    # out of the garbage collector's sight, it is not traversed again on every full
    # collection while the checks and the reports allocate.
    gc.freeze()
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=None, package_name="probes", prog_name="probe",
                      message="%(prog)s %(version)s")
def main() -> None:
    """Health checks for the databases, APIs, files and certificates your jobs rely on."""


def console_entry() -> None:
    """The `probe` command: `main`, then an exit that skips the interpreter's teardown.

    Freeing every module and object one by one took 0.4 s after a 1,000-check run.
    By the time `main` returns, every report is written and closed; only the standard
    streams (and logging's handlers) still need flushing.
    """
    try:
        main(prog_name="probe")
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    if "logging" in sys.modules:  # a library used it: flush its handlers
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):  # a closed pipe (`probe run | head`) is not our failure
            stream.flush()
    os._exit(code)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    with suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None
                 ) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter("write K/N, e.g. 2/3 (the second of three shards)") from None
    if not 1 <= index <= count:
        raise click.BadParameter(f"K must be between 1 and N, got {value}")
    return index, count


def _parse_deadline(_ctx: click.Context, _param: click.Parameter, value: str | None
                    ) -> float | None:
    if value is None:
        return None
    from probes.units import coerce_duration

    try:
        seconds = float(coerce_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0, e.g. 10m")
    return seconds


@main.command()
@config_option
@selection_options
@report_options
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Checks in flight at once.")
@click.option("--deadline", callback=_parse_deadline,
              help="Bound on the whole run, e.g. 5m; unfinished checks become error/timeout.")
@click.option("--dry-run", is_flag=True, help="Show what would run, run nothing.")
@click.option("--shard", callback=_parse_shard, metavar="K/N",
              help="Run only shard K of N (stable split by check name).")
@prometheus_option
@handle_errors
def run(config_path: str, tags: tuple[str, ...], skip_tags: tuple[str, ...],
        names: tuple[str, ...], reports_dir: str | None, junit: str | None, html: str | None,
        json_file: str | None, no_notify: bool, concurrency: int | None,
        deadline: float | None, dry_run: bool, shard: tuple[int, int] | None,
        prometheus: str | None) -> None:
    """Run the checks, write the reports, notify, and exit 0, 1, 2 or 3."""
    from probes.pipeline import RunOptions, execute, plan

    started_at = time.monotonic()  # --deadline bounds the whole run, loading included
    config = load(config_path)
    _refuse_empty_selection(config, tags, skip_tags, names)
    options = RunOptions(
        tags=tags, skip_tags=skip_tags, names=names, reports_dir=reports_dir, junit=junit,
        html=html, json=json_file, notify=not no_notify, concurrency=concurrency,
        deadline_s=deadline, shard=shard, prometheus=prometheus, started_at=started_at,
    )
    if dry_run:
        for planned in plan(config, options):
            state = "run " if planned.runs else "skip"
            reason = f"  ({planned.skip_reason})" if planned.skip_reason else ""
            click.echo(f"{state} {planned.check.name} [{planned.check.kind}]{reason}")
        return
    from probes.runner import StopRequest

    stop = StopRequest()
    with _signals_interrupt_run(stop):
        result = execute(config, options, stop=stop)
    sys.exit(result.exit_code)


def _refuse_empty_selection(config: Config, tags: tuple[str, ...], skip_tags: tuple[str, ...],
                            names: tuple[str, ...]) -> None:
    """Exit 2 when `--tag`/`--skip-tag`/`--name` select no check: a green run of nothing
    would hide a typo in a scheduler's command line for ever."""
    from probes.selection import matches_nothing

    if matches_nothing(config.checks, tags, skip_tags, names):
        click.echo(f"{config.path}: no check matches the selection "
                   f"({_selection_text(tags, skip_tags, names)}); `probe list` shows the "
                   "names and tags", err=True)
        sys.exit(EXIT_INVALID)


def _selection_text(tags: tuple[str, ...], skip_tags: tuple[str, ...],
                    names: tuple[str, ...]) -> str:
    options = [*(f"--tag {t}" for t in tags), *(f"--skip-tag {t}" for t in skip_tags),
               *(f"--name {n!r}" for n in names)]
    return " ".join(options)


@contextmanager
def _signals_interrupt_run(stop: StopRequest) -> Iterator[None]:
    """SIGINT/SIGTERM end the run early, but the reports are still written."""
    from probes.runner import Interrupted

    def interrupt(signum: int, _frame: object) -> None:
        # Only the first signal counts; reports are being written after it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        name = signal.Signals(signum).name
        if stop.checks_over:
            stop.receive(name)  # raising now could cut a report in half
            return
        raise Interrupted(name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@main.command()
@config_option
@handle_errors
def validate(config_path: str) -> None:
    """Load and validate the config; print every problem with file:line."""
    config = load(config_path)
    kinds = sorted({c.kind for c in config.checks})
    click.echo(f"{config.path}: OK, {len(config.checks)} checks"
               + (f" ({', '.join(kinds)})" if kinds else ""))


@main.command(name="list")
@config_option
@selection_options
@handle_errors
def list_checks(config_path: str, tags: tuple[str, ...], skip_tags: tuple[str, ...],
                names: tuple[str, ...]) -> None:
    """The checks that would run (name, kind, group, tags), after selection."""
    from probes.pipeline import RunOptions, plan

    config = load(config_path)
    rows = [("NAME", "KIND", "GROUP", "TAGS")]
    for planned in plan(config, RunOptions(tags=tags, skip_tags=skip_tags, names=names)):
        if planned.runs:
            c = planned.check
            rows.append((c.name, c.kind, c.group_name, ",".join(c.tags)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3]))
                   + "  " + row[3])


@main.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of checks.yaml (for yaml-language-server)."""
    import json

    from probes.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.option("--reports", "reports_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Directory for the demo's reports.")
@handle_errors
def demo(reports_dir: str) -> None:
    """Start throwaway local targets and run the bundled demo config against them."""
    from probes.demo import run_demo
    from probes.runner import StopRequest

    stop = StopRequest()
    with _signals_interrupt_run(stop):
        code = run_demo(reports_dir, stop)
    sys.exit(code)


@main.command()
@config_option
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@report_options
@prometheus_option
@handle_errors
def merge(config_path: str, results: tuple[str, ...], reports_dir: str | None,
          junit: str | None, html: str | None, json_file: str | None, no_notify: bool,
          prometheus: str | None) -> None:
    """Combine the results files of shards into one run: reports, history, notifications."""
    from pathlib import Path

    from probes.merge import merge_runs
    from probes.pipeline import RunOptions, finish
    from probes.reporting.console import ConsoleReporter

    config = load(config_path)
    runs = [_results_file(Path(path)) for path in results]
    options = RunOptions(reports_dir=reports_dir, junit=junit, html=html, json=json_file,
                         notify=not no_notify, prometheus=prometheus)
    console = ConsoleReporter(sys.stdout, is_tty=sys.stdout.isatty(), color=None)
    result = finish(config, options, merge_runs(runs, config), console)
    sys.exit(result.exit_code)


@main.command()
@handle_errors
def drivers() -> None:
    """The ODBC drivers and SQLAlchemy URL schemes this machine can use for database checks."""
    from probes.drivers import describe_drivers

    click.echo(describe_drivers())


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--html", type=click.Path(dir_okay=False),
              help="HTML report file (default: report.html beside RESULTS).")
@click.option("--junit", type=click.Path(dir_okay=False),
              help="JUnit XML file (default: junit.xml beside RESULTS).")
@handle_errors
def report(results: str, html: str | None, junit: str | None) -> None:
    """Re-render the HTML and JUnit reports from a saved results.json (nothing is run).

    Exits 0 when both were written, 1 when one could not be, 2 when RESULTS is not a
    results file.
    """
    from pathlib import Path

    from probes.reporting import HTML_FILE, JUNIT_FILE
    from probes.reporting.html import write_html
    from probes.reporting.junit import write_junit

    source = Path(results)
    run_result = _results_file(source)
    code = EXIT_OK
    for path, writer in ((Path(html) if html else source.parent / HTML_FILE, write_html),
                         (Path(junit) if junit else source.parent / JUNIT_FILE, write_junit)):
        try:
            writer(run_result, path)
        except Exception as exc:  # the other report is still written
            click.echo(f"probe: cannot write {path}: {type(exc).__name__}: {exc}", err=True)
            code = EXIT_FAILING
        else:
            click.echo(f"wrote {path}")
    sys.exit(code)


def _results_file(path: Path) -> RunResult:
    """A saved results.json, or exit 2 saying why it is not one."""
    from probes.reporting.json import load_json

    try:
        return load_json(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        click.echo(f"{path}: not a probes results file ({reason})", err=True)
        sys.exit(EXIT_INVALID)


@main.command(name="notify-test")
@config_option
@handle_errors
def notify_test(config_path: str) -> None:
    """Send a short test message to every `notify:` target and say which got it."""
    from probes.notify import send_test

    config = load(config_path)
    if not config.notify:
        click.echo(f"{config.path}: no notify targets (add a `notify:` list of apprise URLs; "
                   "a target whose url is empty is switched off)", err=True)
        sys.exit(EXIT_INVALID)
    outcomes = send_test(config.notify, config.masker, suite=config.suite)
    for outcome in outcomes:
        if outcome.sent:
            click.echo(f"sent: {outcome.target}")
        else:
            click.echo(f"NOT sent: {outcome.target}: {outcome.error}")
    failed = sum(1 for o in outcomes if not o.sent)
    click.echo(f"{len(outcomes) - failed} of {len(outcomes)} targets got the test message")
    sys.exit(EXIT_FAILING if failed else EXIT_OK)
