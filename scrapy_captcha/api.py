"""The spider API: tokens and image answers on demand, from an ``async def`` callback.

For a spider that fills a form itself (a login with a Turnstile, say)::

    async def parse_login(self, response):
        token = await solve_widget(self, response)
        yield FormRequest.from_response(
            response, formdata={"user": "me", "password": "...", **token.formdata}
        )

Both functions work under the asyncio reactor and the plain Twisted reactor, create one
solver task per call (tokens are single use: never cached or reused) and raise a
:class:`~scrapy_captcha.errors.CaptchaError` subclass on failure: ``WidgetNotFound``,
``SolvingUnavailable`` (no task type for that kind, budget spent, account disabled) or
``SolverError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.gates import Token
from scrapy_captcha.manager import CaptchaManager
from scrapy_captcha.widgets import Widget, decode_data_url

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

__all__ = ["Token", "solve_image", "solve_widget"]


def _manager(owner: Spider | Crawler) -> CaptchaManager:
    from scrapy.crawler import Crawler

    crawler = getattr(owner, "crawler", owner)
    if not isinstance(crawler, Crawler):
        raise TypeError("pass the spider (self) or its crawler")
    manager = CaptchaManager.for_crawler(crawler)
    if not manager.settings.enabled:
        raise ConfigurationError("CAPTCHA_ENABLED is False")
    return manager


async def solve_widget(
    owner: Spider | Crawler,
    response: Response,
    widget: Widget | None = None,
    *,
    action: str | None = None,
    provider: str | None = None,
    task: dict[str, Any] | None = None,
) -> Token:
    """A fresh token for ``widget`` (default: the first widget found on ``response``).
    ``action`` overrides the widget's action, ``provider`` the CAPTCHA_PROVIDER, and
    ``task`` adds fields to the solver task."""
    return await _manager(owner).gates.api_token(
        response, widget, action=action, provider_name=provider, task=task
    )


async def solve_image(
    owner: Spider | Crawler,
    image: bytes | str,
    *,
    image_type: str | None = None,
    provider: str | None = None,
    task: dict[str, Any] | None = None,
) -> str:
    """The text in a captcha image (its bytes, or a ``data:`` URL)."""
    if isinstance(image, str):
        image = decode_data_url(image)
    return await _manager(owner).gates.api_text(
        image, image_type=image_type, provider_name=provider, task=task
    )
