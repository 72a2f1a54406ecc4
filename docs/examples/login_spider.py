"""A login written as if there were no captcha: the login form carries a Turnstile, and the
add-on fills its token in when the spider's submission leaves (fill on submit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from form2request import form2request


class LoginSpider(scrapy.Spider):
    name = "login"

    def __init__(self, url: str, username: str, password: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [url]
        self.credentials = {"username": username, "password": password}

    def parse(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
        form = response.css("form#login")
        yield form2request(form, self.credentials).to_scrapy(callback=self.parse_account)

    def parse_account(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        yield {
            "account": response.css("#content::text").get(),
            # {"kind": "turnstile", "solved": True, "filled": True, "task_id": ...}
            "captcha": response.meta.get("captcha_result"),
        }
