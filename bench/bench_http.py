"""HTTP checks through `probe run` beside a plain requests + thread-pool script.

Both run as subprocesses against the same local server (its own process, each
response delayed by L ms), in the same run, so the ratio compares like with like:
interpreter start-up, the requests themselves, and — for probe — config loading,
the runner, the reports and the history. Also times `probe --help` and
`probe validate` on a 1,000-check config.

    .venv/bin/python bench/bench_http.py [--checks 1000] [--latency-ms 50] [--concurrency 64]
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

SERVER = textwrap.dedent("""
    import sys, time
    from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
    delay = float(sys.argv[1])
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(delay)
            body = b'{"status": "UP"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    class S(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024
    s = S(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
""")

BASELINE = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import requests
    url, n, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    def one(i):
        r = requests.get(f"{url}/{i}", timeout=(10, 10))
        return r.status_code == 200 and r.json()["status"] == "UP"
    with ThreadPoolExecutor(workers) as pool:
        ok = sum(pool.map(one, range(n)))
    assert ok == n, ok
""")


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user+system of the child) and the exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0,):
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    return wall, cpu, proc.returncode


def write_config(path: Path, url: str, checks: int, concurrency: int) -> None:
    lines = [f"suite: bench\nconcurrency: {concurrency}\nchecks:"]
    for i in range(checks):
        lines.append(f"  - name: api {i}\n    kind: http\n    url: {url}/{i}\n"
                     "    expect:\n      - status == 200\n      - json.status == \"UP\"")
    path.write_text("\n".join(lines) + "\n")


def best_of(runs: int, argv: list[str], cwd: Path) -> tuple[float, float]:
    results = []
    for _ in range(runs):
        wall, cpu, code = timed(argv, cwd)
        if code != 0:
            raise SystemExit(f"{argv[0]} exited {code}")
        results.append((wall, cpu))
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.latency_ms / 1000)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            config = work / "checks.yaml"
            write_config(config, url, args.checks, args.concurrency)
            baseline_script = work / "baseline.py"
            baseline_script.write_text(BASELINE)

            base_wall, base_cpu = best_of(args.repeat, [
                sys.executable, str(baseline_script), url, str(args.checks),
                str(args.concurrency)], work)
            probe_wall, probe_cpu = best_of(args.repeat, [
                PROBE, "run", "-c", str(config), "--reports", str(work / "reports"),
                "--no-notify"], work)
        finally:
            server.terminate()
            server.wait()

        help_wall, _ = best_of(5, [PROBE, "--help"], work)
        big = work / "big.yaml"
        write_config(big, "http://127.0.0.1:9", 1000, 32)
        validate_wall, _ = best_of(3, [PROBE, "validate", "-c", str(big)], work)
        python_wall, _ = best_of(5, [sys.executable, "-c", "pass"], work)

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{args.checks} HTTP checks, {args.latency_ms:g} ms latency, "
          f"concurrency {args.concurrency} (best of {args.repeat})")
    print(f"  requests + ThreadPoolExecutor: wall {base_wall:.2f}s  cpu {base_cpu:.2f}s")
    print(f"  probe run:                     wall {probe_wall:.2f}s  cpu {probe_cpu:.2f}s")
    print(f"  ratio (probe / baseline):      wall {probe_wall / base_wall:.2f}x  "
          f"cpu {probe_cpu / base_cpu:.2f}x")
    print(f"start-up: python -c pass {python_wall:.3f}s, probe --help {help_wall:.3f}s, "
          f"probe validate (1,000 checks) {validate_wall:.3f}s")


if __name__ == "__main__":
    main()
