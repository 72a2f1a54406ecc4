"""A catalog crawl that knows nothing about captchas: the add-on does the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy

from scrapy_captcha import CaptchaUnsolved


class CatalogSpider(scrapy.Spider):
    name = "catalog"
    #: a challenge or block page comes as 403/429/503: handled here, so that a page the
    #: add-on could not get past reaches ``unsolved`` (CaptchaUnsolved, with the page and
    #: the reason) rather than Scrapy's HttpError
    handle_httpstatus_list = [403, 429, 503]

    def __init__(
        self, sites: str = "http://shop.example", pages: str = "20", urls: str = "", **kw: Any
    ):
        """``sites``: comma-separated base URLs; ``pages``: products per site, or
        comma-separated counts, one per site; ``urls``: more pages to fetch as they are
        (a page gated by a Turnstile or reCAPTCHA form arrives as the page behind it)."""
        super().__init__(**kw)
        self.urls = [u.strip() for u in urls.split(",") if u.strip()]
        self.sites = [s.strip().rstrip("/") for s in sites.split(",") if s.strip()]
        counts = [int(n) for n in pages.split(",")]
        self.counts = counts if len(counts) == len(self.sites) else counts[:1] * len(self.sites)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for site, count in zip(self.sites, self.counts, strict=True):
            for i in range(1, count + 1):
                yield scrapy.Request(f"{site}/product/{i}", errback=self.unsolved)
        for url in self.urls:
            yield scrapy.Request(url, errback=self.unsolved)

    def parse(self, response: scrapy.http.Response) -> dict[str, Any]:
        return {
            "url": response.url,
            "status": response.status,
            "title": response.css("title::text").get(),
            "captcha": response.meta.get("captcha_result"),
        }

    def unsolved(self, failure: Any) -> dict[str, Any] | None:
        """The errback: a page the add-on could not get past (a block, a spent budget, a
        captcha no service could solve) arrives here as ``CaptchaUnsolved``, never in
        ``parse`` as if it were the page: recorded, not scraped."""
        if not failure.check(CaptchaUnsolved):
            self.logger.error("%s failed: %r", failure.request.url, failure.value)
            return None
        unsolved = failure.value
        return {
            "url": failure.request.url,
            "status": unsolved.response.status if unsolved.response is not None else None,
            "unsolved": unsolved.reason,
            "captcha": unsolved.result,
        }
