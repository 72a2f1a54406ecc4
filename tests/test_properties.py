"""Property-based tests: detection and solver-reply parsing over any input, never an
exception, always a typed answer, and whatever they accept can go on the wire."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.utils.httpobj import urlparse_cached

from scrapy_captcha.detect._detection import Challenge, detect
from scrapy_captcha.detect._widgets import Widget, find_widgets
from scrapy_captcha.policy._outbound import Outbound, is_internal, judge
from scrapy_captcha.routes.clearance import Clearance, replayable
from scrapy_captcha.services._solutions import (
    CloudflareSolution,
    TokenSolution,
    classify_error,
    parse_cloudflare_solution,
    parse_text_solution,
    parse_token_solution,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TAGS = [
    "<html>",
    "<head>",
    "<title>Just a moment...</title>",
    "<body>",
    "<form method=post action='/v'>",
    "</form>",
    "<div class='cf-turnstile' data-sitekey='0x4AAAAAAABkMYinukE8nzYS'>",
    "<div class=g-recaptcha data-sitekey=6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf>",
    "<button class='g-recaptcha' data-action='x' data-sitekey=''>",
    "<script src='https://www.google.com/recaptcha/api.js?render=6LcR_okUAAAAAPYrPe-HK_0RU'>",
    "<script src='https://challenges.cloudflare.com/turnstile/v0/api.js'></script>",
    "<script>turnstile.render('#x', {sitekey: '0x4AAAAAAABkMYinukE8nzYS'})</script>",
    "<script>grecaptcha.execute('k', {action: 'a'})</script>",
    "<script>window._cf_chl_opt={cType:'managed'}</script>",
    "/cdn-cgi/challenge-platform/h/b/orchestrate/",
    "<div id='cf-error-details'>Error 1020</div>",
    "<input type=hidden name=g-recaptcha-response>",
    "<input name=user>",
    "</div>",
    "<pre>",
    "captcha",
    "\x00",
    "\u2603",
]
html_bodies = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=40)), max_size=60).map(
    "".join
)
encodings = st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252", "utf-32", "bogus"])
headers = st.dictionaries(
    st.sampled_from(["Server", "cf-mitigated", "Content-Type", "CF-RAY", "Content-Encoding"]),
    st.sampled_from(["cloudflare", "challenge", "text/html", "text/html; charset=utf-16", "x"]),
    max_size=4,
)


def _response(body: str, encoding: str, status: int, hdrs: dict[str, str]) -> Response:
    try:
        raw = body.encode(encoding, "replace")
    except LookupError:
        raw = body.encode("utf-8")
    return HtmlResponse("https://shop.example/p", status=status, headers=hdrs, body=raw)


@PROPERTY
@given(html_bodies, encodings, st.sampled_from([200, 403, 429, 503]), headers)
def test_detection_never_raises(body: str, encoding: str, status: int, hdrs: Any) -> None:
    response = _response(body, encoding, status, hdrs)
    challenge = detect(response)
    assert challenge is None or isinstance(challenge, Challenge)
    widgets = find_widgets(response)
    assert isinstance(widgets, list) and all(isinstance(w, Widget) for w in widgets)


@PROPERTY
@given(st.binary(max_size=4000), st.sampled_from([200, 403, 503]), headers)
def test_detection_of_raw_bytes_never_raises(body: bytes, status: int, hdrs: Any) -> None:
    response = Response("https://shop.example/p", status=status, headers=hdrs, body=body)
    detect(response)
    find_widgets(response)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["cf_clearance", "Mozilla/5.0", "a=b; c=d", "\u2603", "x\r\ny"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "solution",
                    "cookies",
                    "cookie",
                    "userAgent",
                    "user_agent",
                    "request_headers",
                    "headers",
                    "token",
                    "gRecaptchaResponse",
                    "text",
                    "respKey",
                    "name",
                    "value",
                    "expires",
                ]
            )
            | st.text(max_size=10),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _sendable(request: Request) -> None:
    for name, values in request.headers.items():
        bytes(name)
        for value in values:
            assert b"\r" not in value and b"\n" not in value


@PROPERTY
@given(st.dictionaries(st.sampled_from(["solution", "cookies", "userAgent"]), json_values))
def test_cloudflare_replies_parse_to_a_sendable_clearance_or_none(reply: Any) -> None:
    solution = parse_cloudflare_solution(reply)
    if solution is None:
        return
    assert isinstance(solution, CloudflareSolution)
    clearance = Clearance.from_solution(solution, ttl=60)
    request = Request("https://shop.example/")
    clearance.apply(request)
    _sendable(request)
    assert Clearance.from_dict(json.loads(json.dumps(clearance.to_dict()))) == clearance


@PROPERTY
@given(json_values)
def test_token_and_text_replies_parse_or_are_none(reply: Any) -> None:
    if not isinstance(reply, dict):
        reply = {"solution": reply}
    token = parse_token_solution(reply)
    assert token is None or isinstance(token, TokenSolution)
    text = parse_text_solution(reply)
    assert text is None or (isinstance(text, str) and text.strip())


@PROPERTY
@given(json_values)
def test_store_entries_are_a_clearance_or_a_value_error(entry: Any) -> None:
    try:
        clearance = Clearance.from_dict(entry)
    except ValueError:
        return
    request = Request("https://shop.example/")
    clearance.apply(request)
    _sendable(request)


@PROPERTY
@given(st.text(max_size=80))
def test_any_error_code_has_a_family(code: str) -> None:
    reason, family = classify_error(code)
    assert reason and family in ("fatal", "retry", "input", "proxy")


# -- the outbound policy: the host judged is the host Scrapy sends to ----------------------

HOST_PARTS = [
    "shop.example",
    "SHOP.Example.",
    "127.0.0.1",
    "\u2460\u2461\u2466.0.0.1",  # circled digits
    "127\u30020\u30020\u30021",  # ideographic full stops
    "\uff53\uff48\uff4f\uff50.example",  # fullwidth letters
    "[::1]",
    "[::ffff:127.0.0.1]",
    "0x7f.1",
    "2130706433",
    "xn--01aa.com",
    "\u044b\u044b.com",
    "exa%6dple.com",
    "a@b.example",
    "b.example\uff20c.example",
    "h\tost",
    "",
]
URL_NOISE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "http://",
                "https://",
                "HTTP://",
                "ftp://",
                "http:",
                "//",
                "\\",
                "@",
                ":",
                "/",
                "#",
                "?",
                ":80",
                ":8081",
                ":99999",
                ":\uff18\uff10",
                "%40",
                "%2f",
                " ",
                ".",
            ]
        ),
        st.sampled_from(HOST_PARTS),
        st.text(max_size=6),
    ),
    min_size=1,
    max_size=8,
).map("".join)
URL_SHAPED = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "http:\\\\", "http:/", "http:///"]),
    st.sampled_from(["", "", "", "user@", "127.0.0.1:9\\@", "a%40b@"]),
    st.sampled_from(HOST_PARTS),
    st.sampled_from(["", "", ":80", ":8081", ":0", ":\uff18", ":99999", ":"]),
    st.lists(
        st.sampled_from(["/", "\\", "@evil.example", "#", "?", "x", "%2f", "\u3002", " ", ":1"]),
        max_size=5,
    ).map("".join),
).map("".join)
URL_PIECES = st.one_of(URL_SHAPED, URL_NOISE)


def _sent_to(url: str) -> tuple[str, int] | None:
    """Where Scrapy's HTTP/1.1 handler connects for ``url``: Twisted's parse of
    ``request.url`` (what ``ScrapyAgent`` hands its agent), or None if Scrapy cannot
    build the request."""
    from urllib.parse import urldefrag

    from twisted.web.client import URI

    try:
        wire = Request(url).url
    except (ValueError, TypeError):
        return None
    uri = URI.fromBytes(urldefrag(wire)[0].encode("ascii"))
    return uri.host.decode("ascii").lower().strip("[]").rstrip("."), uri.port


@PROPERTY
@given(st.one_of(URL_SHAPED, URL_NOISE, st.text(max_size=40)))
def test_the_host_the_policy_judges_is_the_host_scrapy_sends_to(url: str) -> None:
    target = judge(url)
    if isinstance(target, str):
        assert target in ("bad_url", "bad_scheme")
        return
    assert target.url == Request(url).url  # the very request that will be sent
    assert _sent_to(url) == (target.origin.host, target.origin.port)
    assert urlparse_cached(Request(url)).hostname.rstrip(".") == target.origin.host
    # And the literal-address rule reads the same host: internal on the wire, internal here.
    if is_internal(target.origin.host):
        assert Outbound().refusal("https://shop.example/", url) in ("internal_address", None)
        if target.origin.host not in ("shop.example",):
            assert Outbound().refusal("https://shop.example/", url) == "internal_address"


# -- store and note entries ------------------------------------------------------------------

STORED_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Content-Length",
            "Transfer-Encoding",
            "Host",
            "Authorization",
            "Cookie",
            "Proxy-Authorization",
            "Connection",
            "TE",
            "User-Agent",
            "accept-language",
            "Accept-Encoding",
            "X-Ok",
            ":authority",
        ]
    ),
    st.sampled_from(["1", "chunked", "evil.example", "Basic eA==", "a=b", "gzip, br", "x"]),
    max_size=8,
)


@PROPERTY
@given(STORED_HEADERS, st.sampled_from(["UA", None]))
def test_a_stored_clearance_never_puts_a_forbidden_header_on_a_request(
    headers: dict[str, str], user_agent: str | None
) -> None:
    entry = {
        "cookies": {},
        "user_agent": user_agent,
        "headers": headers,
        "expires_at": 9e9,
        "id": "x",
    }
    try:
        clearance = Clearance.from_dict(json.loads(json.dumps(entry)))
    except ValueError:
        assert any(name.startswith(":") for name in headers)  # (not an HTTP token)
    else:
        request = Request("https://shop.example/")
        before = set(request.headers)
        clearance.apply(request)
        added = {bytes(n).decode().lower() for n in set(request.headers) - before}
        assert all(replayable(name) for name in added - {"user-agent", "cookie"}), added
        assert request.headers.get("Cookie") in (None, b"")
    # A Clearance built by hand (a store of the user's own) is filtered when applied too.
    direct = Request("https://shop.example/")
    Clearance(cookies={}, user_agent=None, headers=headers, expires_at=9e9).apply(direct)
    assert all(replayable(bytes(n).decode()) for n in direct.headers if bytes(n) != b"Cookie")


def _noted(raw: Any) -> Any:
    """``RedisStore.noted_task`` on a task note Redis holds as ``raw``."""
    from scrapy_captcha.routes._redis_link import RedisAddress
    from scrapy_captcha.routes._store_redis import RedisStore

    store = RedisStore(RedisAddress.parse("redis://127.0.0.1:9/0"))

    async def call(*args: Any) -> Any:
        return raw

    store.link.call = call  # type: ignore[method-assign]
    coro = store.noted_task("shop.example|direct")
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("noted_task waited on something")


@PROPERTY
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=40)))
def test_task_notes_are_a_typed_note_or_none(raw: str) -> None:
    from scrapy_captcha.routes.store import TaskNote
    from scrapy_captcha.services._wire import task_id_ok

    note = _noted(raw)
    assert note is None or (
        isinstance(note, TaskNote)
        and isinstance(note.provider, str)
        and task_id_ok(note.task_id)
        and isinstance(note.created, float)
    )


# -- shelf entries ------------------------------------------------------------------------

shelf_requests = st.builds(
    lambda url, body, meta, headers: Request(url, body=body, meta=meta, headers=headers),
    st.sampled_from(["http://x/p", "https://shop.example/a?b=c", "http://[::1]:8/x"]),
    st.binary(max_size=64),
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k != "_captcha"), json_values, max_size=4
    ),
    st.dictionaries(
        st.sampled_from(["Accept", "X-A", "Authorization", "Proxy-Authorization", "Cookie"]),
        st.text(alphabet="abc =;", min_size=1, max_size=10),
        max_size=4,
    ),
)


@PROPERTY
@given(shelf_requests, st.text(min_size=1, max_size=12))
def test_shelf_entries_round_trip_without_secrets(request: Request, park_id: str) -> None:
    from scrapy_captcha.routes._shelf_entries import ShelfKeys, decode, encode

    keys = ShelfKeys(b"s" * 32, "q:requests")
    blob = encode(request, None, keys, park_id, pickle_ok=True)
    back = decode(blob, None, keys, park_id)
    assert (back.url, back.body, back.meta) == (request.url, request.body, request.meta)
    for name in ("Accept", "X-A", "Authorization", "Proxy-Authorization"):
        assert back.headers.getlist(name) == request.headers.getlist(name)
    assert b"Cookie" not in back.headers
    for secret in ("Authorization", "Proxy-Authorization"):
        for value in request.headers.getlist(secret):
            assert len(value) < 4 or value.decode() not in blob


@PROPERTY
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.hex())))
def test_any_shelf_entry_read_back_is_a_request_or_skipped(blob: str) -> None:
    from scrapy_captcha.routes._shelf_entries import ShelfKeys, decode

    for text in (blob, f"scs1.{blob}", f"scs1.{'A' * 44}.{blob}"):
        try:
            decode(text, None, ShelfKeys(b"s" * 32, "q"), "id")
        except ValueError:  # (Unauthenticated is one)
            continue
        raise AssertionError(f"an unauthenticated entry was decoded: {text!r}")


# -- page scanners: bounded steps for any input within the window (issue 17) -----------------

SCANNER_FRAGMENTS = [
    *TAGS,
    "<script>turnstile.render('#x', {sitekey: '0x4AAAAAAABkMYinukE8nzYS', a: {",
    "<script>grecaptcha.render(document.getElementById(k), {sitekey: KEY, size: 'invisible'",
    "grecaptcha.execute(w, {action: 'a'}); ",
    "['#a', '#b'].forEach(function (s) { var el = document.querySelector(s); ",
    "var SITE_KEY = '6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf'; ",
    "{'siteKey': '6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf', 'version': 'v3', x: {",
    '})(\'6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf\', {"contactform": "c"',
    "<script data-rocket-src='https://www.google.com/recaptcha/api.js?render=6LcR_okUAAAAAP"
    "YrPe-HK_0RULO1aZM15ENyM-Mf'></script>",
    "<iframe src='https://www.google.com/recaptcha/api2/anchor?k=6LcR_okUAAAAAPYrPe-HK_0R"
    "ULO1aZM15ENyM-Mf&size=invisible'></iframe>",
    "<div data-recaptcha-public-key='6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf'>",
    "<div class='g-recaptcha' data-sitekey=''>",
    "initGeetest4({captchaId: 'e392e1d7fd421dc63325744d5a2b9c73'",
    "'",
    '"',
    "{",
    "}",
    "\\",
    "/*",
    "//",
]
#: (fragment, times): a few fragments repeated up to thousands of times reach the window
scanner_bodies = st.lists(
    st.tuples(st.sampled_from(SCANNER_FRAGMENTS), st.integers(1, 3000)), max_size=8
).map(lambda parts: "".join(f * n for f, n in parts)[: 2 * 1024 * 1024])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scanner_bodies)
def test_page_scanners_cost_bounded_steps_for_any_page(body: str) -> None:
    """Whatever a page within the 2 MiB window holds, the widget scanners spend at most
    the page's budget of Python steps and a fixed number of whole-page passes in C."""
    from scrapy_captcha.detect._page import html_page
    from scrapy_captcha.detect._scan import MAX_PASSES, MAX_STEPS
    from scrapy_captcha.detect._widgets import MAX_WIDGETS

    response = _response(body, "utf-8", 200, {"Content-Type": "text/html"})
    page = html_page(response)
    assert page is not None
    widgets = find_widgets(page)
    assert len(widgets) <= MAX_WIDGETS
    assert page.steps.used <= MAX_STEPS
    assert page.steps.passes <= MAX_PASSES


WALL_FRAGMENTS = [
    "<html><head><title>Access Denied</title></head>",
    "var dd={'rt':'c','cid':'AHrl==','hsh':'A5','t':'fe','s':1,'e':'9c',"
    "'host':'geo.captcha-delivery.com','cookie':'k~3'}",
    "var dd={'t':'bv','rt':'i','b':7,",
    "'host':'captcha-delivery.com.evil'",
    'window.gokuProps = {"key": "AQID", "iv": "CgA", "context": "Qm3"};',
    "<script src='https://a.b.token.awswaf.com/x/y/challenge.js'></script>",
    "<script src='/_Incapsula_Resource?SWJIYLWA=7'></script><meta name=robots content=noindex>",
    "Request unsuccessful. Incapsula incident ID: 12-34 _Incapsula_Resource?CWUDNSAI=1",
    "<div id='px-captcha'></div><script>window._pxAppId='PXab12';</script>Press &amp; Hold",
    "Reference&#32;&#35;18&#46;2c&#46;17 errors&#46;edgesuite&#46;net permission to access",
    "<script src='/1/2/ips.js?x=1'></script>KPSDK",
    "DDoS-Guard check.ddos-guard.net",
    "Access Denied - Sucuri Website Firewall sucuri_cloudproxy_js",
    "Radware Bot Manager Captcha perfdrive.com",
    "The request could not be satisfied. Request ID: abcdefgh12",
    "The request is blocked. Microsoft-Azure-Application-Gateway/v2",
    "<form action='/errors/validateCaptcha'><img src='https://images-na.ssl-images-amazon.com"
    "/captcha/a/b.jpg'><input type=hidden name=amzn value=1><input name=field-keywords></form>",
    "{",
    "'",
    "\x00",
]
wall_headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "x-amzn-waf-action",
            "x-iinfo",
            "x-kpsdk-ct",
            "Server",
            "x-sucuri-id",
            "x-cache",
            "x-azure-ref",
            "Set-Cookie",
        ]
    ),
    st.sampled_from(
        [
            "text/html",
            "application/json",
            "challenge",
            "captcha",
            "ddos-guard",
            "QRATOR",
            "Error from cloudfront",
            "datadome=abc; Path=/",
            "incap_ses_1=x",
            "x",
        ]
    ),
    max_size=5,
)


@PROPERTY
@given(
    st.lists(st.one_of(st.sampled_from(WALL_FRAGMENTS), st.text(max_size=40)), max_size=40).map(
        "".join
    ),
    st.sampled_from([200, 202, 401, 403, 405, 429, 502, 503]),
    wall_headers,
    st.sampled_from(
        [
            "https://shop.example/p",
            "https://www.amazon.com/dp/1",
            "https://validate.perfdrive.com/c",
        ]
    ),
)
def test_wall_detection_is_typed_and_bounded_for_any_page(
    body: str, status: int, hdrs: Any, url: str
) -> None:
    """Whatever a page holds: a Challenge of a known wall with string parameters of bounded
    size, or None; never an exception."""
    from scrapy_captcha._kinds import WALLS

    response = HtmlResponse(url, status=status, headers=hdrs, body=body.encode("utf-8"))
    challenge = detect(response)
    if challenge is None:
        return
    assert challenge.vendor in WALLS
    for name, value in challenge.params.items():
        assert isinstance(name, str) and isinstance(value, str) and len(value) <= 8192
