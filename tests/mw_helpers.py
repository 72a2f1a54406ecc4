"""Middlewares used by crawl tests (importable by tests/crawl_runner.py's subprocess)."""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler


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
