"""Testing a spider offline: the emulators of ``scrapy_captcha.testing`` stand in for the
site, the proxy and the solver service, on loopback. Each test runs the spider with
``scrapy runspider`` against them and reads what it scraped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scrapy_captcha.testing import EmulatorStack

pytest_plugins = ["scrapy_captcha.testing.pytest_plugin"]  # captcha_stack, captcha_site...

SPIDER = Path(__file__).with_name("shop_spider.py")


def crawl(stack: EmulatorStack, tmp_path: Path, *urls: str) -> list[dict[str, Any]]:
    settings = {
        "ADDONS": {"scrapy_captcha.Addon": 500},
        **stack.scrapy_settings("capsolver"),  # the emulated service, its URL and a key
        "CAPTCHA_DOMAIN_PROXIES": {
            "shop.example": stack.proxy_a.url,
            "denied.example": stack.proxy_a.url,
        },
        "CAPTCHA_CACHE_URL": "memory://",
        "CAPTCHA_POLL_INTERVAL": 0.1,
    }
    out = tmp_path / "items.jsonl"
    command = [sys.executable, "-m", "scrapy", "runspider", str(SPIDER)]
    command += ["-a", "urls=" + ",".join(urls), "-o", f"{out}:jsonlines"]
    for name, value in settings.items():
        command += ["-s", f"{name}={json.dumps(value) if isinstance(value, dict) else value}"]
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_pages_behind_a_challenge_arrive(captcha_stack: EmulatorStack, tmp_path: Path) -> None:
    captcha_stack.site.add_host("shop.example", "managed")
    items = crawl(captcha_stack, tmp_path, "http://shop.example/p/1", "http://shop.example/p/2")
    assert [item["captcha"]["solved"] for item in items] == [True, True]
    assert len(captcha_stack.solver.tasks) == 1  # one solve per (domain, proxy)


def test_a_blocked_site_reaches_the_errback(captcha_stack: EmulatorStack, tmp_path: Path) -> None:
    captcha_stack.site.add_host("denied.example", "block_1020")
    items = crawl(captcha_stack, tmp_path, "http://denied.example/p/1")
    assert items == [{"url": "http://denied.example/p/1", "unsolved": "blocked"}]
    assert captcha_stack.solver.tasks == []  # a block is never paid for
