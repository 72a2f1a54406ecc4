"""Shared test helpers: the emulator fixtures and ``run_crawl`` (a real crawl in a
subprocess, bounded in time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import scrapy

if scrapy.version_info < (2, 14):  # 2.13's get_crawler() wants an installed reactor
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

pytest_plugins = ["scrapy_captcha.testing.pytest_plugin"]

HERE = Path(__file__).parent
REACTORS = ["asyncio", "twisted"]


@dataclass
class CrawlResult:
    pages: list[dict[str, Any]]
    errors: list[dict[str, Any]]
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
        return len(self.pages) + len(self.errors) + len(self.dropped)


def run_crawl(
    tmp_path: Path,
    *,
    requests: list[dict[str, Any]] | None = None,
    batches: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    reactor: str = "asyncio",
    env: dict[str, str] | None = None,
    timeout: float = 120,
    **extra: Any,
) -> CrawlResult:
    """Run a RecordingSpider crawl to completion; fail the test if it hangs."""
    spec = {
        "reactor": reactor,
        "settings": settings or {},
        "batches": batches if batches is not None else [{"requests": requests or []}],
        **extra,
    }
    spec_path = tmp_path / "spec.json"
    out_path = tmp_path / "out.json"
    spec_path.write_text(json.dumps(spec))
    run_env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    run_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, str(HERE / "crawl_runner.py"), str(spec_path), str(out_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=run_env,
        cwd=str(HERE.parent),
    )
    log = proc.stdout + proc.stderr
    (tmp_path / "crawl.log").write_text(log)
    if proc.returncode != 0 or not out_path.exists():
        raise AssertionError(f"crawl failed (rc={proc.returncode}):\n{log[-6000:]}")
    data = json.loads(out_path.read_text())
    return CrawlResult(log=log, returncode=proc.returncode, **data)


def assert_clean_log(result: CrawlResult, *secrets: str) -> None:
    """No unhandled error, no traceback, and no secret anywhere in the log or stats."""
    for bad in ("Unhandled error", "Traceback", "Unhandled Error"):
        assert bad not in result.log, result.log[-4000:]
    blob = result.log + json.dumps(result.stats)
    for secret in secrets:
        assert secret not in blob, f"secret {secret!r} leaked"


@pytest.fixture
def crawl(tmp_path: Path):
    def _crawl(**kwargs: Any) -> CrawlResult:
        return run_crawl(tmp_path, **kwargs)

    return _crawl
