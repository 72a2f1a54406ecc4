"""Clearance follows the proxy each request really uses."""

from __future__ import annotations

import pytest

from conftest import REACTORS, assert_clean_log
from scrapy_captcha.testing import EmulatorStack


@pytest.fixture
def stack():
    with EmulatorStack() as s:
        for host in ("shop.example", "www.shop.example", "other.example"):
            s.site.add_host(host, "managed")
        yield s


def test_domain_proxies_include_subdomains(stack: EmulatorStack, crawl) -> None:
    secret_proxy = stack.proxy_b.url_with("alice", "s3cret")
    requests = [{"url": f"http://www.shop.example/p/{i}", "tag": "www"} for i in range(4)]
    requests += [{"url": f"http://shop.example/p/{i}", "tag": "root"} for i in range(4)]
    # A request that already has a proxy keeps it.
    requests += [
        {"url": "http://shop.example/own", "tag": "own", "meta": {"proxy": stack.proxy_a.url}}
    ]
    result = crawl(
        requests=requests,
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_DOMAIN_PROXIES": {"shop.example": secret_proxy},
        },
    )
    assert all(p["status"] == 200 for p in result.pages) and len(result.pages) == 9
    assert stack.proxy_b.count(host="www.shop.example") >= 4
    assert stack.proxy_b.count(host="shop.example") >= 4
    assert stack.proxy_a.count(host="shop.example") >= 1
    # www.shop.example, shop.example via B; shop.example via A.
    assert stack.solver.create_task_count == 3
    assert_clean_log(result, "s3cret", "test-key")


@pytest.mark.parametrize("reactor", REACTORS)
def test_proxy_from_http_proxy_environment(stack: EmulatorStack, crawl, reactor: str) -> None:
    result = crawl(
        reactor=reactor,
        requests=[{"url": f"http://shop.example/p/{i}"} for i in range(5)],
        settings=stack.scrapy_settings(),
        env={"http_proxy": stack.proxy_b.url_with("alice-session-2", "s3cret")},
    )
    assert [p["status"] for p in result.pages] == [200] * 5
    assert stack.solver.create_task_count == 1
    assert stack.solver.tasks[0].task["proxy"] == stack.proxy_b.url_with(
        "alice-session-2", "s3cret"
    )
    # Five pages for the spider plus the one the solving browser loaded after clearing.
    assert stack.site.count("page", exit="B-2") == 5 + 1
    assert_clean_log(result, "s3cret")


def test_captcha_proxy_reroutes_proxyless_challenged_domain(crawl) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("127.0.0.1", "managed")
        base = f"http://127.0.0.1:{stack.site.port}"
        result = crawl(
            batches=[
                {"requests": [{"url": f"{base}/first", "tag": "first"}]},
                {"requests": [{"url": f"{base}/p/{i}", "tag": "later"} for i in range(4)]},
            ],
            settings={**stack.scrapy_settings(), "CAPTCHA_PROXY": stack.proxy_a.url},
        )
        assert [p["status"] for p in result.pages] == [200] * 5
        assert stack.solver.create_task_count == 1
        # Later requests to the challenged domain went straight through CAPTCHA_PROXY.
        assert all(p["proxy"] == stack.proxy_a.url for p in result.tagged("later"))
        assert stack.site.count("challenge", exit="direct") == 1


def test_no_proxy_passes_challenge_through(crawl) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("127.0.0.1", "managed")
        base = f"http://127.0.0.1:{stack.site.port}"
        result = crawl(
            requests=[{"url": f"{base}/p/{i}"} for i in range(3)], settings=stack.scrapy_settings()
        )
        assert not result.pages and [u["status"] for u in result.unsolved] == [403] * 3
        assert all(
            u["result"]["solved"] is False and u["reason"] == "no_proxy" for u in result.unsolved
        )
        assert stack.solver.create_task_count == 0
        assert result.log.count("has no proxy") == 1
        assert result.stat("captcha/unsolved/no_proxy") == 3


def test_request_proxy_override_in_captcha_meta(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[
            {
                "url": f"http://other.example/p/{i}",
                "meta": {"captcha": {"proxy": stack.proxy_a.url, "task": {"waitLoad": True}}},
            }
            for i in range(3)
        ],
        settings=stack.scrapy_settings(),
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert stack.solver.create_task_count == 1
    assert stack.solver.tasks[0].task["waitLoad"] is True


def test_proxy_set_later_in_the_chain_by_another_middleware(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[{"url": f"http://shop.example/p/{i}"} for i in range(4)],
        settings={
            **stack.scrapy_settings(),
            "TEST_ROTATING_PROXY": stack.proxy_b.url_with("alice", "s3cret"),
            "DOWNLOADER_MIDDLEWARES": {"mw_helpers.AssignProxyMiddleware": 610},
        },
    )
    assert [p["status"] for p in result.pages] == [200] * 4
    [task] = stack.solver.tasks
    assert task.task["proxy"] == stack.proxy_b.url_with("alice", "s3cret")
    assert stack.site.count("page", exit="B-1") == 4 + 1
    assert_clean_log(result, "s3cret")
