"""Middlewares used by crawl tests (importable by tests/crawl_runner.py's subprocess)."""

from __future__ import annotations

import json

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future

from scrapy_captcha.compat import spider_argument_compat


@spider_argument_compat
class AssignProxyMiddleware:
    """Stands for a user's proxy-rotation middleware placed after ours (at 610): it sets
    ``meta["proxy"]`` from the TEST_ROTATING_PROXY setting for every request."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AssignProxyMiddleware:
        return cls(crawler.settings["TEST_ROTATING_PROXY"])

    async def process_request(self, request: Request) -> None:
        request.meta.setdefault("proxy", self.proxy)


@spider_argument_compat
class RotateAfterChallengeMiddleware:
    """At 610: a request that has waited for two solves is moved to the proxy in
    TEST_ROTATING_PROXY, as rotation middlewares do after repeated failures."""

    def __init__(self, proxy: str) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RotateAfterChallengeMiddleware:
        return cls(crawler.settings["TEST_ROTATING_PROXY"])

    async def process_request(self, request: Request) -> None:
        if request.meta.get("_captcha_attempts", 0) >= 2:
            request.meta["proxy"] = self.proxy


@spider_argument_compat
class DelayParkedMiddleware:
    """At 755: hold a request that comes straight back for parking for a second, so its
    solve has surely landed before it reaches the add-on's 760 again (a slow middleware
    in between, made deterministic)."""

    async def process_request(self, request: Request) -> None:
        if "_captcha_park" in request.meta:
            from twisted.internet import reactor, task

            await maybe_deferred_to_future(task.deferLater(reactor, 1.0, lambda: None))


@spider_argument_compat
class SpyMiddleware:
    """At 800 (after the add-on's 760): append what each request really carries to the
    file named by TEST_SPY_FILE, one JSON line per request."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SpyMiddleware:
        return cls(crawler.settings["TEST_SPY_FILE"])

    async def process_request(self, request: Request) -> None:
        line = {
            "url": request.url,
            "proxy": request.meta.get("proxy"),
            "cookie": (request.headers.get("Cookie") or b"").decode(),
            "ua": (request.headers.get("User-Agent") or b"").decode(),
            "accept": (request.headers.get("Accept") or b"").decode(),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
