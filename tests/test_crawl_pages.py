"""What is and is not a challenge, POST pages, opt-out, cache, Retry interplay."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import assert_clean_log
from scrapy_captcha.testing import EmulatorStack


@pytest.fixture
def stack():
    with EmulatorStack() as s:
        s.site.add_host("shop.example", "managed")
        s.site.add_host("legacy.example", "legacy")
        s.site.add_host("interactive.example", "interactive")
        s.site.add_host("denied.example", "block_1020")
        s.site.add_host("limited.example", "block_1015")
        yield s


def test_block_pages_are_reported_never_solved(stack: EmulatorStack, crawl) -> None:
    meta = {"proxy": stack.proxy_a.url}
    result = crawl(
        requests=[
            {"url": "http://denied.example/", "tag": "1020", "meta": meta},
            {"url": "http://limited.example/", "tag": "1015", "meta": meta},
        ],
        settings=stack.scrapy_settings(),
    )
    by_tag = {u["tag"]: u for u in result.unsolved}
    assert not result.pages  # (a block is never a success)
    assert by_tag["1020"]["status"] == 403 and by_tag["1015"]["status"] == 429
    for page in by_tag.values():
        assert page["kind"] == "cloudflare_block" and page["reason"] == "blocked"
        assert page["result"]["solved"] is False
    assert by_tag["1020"]["result"]["variant"] == "1020"
    assert by_tag["1015"]["result"]["variant"] == "1015"
    assert stack.solver.create_task_count == 0
    assert result.stat("captcha/detected/cloudflare_block") == 2


def test_ordinary_cloudflare_pages_are_not_challenges(stack: EmulatorStack, crawl) -> None:
    meta = {"proxy": stack.proxy_a.url}
    urls = [
        "http://open.example/",
        "http://open.example/status/503",
        "http://open.example/status/403",
        "http://open.example/huge",
    ]
    result = crawl(
        requests=[{"url": u, "meta": meta} for u in urls], settings=stack.scrapy_settings()
    )
    assert sorted(p["status"] for p in result.pages) == [200, 200, 403, 503]
    assert all(p["result"] is None for p in result.pages)
    assert stack.solver.create_task_count == 0
    assert not any(k.startswith("captcha/detected") for k in result.stats)


@pytest.mark.parametrize("host", ["legacy.example", "interactive.example"])
def test_legacy_and_interactive_challenges_solved_before_retry(
    stack: EmulatorStack, crawl, host: str
) -> None:
    result = crawl(
        requests=[
            {"url": f"http://{host}/p/{i}", "meta": {"proxy": stack.proxy_a.url}} for i in range(4)
        ],
        settings={**stack.scrapy_settings(), "RETRY_ENABLED": True},
    )
    assert [p["status"] for p in result.pages] == [200] * 4
    assert stack.solver.create_task_count == 1
    assert result.stat("retry/count") == 0  # Retry never saw the 503/403 challenge


@pytest.mark.parametrize(
    ("body", "ctype", "mode"),
    [
        ("q=shoes&page=2", "application/x-www-form-urlencoded", "FORM"),
        ('{"q": "shoes", "page": 2}', "application/json", "JSON"),
    ],
)
def test_post_pages_via_rqdata(
    stack: EmulatorStack, crawl, body: str, ctype: str, mode: str
) -> None:
    result = crawl(
        requests=[
            {
                "url": "http://shop.example/search",
                "method": "POST",
                "body": body,
                "headers": {"Content-Type": ctype},
                "meta": {"proxy": stack.proxy_a.url},
            }
        ],
        settings=stack.scrapy_settings("ez-captcha"),
    )
    [page] = result.pages
    assert page["status"] == 200
    assert page["posted"] == body and page["ctype"] == ctype
    [task] = stack.solver.tasks
    assert task.type == "CloudFlare5STask"
    assert task.task["rqData"]["mode"] == mode
    assert task.task["rqData"]["q"] == "shoes"
    assert isinstance(task.id, str)  # ez-captcha task ids are UUID strings, echoed back


def test_unsolved_pages_are_not_retried(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[
            {"url": "http://limited.example/", "meta": {"proxy": stack.proxy_a.url}},
            {
                "url": "http://legacy.example/",
                "meta": {"proxy": stack.proxy_a.url, "dont_solve_captcha": True},
            },
        ],
        settings={**stack.scrapy_settings(), "RETRY_ENABLED": True},
    )
    assert [p["status"] for p in result.pages] == [503]
    assert [u["status"] for u in result.unsolved] == [429]
    # Only the opted-out 503 is Retry's business (RETRY_TIMES=2): the add-on left it alone.
    assert result.stat("retry/count") == 2
    assert stack.site.count("block", host="limited.example") == 1  # 1015: not hammered


def test_opt_out_leaves_request_alone(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[
            {
                "url": "http://shop.example/",
                "meta": {"proxy": stack.proxy_a.url, "dont_solve_captcha": True},
            }
        ],
        settings=stack.scrapy_settings(),
    )
    assert [p["status"] for p in result.pages] == [403]
    assert result.pages[0]["result"] is None
    assert stack.solver.create_task_count == 0


def test_challenge_pages_never_reach_http_cache(
    stack: EmulatorStack, crawl, tmp_path: Path
) -> None:
    cache = tmp_path / "httpcache"
    settings = {**stack.scrapy_settings(), "HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(cache)}
    requests = [
        {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
        for i in range(3)
    ]
    result = crawl(requests=requests, settings=settings)
    assert [p["status"] for p in result.pages] == [200] * 3
    stored = [ast.literal_eval(m.read_text()) for m in cache.rglob("meta")]
    assert sorted(m["status"] for m in stored) == [200, 200, 200]
    # An opted-out request's challenge is not cached either.
    opt_out = [
        {
            "url": "http://shop.example/opt",
            "meta": {"proxy": stack.proxy_a.url, "dont_solve_captcha": True},
        }
    ]
    assert [p["status"] for p in crawl(requests=opt_out, settings=settings).pages] == [403]
    assert len(list(cache.rglob("meta"))) == 3
    # A second crawl is served from the cache: no site traffic, no solve.
    stack.site.reset_events()
    again = crawl(requests=requests, settings=settings)
    assert [p["status"] for p in again.pages] == [200] * 3
    assert stack.site.events == [] and stack.solver.create_task_count == 1


def test_spider_metadata_kept_on_reissue(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=[
            {
                "url": "http://shop.example/a",
                "tag": "kept",
                "meta": {"proxy": stack.proxy_a.url, "cookiejar": 7, "custom": "x"},
            }
        ],
        settings=stack.scrapy_settings(),
    )
    [page] = result.pages
    assert page["status"] == 200 and page["tag"] == "kept" and page["cookiejar"] == 7
    assert page["result"]["solved"] and page["result"]["attempts"] == 1
    assert page["result"]["variant"] == "managed"
    assert page["result"]["task_id"] == stack.solver.tasks[0].id
    assert_clean_log(result)


def test_download_async_requests_wait_inline(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        download_async=["http://shop.example/robots-like"],
        requests=[],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_PROXY": stack.proxy_a.url,
            "CAPTCHA_DOMAIN_PROXIES": {"shop.example": stack.proxy_a.url},
        },
    )
    [fetched] = result.download_async
    assert fetched["status"] == 200 and "shop.example /robots-like" in fetched["body"]
    assert stack.solver.create_task_count == 1
