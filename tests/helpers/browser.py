"""Headless Chromium for tests of the HTML report (and its benchmark).

Two ways in:
- `dump_dom(url)` and `screenshot(url, path)`: one Chromium process per call; the
  DOM is the one after the page's scripts ran. Filters can be given in the URL
  fragment (`report.html#status=failed`), which the report honours.
- `DevTools()`: a Chromium driven over the DevTools protocol, for what a dump
  cannot show: which requests the page made, what a click or typing does, the
  page with JavaScript turned off.

Chromium is Debian's `chromium` package, installed by scripts/setup-system.sh.
"""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
INSTALL_HINT = ("Chromium is not installed: run scripts/setup-system.sh (or "
                "apt-get -o DPkg::Lock::Timeout=600 install -y chromium)")
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
TIMEOUT_S = 90.0
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError(INSTALL_HINT)


def run_chromium(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """One headless Chromium with a throwaway profile; fails with its stderr if it fails."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def dump_dom(url: str, *, timeout: float = TIMEOUT_S) -> str:
    """The serialized DOM of `url` once loaded and its scripts ran."""
    return run_chromium("--dump-dom", url, timeout=timeout).stdout


def screenshot(url: str, path: Path, *, width: int = 1280, height: int = 2000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(f"--screenshot={path}", f"--window-size={width},{height}",
                 "--hide-scrollbars", url)
    if not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {path}")
    return path


def file_url(path: Path, fragment: str = "") -> str:
    url = path.resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


class DevTools:
    """A headless Chromium page driven over the DevTools protocol.

        with DevTools() as page:
            page.navigate(file_url(report))
            page.evaluate("document.title")
    """

    def __init__(self, timeout: float = TIMEOUT_S) -> None:
        import websocket

        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._profile = tempfile.mkdtemp(prefix="chromium-cdp-")
        self._process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={self._profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            port = self._devtools_port()
            page = self._first_page(port)
            self._socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> int:
        """Chromium prints `DevTools listening on ws://127.0.0.1:<port>/…` once ready."""
        lines: queue.Queue[str] = queue.Queue()
        stderr = self._process.stderr
        assert stderr is not None

        def pump() -> None:  # also keeps draining stderr so Chromium never blocks on it
            for line in stderr:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if "DevTools listening on ws://" in line:
                address = line.split("ws://", 1)[1]
                return int(address.split("/", 1)[0].rsplit(":", 1)[1])
        raise RuntimeError("chromium did not open its DevTools port")

    def _first_page(self, port: int) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                    timeout=self.timeout) as response:
            targets: list[dict[str, Any]] = json.load(response)
        for target in targets:
            if target.get("type") == "page":
                return target
        raise RuntimeError(f"chromium has no page target: {targets}")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events seen meanwhile go to `events`."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        """The first event named `method` not yet consumed (waits up to the timeout)."""
        for index, event in enumerate(self.events):
            if event["method"] == method:
                return self.events.pop(index)
        while True:
            message = json.loads(self._socket.recv())  # the socket's timeout bounds this
            if message.get("method") == method:
                return message
            if "method" in message:
                self.events.append(message)

    def navigate(self, url: str) -> None:
        """Open `url` and return once its load event fired (its scripts have run)."""
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JS expression in the page (promises are awaited)."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def disable_scripts(self) -> None:
        """Pages opened from now on run no JavaScript, as in a browser with JS turned off."""
        self.call("Emulation.setScriptExecutionDisabled", value=True)

    def outer_html(self) -> str:
        """The page's current DOM, read through the protocol (works with scripts off)."""
        root = self.call("DOM.getDocument", depth=-1)["root"]
        html: str = self.call("DOM.getOuterHTML", nodeId=root["nodeId"])["outerHTML"]
        return html

    def close(self) -> None:
        sock = getattr(self, "_socket", None)
        if sock is not None:
            sock.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
