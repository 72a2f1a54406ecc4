"""scrapy-captcha: keep crawling through Cloudflare challenges and captcha gates.

Enable with ``ADDONS = {"scrapy_captcha.Addon": 500}`` and set ``CAPTCHA_PROVIDER`` and
``CAPTCHA_API_KEY``. See the README for every setting and meta key.
"""

from scrapy_captcha.addon import Addon
from scrapy_captcha.api import Token, solve_image, solve_widget
from scrapy_captcha.errors import (
    CaptchaError,
    ConfigurationError,
    SolverCancelled,
    SolverError,
    SolvingUnavailable,
    WidgetNotFound,
)
from scrapy_captcha.meta import META_OPT_OUT, META_OPTIONS, META_RESULT
from scrapy_captcha.middleware import CaptchaMiddleware, ChallengeCacheGuard, ClearanceMiddleware
from scrapy_captcha.providers import EzCaptcha, OneCaptcha, Provider
from scrapy_captcha.widgets import Widget, find_widgets

__version__ = "0.1.0"

__all__ = [
    "META_OPTIONS",
    "META_OPT_OUT",
    "META_RESULT",
    "Addon",
    "CaptchaError",
    "CaptchaMiddleware",
    "ChallengeCacheGuard",
    "ClearanceMiddleware",
    "ConfigurationError",
    "EzCaptcha",
    "OneCaptcha",
    "Provider",
    "SolverCancelled",
    "SolverError",
    "SolvingUnavailable",
    "Token",
    "Widget",
    "WidgetNotFound",
    "find_widgets",
    "solve_image",
    "solve_widget",
]
