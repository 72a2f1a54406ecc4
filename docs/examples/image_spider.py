"""An image captcha, solved on request: the add-on fetches the image in the page's
session, has a service read it, and submits the page's form with the answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy


class ImageSpider(scrapy.Spider):
    name = "image"

    def __init__(self, url: str, username: str, password: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.credentials = {"username": username, "password": password}

    async def start(self) -> Any:
        yield scrapy.Request(
            self.url,
            meta={
                "captcha": {
                    "image": {
                        "selector": "img#captcha",  # the captcha image
                        "field": "code",  # the form field the answer goes in
                        "formdata": self.credentials,  # the form's other fields
                    }
                }
            },
        )

    def parse(self, response: scrapy.http.Response) -> Iterator[dict[str, Any]]:
        # the page behind the form; captcha_result says {"kind": "image", "solved": True, ...}
        yield {
            "content": response.css("#content::text").get(),
            "captcha": response.meta.get("captcha_result"),
        }
