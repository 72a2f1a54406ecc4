"""Property-based tests: detection and solver-reply parsing over any input, never an
exception, always a typed answer, and whatever they accept can go on the wire."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.http import HtmlResponse, Response

from scrapy_captcha._detection import Challenge, detect
from scrapy_captcha._solutions import (
    CloudflareSolution,
    TokenSolution,
    classify_error,
    parse_cloudflare_solution,
    parse_text_solution,
    parse_token_solution,
)
from scrapy_captcha._widgets import Widget, find_widgets
from scrapy_captcha.clearance import Clearance

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
    from scrapy_captcha._page import html_page
    from scrapy_captcha._scan import MAX_PASSES, MAX_STEPS
    from scrapy_captcha._widgets import MAX_WIDGETS

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
