"""A login written as if there were no captcha: the add-on fills the token in.

The login form carries a Turnstile (or a reCAPTCHA) and fields only the spider can fill.
The spider submits it the ordinary way; when the submission leaves, the add-on solves the
form's widget (a fresh token: they live 120-300 s) and puts the token in the request's
body. ``meta={"captcha": {"fill": False}}`` on the submission, or
``CAPTCHA_FILL_ON_SUBMIT = False``, turns that off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from form2request import form2request


class AccountSpider(scrapy.Spider):
    name = "account"

    def __init__(
        self,
        logins: str = "http://gates.example/account/turnstile/me",
        username: str = "demo",
        password: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.logins = [u.strip() for u in logins.split(",") if u.strip()]
        self.credentials = {"username": username, "password": password}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.logins:
            yield scrapy.Request(url, callback=self.parse_login)

    def parse_login(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
        form = response.css("form#login")
        yield form2request(form, self.credentials).to_scrapy(callback=self.parse_account)

    def parse_account(self, response: scrapy.http.Response) -> dict[str, Any]:
        return {
            "url": response.url,
            "status": response.status,
            "logged_in": response.css("#content::text").get(),
            "error": response.css(".error::text").get(),
            "captcha": response.meta.get("captcha_result"),
        }
