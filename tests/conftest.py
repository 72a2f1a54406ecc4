"""Shared test helpers: the emulator fixtures, the session's reactor and ``run_crawl`` (a
real crawl, bounded in time).

Crawls run in the pytest process, on the Twisted reactor installed once per session
(``--reactor=asyncio``, the default, or ``--reactor=twisted`` for the plain
``SelectReactor``). A test parametrized over ``REACTORS`` runs in-process for the
session's reactor; its other-reactor variant is skipped here and run by
``test_reactor_matrix.py`` in a pytest sub-session on that reactor. Crawls that need a
process boundary (several processes sharing a Redis, a process killed mid-solve) run
``crawl_runner.py`` in a subprocess instead: ``run_crawl(..., in_subprocess=True)`` or
``test_crawl_shared.CrawlProcess``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recording import REACTOR_CLASSES

#: the kit's fixtures, and those of crawls in their own processes (``procs``, ``redis``)
pytest_plugins = ["scrapy_captcha.testing.pytest_plugin", "processes"]

HERE = Path(__file__).parent
REACTORS = ["asyncio", "twisted"]
MATRIX_MARKER = "reactor_matrix"
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
STOP_GRACE = 15.0  # seconds a hung crawl gets to close once it is told to stop

_session_reactor = "asyncio"

# Rewritten test modules and the package's own modules are cached as bytecode even where
# PYTHONDONTWRITEBYTECODE is set (this machine sets it): without the cache every pytest-xdist
# worker and every crawl subprocess compiles them again, a sixth of the suite's CPU.
sys.dont_write_bytecode = False


def session_reactor() -> str:
    """The reactor this pytest session installed: "asyncio" or "twisted"."""
    return _session_reactor


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reactor",
        choices=REACTORS,
        default="asyncio",
        help="Twisted reactor installed for the session's in-process crawls (asyncio: "
        "AsyncioSelectorReactor; twisted: SelectReactor).",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _session_reactor
    _session_reactor = config.getoption("reactor")
    config.addinivalue_line(
        "markers",
        f"{MATRIX_MARKER}: an in-process crawl test parametrized over REACTORS (set "
        "automatically); the variants for the session's reactor run here, the others in "
        "test_reactor_matrix.py's sub-session.",
    )
    # Installed before anything imports twisted.internet.reactor; Scrapy 2.13's
    # get_crawler() also wants an installed reactor.
    from scrapy.utils.reactor import install_reactor

    install_reactor(REACTOR_CLASSES[_session_reactor])


# The longest tests start first, so that with pytest-xdist they overlap the many short ones
# instead of ending the run alone (pyproject: --maxschedchunk=1 hands tests out one by one).
# The rest take turns between modules, so that crawls that mostly wait for the emulators
# run beside tests that mostly compute or start processes.
SLOW_FIRST = (
    "tests/test_reactor_matrix.py::",
    "tests/test_workers.py::",
    "tests/test_crawl_shared.py::",
    "tests/test_store_redis.py::test_store_scenarios",
    "tests/test_shelf.py::test_shelf_scenarios",
    "tests/test_crawl_faults.py::test_no_slot_",
    "tests/test_lint.py::test_mypy",
    "tests/test_first_crawl.py::test_the_demo",
)


def _run_order(items: list[pytest.Item]) -> list[pytest.Item]:
    def slow_rank(item: pytest.Item) -> int:
        for rank, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return rank
        return len(SLOW_FIRST)

    turn: dict[Path, int] = {}
    keys: dict[str, tuple[int, int]] = {}
    for item in items:
        rank = slow_rank(item)
        turn[item.path] = turn.get(item.path, -1) + 1
        keys[item.nodeid] = (rank, turn[item.path] if rank == len(SLOW_FIRST) else 0)
    # Stable, and a function of the collection only: the same order in every xdist worker.
    return sorted(items, key=lambda item: keys[item.nodeid])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items[:] = _run_order(items)
    for item in items:
        callspec = getattr(item, "callspec", None)
        reactor = callspec.params.get("reactor") if callspec else None
        if reactor is None or "crawl" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(MATRIX_MARKER)
        if reactor != _session_reactor:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"in-process crawl on the {reactor} reactor: run by "
                    "test_reactor_matrix.py in a --reactor sub-session"
                )
            )


@dataclass
class CrawlResult:
    pages: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    #: pages the add-on could not get past: the errback's CaptchaUnsolved failures
    unsolved: list[dict[str, Any]]
    dropped: list[str]
    download_async: list[dict[str, Any]]
    stats: dict[str, Any]
    reason: str | None
    log: str
    returncode: int
    released_at: int | None = None
    api: list[dict[str, Any]] | None = None

    def stat(self, name: str) -> Any:
        return self.stats.get(name, 0)

    def tagged(self, tag: str) -> list[dict[str, Any]]:
        return [p for p in self.pages if p["tag"] == tag]

    @property
    def outcomes(self) -> int:
        return len(self.pages) + len(self.errors) + len(self.unsolved) + len(self.dropped)

    def reasons(self) -> list[str]:
        """The give-up reasons of the unsolved pages, sorted."""
        return sorted(u["reason"] for u in self.unsolved)


def run_crawl(
    tmp_path: Path,
    *,
    requests: list[dict[str, Any]] | None = None,
    batches: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    reactor: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    in_subprocess: bool = False,
    **extra: Any,
) -> CrawlResult:
    """Run a RecordingSpider crawl to completion; fail the test if it hangs.

    In the pytest process on the session's reactor (``reactor`` defaults to it), or in a
    ``crawl_runner.py`` subprocess when ``in_subprocess`` is true or another reactor is asked
    for. ``env`` is applied (and ``*_proxy`` variables removed) for the crawl only."""
    reactor = reactor or _session_reactor
    spec = {
        "reactor": reactor,
        # Each crawl keeps its clearances in a file store of its own (the default store).
        "settings": {"CAPTCHA_CACHE_URL": f"file://{tmp_path / 'captcha'}", **(settings or {})},
        "batches": batches if batches is not None else [{"requests": requests or []}],
        **extra,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    if in_subprocess or reactor != _session_reactor:
        return _run_subprocess(tmp_path, env, timeout)
    return _run_in_process(spec, tmp_path, env, timeout)


def build_root(settings: dict[str, Any]) -> Any:
    """The add-on's per-crawler root of a crawler that is set up (add-on applied) but does
    not crawl: for tests of one service without a crawl."""
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import Addon, CaptchaExtension

    crawler = get_crawler(
        settings_dict={
            "ADDONS": {Addon: 500},
            "CAPTCHA_PROVIDER": "1captcha",
            "CAPTCHA_CACHE_URL": "memory://",
            **settings,
        }
    )
    crawler._apply_settings()
    return CaptchaExtension.of(crawler)


def start_failure(tmp_path: Path, settings: dict[str, Any]) -> BaseException:
    """The exception a crawl with these settings stops with as it starts (a settings
    mistake, a missing component): the crawl must not start at all."""
    spec = {"reactor": _session_reactor, "settings": settings, "batches": [{"requests": []}]}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return _run_in_process(spec, tmp_path, None, 60, expect_failure=True)


def python_command() -> list[str]:
    """How to start a Python subprocess: under ``coverage run`` when this session measures
    coverage (its data is combined into the session's report), else plain. For the short
    subprocesses only: measuring every crawl subprocess costs a fifth of the suite's CPU."""
    try:
        import coverage
    except ImportError:
        return [sys.executable]
    if coverage.Coverage.current() is None:
        return [sys.executable]
    return [sys.executable, "-m", "coverage", "run", "--parallel-mode", "--source=scrapy_captcha"]


def _crawl_environment(env: dict[str, str] | None) -> dict[str, str]:
    run_env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    run_env.update(env or {})
    return run_env


def _run_subprocess(tmp_path: Path, env: dict[str, str] | None, timeout: float) -> CrawlResult:
    spec_path = tmp_path / "spec.json"
    out_path = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(HERE / "crawl_runner.py"), str(spec_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_crawl_environment(env),
        cwd=str(HERE.parent),
    )
    log = proc.stdout + proc.stderr
    (tmp_path / "crawl.log").write_text(log)
    if proc.returncode != 0 or not out_path.exists():
        raise AssertionError(f"crawl failed (rc={proc.returncode}):\n{log[-6000:]}")
    data = json.loads(out_path.read_text())
    return CrawlResult(log=log, returncode=proc.returncode, **data)


# -- in-process crawls -------------------------------------------------------------------


class _Session:
    """The session's reactor, started (not run) on the first in-process crawl and driven
    by ``drive`` only while a crawl runs; stopped when the session ends."""

    started = False

    @classmethod
    def reactor(cls) -> Any:
        from twisted.internet import reactor

        if not cls.started:
            from scrapy.utils.log import DEFAULT_LOGGING
            from twisted.python import log as twisted_log

            from scrapy_captcha.testing import offline_public_suffixes

            # What CrawlerProcess's configure_logging() does, minus its root handler (a
            # crawl's own handler is attached for its duration): Twisted's log routed
            # into logging, the scrapy/twisted logger levels.
            logging.config.dictConfig(DEFAULT_LOGGING)
            twisted_log.PythonLoggingObserver("twisted").start()
            offline_public_suffixes()
            reactor.startRunning(installSignalHandlers=False)
            cls.started = True
            gc.freeze()  # what is loaded by now is not garbage: keep gc.collect() quick
        loop = getattr(reactor, "_asyncioEventloop", None)
        if loop is not None:  # asyncio.run() in a test leaves no current loop behind
            asyncio.set_event_loop(loop)
        return reactor

    @classmethod
    def stop(cls) -> None:
        if not cls.started:
            return
        from twisted.internet import reactor

        cls.started = False
        reactor.stop()
        # The shutdown triggers (thread pool, open connections) run on the next turns.
        deadline = time.monotonic() + 5
        while reactor.running and time.monotonic() < deadline:
            reactor.iterate(0.01)


def drive(until: Callable[[], bool], seconds: float) -> bool:
    """Run the session's reactor until ``until()`` holds or ``seconds`` have passed;
    return whether it holds."""
    reactor = _Session.reactor()
    deadline = time.monotonic() + seconds
    while not until():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        due = reactor.timeout()  # next timed call, so none runs late
        reactor.iterate(max(0.0, min(0.05, remaining, 0.05 if due is None else due)))
    return True


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _captured_log(level: str = "INFO") -> Iterator[io.StringIO]:
    """Everything the crawl logs at ``level`` and up (its LOG_LEVEL; tracebacks included)
    while the block runs, in the format of Scrapy's own root handler. Only this thread's
    records: the crawl runs on it, the emulators (which a crawl subprocess never logged
    for) on their own threads. DEBUG only where a test reads DEBUG lines: formatting every
    request's lines costs a good part of the suite's time."""
    from scrapy.utils.log import TopLevelFormatter

    crawl_thread = threading.get_ident()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(lambda record: record.thread == crawl_thread)
    handler.addFilter(TopLevelFormatter(["scrapy"]))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _leftovers(reactor: Any) -> set[Any]:
    things = {*reactor.getReaders(), *reactor.getWriters(), *reactor.getDelayedCalls()}
    loop = getattr(reactor, "_asyncioEventloop", None)
    return things | asyncio.all_tasks(loop) if loop is not None else things


def _clean_up_after(reactor: Any, before: set[Any]) -> None:
    """End what the crawl left running on the reactor (a connection to a solver that
    still holds a task, a timer of an abandoned poll), as the end of a crawl process
    would, so nothing of it reaches the next test's crawl."""
    for thing in _leftovers(reactor) - before:
        if isinstance(thing, asyncio.Task):
            thing.cancel()
        elif hasattr(thing, "active"):  # a DelayedCall
            if thing.active():
                thing.cancel()
        elif hasattr(thing, "abortConnection"):
            thing.abortConnection()
        elif hasattr(thing, "loseConnection"):
            thing.loseConnection()
    drive(lambda: False, 0.02)


class InProcessCrawl:
    """One crawl of any spider in the pytest process, on the session's reactor, bounded in
    time; what it logged at its LOG_LEVEL is ``log`` once it has run."""

    def __init__(self, spider_cls: Any, settings: dict[str, Any]) -> None:
        from scrapy.crawler import CrawlerRunner

        self.settings = settings
        self.runner = CrawlerRunner(settings)
        self.crawler = self.runner.create_crawler(spider_cls)
        self.log = ""

    def run(self, timeout: float, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """Crawl (``kwargs`` go to the spider); the Failure the crawl ended with, if any.
        A crawl that does not finish in ``timeout`` seconds fails the test."""
        from scrapy import signals

        reactor = _Session.reactor()
        before = _leftovers(reactor)
        outcome: list[Any] = []
        hung = False
        try:
            with (
                _environment(_crawl_environment(env)),
                _captured_log(str(self.settings.get("LOG_LEVEL", "INFO"))) as buffer,
            ):
                self.runner.crawl(self.crawler, **kwargs).addBoth(outcome.append)
                if not drive(lambda: bool(outcome), timeout):
                    hung = True
                    self.runner.stop()
                    drive(lambda: bool(outcome), STOP_GRACE)
                # A failed Deferred or task dropped by the crawl logs its error when it is
                # collected: in this crawl's log. What survives is frozen, so that the next
                # crawl's collection looks only at what that crawl created (a full
                # collection of the session's heap at every crawl cost seconds).
                gc.collect()
                gc.freeze()
                drive(lambda: False, 0.01)
        finally:
            for signal in vars(signals).values():
                if type(signal) is object:
                    self.crawler.signals.disconnect_all(signal)
            _clean_up_after(reactor, before)
        self.log = buffer.getvalue()
        if hung:
            raise AssertionError(f"crawl did not finish within {timeout} s:\n{self.log[-6000:]}")
        return outcome[0] if outcome else None


def _run_in_process(
    spec: dict[str, Any],
    tmp_path: Path,
    env: dict[str, str] | None,
    timeout: float,
    expect_failure: bool = False,
) -> Any:
    from recording import RecordingSpider, crawl_settings, new_out, record_reason, record_stats

    out = new_out()
    crawl = InProcessCrawl(RecordingSpider, crawl_settings(spec))
    record_reason(crawl.crawler, out)
    failure = crawl.run(timeout, env, spec=spec, out=out)
    record_stats(crawl.crawler, out)
    log = crawl.log
    (tmp_path / "crawl.log").write_text(log)
    (tmp_path / "out.json").write_text(json.dumps(out))
    if failure is not None:
        if expect_failure:
            return failure.value
        raise AssertionError(f"crawl failed: {failure!r}\n{log[-6000:]}")
    if expect_failure:
        raise AssertionError(f"the crawl started, though it should not have:\n{log[-6000:]}")
    return CrawlResult(log=log, returncode=0, **out)


_matrix_summaries: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":  # on the xdist controller too: user_properties travel
        _matrix_summaries.extend(v for k, v in report.user_properties if k == "reactor_matrix")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _matrix_summaries:
        terminalreporter.write_line(f"reactor matrix: {line}")


@pytest.fixture(scope="session", autouse=True)
def _session_reactor_stopped() -> Iterator[None]:
    yield
    _Session.stop()


def assert_clean_log(result: CrawlResult, *secrets: str) -> None:
    """No unhandled error, no traceback, and no secret anywhere in the log or stats."""
    for bad in ("Unhandled error", "Traceback", "Unhandled Error"):
        assert bad not in result.log, result.log[-4000:]
    blob = result.log + json.dumps(result.stats)
    for secret in secrets:
        assert secret not in blob, f"secret {secret!r} leaked"


@pytest.fixture
def crawl(tmp_path: Path) -> Callable[..., CrawlResult]:
    def _crawl(**kwargs: Any) -> CrawlResult:
        return run_crawl(tmp_path, **kwargs)

    return _crawl
