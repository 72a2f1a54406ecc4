"""Crawls getting past the walls beyond Cloudflare through the emulated services: each wall
served by the site emulator lets a request through only with what a real solve yields
(the solver's workers earn it: through the task's proxy for DataDome), and the add-on
applies it as the wall expects -- a cookie stored as a clearance per (domain, proxy), or
Amazon's image answered in the robot check's own form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import REACTORS, assert_clean_log
from hostile import HostileSite
from scrapy_captcha.testing import EmulatorStack, ForwardProxy


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.05) as s:
        yield s


def pages(
    host: str, n: int, proxy: str | None, tag: str = "", **meta: Any
) -> list[dict[str, Any]]:
    return [
        {
            "url": f"http://{host}/p/{tag}{i}",
            "tag": tag,
            "meta": {**({"proxy": proxy} if proxy else {}), **meta},
        }
        for i in range(n)
    ]


def settings(stack: EmulatorStack, *chain: str, **extra: Any) -> dict[str, Any]:
    """The crawl's settings for a chain of the emulator's services."""
    first = chain[0]
    return {
        **stack.scrapy_settings(first),
        "CAPTCHA_PROVIDERS": list(chain),
        "CAPTCHA_API_KEYS": dict.fromkeys(chain, "test-key"),
        "CAPTCHA_API_URLS": {name: stack.solver.url_for(name) for name in chain},
        **extra,
    }


def assert_through(result: Any, host: str, n: int, kind: str) -> None:
    assert not result.errors and not result.unsolved, (result.errors, result.unsolved)
    assert len(result.pages) == n, result.pages
    for page in result.pages:
        assert page["status"] == 200 and page["content"].startswith(host), page
        assert page["result"]["kind"] == kind and page["result"]["solved"], page["result"]
    assert result.stat(f"captcha/solved/{kind}") == 1
    assert result.stat(f"captcha/passed/{kind}") == n
    assert result.stat(f"captcha/wall/{kind}") >= 1


# -- AWS WAF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reactor", REACTORS)
def test_aws_waf_challenge_one_token_for_the_route(
    stack: EmulatorStack, crawl, reactor: str
) -> None:
    stack.site.add_host("shop.example", "aws_waf")
    result = crawl(
        reactor=reactor,
        requests=pages("shop.example", 6, stack.proxy_a.url),
        settings=settings(stack, "capsolver"),
    )
    assert_through(result, "shop.example", 6, "aws_waf")
    (task,) = stack.solver.tasks
    assert task.type == "AntiAwsWafTaskProxyLess"
    # (the page's own values, in capsolver's fields; proxyless: no proxy sent)
    assert {"awsKey", "awsIv", "awsContext", "awsChallengeJS"} <= set(task.task)
    assert "proxy" not in task.task
    assert_clean_log(result, "test-key")


@pytest.mark.parametrize("service", ["capmonster", "anti-captcha"])
def test_aws_waf_captcha_through_each_service(stack: EmulatorStack, crawl, service: str) -> None:
    stack.site.add_host("shop.example", "aws_waf_captcha")
    result = crawl(
        requests=pages("shop.example", 3, stack.proxy_a.url), settings=settings(stack, service)
    )
    assert_through(result, "shop.example", 3, "aws_waf")
    (task,) = stack.solver.tasks
    # (CapMonster: AmazonTask, the proxy optional; anti-captcha: AmazonTaskProxyless)
    assert task.type == {"capmonster": "AmazonTask"}.get(service, "AmazonTaskProxyless")
    assert not any(k.startswith("proxy") for k in task.task)
    assert task.task["websiteKey"].startswith("AQIDAH")
    assert task.task["captchaScript"].endswith("/captcha.js")


def test_aws_waf_proxy_bound_through_capmonster(stack: EmulatorStack, crawl) -> None:
    """CAPTCHA_TOKEN_PROXY: CapMonster's AmazonTask (the same type) with the request's
    proxy in split fields (read and checked by the emulator, as for the proxyless one)."""
    stack.site.add_host("shop.example", "aws_waf_captcha")
    proxy = stack.proxy_b.url_with("alice", "s3cret")
    result = crawl(
        requests=pages("shop.example", 2, proxy),
        settings=settings(stack, "capmonster", CAPTCHA_TOKEN_PROXY=True),
    )
    assert_through(result, "shop.example", 2, "aws_waf")
    (task,) = stack.solver.tasks
    assert task.type == "AmazonTask"
    assert (task.task["proxyAddress"], task.task["proxyLogin"]) == ("127.0.0.1", "alice")
    assert_clean_log(result, "test-key", "s3cret")


def test_a_service_that_requires_more_than_the_page_gives_is_skipped_unpaid(
    stack: EmulatorStack, crawl
) -> None:
    """CapMonster's AmazonTask requires captchaScript, which a challenge (202) page lacks:
    its task is not sent, the next service of the chain takes it."""
    stack.site.add_host("shop.example", "aws_waf")
    result = crawl(
        requests=pages("shop.example", 2, stack.proxy_a.url),
        settings=settings(stack, "capmonster", "capsolver"),
    )
    assert_through(result, "shop.example", 2, "aws_waf")
    assert stack.solver.create_task_calls("capmonster") == 0
    assert stack.solver.create_task_calls("capsolver") == 1
    assert result.stat("captcha/failover") == 1


def test_a_forged_token_is_challenged_and_solved_again(stack: EmulatorStack, crawl) -> None:
    stack.site.add_host("shop.example", "aws_waf")
    stack.solver.set_fault("bad_clearance", times=1)
    result = crawl(
        requests=pages("shop.example", 3, stack.proxy_a.url),
        settings=settings(stack, "capsolver"),
    )
    assert len(result.pages) == 3 and all(p["status"] == 200 for p in result.pages)
    assert stack.solver.create_task_count == 2
    assert result.stat("captcha/cache/invalidated") >= 1


# -- DataDome --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["capsolver", "capmonster", "2captcha"])
def test_datadome_through_each_service_on_the_whole_site(
    stack: EmulatorStack, crawl, service: str
) -> None:
    """The worker goes through the request's own proxy (exit B-1) with its User-Agent;
    the cookie serves every host of the site: one solve for www. and api."""
    for host in ("www.shop.example", "api.shop.example"):
        stack.site.add_host(host, "datadome")
    proxy = stack.proxy_b.url_with("alice", "s3cret")
    first = pages("www.shop.example", 1, proxy, "w")
    later = pages("www.shop.example", 3, proxy, "x") + pages("api.shop.example", 3, proxy, "a")
    result = crawl(
        batches=[{"requests": first}, {"requests": later}],
        settings=settings(stack, service),
    )
    assert not result.errors and not result.unsolved, (result.errors, result.unsolved)
    assert len(result.pages) == 7 and all(p["status"] == 200 for p in result.pages)
    assert {p["result"]["kind"] for p in result.pages} == {"datadome"}
    assert stack.solver.create_task_count == 1
    (task,) = stack.solver.tasks
    assert stack.site.count("dd_ok", exit="B-1") == 1  # (earned through the request's exit)
    assert result.stat("captcha/solved/datadome") == 1
    sent = task.task if service != "capmonster" else task.task["metadata"]
    assert sent["captchaUrl"].startswith("https://geo.captcha-delivery.com/captcha/?initialCid=")
    assert_clean_log(result, "test-key", "s3cret")


def test_datadome_banned_and_without_proxy_are_given_up_unpaid(
    stack: EmulatorStack, crawl
) -> None:
    stack.site.add_host("banned.example", "datadome_banned")
    stack.site.add_host("127.0.0.1", "datadome")  # (reached without a proxy)
    requests = pages("banned.example", 1, stack.proxy_a.url, "b", handle_captcha_unsolved=True)
    requests += pages(f"127.0.0.1:{stack.site.port}", 1, None, "n", handle_captcha_unsolved=True)
    result = crawl(requests=requests, settings=settings(stack, "capsolver"))
    reasons = {p["tag"]: p["result"]["reason"] for p in result.pages}
    assert reasons == {"b": "blocked", "n": "no_proxy"}
    assert stack.solver.create_task_count == 0
    assert result.stat("captcha/wall/datadome") == 2


def test_datadome_interstitial(stack: EmulatorStack, crawl) -> None:
    stack.site.add_host("shop.example", "datadome_interstitial")
    result = crawl(
        requests=pages("shop.example", 2, stack.proxy_a.url),
        settings=settings(stack, "2captcha"),
    )
    assert_through(result, "shop.example", 2, "datadome")
    (task,) = stack.solver.tasks
    assert "/interstitial/" in task.task["captchaUrl"]


# -- Imperva ---------------------------------------------------------------------------------


def test_incapsula_challenge_through_capsolver(stack: EmulatorStack, crawl) -> None:
    stack.site.add_host("shop.example", "incapsula")
    first = pages("shop.example", 1, stack.proxy_a.url, "f")
    result = crawl(
        batches=[{"requests": first}, {"requests": pages("shop.example", 3, stack.proxy_a.url)}],
        settings=settings(stack, "capsolver"),
    )
    assert_through(result, "shop.example", 4, "incapsula")
    (task,) = stack.solver.tasks
    assert task.type == "AntiImpervaTaskProxyless" and task.task["isUtmvc"] is True
    assert [c["name"] for c in task.task["cookies"]] == ["incap_ses_1184_2781354"]


# -- Amazon ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reactor", REACTORS)
def test_amazon_robot_check(stack: EmulatorStack, crawl, reactor: str) -> None:
    """The image comes from Amazon's image host (https, through the proxy's tunnel); the
    answer goes back in the form's own fields and the page's session."""
    stack.site.add_host("www.amazon.com", "amazon")
    result = crawl(
        reactor=reactor,
        requests=pages("www.amazon.com", 1, stack.proxy_a.url),
        settings=settings(stack, "capsolver"),
    )
    assert not result.errors and not result.unsolved, (result.errors, result.unsolved)
    (page,) = result.pages
    assert page["status"] == 200 and page["content"] == "www.amazon.com /p/0", page
    assert page["result"]["kind"] == "amazon" and page["result"]["solved"], page["result"]
    (task,) = stack.solver.tasks
    assert task.type == "ImageToTextTask"
    assert stack.site.count("wall_image", host="images-na.ssl-images-amazon.com") == 1
    assert stack.site.count("wall_ok", host="www.amazon.com") == 1
    assert result.stat("captcha/solved/amazon") == 1
    assert result.stat("captcha/passed/amazon") == 1
    assert_clean_log(result, "test-key")


# -- switched off ----------------------------------------------------------------------------


def test_walls_switched_off_are_given_up_disabled(stack: EmulatorStack, crawl) -> None:
    stack.site.add_host("aws.example", "aws_waf")
    stack.site.add_host("www.amazon.com", "amazon")
    requests = pages("aws.example", 1, stack.proxy_a.url, "w", handle_captcha_unsolved=True)
    requests += pages("www.amazon.com", 1, stack.proxy_a.url, "a", handle_captcha_unsolved=True)
    result = crawl(
        requests=requests, settings=settings(stack, "capsolver", CAPTCHA_WALLS=["cloudflare"])
    )
    assert {p["result"]["reason"] for p in result.pages} == {"disabled"}
    assert result.stat("captcha/unsolved/disabled") == 2
    assert stack.solver.create_task_count == 0


# -- GeeTest v4, MTCaptcha, Friendly Captcha ---------------------------------------------------

WIDGET_GATES = [
    ("geetest-v4", "capsolver", "GeeTestTaskProxyLess"),
    ("geetest-v4", "2captcha", "GeeTestTaskProxyless"),
    ("geetest-v4", "anti-captcha", "GeeTestTaskProxyless"),
    ("geetest-v4", "capmonster", "GeeTestTask"),
    ("mtcaptcha", "capsolver", "MtCaptchaTaskProxyLess"),
    ("mtcaptcha", "capmonster", "MTCaptchaTask"),
    ("mtcaptcha", "2captcha", "MtCaptchaTaskProxyless"),
    ("friendly-captcha", "anti-captcha", "FriendlyCaptchaTaskProxyless"),
    ("friendly-captcha", "2captcha", "FriendlyCaptchaTaskProxyless"),
]


@pytest.mark.parametrize(("kindpath", "service", "task_type"), WIDGET_GATES)
def test_widget_gates_are_submitted_with_their_answer(
    stack: EmulatorStack, crawl, kindpath: str, service: str, task_type: str
) -> None:
    result = crawl(
        requests=[
            {
                "url": f"http://shop.example/gate/{kindpath}/g1",
                "tag": "g",
                "meta": {"proxy": stack.proxy_a.url},
            }
        ],
        settings=settings(stack, service),
    )
    assert not result.errors and not result.unsolved, (result.errors, result.unsolved)
    (page,) = result.pages
    assert page["content"] == "Content behind gate g1", (page, stack.site.gate_failures())
    kind = kindpath.replace("-", "_")
    assert page["result"]["kind"] == kind and page["result"]["submitted"]
    (task,) = stack.solver.tasks
    assert task.type == task_type
    assert result.stat(f"captcha/solved/{kind}") == 1
    assert_clean_log(result, "test-key")


def test_a_widget_no_service_of_the_chain_takes_is_reported_unpaid(
    stack: EmulatorStack, crawl
) -> None:
    result = crawl(
        requests=[
            {
                "url": "http://shop.example/gate/friendly-captcha/g1",
                "meta": {"handle_captcha_unsolved": True, "proxy": stack.proxy_a.url},
            }
        ],
        settings=settings(stack, "capsolver"),
    )
    (page,) = result.pages
    assert page["result"]["reason"] == "no_task"
    assert stack.solver.create_task_count == 0
    assert "capsolver documents no Friendly Captcha task" in result.log
    assert "anti-captcha" in result.log  # (the hint names the services that can)


# -- hostile wall pages ------------------------------------------------------------------------

INCAPSULA_HEADERS = {"Content-Type": "text/html", "X-CDN": "Incapsula", "X-Iinfo": "1-2-3 NNNN"}


def test_a_wall_page_naming_a_script_elsewhere_is_never_sent_to_a_service(crawl) -> None:
    """An Imperva challenge whose script sits on another site: the services would fetch
    what the page names, so the task is not built; nothing is paid, the page is given up."""
    with EmulatorStack(solve_latency=0.02) as stack, HostileSite() as site:
        body = (
            b'<html><head><META NAME="ROBOTS" CONTENT="NOINDEX, NOFOLLOW"><script '
            b'src="https://evil.example/_Incapsula_Resource?SWJIYLWA=1&amp;ns=2"></script>'
            b"</head><body></body></html>"
        )
        site.routes["/p"] = (200, INCAPSULA_HEADERS, body)
        with ForwardProxy("H", upstream=("127.0.0.1", site.port)) as proxy:
            result = crawl(
                requests=[
                    {
                        "url": "http://shop.example/p",
                        "meta": {"proxy": proxy.url, "handle_captcha_unsolved": True},
                    }
                ],
                settings=settings(stack, "capsolver", CAPTCHA_MAX_ATTEMPTS=2),
            )
    (page,) = result.pages
    assert page["result"]["kind"] == "incapsula" and not page["result"]["solved"]
    assert page["result"]["reason"] == "missing_params"
    assert stack.solver.create_task_count == 0
    assert result.stat("captcha/failed/missing_params") >= 1
