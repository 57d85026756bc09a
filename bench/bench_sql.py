"""PostgreSQL checks through `probe run` beside a plain psycopg2 + thread-pool script.

Both run as subprocesses in the same run, against the machine's PostgreSQL, with the
test role of scripts/setup-databases.sh (password login, so each connection pays the
same SCRAM handshake). Each check opens a fresh connection, runs the same freshness
query and closes it; the baseline does exactly that and nothing else. probe also
loads its config, makes the session read-only with a statement timeout, judges
`age < 26h`, writes the reports and records the history.

    .venv/bin/python bench/bench_sql.py [--checks 100] [--concurrency 16] [--query-ms 0]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PROBE = str(BIN / "probe")
ROLE = DATABASE = "probes_test"
PASSWORD = "probes-test-pw-4c1e"  # the test role's, from scripts/setup-databases.sh
HOST = "127.0.0.1"
PORT = os.environ.get("PROBES_PG_PORT", "5432")

BASELINE = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import psycopg2
    host, port, user, password, database = sys.argv[1:6]
    query, n, workers = sys.argv[6], int(sys.argv[7]), int(sys.argv[8])
    def one(i):
        connection = psycopg2.connect(host=host, port=port, user=user, password=password,
                                      dbname=database, connect_timeout=10)
        try:
            cursor = connection.cursor()
            cursor.execute(query)
            return cursor.fetchone()[-1] is not None
        finally:
            connection.close()
    with ThreadPoolExecutor(workers) as pool:
        ok = sum(pool.map(one, range(n)))
    assert ok == n, ok
""")


LIBRARIES = "import psycopg2, pydantic, sqlalchemy.dialects.postgresql.psycopg2"


def query_for(query_ms: float) -> str:
    sleep = f"pg_sleep({query_ms / 1000:g}), " if query_ms else ""
    return f"select {sleep}max(loaded_at) from fresh_loads"


def write_config(path: Path, checks: int, concurrency: int, query: str) -> None:
    url = f"postgresql+psycopg2://{ROLE}:${{BENCH_DB_PASSWORD}}@{HOST}:{PORT}/{DATABASE}"
    lines = [f"suite: bench-sql\nconcurrency: {concurrency}\nchecks:"]
    for i in range(checks):
        lines.append(f"  - name: warehouse {i}\n    kind: sql\n    url: {url}\n"
                     f"    query: \"{query}\"\n    expect:\n      - age < 26h")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+system of the child) and the exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return wall, cpu, proc.returncode


def best_of(runs: int, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    results = []
    for _ in range(runs):
        wall, cpu, code = timed(argv, cwd, env)
        if code != 0:
            raise SystemExit(f"{' '.join(argv[:2])} exited {code}")
        results.append((wall, cpu))
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checks", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--query-ms", type=float, default=0,
                        help="make each query take this long on the server (pg_sleep)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    args = parser.parse_args()
    query = query_for(args.query_ms)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Compiled modules are kept (in the temp dir), as in an installed package.
        env = {**os.environ, "BENCH_DB_PASSWORD": PASSWORD, "NO_COLOR": "1",
               "PYTHONPYCACHEPREFIX": str(work / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        config = work / "checks.yaml"
        write_config(config, args.checks, args.concurrency, query)
        baseline_script = work / "baseline.py"
        baseline_script.write_text(BASELINE, encoding="utf-8")
        baseline = [sys.executable, str(baseline_script), HOST, PORT, ROLE, PASSWORD, DATABASE,
                    query, str(args.checks), str(args.concurrency)]
        probe_run = [PROBE, "run", "-c", str(config), "--reports", str(work / "reports"),
                     "--no-notify"]
        best_of(1, probe_run, work, env)  # warm-up: compiles and caches the modules
        # Alternate the two so that a busy moment of the machine does not favour one.
        base: list[tuple[float, float]] = []
        probe: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            base.append(best_of(1, baseline, work, env))
            probe.append(best_of(1, probe_run, work, env))
        python_wall, _ = best_of(3, [sys.executable, "-c", "import psycopg2"], work, env)
        # What the libraries the sql kind and the config are built on cost to load, before
        # probe does anything of its own: a floor under any `probe run` of sql checks.
        libraries_wall, _ = best_of(3, [sys.executable, "-c", LIBRARIES], work, env)
        help_wall, _ = best_of(3, [PROBE, "--help"], work, env)
    (base_wall, base_cpu), (probe_wall, probe_cpu) = min(base), min(probe)

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{args.checks} PostgreSQL checks, fresh connection each, concurrency "
          f"{args.concurrency}, query: {query} (best of {args.repeat})")
    print(f"  psycopg2 + ThreadPoolExecutor: wall {base_wall:.2f}s  cpu {base_cpu:.2f}s")
    print(f"  probe run:                     wall {probe_wall:.2f}s  cpu {probe_cpu:.2f}s")
    print(f"  ratio (probe / baseline):      wall {probe_wall / base_wall:.2f}x  "
          f"cpu {probe_cpu / base_cpu:.2f}x")
    print(f"start-up: python -c 'import psycopg2' {python_wall:.3f}s, "
          f"probe --help {help_wall:.3f}s")
    floor = base_wall + libraries_wall - python_wall
    print(f"loading SQLAlchemy, its postgresql dialect and pydantic adds "
          f"{libraries_wall - python_wall:.3f}s to the baseline: a floor of "
          f"{floor / base_wall:.2f}x for probe")


if __name__ == "__main__":
    main()
