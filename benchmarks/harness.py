"""What the benchmarks share: the repository on ``sys.path``, a crawl in its own process
(``tests/crawl_runner.py``), a benchmark script run again in a fresh process, a coroutine
on a freshly installed reactor, the add-on's components outside any crawl, a static
loopback site, process memory, and the table every benchmark prints.

Why one module: each benchmark measures one thing; how it crawls, serves a page or
prints a row is the same for all, and a fix here reaches every row. Loud, like the
add-on: a crawl that fails or never starts stops the benchmark with its stderr, never
a row measured on nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
# The package, then the tests' own modules (the crawl runner's spider, the hostile pages).
sys.path[:0] = [str(p) for p in (ROOT, ROOT / "tests") if str(p) not in sys.path]

RUNNER = ROOT / "tests" / "crawl_runner.py"
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
T = TypeVar("T")


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class Crawl:
    """One crawl through tests/crawl_runner.py, started at once in its own process, so
    that several can run side by side. ``spec["requests"]``, when given, is its one
    batch; its log level is WARNING unless the spec's settings say otherwise."""

    def __init__(self, spec: dict[str, Any], workdir: Path, pythonpath: str | None = None) -> None:
        spec = dict(spec)
        spec["settings"] = {"LOG_LEVEL": "WARNING", **spec.get("settings", {})}
        if "requests" in spec:
            spec["batches"] = [{"requests": spec.pop("requests")}]
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
        workdir.mkdir(parents=True, exist_ok=True)
        spec_path, self.out_path = workdir / "spec.json", workdir / "out.json"
        self.err_path = workdir / "stderr.txt"
        spec_path.write_text(json.dumps(spec))
        self.wall = 0.0
        self.started = time.monotonic()
        with self.err_path.open("wb") as err:  # (a file: a pipe nobody reads could fill)
            self.proc = subprocess.Popen(
                [sys.executable, str(RUNNER), str(spec_path), str(self.out_path)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )

    def result(self, timeout: float = 600) -> dict[str, Any]:
        """What the crawl recorded, once over (``wall``: its time, start-up included).
        The runner exits 0 even when the crawl never started (a settings mistake): no close
        reason then, and that is an error here."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            raise RuntimeError(f"crawl still running after {timeout} s") from None
        self.wall = time.monotonic() - self.started
        out = json.loads(self.out_path.read_text()) if self.out_path.exists() else {}
        if code != 0 or out.get("reason") is None:
            raise RuntimeError(f"crawl failed (exit {code}):\n{_tail(self.err_path)}")
        return out


def run_crawl(
    spec: dict[str, Any], pythonpath: str | None = None, timeout: float = 600
) -> tuple[dict[str, Any], float]:
    """A crawl in its own process (see ``Crawl``): what it recorded, and its wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        crawl = Crawl(spec, Path(tmp), pythonpath)
        return crawl.result(timeout), crawl.wall


def page_span(out: dict[str, Any], tag: str | None = None) -> float:
    """Seconds between the first and last page of the crawl (or of one tag)."""
    times = [p["t"] for p in out["pages"] if tag is None or p["tag"] == tag]
    return max(times) - min(times) if len(times) > 1 else 0.0


def child_json(script: str | Path, *args: str, timeout: float = 900) -> dict[str, Any]:
    """Run a benchmark script again in a fresh process (a reactor of its own, a clean peak
    RSS); the JSON it printed last. A failed child stops the benchmark with its stderr."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        shown = " ".join([Path(script).name, *args])
        raise SystemExit(f"{shown}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def on_reactor(
    make: Callable[[], Coroutine[Any, Any, T]], reactor_path: str = ASYNCIO_REACTOR
) -> T:
    """Install the reactor, run ``make()`` on it until it returns, stop: its result, or its
    exception raised here. Once per process (a reactor does not restart)."""
    from scrapy.utils.reactor import (
        install_reactor,
        is_reactor_installed,
        verify_installed_reactor,
    )

    if not is_reactor_installed():  # (addon_middlewares may have installed it)
        install_reactor(reactor_path)
    verify_installed_reactor(reactor_path)  # (one imported too early: measured on the wrong one)
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet import reactor
    from twisted.python.failure import Failure

    outcome: dict[str, Any] = {}

    def over(result: Any) -> None:
        outcome["failure" if isinstance(result, Failure) else "value"] = result
        reactor.stop()

    reactor.callWhenRunning(lambda: deferred_from_coro(make()).addBoth(over))
    reactor.run()
    if "failure" in outcome:
        outcome["failure"].raiseException()
    return outcome["value"]


def addon_middlewares(**settings: Any) -> tuple[Any, Any, Any, Any]:
    """The add-on's root and its three downloader middlewares, outside any crawl (no
    network, the reactor installed but never run): (root, CaptchaMiddleware,
    ClearanceMiddleware, ChallengeCacheGuard). The root is built as in a crawl, through
    the add-on (a provider, every component), with ``settings`` on top; its solver is a
    closed loopback port, so a solve that starts goes nowhere."""
    from scrapy.utils.reactor import install_reactor, is_reactor_installed
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import (
        Addon,
        CaptchaExtension,
        CaptchaMiddleware,
        ChallengeCacheGuard,
        ClearanceMiddleware,
    )

    if not is_reactor_installed():  # (without one, Scrapy's crawler turns the reactor off)
        install_reactor(ASYNCIO_REACTOR)
    crawler = get_crawler(
        settings_dict={
            "ADDONS": {Addon: 500},
            "CAPTCHA_PROVIDER": "1captcha",
            "CAPTCHA_API_KEY": "k",
            "CAPTCHA_API_URL": "http://127.0.0.1:9",
            "CAPTCHA_CACHE_URL": "memory://",
            **settings,
        }
    )
    crawler._apply_settings()  # (Scrapy 2.13's get_crawler does not; later ones skip it)
    root = CaptchaExtension.of(crawler)
    return root, CaptchaMiddleware(root), ClearanceMiddleware(root), ChallengeCacheGuard(root)


class StaticSite:
    """A loopback HTTP/1.1 server answering every GET with one body (and headers)."""

    def __init__(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        extra = dict(headers or {"Content-Type": "text/html; charset=utf-8"})

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> StaticSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def vm_rss_mib(pid: int) -> float | None:
    """A process's resident memory (MiB), from /proc; None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_until(check: Callable[[], bool], limit: float) -> bool:
    """Poll ``check`` until it holds or ``limit`` seconds pass; whether it holds."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def table(headers: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """Rows under their headers, columns aligned: what every benchmark prints."""
    lines = [tuple(str(c) for c in headers), *(tuple(str(c) for c in r) for r in rows)]
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([fmt(lines[0]), fmt(tuple("-" * w for w in widths)), *map(fmt, lines[1:])])
