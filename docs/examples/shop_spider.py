"""A spider that knows nothing about captchas, and one thing about the add-on: a page the
add-on could not get past comes to the errback as ``CaptchaUnsolved``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from twisted.python.failure import Failure

from scrapy_captcha import CaptchaUnsolved


class ShopSpider(scrapy.Spider):
    name = "shop"
    # Challenge and block pages come with a 403, 429 or 503: handled here, so that a page
    # the add-on could not get past reaches the errback as CaptchaUnsolved (with its reason)
    # rather than as Scrapy's HttpError.
    handle_httpstatus_list = [403, 429, 503]

    def __init__(self, urls: str = "https://shop.example/", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls.split(",")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, errback=self.unsolved)

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        yield {
            "url": response.url,
            "title": response.css("title::text").get(),
            # what the add-on did for this page, if anything
            "captcha": response.meta.get("captcha_result"),
        }

    def unsolved(self, failure: Failure) -> Iterator[dict[str, Any]]:
        if failure.check(CaptchaUnsolved):
            # failure.value.response is the page; .reason says why (blocked, budget...)
            yield {"url": failure.request.url, "unsolved": failure.value.reason}
        else:
            self.logger.error("%s failed: %r", failure.request.url, failure.value)
