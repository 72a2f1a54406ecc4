"""Widget detection, task building, solution parsing and form fields: pure functions."""

from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse, Request, TextResponse

from scrapy_captcha._state import RequestState
from scrapy_captcha.api import Token
from scrapy_captcha.detect._page import decode_data_url, find_image, html_page
from scrapy_captcha.detect._widgets import Widget, find_widgets
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.flows._forms import submission_fields
from scrapy_captcha.flows._jobs import page_cookies
from scrapy_captcha.services._solutions import (
    TokenSolution,
    parse_text_solution,
    parse_token_solution,
)
from scrapy_captcha.services.providers import EzCaptcha, OneCaptcha, Provider
from scrapy_captcha.settings import parse_widget_modes

TS = "0x4AAAAAAABkMYinukE8nzYS"
RC = "6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf"
HC = "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"
TS_API = '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async></script>'
RC_API = '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'


def page(body: str, url: str = "https://site.example/gate", title: str = "Gate") -> HtmlResponse:
    html = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
    return HtmlResponse(url, body=html.encode(), headers={"Content-Type": "text/html"})


def one(response: HtmlResponse) -> Widget:
    (widget,) = find_widgets(response)
    return widget


def test_turnstile_gate_with_action_cdata_and_custom_field() -> None:
    w = one(
        page(
            f'{TS_API}<form action="/search"><input type="text" name="q"></form>'
            '<form id="gate" method="post" action="/verify"><input type="hidden" name="csrf" '
            f'value="x"><div class="cf-turnstile" data-sitekey="{TS}" data-action="login" '
            'data-cdata="abc" data-response-field-name="answer"></div><button>Go</button></form>'
        )
    )
    assert (w.kind, w.sitekey, w.action, w.cdata) == ("turnstile", TS, "login", "abc")
    assert w.response_field == "answer" and w.task_key == "turnstile"
    assert w.form is not None and w.form.index == 1 and w.form.is_gate
    assert w.form.action == "https://site.example/verify" and w.form.method == "POST"


def test_turnstile_default_field_and_explicit_render() -> None:
    w = one(
        page(
            f'{TS_API}<form method="post"><div id="ts"></div></form><script>'
            f"turnstile.render('#ts', {{ sitekey: '{TS}', action: 'signup', cData: 'c1' }});"
            "</script>"
        )
    )
    assert (w.kind, w.action, w.cdata) == ("turnstile", "signup", "c1")
    assert w.response_field == "cf-turnstile-response" and w.form is not None


@pytest.mark.parametrize(
    ("markup", "kind", "invisible"),
    [
        (f'{RC_API}<div class="g-recaptcha" data-sitekey="{RC}"></div>', "recaptcha_v2", False),
        (
            f'{RC_API}<button class="g-recaptcha" data-sitekey="{RC}" data-size="invisible">'
            "Go</button>",
            "recaptcha_v2_invisible",
            True,
        ),
        (
            '<script src="https://www.google.com/recaptcha/enterprise.js"></script>'
            f'<div class="g-recaptcha" data-sitekey="{RC}"></div>',
            "recaptcha_enterprise",
            False,
        ),
    ],
)
def test_recaptcha_v2_variants(markup: str, kind: str, invisible: bool) -> None:
    w = one(page(markup))
    assert (w.kind, w.sitekey, w.invisible, w.version) == (kind, RC, invisible, "v2")
    assert w.response_field == "g-recaptcha-response" and w.form is None
    assert w.task_key == ("recaptcha_v2_enterprise" if w.enterprise else "recaptcha_v2")


@pytest.mark.parametrize("quote", ["'", '"'])
def test_recaptcha_v3_action_and_form_field(quote: str) -> None:
    q = quote
    w = one(
        page(
            f'<script src="https://www.google.com/recaptcha/api.js?render={RC}"></script>'
            '<form method="post" action="/next"><input type="hidden" name="recaptcha_token">'
            "<button>Go</button></form><script>grecaptcha.ready(function() {"
            f"grecaptcha.execute({q}{RC}{q}, {{action: {q}checkout{q}}}).then(f); }});</script>",
            title="Shop checkout",
        )
    )
    assert (w.kind, w.version, w.action) == ("recaptcha_v3", "v3", "checkout")
    assert w.response_field == "recaptcha_token" and w.form is not None
    assert w.page_title == "Shop checkout"


def test_recaptcha_v3_enterprise_with_key_in_a_variable() -> None:
    w = one(
        page(
            f'<script src="https://www.recaptcha.net/recaptcha/enterprise.js?render={RC}">'
            f"</script><script>var k = '{RC}'; grecaptcha.enterprise.ready(() => "
            "grecaptcha.enterprise.execute(k, { action: 'LOGIN' }));</script>"
        )
    )
    assert (w.kind, w.version, w.action, w.enterprise) == (
        "recaptcha_enterprise",
        "v3",
        "LOGIN",
        True,
    )
    assert w.task_key == "recaptcha_v3_enterprise"


def test_hcaptcha_is_recognised() -> None:
    w = one(
        page(
            '<script src="https://js.hcaptcha.com/1/api.js"></script>'
            f'<form method="post"><div class="h-captcha" data-sitekey="{HC}"></div></form>'
        )
    )
    assert (w.kind, w.sitekey, w.response_field) == ("hcaptcha", HC, "h-captcha-response")


@pytest.mark.parametrize(
    "body",
    [
        "<p>We compared reCAPTCHA, hCaptcha and Cloudflare Turnstile.</p>",
        f'<pre><code>&lt;div class="g-recaptcha" data-sitekey="{RC}"&gt;</code></pre>',
        f'<pre><div class="g-recaptcha" data-sitekey="{RC}"></div></pre>',
        f'<code><div class="cf-turnstile" data-sitekey="{TS}"></div></code>',
        f'<textarea><div class="g-recaptcha" data-sitekey="{RC}"></div></textarea>',
        f"<script>window.cfg = {{hint: \"grecaptcha.execute('{RC}', {{action: 'x'}})\"}};"
        "</script>",
        # A render call without the API script is someone's documentation, not a widget.
        f"<script>turnstile.render('#x', {{sitekey: '{TS}'}});</script>",
        '<script src="https://www.google.com/recaptcha/api.js?render=explicit"></script>',
    ],
)
def test_not_widgets(body: str) -> None:
    assert find_widgets(page(body)) == []


def test_non_html_and_marker_free_pages_are_skipped() -> None:
    json_reply = TextResponse(
        "https://a.example/x",
        body=f'{{"sitekey": "{RC}"}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert find_widgets(json_reply) == []
    assert find_widgets(page("<p>" + "plain text " * 10000 + "</p>")) == []


def test_form_needing_input_is_not_a_gate() -> None:
    w = one(
        page(
            f'{TS_API}<form method="post"><input type="email" name="email">'
            '<input type="password" name="pw"><input type="text" name="prefilled" value="x">'
            '<textarea name="note"></textarea><input type="hidden" name="csrf">'
            f'<div class="cf-turnstile" data-sitekey="{TS}"></div></form>'
        )
    )
    assert w.form is not None and not w.form.is_gate
    assert w.form.needs_input == ("email", "pw", "note")


def test_find_image_url_data_and_form() -> None:
    r = page(
        '<form method="post" action="/login"><img id="c" src="/img/c.png?x=1">'
        '<input name="code"></form>'
    )
    image = find_image(r, "img#c", "code")
    assert image is not None and image.url == "https://site.example/img/c.png?x=1"
    assert image.form is not None and image.form.action == "https://site.example/login"
    inline = page('<form method="post"><img id="c" src="data:image/png;base64,aGk="></form>')
    found = find_image(inline, "//img[@id='c']", "code")
    assert found is not None and found.data == b"hi" and found.url is None
    assert find_image(r, "img#missing", "code") is None
    with pytest.raises(ValueError, match="not valid"):
        find_image(r, "img[", "code")
    assert decode_data_url("data:text/plain,a%20b") == b"a b"
    with pytest.raises(ValueError):
        decode_data_url("data:image/png;base64,@@@")


def test_provider_tasks_per_profile() -> None:
    ts = one(
        page(
            f'{TS_API}<div class="cf-turnstile" data-sitekey="{TS}" data-action="a" '
            'data-cdata="c"></div>'
        )
    )
    assert OneCaptcha().widget_task(ts) == {  # (1captcha documents neither action nor cData)
        "type": "TurnstileTaskProxyless",
        "websiteURL": "https://site.example/gate",
        "websiteKey": TS,
    }
    assert OneCaptcha().unsent(ts) == ("Turnstile action", "Turnstile cData")
    ez = EzCaptcha().widget_task(ts)
    assert ez["type"] == "CloudFlareTurnstileTask"
    assert ez["rqData"] == {"metadataAction": "a", "metadataCdata": "c"}

    class Capsolverish(Provider):
        name = "capsolverish"
        task_types = {"turnstile": "AntiTurnstileTaskProxyLess"}
        turnstile_style = "metadata"

    class TwoCaptchaish(Provider):
        name = "twocaptchaish"
        task_types = {"turnstile": "TurnstileTaskProxyless"}
        turnstile_style = "flat"

    assert Capsolverish().widget_task(ts)["metadata"] == {"action": "a", "cdata": "c"}
    assert TwoCaptchaish().widget_task(ts) | {} == {
        "type": "TurnstileTaskProxyless",
        "websiteURL": "https://site.example/gate",
        "websiteKey": TS,
        "action": "a",
        "data": "c",
    }
    # CAPTCHA_TASK_TYPES overrides; an unknown kind is a clear error.
    assert OneCaptcha({"turnstile": "Custom"}).widget_task(ts)["type"] == "Custom"
    hc = one(
        page(
            f'<script src="https://js.hcaptcha.com/1/api.js"></script>'
            f'<div class="h-captcha" data-sitekey="{HC}"></div>'
        )
    )
    with pytest.raises(ConfigurationError, match="1captcha has no task for hcaptcha"):
        OneCaptcha().widget_task(hc)
    image = OneCaptcha().image_task(b"\x89PNG" * 100, "numbers")
    assert image["type"] == "ImageToTextTask" and image["imageType"] == "numbers"
    assert "\n" not in image["body"] and len(image["body"]) > 76


def test_token_and_text_solutions_in_every_shape() -> None:
    assert parse_token_solution({"solution": {"token": "t1"}}) == TokenSolution("t1")
    sol = parse_token_solution(
        {
            "solution": {
                "gRecaptchaResponse": "g1",
                "respKey": "E0_x",
                "cookies": {"_GRECAPTCHA": "c"},
                "userAgent": "UA",
            }
        }
    )
    assert sol == TokenSolution("g1", "E0_x", {"_GRECAPTCHA": "c"}, "UA")
    assert parse_token_solution({"gRecaptchaResponse": "top"}).token == "top"  # type: ignore[union-attr]
    assert parse_token_solution({"solution": {}}) is None
    assert parse_text_solution({"solution": {"text": " AB12 "}}) == " AB12 "
    assert parse_text_solution({"solution": {"gRecaptchaResponse": "XY"}}) == "XY"
    assert parse_text_solution({"solution": {"text": ""}}) is None
    assert "g1" not in repr(sol)


def test_submission_fields_fill_every_answer_field() -> None:
    r = page(
        '<form method="post"><input type="hidden" name="g-recaptcha-response">'
        '<input type="hidden" name="site_captcha_token"><input type="hidden" name="respKey">'
        '<input type="hidden" name="csrf" value="keep"></form>'
    )
    widget = Widget("recaptcha_v2", RC, r.url, "g-recaptcha-response")
    form = find_widgets(
        page(f'{RC_API}<form><div class="g-recaptcha" data-sitekey="{RC}"></div></form>')
    )[0].form
    assert form is not None
    view = html_page(r)
    assert view is not None
    fields = submission_fields(view, form, widget, TokenSolution("tok", resp_key="rk"))
    assert fields == {
        "g-recaptcha-response": "tok",
        "site_captcha_token": "tok",
        "respKey": "rk",
    }
    h = Widget("hcaptcha", HC, r.url, "h-captcha-response")
    assert Token("v", h).formdata == {"h-captcha-response": "v", "g-recaptcha-response": "v"}
    assert "SECRET-TOKEN" not in repr(Token("SECRET-TOKEN", h))


def test_page_cookies_are_the_session_without_the_clearance() -> None:
    from scrapy_captcha.routes.clearance import Clearance

    request = Request("https://a.example/", headers={"Cookie": "sid=1; theme=dark"})
    clearance = Clearance.from_dict(
        {
            "id": "c",
            "cookies": {"cf_clearance": "X"},
            "user_agent": "UA",
            "headers": {},
            "expires_at": 9e9,
            "task_id": 1,
        }
    )
    RequestState.of(request).undo = clearance.apply(request)
    assert b"cf_clearance" in request.headers["Cookie"]
    response = HtmlResponse(
        request.url,
        headers=[(b"Set-Cookie", b"sid=2; Path=/"), (b"Set-Cookie", b"theme=; Max-Age=0")],
    )
    assert page_cookies(request, response) == {"sid": "2"}


def test_session_cookies_go_to_the_page_host_only() -> None:
    from scrapy_captcha.routes._routes import apply_session

    session = {"host": "a.example", "cookies": {"sid": "S"}, "extra": {"_GRECAPTCHA": "G"}}
    same = Request("https://a.example/verify", headers={"Cookie": "sid=other; x=1"})
    apply_session(same, session)
    assert same.headers["Cookie"] == b"sid=S; x=1; _GRECAPTCHA=G"
    other = Request("https://b.example/verify")
    apply_session(other, session)
    assert "Cookie" not in other.headers  # neither the session nor the solver's cookies


def test_content_page_form_is_not_a_gate() -> None:
    prose = "<p>" + "Lots of product text. " * 150 + "</p>"
    w = one(
        page(
            f'<script src="https://www.google.com/recaptcha/api.js?render={RC}"></script>'
            f'{prose}<form method="post"><input type="hidden" name="g-recaptcha-response">'
            f"<button>Add</button></form><script>grecaptcha.execute('{RC}', {{action: 'x'}})"
            "</script>"
        )
    )
    assert w.form is not None and not w.form.needs_input and not w.form.is_gate
    assert w.form.page_text > 2000


def test_widget_modes_setting() -> None:
    assert parse_widget_modes("X", None) == {}
    assert parse_widget_modes("X", {"turnstile": "token"}) == {"turnstile": "token"}
    assert set(parse_widget_modes("X", "ignore").values()) == {"ignore"}
    with pytest.raises(ConfigurationError, match="unknown mode"):
        parse_widget_modes("X", {"turnstile": "solve"})
    with pytest.raises(ConfigurationError, match="unknown widget kind"):
        parse_widget_modes("X", {"funcaptcha": "token"})
