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

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scrapy.crawler import Crawler

from scrapy_captcha.detect._detection import detect
from scrapy_captcha.detect._page import MAX_IMAGE_BYTES, ImageTooLarge, decode_data_url
from scrapy_captcha.detect._widgets import Widget, find_widgets_async
from scrapy_captcha.errors import SolvingUnavailable, WidgetNotFound
from scrapy_captcha.flows._forms import token_fields
from scrapy_captcha.middleware import CaptchaExtension

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.http import Response

    from scrapy_captcha.policy._solving import Reservation, Solving
    from scrapy_captcha.services.providers import Provider

__all__ = ["Token", "solve_image", "solve_widget"]


@dataclass(frozen=True)
class Token:
    """A solved widget, for the spider API. ``formdata`` is what a browser would submit."""

    value: str = field(repr=False)
    widget: Widget
    task_id: str | int | None = None
    resp_key: str | None = field(default=None, repr=False)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    user_agent: str | None = None
    solved_at: float = field(default_factory=time.time)
    #: a multi-field answer (GeeTest v4's five fields), by form field name
    fields: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return self.widget.kind

    @property
    def formdata(self) -> dict[str, str]:
        return token_fields(self.widget, self.value, self.resp_key, self.fields)

    def __str__(self) -> str:
        return self.value


def _solving(owner: Spider | Crawler) -> Solving:
    crawler = getattr(owner, "crawler", owner)
    if not isinstance(crawler, Crawler):
        raise TypeError("pass the spider (self) or its crawler")
    return CaptchaExtension.of(crawler).solving


def _provider(solving: Solving, name: str | None, task_key: str) -> tuple[Provider, Reservation]:
    provider, reason = solving.choose(None, task_key, name)
    reservation = solving.reserve(provider, task_key) if provider else None
    if provider is None or reservation is None:
        reason = reason or "budget"
        raise SolvingUnavailable(reason, f"cannot solve a {task_key} captcha: {reason}")
    return provider, reservation


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
    solving = _solving(owner)
    if widget is None:
        wall = detect(response)
        if wall is not None:
            # (a block page may embed a reCAPTCHA: a wall, never a widget to pay for)
            raise WidgetNotFound(
                f"{response.url} is a {wall.kind} page ({wall.variant}), not a captcha widget"
            )
        widgets = await find_widgets_async(response)
        if not widgets:
            raise WidgetNotFound(f"no captcha widget on {response.url}")
        widget = widgets[0]
    if action is not None:
        widget = replace(widget, action=action)
    chosen, reservation = _provider(solving, provider, widget.task_key)
    try:
        solution, outcome = await solving.solve_token(chosen, widget, reservation, task)
    finally:
        reservation.release()  # (no-op once its createTask was sent)
    return Token(
        value=solution.token,
        widget=widget,
        task_id=outcome.task_id,
        resp_key=solution.resp_key,
        cookies=dict(solution.cookies),
        user_agent=solution.user_agent,
        fields=dict(solution.fields),
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
    solving = _solving(owner)
    if isinstance(image, str):
        image = decode_data_url(image)
    if not image:
        raise ValueError("empty image")
    if len(image) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"captcha image is over {MAX_IMAGE_BYTES} bytes")
    chosen, reservation = _provider(solving, provider, "image")
    try:
        text, _ = await solving.solve_text(chosen, image, reservation, image_type, task)
    finally:
        reservation.release()
    return text
