"""Taking the pages the add-on could not get past in the callback, as
``handle_httpstatus_list`` does for statuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy


class HandledSpider(scrapy.Spider):
    name = "handled"
    handle_httpstatus_list = [403, 429, 503]

    def __init__(self, urls: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls.split(",")

    async def start(self) -> Any:
        for url in self.urls:
            # True: every give-up reason; or a list of the reasons this callback takes
            yield scrapy.Request(url, meta={"handle_captcha_unsolved": ["blocked"]})

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        result = response.meta.get("captcha_result") or {}
        if result.get("solved") is False:
            # {"kind": "cloudflare_block", "variant": "1020", "solved": False,
            #  "reason": "blocked", ...}: record it, do not scrape it
            yield {"url": response.url, "lost": result["reason"]}
            return
        yield {"url": response.url, "title": response.css("title::text").get()}
