"""The services table (issue 18, item 17) is generated from the profiles, so it cannot
drift: every (service, kind) a profile builds has its row, with the task type, the
proxy-bound type, the report endpoint and the price the profile really uses."""

from __future__ import annotations

import pytest

from scrapy_captcha.detect._widgets import Widget
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._solutions import ERROR_ACTIONS
from scrapy_captcha.services._task_fields import TASK_KINDS
from scrapy_captcha.services.providers import (
    PROVIDERS,
    TaskContext,
    load_provider,
    service_errors,
    service_matrix,
    service_matrix_markdown,
)

URL = "https://shop.example/login"
PROXY = "http://user:pa55@10.1.2.3:8080"
WIDGETS = {
    "turnstile": Widget("turnstile", "0x4AAAAAAAB1cdefghijklmn", URL, "f", "a", "c"),
    "recaptcha_v2": Widget("recaptcha_v2", "6L" + "x" * 38, URL, "g", version="v2"),
    "recaptcha_v2_enterprise": Widget(
        "recaptcha_enterprise", "6L" + "x" * 38, URL, "g", version="v2", enterprise=True
    ),
    "recaptcha_v3": Widget("recaptcha_v3", "6L" + "x" * 38, URL, "g", "go", version="v3"),
    "recaptcha_v3_enterprise": Widget(
        "recaptcha_enterprise", "6L" + "x" * 38, URL, "g", "go", version="v3", enterprise=True
    ),
    "hcaptcha": Widget("hcaptcha", "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2", URL, "h"),
    "geetest_v4": Widget("geetest_v4", "e392e1d7fd421dc63325744d5a2b9c73", URL, ""),
    "mtcaptcha": Widget("mtcaptcha", "MTPublic-abCDEFJAB", URL, "mtcaptcha-verifiedtoken"),
    "friendly_captcha": Widget("friendly_captcha", "FCMGEMUD2KTDSQ5H", URL, "frc"),
}
#: what detection reads from a wall's page, for the wall tasks
PARAMS = {
    "key": "AQIDAHj",
    "iv": "CgAFRjIw2vAAABnd",
    "context": "Qm3vXz0p",
    "challenge_script": "https://x.token.awswaf.com/x/y/challenge.js",
    "captcha_script": "https://x.captcha.awswaf.com/x/y/z/captcha.js",
    "captcha_url": "https://geo.captcha-delivery.com/captcha/?initialCid=AHrl",
    "script_url": "https://shop.example/_Incapsula_Resource?SWJIYLWA=719d",
}
WALL_KINDS = ("aws_waf", "datadome", "incapsula")


def built(name: str, kind: str, proxy: str | None = None) -> str | None:
    """The task type the profile builds for ``kind`` (None: it has no task)."""
    provider = load_provider(name)
    try:
        if kind == "cloudflare":
            return provider.cloudflare_task(TaskContext(URL, PROXY, page_html=b"<html>"))["type"]
        if kind == "image":
            return provider.image_task(b"\x89PNG\r\n\x1a\n")["type"]
        if kind in WALL_KINDS:
            ctx = TaskContext(URL, proxy or PROXY, user_agent="Mozilla/5.0", params=PARAMS)
            if kind == "aws_waf" and proxy is None:
                ctx = TaskContext(URL, "", params=PARAMS)  # (proxyless unless asked)
            return provider.clearance_task(kind, ctx)["type"]
        return provider.widget_task(WIDGETS[kind], None, proxy)["type"]
    except ConfigurationError:
        return None


ROWS = {(r.service, r.kind): r for r in service_matrix()}


def test_a_row_for_every_service_and_kind() -> None:
    assert set(ROWS) == {(name, kind) for name in PROVIDERS for kind in TASK_KINDS}


@pytest.mark.parametrize(("name", "kind"), sorted(ROWS))
def test_each_row_is_what_the_profile_builds(name: str, kind: str) -> None:
    row = ROWS[(name, kind)]
    provider = load_provider(name)
    assert row.task_type == built(name, kind)
    if kind not in ("cloudflare", "datadome", "image") and row.task_type:
        # the proxy-bound task type is the one sent when the request's proxy goes along
        expected = built(name, kind, PROXY) if provider.has_proxy_variant(kind) else None
        assert row.proxy_task_type == expected
    assert row.report == (provider.report_method(kind) if row.task_type else None)
    assert row.price == (provider.prices.get(kind) if row.task_type else None)
    if row.cannot:
        assert row.task_type is None  # (a kind the service cannot do has no task)


def test_errors_table_says_what_the_add_on_does_with_each_code() -> None:
    rows = service_errors()
    assert {r.service for r in rows} == set(PROVIDERS)
    for row in rows:
        assert row.code in load_provider(row.service).error_codes
        assert row.reason in ERROR_ACTIONS, row  # (every documented code has a meaning)
    moving = {(r.service, r.code) for r in rows if r.moves_kind}
    assert moving == {
        ("capmonster", "ERROR_DOMAIN_NOT_ALLOWED"),
        ("capmonster", "ERROR_NO_SUCH_METHOD"),
    }
    by_code = {(r.service, r.code): r for r in rows}
    assert by_code[("capmonster", "ERROR_TOO_MUCH_REQUESTS")].reason == "poll_rate"
    assert by_code[("capsolver", "ERROR_RATE_LIMIT")].reason == "rate_limit"
    assert by_code[("capmonster", "ERROR_WRONG_USERAGENT")].reason == "wrong_user_agent"


def test_markdown_rendering_has_every_row() -> None:
    text = service_matrix_markdown()
    lines = text.splitlines()
    assert len([ln for ln in lines if ln.startswith("| ") and "| kind |" not in ln]) >= len(
        ROWS
    ) + len(service_errors())
    assert "| capmonster | cloudflare | TurnstileTask |" in text
    assert "| 2captcha | cloudflare | none: 2captcha has no clearance task" in text
