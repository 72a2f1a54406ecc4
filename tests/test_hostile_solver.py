"""Real crawls against a hostile solver (and a poisoned shared store): whatever comes
back, every request ends with exactly one outcome, nothing unhandled is logged, no secret
leaks, and a route is never left broken."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from scrapy import Request

from conftest import assert_clean_log
from hostile import HostileSite
from scrapy_captcha.routes._routes import route_for, route_secret
from scrapy_captcha.testing import EmulatorStack, RedisServer

CHALLENGED = "shop.example"


def reply(body: bytes | dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return 200, {"Content-Type": "application/json"}, data


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host(CHALLENGED)
        yield s


def pages(n: int, proxy: str) -> list[dict[str, Any]]:
    return [{"url": f"http://{CHALLENGED}/p/{i}", "meta": {"proxy": proxy}} for i in range(n)]


def crawl_with_solver(
    crawl: Any, stack: EmulatorStack, solver: HostileSite, proxy: str, n: int = 3
) -> Any:
    return crawl(
        requests=[
            {"url": f"http://{CHALLENGED}/p/{i}", "meta": {"proxy": proxy}} for i in range(n)
        ],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_API_URL": solver.url,
            "CAPTCHA_CHECK_BALANCE": False,
            "CAPTCHA_MAX_ATTEMPTS": 2,
        },
    )


def ready(solution: Any, task_id: Any = 7) -> dict[str, Any]:
    return {"errorId": 0, "taskId": task_id, "status": "ready", "solution": solution}


GOOD_COOKIES = {"cf_clearance": "abc"}


@pytest.mark.parametrize(
    ("name", "create", "stat"),
    [
        (
            "user agent not latin-1",
            reply(ready({"cookies": GOOD_COOKIES, "userAgent": "Mozilla/5.0 \u2603"})),
            "captcha/failed/malformed_reply",
        ),
        (
            "sent user agent with a line break",
            reply(
                ready(
                    {
                        "cookies": GOOD_COOKIES,
                        "request_headers": {"User-Agent": "UA\r\nX-Evil: 1"},
                    }
                )
            ),
            "captcha/failed/malformed_reply",
        ),
        (
            "100 000-deep JSON",
            reply(b'{"errorId":0,"taskId":1,"status":"ready","solution":' + b"[" * 100_000),
            "captcha/failed/malformed_reply",
        ),
        (
            "2 MiB task id",
            reply({"errorId": 0, "taskId": "T" * (2 << 20)}),
            "captcha/failed/malformed_reply",
        ),
    ],
)
def test_unusable_replies_are_malformed_not_crashes(
    stack: EmulatorStack, crawl, name: str, create: Any, stat: str
) -> None:
    with HostileSite({"/createTask": create}) as solver:
        result = crawl_with_solver(crawl, stack, solver, stack.proxy_a.url)
    assert result.outcomes == 3 and len(result.unsolved) == 3, (name, result.errors)
    assert all(u["status"] == 403 and u["result"]["solved"] is False for u in result.unsolved)
    assert result.stat(stat) >= 1
    assert "UnicodeEncodeError" not in result.log and "T" * 1000 not in result.log
    assert_clean_log(result, "test-key")
    for page in result.unsolved:
        assert len(json.dumps(page["result"])) < 1000


def test_unsendable_headers_are_dropped_with_one_warning(stack: EmulatorStack, crawl) -> None:
    solution = {
        "cookies": {**GOOD_COOKIES, "bad name": "x", "ok": "caf\u00e9\u2603"},
        "userAgent": "Mozilla/5.0 (X11)",
        "request_headers": {"user-agent": "Mozilla/5.0 (X11)", "x-snow": "\u2603", "a b": "1"},
    }
    with HostileSite({"/createTask": reply(ready(solution))}) as solver:
        result = crawl_with_solver(crawl, stack, solver, stack.proxy_a.url)
    # The emulated site does not accept this clearance: every page ends, unsolved.
    assert result.outcomes == 3 and not result.errors
    for field in ("header 'x-snow'", "header 'a b'", "cookie 'bad name'", "cookie 'ok'"):
        assert result.log.count(f"Solver reply {field} cannot be sent") == 1, field
    assert "UnicodeEncodeError" not in result.log
    assert_clean_log(result, "test-key")


def test_proxy_credentials_quoted_back_in_any_form_are_redacted(
    stack: EmulatorStack, crawl
) -> None:
    user, password = "alice", "s3cret"
    b64 = base64.b64encode(f"{user}:{password}".encode()).decode()
    error = {
        "errorId": 1,
        "errorCode": "ERROR_PROXY_CONNECT_REFUSED",
        "errorDescription": f"proxy {b64} / 127.0.0.1:1:{user}:{password} / s%33cret refused",
    }
    with HostileSite({"/createTask": reply(error)}) as solver:
        result = crawl_with_solver(
            crawl, stack, solver, stack.proxy_b.url_with(user, password), n=1
        )
    assert result.outcomes == 1
    assert result.stat("captcha/failed/proxy") >= 1
    assert_clean_log(result, password, b64, b64.rstrip("="), "s%33cret")


@pytest.mark.parametrize(
    "entry",
    [
        {"cookies": "cf_clearance=x", "user_agent": None, "headers": {}, "expires_at": 9e9},
        {"cookies": {"cf_clearance": 1}, "user_agent": "UA", "headers": {}, "expires_at": 9e9},
        {"cookies": {}, "user_agent": "UA\u2603", "headers": {}, "expires_at": 9e9, "id": "x"},
        [1, 2, 3],
    ],
)
def test_a_poisoned_shared_store_entry_is_solved_again(
    stack: EmulatorStack, crawl, entry: Any
) -> None:
    proxy = stack.proxy_a.url
    key = route_for(
        Request(f"http://{CHALLENGED}/", meta={"proxy": proxy}), route_secret("test-key", {})
    ).key
    with RedisServer() as redis:
        redis.command("SET", f"scrapy-captcha:clearance:{key}", json.dumps(entry))
        result = crawl(
            requests=[
                {"url": f"http://{CHALLENGED}/p/{i}", "meta": {"proxy": proxy}} for i in range(4)
            ],
            settings={**stack.scrapy_settings(), "CAPTCHA_CACHE_URL": redis.url},
        )
    assert [p["status"] for p in result.pages] == [200] * 4, result.errors
    assert stack.solver.create_task_count == 1
    assert result.log.count("Ignoring an unreadable clearance") == 1
    assert_clean_log(result, "test-key")


@pytest.mark.parametrize(
    "settings",
    [
        {"CAPTCHA_API_URL": "htps://key-Pa55@solver.example"},
        {"CAPTCHA_API_URLS": {"ez-captcha": "ftp://u:Pa55@solver.example"}},
        {"CAPTCHA_CACHE_URL": "redis:/:Pa55@redis.example:6379"},  # a slash short
        {"CAPTCHA_CACHE_URL": "redis://:Pa55@redis.example:port/0"},
        {"CAPTCHA_PROXY": "http://user:Pa55@[::1"},
        {"CAPTCHA_DOMAIN_PROXIES": {"a.example": "http://user:Pa55@host:99999"}},
    ],
)
def test_a_mistyped_setting_never_echoes_its_password(settings: dict[str, Any]) -> None:
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import CaptchaExtension, ConfigurationError

    crawler = get_crawler(settings_dict={"CAPTCHA_API_KEY": "k", **settings})
    with pytest.raises(ConfigurationError) as caught:
        CaptchaExtension.from_crawler(crawler)
    text = "".join(str(e) for e in (caught.value, caught.value.__cause__) if e)
    assert "Pa55" not in text and "Pa55" not in repr(caught.value)
    assert caught.value.__cause__ is None or "Pa55" not in repr(caught.value.__cause__)


#: how each profile puts a proxy in its Cloudflare task (issue 17, item 13)
PROXY_FORMS = ["anti-captcha", "capmonster", "capsolver", "1captcha", "ez-captcha"]


@pytest.mark.parametrize("code", ["ERROR_PROXY_CONNECT_REFUSED", "ERROR_ZERO_BALANCE"])
@pytest.mark.parametrize("name", PROXY_FORMS)
def test_proxy_passwords_are_redacted_in_every_form_a_profile_sends(
    stack: EmulatorStack, crawl, name: str, code: str
) -> None:
    """A solver quoting the task's proxy back in failure and account-disabled lines:
    split fields (anti-captcha, CapMonster), ``host:port:user:pass`` (capsolver), a URL,
    and base64 ``user:pass``; whatever form the profile sent, none of it is logged."""
    user, password = "alice", "s3cret"
    b64 = base64.b64encode(f"{user}:{password}".encode()).decode()
    quoted = (
        f"proxyLogin={user} proxyPassword={password}; 127.0.0.1:1:{user}:{password}; "
        f"http://{user}:{password}@127.0.0.1; Basic {b64}; {password.upper()}"
    )
    error = {"errorId": 1, "errorCode": code, "errorDescription": f"bad task: {quoted}"}
    with HostileSite({"/createTask": reply(error), "/getBalance": reply(error)}) as solver:
        result = crawl(
            requests=pages(1, stack.proxy_b.url_with(user, password)),
            settings={
                **stack.scrapy_settings(name),
                "CAPTCHA_API_URL": solver.url,
                "CAPTCHA_CHECK_BALANCE": False,
            },
        )
        assert solver.hits("/createTask"), "the task must have been sent"
    # (a dead only account closes the crawl: its waiting request may end with it)
    assert result.outcomes == 1 or result.reason == "captcha_solver_unavailable"
    stat = (
        "captcha/failed/proxy"
        if code.startswith("ERROR_PROXY")
        else "captcha/disabled/zero_balance"
    )
    assert result.stat(stat)
    if code == "ERROR_ZERO_BALANCE":
        assert f"Captcha solving with {name} disabled" in result.log
    assert_clean_log(result, password, password.upper(), b64, b64.rstrip("="))
