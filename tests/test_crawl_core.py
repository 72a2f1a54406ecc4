"""End-to-end: real Scrapy crawls against the loopback site, proxies and solver."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import REACTORS, assert_clean_log
from scrapy_captcha.testing import EmulatorStack


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.3) as s:
        s.site.add_host("shop.example", "managed")
        yield s


def pages(host: str, n: int, tag: str = "", **extra: Any) -> list[dict[str, Any]]:
    return [{"url": f"http://{host}/p/{tag}{i}", "tag": tag, **extra} for i in range(n)]


@pytest.mark.parametrize("reactor", REACTORS)
def test_one_solve_serves_many_pages(stack: EmulatorStack, crawl, reactor: str) -> None:
    result = crawl(
        reactor=reactor,
        requests=pages("shop.example", 12, meta={"proxy": stack.proxy_a.url}),
        settings=stack.scrapy_settings(),
    )
    assert len(result.pages) == 12 and not result.errors
    assert {p["status"] for p in result.pages} == {200}
    assert sorted(p["content"] for p in result.pages) == sorted(
        f"shop.example /p/{i}" for i in range(12)
    )  # (the tag is empty here)
    assert stack.solver.create_task_count == 1
    assert result.stat("captcha/solved/cloudflare") == 1
    assert result.stat("captcha/detected/cloudflare") >= 1
    assert all(p["result"] and p["result"]["solved"] for p in result.pages)
    assert result.stat("captcha/solver/createTask") == 1
    assert result.stat("captcha/solve_seconds") > 0
    assert result.reason == "finished"
    assert_clean_log(result, "test-key")


@pytest.mark.parametrize("reactor", REACTORS)
def test_two_proxies_two_solves_no_cross_use(stack: EmulatorStack, crawl, reactor: str) -> None:
    requests = pages("shop.example", 6, "A", meta={"proxy": stack.proxy_a.url}) + pages(
        "shop.example", 6, "B", meta={"proxy": stack.proxy_b.url_with("alice", "s3cret")}
    )
    result = crawl(reactor=reactor, requests=requests, settings=stack.scrapy_settings())
    assert len(result.tagged("A")) == 6 and len(result.tagged("B")) == 6
    assert all(p["status"] == 200 for p in result.pages), result.pages
    assert stack.solver.create_task_count == 2
    proxies = {t.task["proxy"] for t in stack.solver.tasks}
    assert proxies == {stack.proxy_a.url, stack.proxy_b.url_with("alice", "s3cret")}
    # No clearance of one exit was ever presented through the other: every page the site
    # served went out with a clearance minted for that exit, and nothing was rejected.
    assert stack.site.count("page", exit="A") >= 6
    assert stack.site.count("page", exit="B-1") >= 6
    assert_clean_log(result, "test-key", "s3cret")


def test_sticky_session_credentials_are_separate_identities(stack: EmulatorStack, crawl) -> None:
    requests = pages(
        "shop.example", 4, "s1", meta={"proxy": stack.proxy_b.url_with("alice", "s3cret")}
    )
    requests += pages(
        "shop.example",
        4,
        "s2",
        meta={"proxy": stack.proxy_b.url_with("alice-session-2", "s3cret")},
    )
    result = crawl(requests=requests, settings=stack.scrapy_settings())
    assert all(p["status"] == 200 for p in result.pages) and len(result.pages) == 8
    assert stack.solver.create_task_count == 2
    assert stack.site.count("page", exit="B-1") >= 4
    assert stack.site.count("page", exit="B-2") >= 4
    assert_clean_log(result, "s3cret")
