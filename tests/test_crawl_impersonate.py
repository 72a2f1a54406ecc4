"""End-to-end: crawls through scrapy-impersonate's download handler (curl_cffi) against the
emulators. A request re-issued with a clearance impersonates the solver's browser.

The emulators speak plain HTTP only: their forward proxies refuse CONNECT (405), so
``https://`` URLs cannot be tunnelled through them by curl_cffi or by Scrapy's own
handler; these crawls use ``http://`` URLs, which curl_cffi sends to the proxy in absolute
form like any HTTP proxy client.
"""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.http import Request, Response

from conftest import assert_clean_log, session_reactor
from scrapy_captcha._compat import spider_argument_compat
from scrapy_captcha.testing import EmulatorStack
from scrapy_captcha.testing.solver import _browser as _solver_browser

pytest.importorskip("scrapy_impersonate", reason="the test extra installs scrapy-impersonate")

pytestmark = pytest.mark.skipif(
    session_reactor() != "asyncio",
    reason="scrapy-impersonate's handler requires the asyncio reactor (it checks at start)",
)

HANDLER = "scrapy_impersonate.ImpersonateDownloadHandler"
CHROME_124 = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.{seq} Safari/537.36"
)


@spider_argument_compat
class RecordImpersonation:
    """Downloader middleware above 760: puts, for every response, the ``impersonate``
    target its request went out with and whether curl_cffi fetched it in the stats
    (``test/impersonate/<path>/<status>``), which the crawl result carries."""

    def __init__(self, crawler: Any) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> RecordImpersonation:
        return cls(crawler)

    async def process_response(self, request: Request, response: Response) -> Response:
        path = request.url.split("/", 3)[-1]
        target = request.meta.get("impersonate") or "none"
        via = "curl_cffi" if "impersonate" in response.flags else "scrapy"
        self.stats.set_value(f"test/impersonate/{path}/{response.status}", f"{target} {via}")
        return response


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch):
    # The emulated solver's browser calls itself "EmuBrowser/1.N", which no
    # impersonation target matches: give it a real Chrome 124 User-Agent (its sec-ch-ua
    # already says Chromium 124), still unique per solve.
    monkeypatch.setattr(_solver_browser, "_browser_ua", lambda seq: CHROME_124.format(seq=seq))
    with EmulatorStack(solve_latency=0.3) as s:
        s.site.add_host("shop.example", "managed")
        yield s


def settings(stack: EmulatorStack) -> dict[str, Any]:
    return {
        **stack.scrapy_settings(),
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "DOWNLOADER_MIDDLEWARES": {f"{__name__}.RecordImpersonation": 800},
    }


def pages(stack: EmulatorStack, tag: str, n: int, **meta: Any) -> list[dict[str, Any]]:
    return [
        {
            "url": f"http://shop.example/p/{tag}{i}",
            "tag": tag,
            "meta": {"proxy": stack.proxy_a.url, **meta},
        }
        for i in range(n)
    ]


def test_reissued_request_impersonates_the_solver_browser(stack: EmulatorStack, crawl) -> None:
    result = crawl(requests=pages(stack, "p", 4), settings=settings(stack))
    assert len(result.pages) == 4 and not result.errors, result.errors
    assert {p["status"] for p in result.pages} == {200}
    assert stack.solver.create_task_count == 1
    assert all(p["result"] and p["result"]["solved"] for p in result.pages)
    # The clearance's User-Agent went out, with curl_cffi impersonating that browser.
    uas = {p["user_agent"] for p in result.pages}
    assert len(uas) == 1 and "Chrome/124." in uas.pop()
    seen = {k: v for k, v in result.stats.items() if k.startswith("test/impersonate/")}
    for i in range(4):
        # Every page's 200 came through curl_cffi as Chrome 124; its first trip, if it
        # was challenged, went out through Scrapy's own handler (no target set).
        assert seen[f"test/impersonate/p/p{i}/200"] == "chrome124 curl_cffi", seen
        assert seen.get(f"test/impersonate/p/p{i}/403", "none scrapy") == "none scrapy"
    assert result.stat("impersonate/request_bytes") > 0
    assert result.reason == "finished"
    assert_clean_log(result, "test-key")


def test_spider_target_kept_only_when_it_matches(stack: EmulatorStack, crawl) -> None:
    requests = (
        pages(stack, "same", 3, impersonate="chrome124")
        + pages(stack, "older", 3, impersonate="chrome120")
        + pages(stack, "other", 3, impersonate="firefox133")
    )
    result = crawl(requests=requests, settings=settings(stack))
    assert len(result.pages) == 9 and not result.errors, result.errors
    assert {p["status"] for p in result.pages} == {200}
    seen = {k: v for k, v in result.stats.items() if k.startswith("test/impersonate/")}
    ok = {k.split("/")[3][:-1]: v for k, v in seen.items() if k.endswith("/200")}
    # A Chrome 124 choice fits the Chrome 124 clearance; Chrome 120 and Firefox do not.
    assert ok == {
        "same": "chrome124 curl_cffi",
        "older": "chrome124 curl_cffi",
        "other": "chrome124 curl_cffi",
    }
    # The first trips (those not parked while the solve ran) met the challenge with the
    # spider's own target.
    chosen = {"same": "chrome124", "older": "chrome120", "other": "firefox133"}
    challenged = [(k.split("/")[3][:-1], v) for k, v in seen.items() if k.endswith("/403")]
    assert challenged
    assert all(v == f"{chosen[group]} curl_cffi" for group, v in challenged), challenged
