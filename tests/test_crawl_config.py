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
            "EXTENSIONS": EXTENSION,
        },
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert stack.solver.create_task_count == 1
    assert "scrapy-captcha is incomplete" not in result.log


def test_missing_component_is_reported(stack: EmulatorStack, crawl) -> None:
    partial = {k: v for k, v in MANUAL.items() if "Clearance" not in k}
    result = crawl(
        requests=reqs(stack, 1),
        settings={
            **stack.scrapy_settings(),
            "ADDONS": {},
            "DOWNLOADER_MIDDLEWARES": partial,
            "EXTENSIONS": EXTENSION,
        },
    )
    assert "scrapy-captcha is incomplete: ClearanceMiddleware" in result.log
    assert len(result.pages) == 1  # still one outcome, bounded by the attempts


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
    its own key in CAPTCHA_API_KEYS is not used (its host never sees that key)."""
    result = crawl(
        requests=reqs(stack, 1, captcha={"provider": "ez-captcha"}),
        settings={
            **stack.scrapy_settings("1captcha"),
            "CAPTCHA_API_URLS": {"ez-captcha": stack.solver.url_for("ez-captcha")},
        },
    )
    assert [p["result"]["reason"] for p in result.pages] == ["no_api_key"]
    assert stack.solver.create_task_count == 0


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


def test_missing_api_key_passes_challenges_through(stack: EmulatorStack, crawl) -> None:
    settings = {**stack.scrapy_settings(), "CAPTCHA_API_KEY": ""}
    result = crawl(requests=reqs(stack), settings=settings)
    assert {p["result"]["reason"] for p in result.pages} == {"no_api_key"}
    assert result.log.count("CAPTCHA_API_KEY is not set") == 1
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
