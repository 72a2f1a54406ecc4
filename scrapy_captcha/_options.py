"""``meta["captcha"]``: the per-request options, checked before anything is paid for.

Why apart from the settings: a request's options are met mid-crawl, one request at a time;
a mistake there fails that request (``BadCaptchaOptions`` in its errback), not the crawl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy_captcha._kinds import WIDGET_KINDS
from scrapy_captcha._state import options
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.settings import check_proxy, check_service, closest, widget_modes

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha.settings import CaptchaSettings

#: The keys ``meta["captcha"]`` takes.
META_KEYS = ("proxy", "provider", "task", "widgets", "image", "fill", "token_proxy")
#: The keys ``meta["captcha"]["image"]`` takes.
IMAGE_KEYS = ("selector", "field", "formdata", "image_type")


def check_meta_options(value: Any) -> dict[str, Any]:
    """``meta["captcha"]`` as given, checked before anything is paid for: a dict of known
    keys (``ValueError`` naming the mistake otherwise)."""
    if not isinstance(value, dict):
        raise ValueError(
            f'meta["captcha"] must be a dict of options {list(META_KEYS)}, '
            f"got {type(value).__name__}"
        )
    for key in value:
        if key not in META_KEYS:
            raise ValueError(
                f'meta["captcha"]: unknown option {key!r}; use one of {list(META_KEYS)}'
                f"{closest(key, META_KEYS)}"
            )
    widgets = value.get("widgets")
    if widgets is not None:
        try:
            widget_modes('meta["captcha"]["widgets"]', widgets)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
    image = value.get("image")
    if image is not None:
        if not isinstance(image, dict):
            raise ValueError('meta["captcha"]["image"] must be a dict')
        for key in image:
            if key not in IMAGE_KEYS:
                raise ValueError(
                    f'meta["captcha"]["image"]: unknown option {key!r}; use one of '
                    f"{list(IMAGE_KEYS)}{closest(key, IMAGE_KEYS)}"
                )
        if not isinstance(image.get("selector"), str) or not isinstance(image.get("field"), str):
            raise ValueError('meta["captcha"]["image"] needs "selector" and "field" strings')
    for key in ("task",):
        if value.get(key) is not None and not isinstance(value[key], dict):
            raise ValueError(f'meta["captcha"]["{key}"] must be a dict of task fields')
    for key in ("proxy", "provider"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise ValueError(f'meta["captcha"]["{key}"] must be a string')
    if value.get("provider"):
        try:
            check_service('meta["captcha"]["provider"]', value["provider"])
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
    if value.get("proxy"):
        try:
            check_proxy('meta["captcha"]["proxy"]', value["proxy"])
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
    return value


def widget_modes_for(request: Request, settings: CaptchaSettings) -> dict[str, str]:
    """The mode of every widget kind for this request: ``meta["captcha"]["widgets"]``
    (checked at process_request), else CAPTCHA_WIDGETS, else ``submit``."""
    asked = widget_modes('meta["captcha"]["widgets"]', options(request).get("widgets"))
    return {kind: asked.get(kind) or settings.widget_mode(kind) for kind in WIDGET_KINDS}
