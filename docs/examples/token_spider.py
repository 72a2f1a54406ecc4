"""The spider API: a spider that fills a login form itself asks for a token, from an
``async def`` callback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy
from form2request import form2request

from scrapy_captcha import CaptchaError, solve_widget


class TokenSpider(scrapy.Spider):
    name = "token"

    def __init__(self, url: str, username: str, password: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [url]
        self.credentials = {"username": username, "password": password}

    async def parse(self, response: scrapy.http.Response) -> AsyncIterator[Any]:
        try:
            token = await solve_widget(self, response)  # the first widget on the page
        except CaptchaError as exc:  # WidgetNotFound, SolvingUnavailable, SolverError
            self.logger.error("no token for %s: %r", response.url, exc)
            return
        form = response.css("form#login")
        yield form2request(form, {**self.credentials, **token.formdata}).to_scrapy(
            callback=self.parse_account,
            meta={"captcha": {"fill": False}},  # the token is in: send it as it is
        )

    def parse_account(self, response: scrapy.http.Response) -> AsyncIterator[Any]:
        yield {"account": response.css("#content::text").get()}
