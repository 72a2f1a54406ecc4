"""Regression tests for defects found in review, each once reproduced as a failing crawl."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import REACTORS, assert_clean_log, run_crawl
from scrapy_captcha.testing import EmulatorStack


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("reactor", REACTORS)
def test_download_async_with_failing_solver_is_bounded(crawl, reactor: str) -> None:
    """A direct fetch whose solve failed before it came back used to re-solve forever."""
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        result = crawl(
            reactor=reactor,
            download_async=["http://shop.example/x"],
            requests=[],
            settings={
                **stack.scrapy_settings(),
                "CAPTCHA_API_URL": f"http://127.0.0.1:{_dead_port()}/x",
                "CAPTCHA_CHECK_BALANCE": False,
                "CAPTCHA_DOMAIN_PROXIES": {"shop.example": stack.proxy_a.url},
                "CAPTCHA_MAX_ATTEMPTS": 2,
                "DOWNLOADER_MIDDLEWARES": {"mw_helpers.WaitForLandingMiddleware": 755},
            },
            timeout=60,
        )
        [fetched] = result.download_async
        assert fetched["status"] == 403
        assert result.stat("captcha/failed/connection") <= 2
        assert stack.site.count("challenge") <= 3
        assert result.reason == "finished"


@pytest.mark.parametrize("reactor", REACTORS)
def test_close_is_not_held_up_by_a_pending_solve(crawl, reactor: str) -> None:
    """An inline waiter (engine.download_async) kept the close waiting for the whole solve,
    and a solve landing during the close lost its parked requests."""
    with EmulatorStack() as stack:
        for host in ("shop.example", "other.example"):
            stack.site.add_host(host)
        stack.solver.hold_timeout = 100
        stack.solver.hold()
        meta = {"proxy": stack.proxy_a.url}
        result = crawl(
            reactor=reactor,
            download_async=["http://shop.example/inline"],
            requests=[{"url": f"http://other.example/p{i}", "meta": meta} for i in range(5)]
            + [{"url": "http://open.example/x", "tag": "open", "meta": meta}],
            settings={
                **stack.scrapy_settings(),
                "CAPTCHA_DOMAIN_PROXIES": {"shop.example": stack.proxy_a.url},
                "CLOSESPIDER_TIMEOUT": 2,
                "CAPTCHA_SOLVE_TIMEOUT": 120,
            },
            timeout=40,  # the solver holds for 100 s: only a prompt close gets under this
        )
        assert result.reason == "closespider_timeout"
        assert result.download_async == [
            {"url": "http://shop.example/inline", "error": "IgnoreRequest"}
        ]
        assert sorted(result.dropped) == sorted(f"http://other.example/p{i}" for i in range(5))
        assert len(result.tagged("open")) == 1
        assert not any(k.startswith("captcha/failed") for k in result.stats), result.stats
        assert "Solve for" not in result.log
        assert_clean_log(result, "test-key")


def test_challenge_already_in_http_cache_is_fetched_afresh(tmp_path: Path) -> None:
    """A challenge cached before the add-on guarded the cache used to be solved, then served
    from the cache again, on every attempt."""
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        settings = {
            **stack.scrapy_settings(),
            "HTTPCACHE_ENABLED": True,
            "HTTPCACHE_DIR": str(tmp_path / "cache"),
        }
        requests = [{"url": "http://shop.example/a", "meta": {"proxy": stack.proxy_a.url}}]
        (tmp_path / "1").mkdir()
        (tmp_path / "2").mkdir()
        before = run_crawl(
            tmp_path / "1", requests=requests, settings={**settings, "CAPTCHA_ENABLED": False}
        )
        assert [p["status"] for p in before.pages] == [403]
        after = run_crawl(tmp_path / "2", requests=requests, settings=settings)
        assert [p["status"] for p in after.pages] == [200]
        assert stack.solver.create_task_count == 1
        assert after.stat("captcha/http_cache_bypassed") == 1
        assert after.stat("captcha/cache/invalidated") == 0


def test_clearance_never_follows_a_request_to_another_proxy(tmp_path: Path) -> None:
    """Re-issued requests moved to another proxy by a rotation middleware used to carry
    the first proxy's cf_clearance and User-Agent (with COOKIES_ENABLED=False)."""
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        stack.solver.set_fault("bad_clearance", times=1)  # A's first clearance won't take
        spy = tmp_path / "spy.jsonl"
        a, b = stack.proxy_a.url, stack.proxy_b.url_with("alice", "s3cret")
        result = run_crawl(
            tmp_path,
            requests=[{"url": "http://shop.example/a", "meta": {"proxy": a}}],
            settings={
                **stack.scrapy_settings(),
                "COOKIES_ENABLED": False,
                "TEST_ROTATING_PROXY": b,
                "TEST_SPY_FILE": str(spy),
                "DOWNLOADER_MIDDLEWARES": {
                    "mw_helpers.RotateAfterChallengeMiddleware": 610,
                    "mw_helpers.SpyMiddleware": 800,
                },
            },
        )
        sent = [json.loads(line) for line in spy.read_text().splitlines()]
        assert [p["status"] for p in result.pages] == [200]
        via_a = [s for s in sent if s["proxy"] == a]
        via_b = [s for s in sent if s["proxy"] != a]
        a_cookies = {c for s in via_a for c in s["cookie"].split("; ") if "cf_clearance" in c}
        assert a_cookies and via_b
        # The first request through B carried nothing of A's: no cookie, Scrapy's own UA.
        assert via_b[0]["cookie"] == "" and via_b[0]["ua"].startswith("Scrapy/")
        assert not any(c in s["cookie"] for s in via_b for c in a_cookies)
        assert len(stack.solver.tasks) == 3  # A (forged), A again, then B
        assert_clean_log(result, "s3cret")


def test_several_direct_fetches_wait_on_one_solve(crawl) -> None:
    """Each inline waiter needs its own Deferred; a shared one releases the first only."""
    with EmulatorStack(solve_latency=0.5) as stack:
        stack.site.add_host("shop.example")
        urls = [f"http://shop.example/direct/{i}" for i in range(3)]
        result = crawl(
            download_async=urls,
            requests=[],
            settings={
                **stack.scrapy_settings(),
                "CAPTCHA_DOMAIN_PROXIES": {"shop.example": stack.proxy_a.url},
            },
            timeout=60,
        )
        assert sorted(r["url"] for r in result.download_async) == urls
        assert {r.get("status") for r in result.download_async} == {200}
        assert stack.solver.create_task_count == 1


def test_reissued_requests_pass_the_duplicate_filter(crawl) -> None:
    """The spider's requests here do not set dont_filter: re-issues must."""
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        result = crawl(
            requests=[
                {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
                for i in range(5)
            ],
            settings=stack.scrapy_settings(),
        )
        assert [p["status"] for p in result.pages] == [200] * 5
        assert result.stat("dupefilter/filtered") == 0
