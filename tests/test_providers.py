"""Provider profiles: task building, error classification, every documented reply shape."""

from __future__ import annotations

import pytest

from scrapy_captcha.errors import FATAL, INPUT, PROXY, RETRY, ConfigurationError
from scrapy_captcha.services._solutions import classify_error, parse_cloudflare_solution
from scrapy_captcha.services.providers import (
    EzCaptcha,
    OneCaptcha,
    Provider,
    TaskContext,
    build_rq_data,
    load_provider,
)

FULL = {
    "cookies": {"cf_clearance": "abc", "__cf_bm": "x"},
    "user_agent": "UA-1",
    "request_headers": {":authority": "shop.example", "user-agent": "UA-1", "accept": "*/*"},
    "headers": {"server": "cloudflare"},
    "content": "<html></html>",
}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ERROR_KEY_DOES_NOT_EXIST", ("bad_key", FATAL)),
        ("ERROR_ZERO_BALANCE", ("zero_balance", FATAL)),
        ("error_zero_balance", ("zero_balance", FATAL)),
        ("ERROR_NO_SLOT_AVAILABLE", ("no_slot", RETRY)),
        ("ERROR_CAPTCHA_UNSOLVABLE", ("unsolvable", RETRY)),
        ("ERROR_NO_SUCH_CAPCHA_ID", ("task_not_found", RETRY)),
        ("ERROR_TASK_NOT_SUPPORTED", ("bad_task", INPUT)),
        ("ERROR_BAD_PARAMETERS", ("bad_task", INPUT)),
        ("ERROR_PROXY_CONNECT_REFUSED", ("proxy", PROXY)),
        ("ERROR_PROXY_BANNED", ("proxy", PROXY)),
        ("ERROR_SOMETHING_NEW", ("solver_error", RETRY)),
    ],
)
def test_classify_error(code: str, expected: tuple[str, str]) -> None:
    assert classify_error(code) == expected


@pytest.mark.parametrize(
    "reply",
    [
        {"errorId": 0, "status": "ready", "solution": FULL},
        {"errorId": 0, "status": "ready", **FULL},
        {"errorId": 0, "status": "ready", "solution": {**FULL, "headers": None}, **FULL},
    ],
    ids=["nested", "top_level", "both"],
)
def test_solution_shapes(reply: dict) -> None:
    sol = parse_cloudflare_solution(reply)
    assert sol is not None
    assert sol.cookies == {"cf_clearance": "abc", "__cf_bm": "x"}
    assert sol.user_agent == "UA-1"
    assert sol.request_headers["accept"] == "*/*"
    assert sol.headers == {"server": "cloudflare"}
    assert sol.content == "<html></html>"


def test_misspelled_headers_accepted() -> None:
    sol = parse_cloudflare_solution({"solution": {**FULL, "headers": None, "heders": {"a": "b"}}})
    assert sol is not None and sol.headers == {"a": "b"}


@pytest.mark.parametrize(
    ("cookies", "expected", "expires"),
    [
        ({"cf_clearance": "v"}, {"cf_clearance": "v"}, None),
        ("cf_clearance=v; __cf_bm=w", {"cf_clearance": "v", "__cf_bm": "w"}, None),
        (
            "cf_clearance=v.with/odd=chars; x=1",
            {"cf_clearance": "v.with/odd=chars", "x": "1"},
            None,
        ),
        (
            [{"name": "cf_clearance", "value": "v", "expires": 2_000_000_000}, {"name": "b"}],
            {"cf_clearance": "v", "b": ""},
            2_000_000_000.0,
        ),
    ],
)
def test_cookie_formats(cookies: object, expected: dict, expires: float | None) -> None:
    sol = parse_cloudflare_solution({"solution": {"cookies": cookies, "user_agent": "u"}})
    assert sol is not None
    assert sol.cookies == expected
    assert sol.cookie_expires == expires


def test_no_cookies_is_no_solution() -> None:
    assert parse_cloudflare_solution({"solution": {"user_agent": "u"}}) is None
    assert parse_cloudflare_solution({"errorId": 0}) is None


def test_onecaptcha_task() -> None:
    ctx = TaskContext(
        url="https://shop.example/a", proxy="http://u:p@1.2.3.4:8080", extra={"waitLoad": True}
    )
    task = OneCaptcha().cloudflare_task(ctx)
    assert task == {
        "type": "CloudFlareTaskS3",
        "websiteURL": "https://shop.example/a",
        "proxy": "http://u:p@1.2.3.4:8080",
        "waitLoad": True,
    }


def test_task_type_override() -> None:
    task = OneCaptcha({"cloudflare": "CloudFlareTask"}).cloudflare_task(
        TaskContext(url="u", proxy="p")
    )
    assert task["type"] == "CloudFlareTask"


def test_ezcaptcha_rqdata_form_and_json() -> None:
    form = EzCaptcha().cloudflare_task(
        TaskContext(
            url="u",
            proxy="p",
            method="POST",
            body=b"a=1&b=x+y",
            content_type="application/x-www-form-urlencoded",
        )
    )
    assert form["type"] == "CloudFlare5STask"
    assert form["rqData"] == {"mode": "FORM", "a": "1", "b": "x y"}
    js = EzCaptcha().cloudflare_task(
        TaskContext(
            url="u", proxy="p", method="POST", body=b'{"q": [1]}', content_type="application/json"
        )
    )
    assert js["rqData"] == {"mode": "JSON", "q": [1]}
    assert "rqData" not in EzCaptcha().cloudflare_task(TaskContext(url="u", proxy="p"))
    assert build_rq_data("POST", b"not json", "application/json") is None


def test_error_text_fields() -> None:
    assert EzCaptcha().error_text({"errorDesc": "bad"}) == "bad"
    assert OneCaptcha().error_text({"errorDescription": "worse"}) == "worse"


def test_load_provider() -> None:
    assert isinstance(load_provider("1captcha"), OneCaptcha)
    assert isinstance(load_provider("ez-captcha"), EzCaptcha)
    assert isinstance(load_provider("scrapy_captcha.services.providers.EzCaptcha"), EzCaptcha)
    with pytest.raises(ConfigurationError, match="unknown CAPTCHA_PROVIDER"):
        load_provider("nope")
    with pytest.raises(ConfigurationError, match="not a Provider"):
        load_provider("scrapy_captcha.services.providers.TaskContext")
    with pytest.raises(ConfigurationError, match="no task"):
        Provider().task_type("cloudflare")


def test_rqdata_keeps_repeated_form_fields_and_skips_multipart() -> None:
    form = build_rq_data("POST", b"tag=a&tag=b&tag=c&q=x", "application/x-www-form-urlencoded")
    assert form == {"mode": "FORM", "tag": ["a", "b", "c"], "q": "x"}
    assert build_rq_data("POST", b"--xyz", "multipart/form-data; boundary=xyz") is None
    assert build_rq_data("POST", b"[1, 2]", "application/json") is None
    assert build_rq_data("GET", b"a=1", "") is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ERROR_TOO_MUCH_REQUESTS", ("poll_rate", RETRY)),
        ("ERROR_RATE_LIMIT", ("rate_limit", RETRY)),
        ("ERROR_DOMAIN_NOT_ALLOWED", ("domain_not_allowed", INPUT)),
        ("ERROR_NO_SUCH_METHOD", ("bad_task", INPUT)),
        ("ERROR_WRONG_USERAGENT", ("wrong_user_agent", RETRY)),
        ("ERROR_TASKID_INVALID", ("task_not_found", RETRY)),
    ],
)
def test_classify_the_services_own_codes(code: str, expected: tuple[str, str]) -> None:
    assert classify_error(code) == expected


def test_capsolver_settlement_failure_is_an_empty_account() -> None:
    assert load_provider("capsolver").classify("ERROR_SETTLEMENT_FAILED") == (
        "zero_balance",
        FATAL,
    )


def test_proxy_secrets_in_every_form() -> None:
    from scrapy_captcha.services._task_fields import proxy_secrets

    assert proxy_secrets({"proxyLogin": "u", "proxyPassword": "p:w"}) == ["p:w", "u"]
    assert proxy_secrets({"proxy": "http://u:p%40w@h:1"}) == ["p@w", "u"]
    assert proxy_secrets({"proxy": "h:1:u:p:w"}) == ["p:w", "u"]
    assert proxy_secrets({"proxy": "socks5:h:1:u:pw"}) == ["pw", "u"]
    assert proxy_secrets({"proxy": "h:1"}) == [] and proxy_secrets({}) == []


def test_proxy_types_as_documented() -> None:
    anti = load_provider("anti-captcha")
    assert anti.proxy_fields("https://u:p@1.2.3.4:443")["proxyType"] == "http"
    assert anti.proxy_fields("socks5h://1.2.3.4:1080")["proxyType"] == "socks5"
    assert "proxyType" not in anti.cloudflare_task(TaskContext("https://s/", "http://1.2.3.4:8"))
    with pytest.raises(ConfigurationError, match="scheme"):
        anti.proxy_fields("ftp://1.2.3.4:21")
