"""The per-crawler root and the add-on's set-up, without a crawl."""

from __future__ import annotations

from scrapy.settings import Settings
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from scrapy_captcha import Addon, CaptchaExtension
from scrapy_captcha._routes import route_secret


def test_reactorless_scrapy_disables_solving_up_front() -> None:
    crawler = get_crawler(settings_dict={"TWISTED_REACTOR_ENABLED": False})
    root = CaptchaExtension.from_crawler(crawler)
    assert root.solving.disabled_reason == "no_reactor"


def test_route_secret_depends_on_every_configured_key() -> None:
    one = route_secret("", {"ez-captcha": "k1"})
    two = route_secret("", {"ez-captcha": "k2"})
    none = route_secret("", {})
    assert len({one, two, none, route_secret("k1", {})}) == 4


def test_one_root_per_crawler_built_by_scrapy() -> None:
    crawler = get_crawler(settings_dict={"ADDONS": {Addon: 500}})
    crawler._apply_settings()
    root = CaptchaExtension.of(crawler)
    assert root is crawler.get_extension(CaptchaExtension)
    other = get_crawler(settings_dict={"ADDONS": {Addon: 500}})
    other._apply_settings()
    assert CaptchaExtension.of(other) is not root


def test_addon_installs_components_and_keeps_user_priorities() -> None:
    settings = Settings({"DOWNLOADER_MIDDLEWARES": {"scrapy_captcha.ChallengeCacheGuard": 960}})
    Addon().update_settings(settings)
    got = {
        load_object(k).__name__ if isinstance(k, str) else k.__name__: v
        for k, v in settings.getdict("DOWNLOADER_MIDDLEWARES").items()
    }
    assert got == {
        "ChallengeCacheGuard": 960,
        "CaptchaMiddleware": 585,
        "ClearanceMiddleware": 760,
    }
    extensions = {
        load_object(k) if isinstance(k, str) else k: v
        for k, v in settings.getdict("EXTENSIONS").items()
    }
    assert extensions == {CaptchaExtension: 500}
