"""Real crawls against a hostile site: what the add-on sends on a page's behalf obeys the
outbound policy, and every read is bounded. Each page is reached through a forward proxy
whose upstream is the hostile server, so it answers for any host name."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import assert_clean_log
from hostile import HostileSite, LocalNames, html
from scrapy_captcha.policy._outbound import Outbound
from scrapy_captcha.testing import EmulatorStack, ForwardProxy, RedisServer

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


# -- round 2: the URL judged is the URL sent, by origin, at every hop, resolved -----------


def wire_hosts(site: HostileSite) -> set[str]:
    """The Host of every request that reached the site (through the forward proxy)."""
    return {r["headers"].get("host", "") for r in site.requests}


def turnstile_gate(key: str, action: str) -> str:
    return (
        "<html><head><title>Verify</title>"
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script></head>'
        f'<body><form method="post" action="{action}"><input type="hidden" name="csrf" '
        f'value="c"><div class="cf-turnstile" data-sitekey="{key}"></div><button>Go</button>'
        "</form></body></html>"
    )


@pytest.mark.parametrize(
    "src",
    [
        "http://127.0.0.1:PORT\\@shop.example/c.png",  # urlsplit: shop.example
        "http://\u2460\u2461\u2466.0.0.1:PORT/c.png",  # circled digits: 127.0.0.1
        "http://127\u30020\u30020\u30021:PORT/c.png",  # ideographic full stops
    ],
    ids=["backslash", "circled-digits", "ideographic-dots"],
)
def test_the_image_url_judged_is_the_one_sent(hostile: Hostile, crawl, src: str) -> None:
    """The policy read the raw string (``urlsplit``); Scrapy normalises it before sending:
    the backslash one was fetched from 127.0.0.1 and uploaded."""
    src = src.replace("PORT", str(hostile.internal.port))
    hostile.site.routes["/form"] = html(image_form(src))
    png = hostile.stack.authority.new_image("s1")
    for path in ("/@shop.example/c.png", "/c.png"):  # what 127.0.0.1 would serve
        hostile.site.routes[path] = (200, {"Content-Type": "image/png"}, png)
    result = crawl(
        requests=[
            hostile.request("/form", captcha={"image": IMAGE}, handle_captcha_unsolved=True)
        ],
        settings=hostile.settings(),
    )
    page = one_page(result)
    assert page["result"]["reason"] == "internal_address"
    assert wire_hosts(hostile.site) == {"shop.example"}  # nothing went to 127.0.0.1
    assert hostile.stack.solver.create_task_count == 0
    assert_clean_log(result)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("http://127.0.0.1:PORT\\@shop.example/steal", "internal_address"),
        ("http://shop.example\uff20127.0.0.1:PORT/steal", "bad_url"),  # fullwidth @
    ],
    ids=["backslash", "fullwidth-at"],
)
def test_gate_form_actions_are_judged_as_sent(
    hostile: Hostile, crawl, action: str, reason: str
) -> None:
    """A backslash action posted the form and its token to 127.0.0.1 even with
    allowed_domains; an action Python cannot parse was a traceback."""
    key = hostile.stack.authority.register("turnstile")
    action = action.replace("PORT", str(hostile.internal.port))
    hostile.site.routes["/gate"] = html(turnstile_gate(key, action))
    result = crawl(
        requests=[hostile.request("/gate", handle_captcha_unsolved=True)],
        settings=hostile.settings(),
        allowed_domains=["shop.example"],
    )
    page = one_page(result)
    assert page["result"]["solved"] is False and page["result"]["reason"] == reason
    assert result.stat(f"captcha/unsolved/{reason}") == 1
    assert hostile.stack.solver.create_task_count == 0
    assert wire_hosts(hostile.site) == {"shop.example"}
    assert_clean_log(result)


def test_another_port_of_the_pages_host_is_another_origin(hostile: Hostile, crawl) -> None:
    """An admin service on another port of the page's host got the spider's Cookie,
    Authorization and own headers with the image fetch, and the page's session with the
    form."""
    png = hostile.stack.authority.new_image("s1")
    hostile.site.routes["/form"] = html(
        image_form("http://shop.example:8081/c.png"), **{"Set-Cookie": "sid=S; Path=/"}
    )
    hostile.site.routes["/c.png"] = (200, {"Content-Type": "image/png"}, png)
    hostile.site.routes["/login"] = html("<html><body><p id='content'>in</p></body></html>")
    key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/gate"] = html(
        turnstile_gate(key, "http://shop.example:8081/login"), **{"Set-Cookie": "gid=G; Path=/"}
    )
    secrets = {"Authorization": "Basic c2VjcmV0OnB3", "X-Spider-Secret": "s3"}
    result = crawl(
        requests=[
            {**hostile.request("/form", captcha={"image": IMAGE}), "headers": secrets},
            {**hostile.request("/gate"), "headers": secrets},
        ],
        settings=hostile.settings(),
    )
    assert len(result.pages) == 2 and all(p["content"] == "in" for p in result.pages)
    (fetch,) = hostile.site.hits("/c.png")
    assert fetch["headers"]["host"] == "shop.example:8081"
    posts = {r["headers"]["host"]: r for r in hostile.site.hits("/login")}
    for sent in (fetch, posts["shop.example:8081"]):
        for leaked in ("authorization", "x-spider-secret", "cookie"):
            assert leaked not in sent["headers"], sent["headers"]
    # The image form posts to the page's own origin: its session goes with it.
    assert "sid=S" in posts["shop.example"]["headers"].get("cookie", "")
    assert_clean_log(result)


def test_another_port_of_an_internal_host_is_refused_like_another_host(
    hostile: Hostile, crawl
) -> None:
    """The page is the (emulated, public) site on 127.0.0.1:SITE; its image on another
    port of 127.0.0.1 is an internal service, refused as another internal host would be.
    (Before: same host name, so no check at all.)"""
    hostile.site.routes["/form"] = html(
        image_form(f"http://127.0.0.1:{hostile.internal.port}/admin.png")
    )
    hostile.internal.routes["/admin.png"] = (200, {"Content-Type": "image/png"}, b"\x89PNG")
    result = crawl(
        requests=[
            {
                "url": f"{hostile.site.url}/form",
                "meta": {"captcha": {"image": IMAGE}, "handle_captcha_unsolved": True},
            }
        ],
        settings=hostile.settings(CAPTCHA_PUBLIC_ADDRESSES=[f"127.0.0.1:{hostile.site.port}"]),
    )
    page = one_page(result)
    assert page["result"]["reason"] == "internal_address"
    assert hostile.internal.requests == []
    assert hostile.stack.solver.create_task_count == 0


def redirect(location: str, status: int = 302) -> Any:
    return status, {"Location": location, "Content-Type": "text/plain"}, b""


def test_an_image_redirect_to_an_internal_address_is_not_followed(hostile: Hostile, crawl) -> None:
    """A 302 to 127.0.0.1 was fetched and uploaded to the solver."""
    png = hostile.stack.authority.new_image("s1")
    hostile.site.routes["/form"] = html(image_form("/c.png"))
    hostile.site.routes["/c.png"] = redirect(f"http://127.0.0.1:{hostile.internal.port}/admin")
    hostile.site.routes["/admin"] = (200, {"Content-Type": "image/png"}, png)
    result = crawl(
        requests=[
            hostile.request("/form", captcha={"image": IMAGE}, handle_captcha_unsolved=True)
        ],
        settings=hostile.settings(),
    )
    page = one_page(result)
    assert page["result"]["reason"] == "internal_address"
    assert wire_hosts(hostile.site) == {"shop.example"}
    assert hostile.site.hits("/admin") == []
    assert hostile.stack.solver.create_task_count == 0
    assert "Captcha image fetch for http://shop.example/form not sent" in result.log


def test_a_submission_redirect_to_an_internal_address_is_not_followed(
    hostile: Hostile, crawl
) -> None:
    """A 307 re-posted the form and its token to 127.0.0.1. The token is spent (the
    redirect is only known once posted): the request gives up, never a success."""
    key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/gate"] = html(turnstile_gate(key, "/login"))
    hostile.site.routes["/login"] = redirect(
        f"http://127.0.0.1:{hostile.internal.port}/steal", 307
    )
    hostile.site.routes["/steal"] = html("<html><body><p id='content'>stolen</p></body></html>")
    result = crawl(requests=[hostile.request("/gate")], settings=hostile.settings())
    assert result.outcomes == 1 and result.pages == []
    (refused,) = result.unsolved  # (CaptchaUnsolved, with no page: never sent there)
    assert refused["reason"] == "internal_address" and refused["status"] is None
    assert "refused by the outbound policy" in refused["message"]
    assert result.stat("captcha/unsolved/internal_address") == 1
    assert hostile.site.hits("/steal") == []
    assert len(hostile.site.hits("/login")) == 1
    assert_clean_log(result)


def test_an_image_redirect_to_another_site_gets_none_of_the_spiders_headers(
    hostile: Hostile, crawl
) -> None:
    """A 302 to another site received the spider's X-Api-Token (Scrapy's redirect takes
    only Cookie and Authorization off)."""
    png = hostile.stack.authority.new_image("s1")
    hostile.site.routes["/form"] = html(image_form("/c.png"))
    hostile.site.routes["/c.png"] = redirect("http://img.other.test/c2.png")
    hostile.site.routes["/c2.png"] = (200, {"Content-Type": "image/png"}, png)
    hostile.site.routes["/login"] = html("<html><body><p id='content'>in</p></body></html>")
    result = crawl(
        requests=[
            {
                **hostile.request("/form", captcha={"image": IMAGE}, handle_captcha_unsolved=True),
                "headers": {"X-Api-Token": "t0k3n", "Authorization": "Basic eDp5"},
            }
        ],
        settings=hostile.settings(CAPTCHA_ALLOW_OFFSITE=True),
    )
    page = one_page(result)
    assert page["content"] == "in"
    (first,) = hostile.site.hits("/c.png")
    assert first["headers"]["x-api-token"] == "t0k3n"  # the page's own origin: kept
    (hop,) = hostile.site.hits("/c2.png")
    assert hop["headers"]["host"] == "img.other.test"
    for leaked in ("x-api-token", "authorization", "cookie"):
        assert leaked not in hop["headers"], hop["headers"]
    assert hop["headers"].get("referer") == "http://shop.example/"  # (its origin only)


def test_gate_submissions_obey_allowed_domains_at_every_hop(hostile: Hostile, crawl) -> None:
    """Gate submissions were ``dont_filter``: OffsiteMiddleware let them and their
    redirects go anywhere. Now it filters them as it filters any request (no page
    reaches the spider: Scrapy drops an offsite redirect quietly, for any request)."""
    key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/gate"] = html(turnstile_gate(key, "/login"))
    hostile.site.routes["/login"] = redirect("http://collect.evil.test/next")
    hostile.site.routes["/next"] = html("<html><body><p id='content'>evil</p></body></html>")
    result = crawl(
        requests=[hostile.request("/gate")],
        settings=hostile.settings(CAPTCHA_ALLOW_OFFSITE=True),
        allowed_domains=["shop.example"],
    )
    assert result.pages == [] and result.errors == []
    assert hostile.site.hits("/next") == []
    assert result.stat("offsite/filtered") == 1


# -- names that resolve inside: no proxy, names resolved through the reactor's resolver ---


def test_a_site_name_that_resolves_inside_gets_no_request_of_the_addons(
    hostile: Hostile, crawl
) -> None:
    """``admin.shop.test`` is on the page's site, and resolves to 127.0.0.1 (another
    port: the internal service). Its image was fetched and uploaded; its form would have
    had the token posted. Both are refused before anything is paid for."""
    site, internal = hostile.site, hostile.internal
    internal_url = f"http://admin.shop.test:{internal.port}"
    site.routes["/form"] = html(image_form(f"{internal_url}/admin.png"))
    internal.routes["/admin.png"] = (200, {"Content-Type": "image/png"}, b"\x89PNG")
    key = hostile.stack.authority.register("turnstile")
    site.routes["/gate"] = html(turnstile_gate(key, f"{internal_url}/login"))
    with LocalNames({"shop.test": "127.0.0.1", "admin.shop.test": "127.0.0.1"}):
        result = crawl(
            requests=[
                {
                    "url": f"http://shop.test:{site.port}/form",
                    "tag": "image",
                    "meta": {"captcha": {"image": IMAGE}, "handle_captcha_unsolved": True},
                },
                {
                    "url": f"http://shop.test:{site.port}/gate",
                    "tag": "gate",
                    "meta": {"handle_captcha_unsolved": True},
                },
            ],
            # The emulated site is on loopback: only its exact endpoint counts as public.
            settings=hostile.settings(CAPTCHA_PUBLIC_ADDRESSES=[f"127.0.0.1:{site.port}"]),
        )
    assert len(result.pages) == 2, result.errors
    assert {p["tag"]: p["result"]["reason"] for p in result.pages} == {
        "image": "internal_address",
        "gate": "internal_address",
    }
    assert internal.requests == []
    assert hostile.stack.solver.create_task_count == 0
    assert_clean_log(result)


def test_a_name_rebound_inside_after_the_check_is_caught_at_the_peer(
    hostile: Hostile, crawl
) -> None:
    """DNS rebinding: the name resolves to a public address when the add-on asks, to
    127.0.0.1 when Scrapy connects. The connected peer is checked: the reply is not
    uploaded (the GET itself reached the internal service: see docs/security.rst)."""
    site, internal = hostile.site, hostile.internal
    site.routes["/form"] = html(image_form(f"http://img.shop.test:{internal.port}/c.png"))
    internal.routes["/c.png"] = (
        200,
        {"Content-Type": "image/png"},
        hostile.stack.authority.new_image("s1"),
    )
    names = {"shop.test": "127.0.0.1", "img.shop.test": ["93.184.216.34"] * 2 + ["127.0.0.1"]}
    with LocalNames(names):
        result = crawl(
            requests=[
                {
                    "url": f"http://shop.test:{site.port}/form",
                    "meta": {"captcha": {"image": IMAGE}, "handle_captcha_unsolved": True},
                }
            ],
            settings=hostile.settings(CAPTCHA_PUBLIC_ADDRESSES=[f"127.0.0.1:{site.port}"]),
        )
    page = one_page(result)
    assert page["result"]["reason"] == "internal_address"
    assert len(internal.hits("/c.png")) == 1
    assert hostile.stack.solver.create_task_count == 0


def test_a_stored_clearance_passes_the_solver_reply_header_filter(hostile: Hostile, crawl) -> None:
    """A well-typed clearance in Redis with ``Content-Length`` / ``Transfer-Encoding``
    hung every request of its route (120 s); ``Host``, ``Authorization``, ``Cookie`` and
    ``Proxy-Authorization`` were sent. A store entry is filtered as a solver's reply is."""
    hostile.site.routes["/p"] = html("<html><body><p id='content'>ok</p></body></html>")
    entry = {
        "cookies": {"cf_clearance": "CLR"},
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "headers": {
            "Content-Length": "999",
            "Transfer-Encoding": "chunked",
            "Host": "evil.example",
            "Authorization": "Basic ZXZpbDpldmls",
            "Cookie": "stolen=1",
            "Proxy-Authorization": "Basic cHJveHk6cHc=",
            "X-Replayed": "1",
        },
        "expires_at": time.time() + 600,
        "id": "poisoned",
    }
    with RedisServer() as redis:
        redis.command("SET", "scrapy-captcha:clearance:127.0.0.1|direct", json.dumps(entry))
        result = crawl(
            requests=[{"url": f"{hostile.site.url}/p"}],
            settings=hostile.settings(CAPTCHA_CACHE_URL=redis.url, DOWNLOAD_TIMEOUT=15),
        )
    page = one_page(result)
    assert page["content"] == "ok"
    (sent,) = hostile.site.hits("/p")
    headers = sent["headers"]
    assert headers["host"] == f"127.0.0.1:{hostile.site.port}"
    assert headers["x-replayed"] == "1" and "cf_clearance=CLR" in headers["cookie"]
    assert "stolen" not in headers["cookie"]
    for dropped in ("authorization", "proxy-authorization", "transfer-encoding"):
        assert dropped not in headers, headers
    assert sent["body"] == b""


def login_page(key: str, action: str, field: str = "cf-turnstile-response") -> str:
    return (
        "<html><head><title>Log in</title>"
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script></head>'
        f'<body><form method="post" action="{action}"><input name="user">'
        '<input name="pass" type="password"><div class="cf-turnstile" '
        f'data-sitekey="{key}" data-response-field-name="{field}"></div>'
        "<button>Log in</button></form></body></html>"
    )


def test_a_page_cannot_teach_the_filler_another_sites_login(hostile: Hostile, crawl) -> None:
    """evil.example declared a form posting to shop.example/login with its own site key and
    response field ``next``: the spider's later login to shop.example was filled with a
    token for the attacker's key in the attacker's field, a task paid per submission. A
    form posting to another site is never filled; the site's own login page still is."""
    evil_key = hostile.stack.authority.register("turnstile")
    own_key = hostile.stack.authority.register("turnstile")
    hostile.site.routes["/trap"] = html(login_page(evil_key, "http://shop.example/login", "next"))
    hostile.site.routes["/signin"] = html(login_page(own_key, "/login"))
    hostile.site.routes["/login"] = html("<html><body><p id='content'>in</p></body></html>")
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def submit(tag: str) -> dict[str, Any]:
        return {
            **hostile.request("/login"),
            "tag": tag,
            "method": "POST",
            "body": "user=u&pass=p",
            "headers": form,
            "dont_filter": True,
        }

    trap = {
        "url": "http://evil.example/trap",
        "tag": "trap",
        "meta": {"proxy": hostile.proxy.url},
    }
    result = crawl(
        batches=[
            {"requests": [trap]},
            {"requests": [submit("after-trap")]},
            {"requests": [hostile.request("/signin")]},
            {"requests": [submit("after-signin")]},
        ],
        settings=hostile.settings(),
    )
    assert len(result.pages) == 4, result.errors
    first, second = hostile.site.hits("/login")
    assert first["body"] == b"user=u&pass=p"  # never filled: no task, no "next" field
    assert b"cf-turnstile-response=" in second["body"] and b"next=" not in second["body"]
    [task] = hostile.stack.solver.tasks
    assert task.task["websiteKey"] == own_key
    assert result.stat("captcha/filled/turnstile") == 1


def test_a_solvers_cookies_never_replace_the_pages_session(hostile: Hostile, crawl) -> None:
    """The solver's reply carried ``sess=SOLVER-SESS``: it replaced the page's session in
    the gate submission. The page's own cookies win (the solver's others still go)."""
    key = "6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf"
    hostile.site.routes["/gate"] = html(
        "<html><head><title>Verify</title>"
        '<script src="https://www.google.com/recaptcha/api.js"></script></head>'
        '<body><form method="post" action="/ok"><div class="g-recaptcha" '
        f'data-sitekey="{key}"></div><button>Go</button></form></body></html>',
        **{"Set-Cookie": "sess=PAGE; Path=/"},
    )
    hostile.site.routes["/ok"] = html("<html><body><p id='content'>past</p></body></html>")
    solution = {"gRecaptchaResponse": "03A-token", "cookies": {"sess": "SOLVER-SESS", "g": "1"}}
    create = (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"errorId": 0, "taskId": 7, "status": "ready", "solution": solution}).encode(),
    )
    with HostileSite({"/createTask": create}) as solver:
        result = crawl(
            requests=[hostile.request("/gate")],
            settings=hostile.settings(CAPTCHA_API_URL=solver.url, CAPTCHA_CHECK_BALANCE=False),
        )
    page = one_page(result)
    assert page["content"] == "past"
    (post,) = hostile.site.hits("/ok")
    cookies = dict(c.split("=", 1) for c in post["headers"]["cookie"].split("; "))
    assert cookies["sess"] == "PAGE" and cookies["g"] == "1"


# -- the policy's rules on their own ---------------------------------------------------------


def test_internal_pages_keep_their_neighbours_unless_their_endpoint_is_declared_public() -> None:
    """A page on an internal address (an intranet crawl) may send to other internal
    addresses, as before; CAPTCHA_PUBLIC_ADDRESSES makes exactly one endpoint public (the
    emulated site of a test), and then its neighbours are internal to it."""
    page, neighbour = "http://127.0.0.1:8000/p", "http://127.0.0.1:9000/admin"
    assert Outbound().refusal(page, neighbour) is None
    assert Outbound().refusal(page, "http://127.0.0.1:8000/img") is None  # its own origin
    declared = Outbound(public_addresses=frozenset({("127.0.0.1", 8000)}))
    assert declared.refusal(page, neighbour) == "internal_address"
    assert declared.refusal(page, "http://127.0.0.1:8000/img") is None
    assert declared.refusal("http://127.0.0.1:8001/p", neighbour) is None  # (not that one)
    for host in ("[::ffff:127.0.0.1]", "localhost", "a.localhost", "[::1]", "10.1.2.3"):
        assert declared.refusal(page, f"http://{host}:9000/") == "internal_address", host
