"""Single flight, fairness, expiry, budget and shutdown."""

from __future__ import annotations

import pytest

from conftest import REACTORS, assert_clean_log
from scrapy_captcha.testing import EmulatorStack


def test_single_flight_for_concurrent_requests(crawl) -> None:
    with EmulatorStack(solve_latency=0.5) as stack:
        stack.site.add_host("shop.example")
        result = crawl(
            requests=[
                {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
                for i in range(40)
            ],
            settings={**stack.scrapy_settings(), "CONCURRENT_REQUESTS_PER_DOMAIN": 16},
        )
        assert [p["status"] for p in result.pages] == [200] * 40
        assert stack.solver.create_task_count == 1
        # Only the first wave (at most 16 at once) met the challenge, plus the solving
        # browser's own first visit; the rest waited instead of asking the site.
        assert stack.site.count("challenge", exit="A") <= 16 + 1
        assert stack.site.count("page", exit="A") == 40 + 1  # + the solver's own load
        assert result.stat("captcha/cache/hit") == 40  # every page went with the clearance


def test_waiting_requests_do_not_starve_other_domains(crawl) -> None:
    """CONCURRENT_REQUESTS=16; 30 requests of 6 challenged domains wait on held solves
    while 40 requests to an unchallenged domain are issued: all 40 complete first. The
    spider releases the solver once it has the 40 pages; had the waiting requests held
    downloader slots, the 40 could not arrive until the solver's own hold timed out."""
    with EmulatorStack() as stack:
        stack.solver.hold_timeout = 40
        hosts = [f"shop{i}.example" for i in range(6)]
        for host in hosts:
            stack.site.add_host(host)
        stack.solver.hold()
        meta = {"proxy": stack.proxy_a.url}
        challenged = [
            {"url": f"http://{h}/p/{j}", "tag": "challenged", "meta": meta}
            for h in hosts
            for j in range(5)
        ]
        open_pages = [
            {"url": f"http://open.example/p/{j}", "tag": "open", "meta": meta} for j in range(40)
        ]
        result = crawl(
            requests=challenged + open_pages,
            settings={**stack.scrapy_settings(), "CONCURRENT_REQUESTS": 16},
            release={"tag": "open", "count": 40, "url": f"{stack.solver.url}/_control/release"},
        )
        assert len(result.tagged("open")) == 40 and len(result.tagged("challenged")) == 30
        assert all(p["status"] == 200 for p in result.pages)
        order = [p["tag"] for p in result.pages]
        assert order[:40] == ["open"] * 40, order
        assert result.released_at == 40  # released by the spider, not by the hold timeout
        assert stack.solver.create_task_count == 6


def test_site_side_expiry_invalidates_and_resolves(crawl) -> None:
    with EmulatorStack(clearance_ttl=1.0) as stack:
        stack.site.add_host("shop.example")
        meta = {"proxy": stack.proxy_a.url}
        result = crawl(
            batches=[
                {
                    "requests": [
                        {"url": f"http://shop.example/a{i}", "tag": "1", "meta": meta}
                        for i in range(3)
                    ]
                },
                {
                    "delay": 1.5,
                    "requests": [
                        {"url": f"http://shop.example/b{i}", "tag": "2", "meta": meta}
                        for i in range(3)
                    ],
                },
            ],
            settings=stack.scrapy_settings(),
        )
        assert [p["status"] for p in result.pages] == [200] * 6
        assert stack.solver.create_task_count == 2
        assert result.stat("captcha/cache/invalidated") == 1


def test_local_ttl_expiry_resolves_without_sending_a_stale_clearance(crawl) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        meta = {"proxy": stack.proxy_a.url}
        result = crawl(
            batches=[
                {"requests": [{"url": "http://shop.example/a", "meta": meta}]},
                {"delay": 1.5, "requests": [{"url": "http://shop.example/b", "meta": meta}]},
            ],
            settings={**stack.scrapy_settings(), "CAPTCHA_CLEARANCE_TTL": 1},
        )
        assert [p["status"] for p in result.pages] == [200] * 2
        assert stack.solver.create_task_count == 2
        assert result.stat("captcha/cache/invalidated") == 0


def test_budget_stops_spending_not_crawling(crawl) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        requests = [{"url": "http://shop.example/a", "meta": {"proxy": stack.proxy_a.url}}]
        requests += [
            {
                "url": "http://shop.example/b",
                "meta": {"proxy": stack.proxy_b.url_with("alice", "s3cret")},
            }
        ]
        result = crawl(
            batches=[{"requests": requests[:1]}, {"requests": requests[1:]}],
            settings={**stack.scrapy_settings(), "CAPTCHA_MAX_SOLVES": 1},
        )
        assert stack.solver.create_task_count == 1
        assert result.reason == "finished"
        assert [p["status"] for p in result.pages] == [200]
        assert result.reasons() == ["budget"]
        assert result.stat("captcha/unsolved/budget") == 1
        assert_clean_log(result, "s3cret")


@pytest.mark.parametrize("reactor", REACTORS)
def test_closing_mid_solve_gives_every_request_one_outcome(crawl, reactor: str) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold_timeout = 60
        stack.solver.hold()
        n = 8
        result = crawl(
            reactor=reactor,
            requests=[
                {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
                for i in range(n)
            ]
            + [
                {
                    "url": "http://open.example/x",
                    "tag": "open",
                    "meta": {"proxy": stack.proxy_a.url},
                }
            ],
            settings={
                **stack.scrapy_settings(),
                "CLOSESPIDER_TIMEOUT": 2,
                "CAPTCHA_SOLVE_TIMEOUT": 120,
            },
            timeout=60,
        )
        assert result.reason == "closespider_timeout"
        assert len(result.tagged("open")) == 1
        # Each waiting request ended exactly once (here: dropped like a scheduled request,
        # with the request_dropped signal), none twice, none lost.
        assert len(result.dropped) == n and len(set(result.dropped)) == n
        assert result.outcomes == n + 1
        assert result.stat("captcha/dropped_on_close") == n
        assert_clean_log(result, "test-key")
