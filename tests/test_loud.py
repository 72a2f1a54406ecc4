"""Issue 16, no quiet failures: each case that used to fail quietly (a crawl ending
``finished`` while pages or money were lost) now fails loudly, at start or in the errback,
and nothing paid for is thrown away. Real crawls against the emulators."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from scrapy.settings import Settings

from conftest import assert_clean_log, build_root, start_failure
from scrapy_captcha import Addon, ConfigurationError, signals
from scrapy_captcha.testing import EmulatorStack

GATES = "gates.example"


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.2) as s:
        s.site.add_host("shop.example", "managed")
        s.site.add_host("other.example", "managed")
        s.site.add_host("open.example", "open")
        s.site.add_host(GATES, "open")
        yield s


def shop(stack: EmulatorStack, n: int, host: str = "shop.example", **meta: Any) -> list[dict]:
    return [
        {"url": f"http://{host}/p/{i}", "tag": host, "meta": {"proxy": stack.proxy_a.url, **meta}}
        for i in range(n)
    ]


def gate(stack: EmulatorStack, kindpath: str, name: str, **meta: Any) -> dict[str, Any]:
    return {
        "url": f"http://{GATES}/gate/{kindpath}/{name}",
        "tag": kindpath,
        "meta": {"proxy": stack.proxy_a.url, "cookiejar": name, **meta},
    }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1, 4, 10, 12: mistakes in settings stop the crawl at start ----------------------------


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        # 1: a typo in the second entry of the chain
        (
            {"CAPTCHA_PROVIDERS": "1captcha,capsolvr", "CAPTCHA_API_KEYS": {"1captcha": "k"}},
            ("CAPTCHA_PROVIDERS", "'capsolvr'", "did you mean 'capsolver'?"),
        ),
        # 4: a key, and no provider: never sent to a service the user did not name
        ({"CAPTCHA_API_KEY": "k"}, ("CAPTCHA_PROVIDER is not", "never sent")),
        # 10: unknown keys in dict settings
        (
            {"CAPTCHA_TASK_TYPES": {"turnstil": "TurnstileTaskProxyless"}},
            ("CAPTCHA_TASK_TYPES", "'turnstil'", "did you mean 'turnstile'?"),
        ),
        (
            {"CAPTCHA_PRICES": {"1captcha": {"cloudflre": 0.002}}},
            ("CAPTCHA_PRICES['1captcha']", "did you mean 'cloudflare'?"),
        ),
        ({"CAPTCHA_PRICES": {"1capcha": {}}}, ("CAPTCHA_PRICES", "did you mean '1captcha'?")),
        # 12: a bad boolean names its setting; a mistyped setting name is caught
        ({"CAPTCHA_CHECK_BALANCE": "maybe"}, ("CAPTCHA_CHECK_BALANCE must be True or False",)),
        ({"CAPTCHA_MAX_SOLVE": 3}, ("unknown setting CAPTCHA_MAX_SOLVE", "CAPTCHA_MAX_SOLVES")),
        ({"CAPTCHA_WIDGETS": "sumbit"}, ("CAPTCHA_WIDGETS", "did you mean 'submit'?")),
    ],
    ids=[
        "chain-typo",
        "key-only",
        "task-kind",
        "price-kind",
        "price-service",
        "bool",
        "name",
        "mode",
    ],
)
def test_setting_mistakes_stop_the_crawl_at_start(
    stack: EmulatorStack, tmp_path, settings: dict[str, Any], names: tuple[str, ...]
) -> None:
    base = {**stack.scrapy_settings(), "CAPTCHA_PROVIDER": None, "CAPTCHA_API_KEY": ""}
    if "CAPTCHA_PROVIDERS" not in settings and "CAPTCHA_API_KEY" not in settings:
        base = stack.scrapy_settings()
    exc = start_failure(tmp_path, {**base, **settings})
    assert isinstance(exc, ConfigurationError), exc
    for name in names:
        assert name in str(exc), (name, str(exc))
    # no chained traceback: the error is the whole story
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    # nothing reached any service: no key sent anywhere
    assert stack.solver.create_task_count == 0 and stack.solver.poll_count == 0
    assert "k" not in str(exc).split("'")  # (the key itself is never echoed)


def test_defaults_are_registered_for_every_crawler() -> None:
    """12: ``settings.getint("CAPTCHA_MAX_ATTEMPTS")`` was 0 where the add-on reads 3."""
    from scrapy.crawler import CrawlerRunner

    runner = CrawlerRunner(Settings({"ADDONS": {Addon: 500}}))
    assert runner.settings.getint("CAPTCHA_MAX_ATTEMPTS") == 3
    assert runner.settings.get("CAPTCHA_CACHE_URL") == "file://"
    root = build_root({"CAPTCHA_API_KEY": "k", "CAPTCHA_MAX_ATTEMPTS": 5})
    assert root.crawler.settings.getint("CAPTCHA_MAX_ATTEMPTS") == 5  # the user's value wins
    assert root.crawler.settings.getfloat("CAPTCHA_SOLVE_TIMEOUT") == 180.0


def test_a_chain_that_cannot_clear_cloudflare_is_said_at_start(
    stack: EmulatorStack, crawl
) -> None:
    """5: 2captcha (no Cloudflare clearance task) was found out mid-crawl, with a hint
    leading to paid, useless tasks. Now a start-up WARNING names the services that can,
    and a challenge gives up with ``no_task`` without paying."""
    result = crawl(
        requests=shop(stack, 2),
        settings={**stack.scrapy_settings("2captcha")},
    )
    assert (
        "No service in CAPTCHA_PROVIDER(S) (2captcha) can clear a Cloudflare challenge"
        in result.log
    )
    assert "Services that can: 1captcha, anti-captcha, capmonster, capsolver, ez-captcha" in (
        result.log
    )
    assert result.reasons() == ["no_task", "no_task"] and not result.pages
    assert stack.solver.create_task_count == 0


# -- 2: a budget stops spending, not crawling ----------------------------------------------


def budget_crawl(stack: EmulatorStack, crawl, **settings: Any) -> Any:
    """5 + 5 protected pages (two routes challenged at once) and 20 unprotected ones."""
    b = stack.proxy_b.url_with("alice", "s3cret")
    requests = shop(stack, 5) + [
        {"url": f"http://other.example/p/{i}", "tag": "other", "meta": {"proxy": b}}
        for i in range(5)
    ]
    requests += [
        {"url": f"http://open.example/o/{i}", "tag": "open", "meta": {"proxy": stack.proxy_a.url}}
        for i in range(20)
    ]
    stack.solver.latency = 1.0
    return crawl(
        requests=requests,
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_SOLVES": 1, **settings},
    )


def test_a_spent_budget_stops_spending_not_crawling(stack: EmulatorStack, crawl) -> None:
    """2: the paid solve in flight was cancelled, its 5 waiting requests dropped, and none
    of the 20 unprotected pages fetched. Now the solve lands and delivers its pages, the
    other route gives up with ``budget``, every unprotected page arrives."""
    result = budget_crawl(stack, crawl)
    assert result.reason == "finished"
    assert stack.solver.create_task_count == 1
    delivered = [p for p in result.pages if p["tag"] in ("shop.example", "other")]
    assert len(delivered) == 5 and {p["status"] for p in delivered} == {200}
    assert result.reasons() == ["budget"] * 5
    assert len(result.tagged("open")) == 20
    assert not result.dropped and result.outcomes == 30
    assert result.log.count("CAPTCHA_MAX_SOLVES=1 reached") == 1


def test_closing_on_budget_is_an_opt_in_that_delivers_what_was_paid(
    stack: EmulatorStack, crawl
) -> None:
    result = budget_crawl(stack, crawl, CAPTCHA_CLOSE_ON_BUDGET=True)
    assert result.reason == "captcha_budget_exhausted"
    assert stack.solver.create_task_count == 1
    # the paid solve's pages were delivered before the spider closed
    delivered = [p for p in result.pages if p["tag"] in ("shop.example", "other")]
    assert len(delivered) == 5 and {p["status"] for p in delivered} == {200}


def test_the_money_budget_holds_under_concurrency(stack: EmulatorStack, crawl) -> None:
    """Issue 17 #12: 20 domains challenged at once with CAPTCHA_MAX_COST for 2 tasks
    created 16-18 tasks: a task's price is now reserved until it is solved."""
    for i in range(20):
        stack.site.add_host(f"d{i}.example", "managed")
    stack.solver.latency = 1.0
    result = crawl(
        requests=[
            {"url": f"http://d{i}.example/", "meta": {"proxy": stack.proxy_a.url}}
            for i in range(20)
        ],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_PRICES": {"1captcha": {"cloudflare": 0.002}},
            "CAPTCHA_MAX_COST": 0.004,
            "CONCURRENT_REQUESTS": 32,
        },
    )
    assert stack.solver.create_task_count == 2
    assert result.stat("captcha/cost") == pytest.approx(0.004)
    assert len(result.pages) == 2 and result.reasons() == ["budget"] * 18


# -- 3: an unsolved page never reaches the callback as a success ---------------------------


@pytest.mark.parametrize(
    ("kindpath", "fault", "settings", "reason"),
    [
        (
            "turnstile",
            None,
            # (found mid-crawl, the crawl left running: what the page gets is the point)
            {
                "CAPTCHA_CHECK_BALANCE": False,
                "CAPTCHA_API_KEY": "wrong-key",
                "CAPTCHA_CLOSE_ON_UNAVAILABLE": False,
            },
            "bad_key",
        ),
        (
            "turnstile",
            "never_ready",
            {"CAPTCHA_SOLVE_TIMEOUT": 1, "CAPTCHA_MAX_ATTEMPTS": 1},
            "timeout",
        ),
        (
            "turnstile",
            "unreachable",
            {"CAPTCHA_CHECK_BALANCE": False, "CAPTCHA_MAX_ATTEMPTS": 1},
            "connection",
        ),
        ("hcaptcha", None, {}, "no_task"),
    ],
    ids=["bad-key", "timeout", "unreachable", "no-task-type"],
)
def test_an_unsolved_gate_goes_to_the_errback(
    stack: EmulatorStack, crawl, kindpath: str, fault: str | None, settings: dict, reason: str
) -> None:
    """3: the gate page reached the callback as an ordinary 200, and a typical spider
    scraped "Verify you are human" as an item."""
    base = stack.scrapy_settings()
    if fault == "unreachable":
        base["CAPTCHA_API_URL"] = f"http://127.0.0.1:{closed_port()}"
    elif fault:
        stack.solver.set_fault(fault)
    result = crawl(requests=[gate(stack, kindpath, "g1")], settings={**base, **settings})
    assert not result.pages, result.pages  # never the callback
    (page,) = result.unsolved
    assert page["reason"] == reason and page["status"] == 200
    assert page["title"] == "Verify you are human"  # failure.value.response: the gate page
    assert page["result"]["solved"] is False
    assert result.stat(f"captcha/unsolved/{reason}") == 1
    assert result.log.count("The page goes to the errback as CaptchaUnsolved") == 1
    assert_clean_log(result, "wrong-key")


def test_a_status_the_spider_does_not_handle_is_scrapys_http_error(
    stack: EmulatorStack, crawl
) -> None:
    """As for any page: a 403 the spider does not handle is HttpErrorMiddleware's (its
    ``HttpError`` in the errback); the give-up is still counted and said."""
    result = crawl(
        requests=shop(stack, 1),
        settings={**stack.scrapy_settings("2captcha"), "HTTPERROR_ALLOW_ALL": False},
    )
    assert [e["error"] for e in result.errors] == ["HttpError"] and not result.unsolved
    assert result.stat("captcha/unsolved/no_task") == 1


def test_a_spider_can_take_unsolved_pages_in_its_callback(stack: EmulatorStack, crawl) -> None:
    """``handle_captcha_unsolved`` (meta, a bool or reasons), like handle_httpstatus_list."""
    result = crawl(
        requests=[
            gate(stack, "hcaptcha", "h1", handle_captcha_unsolved=True),
            gate(stack, "hcaptcha", "h2", handle_captcha_unsolved=["no_task"]),
            gate(stack, "hcaptcha", "h3", handle_captcha_unsolved=["budget"]),
        ],
        settings=stack.scrapy_settings(),
    )
    assert len(result.pages) == 2 and all(p["result"]["reason"] == "no_task" for p in result.pages)
    assert result.reasons() == ["no_task"]


def test_the_setting_hands_unsolved_pages_to_the_callback(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[gate(stack, "hcaptcha", "h1")],
        settings={**stack.scrapy_settings(), "CAPTCHA_HANDLE_UNSOLVED": True},
    )
    assert [p["result"]["reason"] for p in result.pages] == ["no_task"] and not result.unsolved


def test_without_an_errback_an_unsolved_page_is_ignored_like_an_http_error(
    stack: EmulatorStack, crawl
) -> None:
    result = crawl(
        requests=[{**gate(stack, "hcaptcha", "h1"), "no_errback": True}],
        settings=stack.scrapy_settings(),
    )
    assert not result.pages and not result.errors
    assert result.stat("captcha/unsolved_ignored") == 1
    assert "Spider error" not in result.log


# -- 6: a dead solver stops the crawl with a reason ----------------------------------------


def test_a_hanging_solver_closes_the_crawl_with_a_reason(stack: EmulatorStack, crawl) -> None:
    stack.solver.hold_timeout = 3
    stack.solver.set_fault("hang")
    result = crawl(
        requests=shop(stack, 3),
        settings={**stack.scrapy_settings(), "CAPTCHA_REQUEST_TIMEOUT": 0.5},
    )
    assert result.reason == "captcha_solver_unavailable"
    assert not result.pages
    assert result.stat("captcha/failed/timeout") == 3
    assert "No usable solver account is left (1captcha: unreachable)" in result.log


# -- 7: a clearance changed after 760 is diagnosed, and not paid for again -----------------


@pytest.mark.parametrize(
    ("middleware", "what"),
    [
        ("mw_helpers.LateUserAgentMiddleware", "User-Agent"),
        ("mw_helpers.LateCookieMiddleware", "Cookie (cf_clearance"),
    ],
)
def test_a_clearance_altered_after_760_is_named_and_not_paid_again(
    stack: EmulatorStack, crawl, middleware: str, what: str
) -> None:
    """7: a user middleware above 760 setting User-Agent or Cookie: three paid solves,
    every page lost, only INFO lines. Now one solve, a WARNING naming the change and the
    middleware, and the pages in the errback."""
    result = crawl(
        requests=shop(stack, 3),
        settings={**stack.scrapy_settings(), "DOWNLOADER_MIDDLEWARES": {middleware: 800}},
    )
    assert stack.solver.create_task_count == 1
    assert result.reasons() == ["clearance_altered"] * 3
    assert f"its {what}" in result.log and "changed after ClearanceMiddleware (760)" in result.log
    assert f"enabled above 760: {middleware} (800)" in result.log
    assert result.log.count("changed after ClearanceMiddleware") == 1


# -- 10: meta["captcha"] mistakes fail that request before anything is paid ----------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("token", 'meta["captcha"] must be a dict'),
        ({"widget": "token"}, "unknown option 'widget'; use one of"),
        ({"widgets": "tokn"}, "did you mean 'token'?"),
        ({"image": {"selector": "#c", "feild": "code"}}, "did you mean 'field'?"),
    ],
    ids=["string", "key", "mode", "image-key"],
)
def test_bad_request_options_fail_that_request_before_paying(
    stack: EmulatorStack, crawl, options: Any, message: str
) -> None:
    result = crawl(
        requests=[gate(stack, "turnstile", "o1", captcha=options), gate(stack, "turnstile", "o2")],
        settings=stack.scrapy_settings(),
    )
    (error,) = result.errors
    assert error["error"] == "BadCaptchaOptions" and message in error["message"]
    assert [p["tag"] for p in result.pages] == ["turnstile"]  # the other request is fine
    assert stack.solver.create_task_count == 1


def test_an_image_selector_matching_nothing_is_said(stack: EmulatorStack, crawl) -> None:
    image = {"selector": "#no-such-image", "field": "code"}
    result = crawl(
        requests=[
            {
                "url": f"http://{GATES}/captcha-form/a{i}",
                "meta": {"proxy": stack.proxy_a.url, "captcha": {"image": image}},
            }
            for i in range(3)
        ],
        settings=stack.scrapy_settings(),
    )
    assert len(result.pages) == 3
    assert result.log.count("selector '#no-such-image' matched no image") == 1
    assert result.stat("captcha/image/not_found") == 3
    assert stack.solver.create_task_count == 0


# -- 11: opting out of solving does not opt out of routing ---------------------------------


def test_opted_out_requests_still_go_through_the_domain_proxy(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[{"url": "http://open.example/x", "meta": {"dont_solve_captcha": True}}],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_DOMAIN_PROXIES": {"open.example": stack.proxy_a.url},
        },
    )
    (page,) = result.pages
    assert page["status"] == 200 and page["proxy"] == stack.proxy_a.url


# -- 12: watchable while it works ------------------------------------------------------------


def test_a_long_solve_is_visible_and_every_kind_says_solved(stack: EmulatorStack, crawl) -> None:
    stack.solver.latency = 1.5
    result = crawl(
        requests=[*shop(stack, 2), gate(stack, "turnstile", "w1")],
        settings={**stack.scrapy_settings(), "LOGSTATS_INTERVAL": 0.5},
    )
    assert len(result.pages) == 3
    assert "Captcha: 2 solves under way (the longest for" in result.log or (
        "Captcha: 1 solves under way (the longest for" in result.log
    )
    assert "Solved Cloudflare challenge for shop.example" in result.log
    assert "Solved a turnstile captcha on http://gates.example/gate/turnstile/w1" in result.log
    for page in result.pages:
        assert page["result"]["cost"] == pytest.approx(
            0.001 if page["tag"] == "turnstile" else 0.002
        ), page["result"]
    assert all(
        isinstance(v, (int, float)) for k, v in result.stats.items() if k.startswith("captcha/")
    )
    assert "scrapy-captcha summary: 3 pages got past a wall or captcha" in result.log


def test_signals_tell_a_spider_what_happened(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[*shop(stack, 2), gate(stack, "hcaptcha", "h1")],
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_SOLVES": 1},
        record_signals=True,
    )
    fired = result.stats
    assert fired["signals/captcha_detected"] >= 2
    assert fired["signals/captcha_solved"] == 1
    assert fired["signals/captcha_unsolved"] == 1


# -- 13: failover messages say what really happens ---------------------------------------


def test_no_next_service_is_claimed_when_there_is_none(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("unsolvable", times=1)
    result = crawl(
        requests=shop(stack, 2),
        settings={**stack.scrapy_settings(), "CAPTCHA_FAILOVER_AFTER": 1},
    )
    assert [p["status"] for p in result.pages] == [200, 200]
    assert "the next service takes its solves" not in result.log
    assert "no other service in CAPTCHA_PROVIDERS to take over" in result.log


# -- 14: a clearance bought minutes ago is reused by the next run --------------------------


def test_a_rerun_reuses_the_clearances_it_paid_for(stack: EmulatorStack, crawl) -> None:
    settings = stack.scrapy_settings()
    first = crawl(requests=shop(stack, 3), settings=settings)
    assert [p["status"] for p in first.pages] == [200] * 3
    second = crawl(requests=shop(stack, 3), settings=settings)
    assert [p["status"] for p in second.pages] == [200] * 3
    assert stack.solver.create_task_count == 1  # the second run paid nothing
    assert all(p["result"]["from_cache"] for p in second.pages)


def test_memory_store_opts_out_of_persistence(stack: EmulatorStack, crawl) -> None:
    settings = {**stack.scrapy_settings(), "CAPTCHA_CACHE_URL": "memory://"}
    crawl(requests=shop(stack, 1), settings=settings)
    crawl(requests=shop(stack, 1), settings=settings)
    assert stack.solver.create_task_count == 2


def test_http_cache_replays_the_page_behind_a_gate(stack: EmulatorStack, crawl, tmp_path) -> None:
    settings = {
        **stack.scrapy_settings(),
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_DIR": str(tmp_path / "httpcache"),
    }
    first = crawl(requests=[gate(stack, "turnstile", "hc")], settings=settings)
    assert [p["content"] for p in first.pages] == ["Content behind gate hc"]
    second = crawl(requests=[gate(stack, "turnstile", "hc")], settings=settings)
    assert [p["content"] for p in second.pages] == ["Content behind gate hc"]
    assert stack.solver.create_task_count == 1  # the re-run was served the page, unpaid


def test_signals_module_names_its_signals() -> None:
    assert {n for n in vars(signals) if n.startswith("captcha_")} == {
        "captcha_detected",
        "captcha_solved",
        "captcha_unsolved",
        "captcha_budget_exhausted",
    }
