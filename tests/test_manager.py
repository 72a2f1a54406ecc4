"""Manager set-up that needs no crawl."""

from __future__ import annotations

import subprocess
import sys

from scrapy.utils.test import get_crawler

from scrapy_captcha.manager import CaptchaManager


def test_reactorless_scrapy_disables_solving_up_front() -> None:
    """Scrapy without a reactor is a mode of the whole process, and this test session has
    one installed for its crawls: checked in a fresh interpreter."""
    code = (
        "import scrapy\n"
        "if scrapy.version_info < (2, 14):  # 2.13's get_crawler() wants a reactor\n"
        "    from scrapy.utils.reactor import install_reactor\n"
        "    install_reactor('twisted.internet.asyncioreactor.AsyncioSelectorReactor')\n"
        "from scrapy.utils.test import get_crawler\n"
        "from scrapy_captcha.manager import CaptchaManager\n"
        "crawler = get_crawler(settings_dict={'TWISTED_REACTOR_ENABLED': False})\n"
        "print(CaptchaManager(crawler).disabled_reason)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "no_reactor"


def test_route_secret_depends_on_every_configured_key() -> None:
    one = CaptchaManager(get_crawler(settings_dict={"CAPTCHA_API_KEYS": {"ez-captcha": "k1"}}))
    two = CaptchaManager(get_crawler(settings_dict={"CAPTCHA_API_KEYS": {"ez-captcha": "k2"}}))
    none = CaptchaManager(get_crawler(settings_dict={}))
    assert len({one._secret, two._secret, none._secret}) == 3


def test_shared_per_crawler() -> None:
    crawler = get_crawler()
    assert CaptchaManager.for_crawler(crawler) is CaptchaManager.for_crawler(crawler)
    assert CaptchaManager.for_crawler(get_crawler()) is not CaptchaManager.for_crawler(crawler)


def test_addon_installs_components_and_keeps_user_priorities() -> None:
    from scrapy.settings import Settings
    from scrapy.utils.misc import load_object

    from scrapy_captcha import Addon

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
