"""The per-crawler root and the add-on's set-up, without a crawl."""

from __future__ import annotations

import subprocess
import sys

from scrapy.settings import Settings
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from scrapy_captcha import Addon, CaptchaExtension
from scrapy_captcha.routes._routes import route_secret


def test_reactorless_scrapy_stops_the_crawl_at_start() -> None:
    """Scrapy without a reactor is a mode of the whole process, and this test session has
    one installed for its crawls: checked in a fresh interpreter. treq needs a reactor, so
    the add-on cannot solve anything: a start-up error naming the setting, not a crawl
    whose challenges all pass through unsolved."""
    code = (
        "import scrapy\n"
        "if scrapy.version_info < (2, 14):  # 2.13's get_crawler() wants a reactor\n"
        "    from scrapy.utils.reactor import install_reactor\n"
        "    install_reactor('twisted.internet.asyncioreactor.AsyncioSelectorReactor')\n"
        "from scrapy.utils.test import get_crawler\n"
        "from scrapy_captcha import CaptchaExtension\n"
        "crawler = get_crawler(settings_dict={'TWISTED_REACTOR_ENABLED': False,\n"
        "    'CAPTCHA_PROVIDER': 'capsolver', 'CAPTCHA_API_KEY': 'k'})\n"
        "try:\n"
        "    CaptchaExtension.from_crawler(crawler)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ConfigurationError"), proc.stdout
    assert "TWISTED_REACTOR_ENABLED" in proc.stdout


def test_route_secret_depends_on_every_configured_key() -> None:
    one = route_secret("", {"ez-captcha": "k1"})
    two = route_secret("", {"ez-captcha": "k2"})
    none = route_secret("", {})
    assert len({one, two, none, route_secret("k1", {})}) == 4


SOLVER = {"CAPTCHA_PROVIDER": "capsolver", "CAPTCHA_API_KEY": "k"}


def test_one_root_per_crawler_built_by_scrapy() -> None:
    crawler = get_crawler(settings_dict={"ADDONS": {Addon: 500}, **SOLVER})
    crawler._apply_settings()
    root = CaptchaExtension.of(crawler)
    assert root is crawler.get_extension(CaptchaExtension)
    other = get_crawler(settings_dict={"ADDONS": {Addon: 500}, **SOLVER})
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
