"""Middlewares used by crawl tests (importable by tests/crawl_runner.py's subprocess)."""

from __future__ import annotations

import contextlib
import json

from scrapy import Request
from scrapy.crawler import Crawler

from scrapy_captcha import CaptchaExtension, SolverCancelled
from scrapy_captcha._compat import spider_argument_compat
from scrapy_captcha._state import RequestState


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
        state = RequestState.peek(request)
        if state is not None and state.attempts >= 2:
            request.meta["proxy"] = self.proxy


@spider_argument_compat
class WaitForLandingMiddleware:
    """At 755: a request that comes straight back for parking (engine.download_async) is
    held here until its solve has landed, so it reaches the add-on's 760 again only
    afterwards: the interleaving a slow middleware in between would produce, made
    deterministic."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WaitForLandingMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        state = RequestState.peek(request)
        key = state.park if state is not None else None
        root = CaptchaExtension.of(self.crawler)
        flight = root.coordination.get(key) if key else None
        if flight is not None:
            with contextlib.suppress(SolverCancelled):
                await flight.wait()


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


@spider_argument_compat
class LateUserAgentMiddleware:
    """At 800 (after the add-on's 760): sets its own User-Agent on every request, as a
    random User-Agent middleware placed too late would."""

    async def process_request(self, request: Request) -> None:
        request.headers["User-Agent"] = b"LateBot/1.0"


@spider_argument_compat
class LateCookieMiddleware:
    """At 800: rebuilds the Cookie header from a cookie store of its own (the clearance
    cookies the add-on put on are lost), as a session middleware placed too late would."""

    async def process_request(self, request: Request) -> None:
        request.headers["Cookie"] = b"session=mine"
