"""The configuration surface: manual set-up, overrides, switches."""

from __future__ import annotations

import pytest

from scrapy_captcha.testing import EmulatorStack

MANUAL = {
    "scrapy_captcha.CaptchaMiddleware": 585,
    "scrapy_captcha.ClearanceMiddleware": 760,
    "scrapy_captcha.ChallengeCacheGuard": 950,
}

EXTENSION = {"scrapy_captcha.CaptchaExtension": 500}
SPIDER_MW = {"scrapy_captcha.UnsolvedMiddleware": 60}


@pytest.fixture
def stack():
    with EmulatorStack() as s:
        s.site.add_host("shop.example")
        yield s


def reqs(stack: EmulatorStack, n: int = 3, **meta: object) -> list[dict]:
    return [
        {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url, **meta}}
        for i in range(n)
    ]


def test_manual_downloader_middlewares_setup(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=reqs(stack),
        settings={
            **stack.scrapy_settings(),
            "ADDONS": {},
            "DOWNLOADER_MIDDLEWARES": MANUAL,
            "SPIDER_MIDDLEWARES": SPIDER_MW,
            "EXTENSIONS": EXTENSION,
        },
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert stack.solver.create_task_count == 1
    assert "scrapy-captcha is incomplete" not in result.log


@pytest.mark.parametrize(
    ("setting", "left_out", "named"),
    [
        ("DOWNLOADER_MIDDLEWARES", "Clearance", "scrapy_captcha.ClearanceMiddleware"),
        ("SPIDER_MIDDLEWARES", "Unsolved", "scrapy_captcha.UnsolvedMiddleware"),
    ],
)
def test_a_missing_component_stops_the_crawl_at_start(
    stack: EmulatorStack, tmp_path, setting: str, left_out: str, named: str
) -> None:
    """Issue 16 #8: a manual set-up without ClearanceMiddleware paid for solves it could
    never use, with one ERROR line; now the crawl does not start."""
    from conftest import start_failure
    from scrapy_captcha import ConfigurationError

    components = {"DOWNLOADER_MIDDLEWARES": MANUAL, "SPIDER_MIDDLEWARES": SPIDER_MW}
    components[setting] = {k: v for k, v in components[setting].items() if left_out not in k}
    exc = start_failure(
        tmp_path,
        {**stack.scrapy_settings(), "ADDONS": {}, "EXTENSIONS": EXTENSION, **components},
    )
    assert isinstance(exc, ConfigurationError)
    assert f"{setting}: {named}" in str(exc)
    assert stack.solver.create_task_count == 0


def test_disabled_addon_does_nothing(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=reqs(stack), settings={**stack.scrapy_settings(), "CAPTCHA_ENABLED": False}
    )
    assert [p["status"] for p in result.pages] == [403] * 3
    assert all(p["result"] is None for p in result.pages)
    assert stack.solver.create_task_count == 0


def test_per_request_provider_override(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=reqs(stack, captcha={"provider": "ez-captcha"}),
        settings={
            **stack.scrapy_settings("1captcha"),
            "CAPTCHA_API_URLS": {"ez-captcha": stack.solver.url_for("ez-captcha")},
            "CAPTCHA_API_KEYS": {"ez-captcha": "test-key"},
        },
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    [task] = stack.solver.tasks
    assert task.dialect == "ez-captcha" and task.type == "CloudFlare5STask"


def test_the_default_key_never_goes_to_another_service(stack: EmulatorStack, crawl) -> None:
    """CAPTCHA_API_KEY belongs to CAPTCHA_PROVIDER: a service picked per request without
    its own key in CAPTCHA_API_KEYS is not used (its host never sees that key); that
    request fails before anything is sent, naming the setting."""
    result = crawl(
        requests=reqs(stack, 1, captcha={"provider": "ez-captcha"}),
        settings={
            **stack.scrapy_settings("1captcha"),
            "CAPTCHA_API_URLS": {"ez-captcha": stack.solver.url_for("ez-captcha")},
        },
    )
    [error] = result.errors
    assert error["error"] == "BadCaptchaOptions" and "CAPTCHA_API_KEYS" in error["message"]
    assert stack.solver.create_task_count == 0 and not result.pages


def test_task_type_override_setting(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=reqs(stack),
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_TASK_TYPES": {"cloudflare": "CloudFlareTask"},
        },
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert [t.type for t in stack.solver.tasks] == ["CloudFlareTask"]


def test_missing_api_key_stops_the_crawl_at_start(stack: EmulatorStack, tmp_path) -> None:
    from conftest import start_failure
    from scrapy_captcha import ConfigurationError

    exc = start_failure(tmp_path, {**stack.scrapy_settings(), "CAPTCHA_API_KEY": ""})
    assert isinstance(exc, ConfigurationError) and "CAPTCHA_API_KEY is not set" in str(exc)
    assert stack.solver.create_task_count == 0


def test_invalid_setting_fails_at_start_without_echoing_secrets(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "from scrapy.utils.reactor import install_reactor\n"
        "install_reactor('twisted.internet.asyncioreactor.AsyncioSelectorReactor')\n"
        "from scrapy.utils.test import get_crawler\n"
        "from scrapy_captcha import CaptchaExtension\n"
        "settings = {'CAPTCHA_PROXY': 'bogus-Pa55'}\n"
        "CaptchaExtension.from_crawler(get_crawler(settings_dict=settings))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ConfigurationError: CAPTCHA_PROXY: not a proxy URL" in proc.stderr
    assert "Pa55" not in proc.stderr


def test_middlewares_without_the_extension_fail_clearly_at_start() -> None:
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import CaptchaMiddleware, ConfigurationError

    crawler = get_crawler(settings_dict={"DOWNLOADER_MIDDLEWARES": MANUAL})
    crawler._apply_settings()
    with pytest.raises(ConfigurationError, match=r"scrapy_captcha\.CaptchaExtension"):
        CaptchaMiddleware.from_crawler(crawler)
