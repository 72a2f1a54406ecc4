"""Crawls in their own processes, for the tests where a process boundary is the point:
several crawler processes sharing one Redis, a worker SIGKILLed mid-crawl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HERE, CrawlResult
from scrapy_captcha.testing import RedisServer


class CrawlProcess:
    """One crawl running in the background (``run_crawl``, but not waited for).
    ``script``: ``crawl_runner.py`` (a RecordingSpider) or ``redis_worker.py``."""

    def __init__(self, workdir: Path, script: str = "crawl_runner.py", **spec: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.out_path = workdir / "out.json"
        spec_path = workdir / "spec.json"
        spec.setdefault("batches", [{"requests": spec.pop("requests", [])}])
        spec_path.write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.log_file = (workdir / "crawl.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / script), str(spec_path), str(self.out_path)],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(HERE.parent),
        )

    def result(self, timeout: float = 120) -> CrawlResult:
        try:
            self.proc.wait(timeout)
        finally:
            self.kill()
        log = (self.workdir / "crawl.log").read_text()
        if self.proc.returncode != 0 or not self.out_path.exists():
            raise AssertionError(f"crawl failed (rc={self.proc.returncode}):\n{log[-6000:]}")
        return CrawlResult(log=log, returncode=0, **json.loads(self.out_path.read_text()))

    def log_text(self) -> str:
        return (self.workdir / "crawl.log").read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self.log_file.closed:
            self.log_file.close()


def wait_until(check: Callable[[], bool], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def procs() -> Iterator[list[CrawlProcess]]:
    """The background crawls a test starts, killed at its end whatever happened."""
    started: list[CrawlProcess] = []
    yield started
    for p in started:
        p.kill()


@pytest.fixture
def redis(captcha_redis: RedisServer) -> RedisServer:
    """The kit's throw-away redis-server on loopback, by a shorter name."""
    return captcha_redis
