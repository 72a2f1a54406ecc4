"""Real crawls against a hostile site: what the add-on sends on a page's behalf obeys the
outbound policy, and every read is bounded. Each page is reached through a forward proxy
whose upstream is the hostile server, so it answers for any host name."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import assert_clean_log
from hostile import HostileSite, html
from scrapy_captcha.testing import EmulatorStack, ForwardProxy

IMAGE = {"selector": "img#captcha", "field": "code"}


class Hostile:
    def __init__(self, stack: EmulatorStack, site: HostileSite, internal: HostileSite) -> None:
        self.stack, self.site, self.internal = stack, site, internal
        self.proxy = ForwardProxy("H", upstream=("127.0.0.1", site.port))

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {**self.stack.scrapy_settings(), **extra}

    def request(self, path: str, **meta: Any) -> dict[str, Any]:
        return {
            "url": f"http://shop.example{path}",
            "tag": path,
            "meta": {"proxy": self.proxy.url, **meta},
        }


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with (
        EmulatorStack(solve_latency=0.05) as stack,
        HostileSite() as site,
        HostileSite() as internal,
    ):
        h = Hostile(stack, site, internal)
        h.proxy.start()
        try:
            yield h
        finally:
            h.proxy.stop()


def image_form(src: str) -> str:
    return (
        "<html><head><title>Sign in</title></head><body>"
        f'<form method="post" action="/login"><img id="captcha" src="{src}">'
        '<input name="code"><button>Go</button></form></body></html>'
    )


def one_page(result: Any) -> dict[str, Any]:
    assert result.outcomes == 1, (result.pages, result.errors, result.dropped)
    (page,) = result.pages
    return page


def one_unsolved(result: Any) -> dict[str, Any]:
    """The one page the add-on gave up on: to the errback, never the callback."""
    assert result.outcomes == 1, (result.pages, result.errors, result.dropped)
    (page,) = result.unsolved
    return page


@pytest.mark.parametrize(
    ("src", "reason"),
    [
        ("file:///etc/passwd", "bad_scheme"),
        ("INTERNAL/admin", "internal_address"),
        ("http://img.evil.test/c.png", "offsite"),
    ],
)
def test_captcha_image_urls_obey_the_outbound_policy(
    hostile: Hostile, crawl, src: str, reason: str
) -> None:
    src = src.replace("INTERNAL", hostile.internal.url)
    hostile.site.routes["/form"] = html(image_form(src), **{"Set-Cookie": "sid=S; Path=/"})
    result = crawl(
        requests=[hostile.request("/form", captcha={"image": IMAGE})],
        settings=hostile.settings(),
    )
    page = one_unsolved(result)
    assert page["result"]["solved"] is False and page["result"]["reason"] == reason
    assert hostile.stack.solver.create_task_count == 0  # refused before paying
    assert hostile.internal.requests == []
    assert hostile.site.hits("/c.png") == []
    assert "not solved: its image goes to" in result.log
    assert_clean_log(result)


def test_offsite_image_when_allowed_gets_none_of_the_pages_credentials(
    hostile: Hostile, crawl
) -> None:
    png = hostile.stack.authority.new_image("s1")
    hostile.site.routes["/form"] = html(
        image_form("http://img.other.test/c.png"), **{"Set-Cookie": "sid=S; Path=/"}
    )
    hostile.site.routes["/c.png"] = (200, {"Content-Type": "image/png"}, png)
    hostile.site.routes["/login"] = html("<html><body><p id='content'>in</p></body></html>")
    result = crawl(
        requests=[
            {
                **hostile.request("/form", captcha={"image": IMAGE}),
                "headers": {"Authorization": "Basic c2VjcmV0OnB3", "X-Spider-Secret": "s3"},
            }
        ],
        settings=hostile.settings(CAPTCHA_ALLOW_OFFSITE=True),
    )
    page = one_page(result)
    assert page["result"]["solved"] is True and page["content"] == "in"
    (fetch,) = hostile.site.hits("/c.png")
    assert fetch["headers"]["host"] == "img.other.test"
    for leaked in ("authorization", "x-spider-secret", "cookie"):
        assert leaked not in fetch["headers"], fetch["headers"]
    (post,) = hostile.site.hits("/login")
    assert "sid=S" in post["headers"].get("cookie", "")  # the page's own host: its session


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("http://collect.evil.test/steal", "offsite"),
        ("http://10.0.0.8/steal", "internal_address"),
        ("file:///tmp/steal", "bad_scheme"),
    ],
)
def test_gate_forms_are_only_submitted_within_the_site(
    hostile: Hostile, crawl, action: str, reason: str
) -> None:
    key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/gate"] = html(
        "<html><head><title>Verify</title>"
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script></head>'
        f'<body><form method="post" action="{action}"><input type="hidden" name="csrf" '
        f'value="c"><div class="cf-turnstile" data-sitekey="{key}"></div><button>Go</button>'
        "</form></body></html>"
    )
    result = crawl(requests=[hostile.request("/gate")], settings=hostile.settings())
    page = one_unsolved(result)
    assert page["result"]["solved"] is False and page["result"]["reason"] == reason
    assert hostile.stack.solver.create_task_count == 0
    assert hostile.site.hits("/steal") == []
    assert_clean_log(result)


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        (1200 * 1024, "image_too_large"),  # over the image cap, inside the parse window
        (5 << 20, None),  # past the parse window: never seen, never decoded
    ],
)
def test_huge_data_url_image_is_refused_before_decoding(
    hostile: Hostile, crawl, size: int, reason: str | None
) -> None:
    payload = base64.b64encode(b"\x89PNG" + b"\0" * size).decode()
    hostile.site.routes["/form"] = html(image_form(f"data:image/png;base64,{payload}"))
    result = crawl(
        requests=[hostile.request("/form", captcha={"image": IMAGE})],
        settings=hostile.settings(),
    )
    page = one_unsolved(result) if reason else one_page(result)
    assert (page["result"] or {}).get("reason") == reason
    assert hostile.stack.solver.create_task_count == 0


def test_image_download_is_cut_at_the_size_cap(hostile: Hostile, crawl) -> None:
    hostile.site.routes["/form"] = html(image_form("/big.png"))
    hostile.site.routes["/big.png"] = (200, {"Content-Type": "image/png"}, b"\0" * (3 << 19))
    result = crawl(
        requests=[hostile.request("/form", captcha={"image": IMAGE})],
        settings=hostile.settings(),
    )
    page = one_unsolved(result)
    assert page["result"]["solved"] is False and page["result"]["reason"] == "image_fetch"
    assert hostile.stack.solver.create_task_count == 0
    assert "Captcha image of http://shop.example/form not fetched" in result.log


def test_a_failed_image_fetch_spends_no_budget(hostile: Hostile, crawl) -> None:
    """The budget used to be spent before the image fetch: a spider closed
    ``captcha_budget_exhausted`` with no task created."""
    key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/form"] = html(image_form("/missing.png"))
    hostile.site.routes["/gate"] = html(
        "<html><head><title>Verify</title>"
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script></head>'
        '<body><form method="post" action="/ok"><div class="cf-turnstile" '
        f'data-sitekey="{key}"></div><button>Go</button></form></body></html>'
    )
    hostile.site.routes["/ok"] = html("<html><body><p id='content'>past</p></body></html>")
    result = crawl(
        batches=[
            {"requests": [hostile.request("/form", captcha={"image": IMAGE})]},
            {"requests": [hostile.request("/gate")]},
        ],
        settings=hostile.settings(CAPTCHA_MAX_SOLVES=1),
    )
    assert result.reason == "finished"
    by_tag = {p["tag"]: p for p in result.pages + result.unsolved}
    assert by_tag["/form"]["reason"] == "image_fetch"
    assert by_tag["/gate"]["content"] == "past" and by_tag["/gate"]["result"]["solved"]
    assert hostile.stack.solver.create_task_count == 1


def test_cloudflare_cookies_a_site_sets_stay_with_their_route(hostile: Hostile, crawl) -> None:
    """A ``cf_clearance`` / ``__cf_bm`` set by a page used to enter Scrapy's cookie jar,
    shared by every proxy, and leave through the others."""
    hostile.site.routes["/set"] = html(
        "<html><body>set</body></html>",
        **{"Set-Cookie": "cf_clearance=CLR; Path=/; Max-Age=600"},
    )
    hostile.site.routes["/again"] = html("<html><body>again</body></html>")
    other = ForwardProxy("H2", upstream=("127.0.0.1", hostile.site.port)).start()
    try:
        result = crawl(
            batches=[
                {"requests": [hostile.request("/set")]},
                {
                    "requests": [
                        {**hostile.request("/again"), "tag": "same"},
                        {
                            "url": "http://shop.example/again?via=other",
                            "tag": "other",
                            "meta": {"proxy": other.url},
                        },
                    ]
                },
            ],
            settings=hostile.settings(),
        )
    finally:
        other.stop()
    assert len(result.pages) == 3
    cookies = {r["path"]: r["headers"].get("cookie", "") for r in hostile.site.hits("/again")} | {
        r["path"]: r["headers"].get("cookie", "")
        for r in hostile.site.requests
        if r["path"].startswith("/again?via=other")
    }
    assert "cf_clearance=CLR" in cookies["/again"]  # the same route: kept and sent
    assert "cf_clearance" not in cookies["/again?via=other"]  # another proxy: never
