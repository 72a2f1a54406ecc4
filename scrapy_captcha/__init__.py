"""scrapy-captcha: keep crawling through Cloudflare challenges and captcha gates.

Enable with ``ADDONS = {"scrapy_captcha.Addon": 500}`` and set ``CAPTCHA_PROVIDER`` and
``CAPTCHA_API_KEY``. See the docs for every setting, meta key, signal and stat.

This module is the public surface: everything a spider, a settings file or a subclass
needs. Modules named ``_something`` are internal and may change without notice.
"""

from scrapy_captcha import signals
from scrapy_captcha._state import META_HANDLE, META_OPT_OUT, META_OPTIONS, META_RESULT
from scrapy_captcha.addon import Addon
from scrapy_captcha.api import Token, solve_image, solve_widget
from scrapy_captcha.detect._widgets import Widget, find_widgets
from scrapy_captcha.errors import (
    BadCaptchaOptions,
    CaptchaError,
    CaptchaUnsolved,
    ConfigurationError,
    SolverCancelled,
    SolverError,
    SolvingUnavailable,
    WidgetNotFound,
)
from scrapy_captcha.middleware import (
    CaptchaExtension,
    CaptchaMiddleware,
    ChallengeCacheGuard,
    ClearanceMiddleware,
    UnsolvedMiddleware,
)
from scrapy_captcha.routes.clearance import Clearance
from scrapy_captcha.routes.store import ClearanceStore, FileStore, MemoryStore
from scrapy_captcha.services.providers import EzCaptcha, OneCaptcha, Provider, TaskContext
from scrapy_captcha.settings import CaptchaSettings

__version__ = "0.1.0.dev0"

__all__ = [
    "META_HANDLE",
    "META_OPTIONS",
    "META_OPT_OUT",
    "META_RESULT",
    "Addon",
    "BadCaptchaOptions",
    "CaptchaError",
    "CaptchaExtension",
    "CaptchaMiddleware",
    "CaptchaSettings",
    "CaptchaUnsolved",
    "ChallengeCacheGuard",
    "Clearance",
    "ClearanceMiddleware",
    "ClearanceStore",
    "ConfigurationError",
    "EzCaptcha",
    "FileStore",
    "MemoryStore",
    "OneCaptcha",
    "Provider",
    "SolverCancelled",
    "SolverError",
    "SolvingUnavailable",
    "TaskContext",
    "Token",
    "UnsolvedMiddleware",
    "Widget",
    "WidgetNotFound",
    "find_widgets",
    "signals",
    "solve_image",
    "solve_widget",
]
