"""The in-process crawl harness itself: a hung crawl fails its test in bounded time, and
no crawl leaves anything behind on the session's reactor for the next one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import _leftovers, _Session, run_crawl
from scrapy_captcha.testing import EmulatorStack


def pages(stack: EmulatorStack, n: int) -> list[dict]:
    return [
        {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
        for i in range(n)
    ]


def test_a_hung_crawl_fails_in_bounded_time_and_the_next_one_runs(tmp_path: Path) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold_timeout = 60
        stack.solver.hold()  # the solve never lands while the crawl may run
        started = time.monotonic()
        with pytest.raises(AssertionError, match="crawl did not finish within 2 s"):
            run_crawl(
                tmp_path / "hung",
                requests=pages(stack, 3),
                settings={**stack.scrapy_settings(), "CAPTCHA_SOLVE_TIMEOUT": 120},
                timeout=2,
            )
        assert time.monotonic() - started < 2 + 15  # told to stop, it closed promptly
        stack.solver.release()
        result = run_crawl(
            tmp_path / "next", requests=pages(stack, 2), settings=stack.scrapy_settings()
        )
        assert [p["status"] for p in result.pages] == [200] * 2
        assert "crawl did not finish" not in result.log


def test_nothing_is_left_on_the_reactor_between_crawls(tmp_path: Path) -> None:
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example")
        reactor = _Session.reactor()
        before = _leftovers(reactor)
        first = run_crawl(
            tmp_path / "1", requests=pages(stack, 3), settings=stack.scrapy_settings()
        )
        assert _leftovers(reactor) <= before
        second = run_crawl(
            tmp_path / "2", requests=pages(stack, 3), settings=stack.scrapy_settings()
        )
        assert _leftovers(reactor) <= before
    # Each crawl's log is its own: one start-up and one close in each.
    for result in (first, second):
        assert result.log.count("Spider opened") == 1
        assert result.log.count("Spider closed (finished)") == 1
