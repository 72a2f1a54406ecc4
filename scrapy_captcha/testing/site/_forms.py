"""Captcha forms that are not widget gates: image captchas (a form, an inline image, a login
form), the PNGs behind them, a sign-up form with a Turnstile a spider fills itself,
reCAPTCHA v3 product pages, and an article that only talks about captchas."""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any

from ._cloudflare import _markers
from ._gates import (
    _SEARCH_FORM,
    _TURNSTILE_API,
    NO_STORE,
    _content_page,
    _field,
    _reply_form,
    _session_problem,
    _simple_page,
)

if TYPE_CHECKING:
    from ._state import _Respond, _SiteState


def _serve_image_gate(
    site: _SiteState,
    respond: _Respond,
    flavour: str,
    name: str,
    post: bool,
    form: dict[str, list[str]],
    cookies: dict[str, str],
    ray: str,
) -> None:
    """An image-captcha form (or a login form with one): the content once the code is right."""
    detail: dict[str, Any] = {"gate": flavour, "name": name}
    sid = cookies.get("login_sid")
    reason = _session_problem(site, "login", sid, form) if post else ""
    if post and sid and not reason:
        if not site.authority.check_image(sid, _field(form, "code")):
            reason = "wrong_code"
        elif flavour == "login" and (
            _field(form, "username") != "demo" or _field(form, "password") != "demo"
        ):
            reason = "wrong_credentials"
        else:
            page = _content_page(
                name,
                f'<h1 id="content">Content behind image captcha {html.escape(name)}</h1>',
                ray,
            )
            respond(200, page, "gate_ok", list(NO_STORE), detail=detail)
            return

    def form_page(session: str) -> str:
        if flavour == "captcha-inline":
            png = site.authority.new_image(session)
            src = "data:image/png;base64," + base64.b64encode(png).decode()
        else:
            src = f"/captcha/{name}.png"
        return _image_form_page(flavour, name, site.csrf("login", session), src, reason, ray)

    _reply_form(respond, "login_sid", sid, form_page, reason, detail)


def _serve_captcha_image(
    site: _SiteState, respond: _Respond, cookies: dict[str, str], ray: str
) -> None:
    """The PNG of an image captcha, drawn afresh for the session that asks."""
    no_store = list(NO_STORE)
    sid = cookies.get("login_sid")
    if not sid:
        respond(
            403,
            _simple_page("Forbidden", "<p>No session.</p>", ray),
            "captcha_image_denied",
            no_store,
        )
        return
    png = site.authority.new_image(sid)
    respond(200, png, "captcha_image", no_store, "image/png")


def _serve_v3_page(
    site: _SiteState, respond: _Respond, host: str, flavour: str, name: str, post: bool, ray: str
) -> None:
    """reCAPTCHA v3 as most sites use it: the script on every page, and a content page's own
    form (an add-to-cart) guarded by it. Neither is a gate."""
    no_store = list(NO_STORE)
    key = site.sitekey(host, "recaptcha-v3")
    if post:
        respond(
            200,
            _simple_page("Cart", "<p id='content'>ADDED TO CART</p>", ray),
            "cart_add",
            no_store,
        )
        return
    prose = "<p>A fine product, described at length for its many admirers.</p>" * 40
    cart_form = (
        f'<form id="cart" method="post" action="/{flavour}/{name}">'
        '<input type="hidden" name="g-recaptcha-response">'
        '<button type="submit">Add to cart</button></form>'
        if flavour == "v3-shop"
        else ""
    )
    page = (
        f'<script src="https://www.google.com/recaptcha/api.js?render={key}"></script>'
        f'<h1 id="content">Product {html.escape(name)}</h1>{prose}{cart_form}'
        f"<script>grecaptcha.ready(function(){{grecaptcha.execute('{key}', "
        "{action: 'homepage'});});</script>"
    )
    respond(200, _simple_page("Product", page, ray), "page", no_store)


def _serve_signup(
    site: _SiteState,
    respond: _Respond,
    host: str,
    name: str,
    post: bool,
    form: dict[str, list[str]],
    ray: str,
) -> None:
    """A Turnstile inside a form with fields to fill: not a gate the add-on may submit on its
    own; a spider fills it and gets a token through the API."""
    no_store = list(NO_STORE)
    key = site.sitekey(host, "turnstile")
    if post:
        verdict = site.authority.verify(
            _field(form, "cf-turnstile-response"), key, action="continue"
        )
        ok = verdict.ok and bool(_field(form, "email"))
        reason = verdict.reason if not verdict.ok else ("ok" if ok else "no_email")
        body_html = (
            f'<h1 id="content">Signed up {html.escape(name)}</h1>'
            if ok
            else f'<p class="error" id="signup-error">{reason}</p>'
        )
        respond(
            200,
            _simple_page("Sign up", body_html, ray),
            "gate_ok" if ok else "gate_fail",
            no_store,
            detail={"gate": "signup", "name": name, "reason": reason},
        )
        return
    page = (
        f'{_TURNSTILE_API}<form id="signup" method="post" action="/signup/{name}">'
        '<input type="email" name="email" placeholder="you@example.com">'
        f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue"></div>'
        '<button type="submit">Sign up</button></form>'
    )
    respond(200, _simple_page("Sign up", page, ray), "gate", no_store)


#: the one account the login pages accept
ACCOUNT = {"username": "demo", "password": "s3cret-login"}


def _serve_account_login(
    site: _SiteState,
    respond: _Respond,
    host: str,
    kind_path: str,
    name: str,
    post: bool,
    form: dict[str, list[str]],
    ray: str,
) -> None:
    """A login form with a widget (``turnstile`` or ``recaptcha-v2``) and credentials to
    fill: the spider submits it as if there were no captcha; the token must be valid and
    the credentials right (``ACCOUNT``)."""
    no_store = list(NO_STORE)
    key = site.sitekey(host, kind_path)
    field = "cf-turnstile-response" if kind_path == "turnstile" else "g-recaptcha-response"
    if post:
        action = "login" if kind_path == "turnstile" else None
        verdict = site.authority.verify(_field(form, field), key, action=action)
        creds = all(_field(form, k) == v for k, v in ACCOUNT.items())
        reason = verdict.reason if not verdict.ok else ("ok" if creds else "bad_credentials")
        ok = reason == "ok"
        body_html = (
            f'<h1 id="content">Welcome {html.escape(name)}</h1>'
            if ok
            else f'<p class="error" id="login-error">{reason}</p>'
        )
        respond(
            200,
            _simple_page("Account", body_html, ray),
            "gate_ok" if ok else "gate_fail",
            no_store,
            detail={"gate": f"account-{kind_path}", "name": name, "reason": reason},
        )
        return
    if kind_path == "turnstile":
        api = _TURNSTILE_API
        widget = f'<div class="cf-turnstile" data-sitekey="{key}" data-action="login"></div>'
    else:
        api = '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
        widget = f'<div class="g-recaptcha" data-sitekey="{key}"></div>'
    page = (
        f'{api}<form id="login" method="post" action="/account/{kind_path}/{name}">'
        '<input name="username"><input type="password" name="password">'
        f'{widget}<button type="submit">Log in</button></form>'
    )
    respond(200, _simple_page("Log in", page, ray), "gate", no_store)


def _image_form_page(flavour: str, name: str, csrf: str, src: str, error: str, ray: str) -> str:
    ename = html.escape(name)
    error_html = f'<p class="error" id="captcha-error">{html.escape(error)}</p>' if error else ""
    login = ""
    if flavour == "login":
        login = (
            '<label>User <input type="text" name="username"></label>'
            '<label>Password <input type="password" name="password"></label>'
        )
    title = "Sign in" if flavour == "login" else "Security check"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n<main><h1>{title}</h1>{error_html}\n"
        f'<form id="captcha-form" method="post" action="/{flavour}/{ename}">'
        f'<input type="hidden" name="csrf" value="{csrf}">{login}'
        f'<img id="captcha" src="{src}" alt="captcha">'
        '<label>Type the characters <input type="text" name="code" autocomplete="off">'
        '</label><button type="submit" name="go" value="1">Send</button></form></main>\n'
        f"{_markers(ray)}</body></html>\n"
    )


def _article_html(ray: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Choosing between reCAPTCHA, Turnstile and hCaptcha</title>"
        '<script>window.cfg = {"captchaProvider": "recaptcha", '
        '"hint": "grecaptcha.execute"};</script></head>\n'
        f"<body><header>{_SEARCH_FORM}</header>\n<article>"
        '<h1 id="content">Choosing between reCAPTCHA, Turnstile and hCaptcha</h1>\n'
        "<p>Google reCAPTCHA v2 shows the familiar checkbox, while reCAPTCHA v3 scores "
        "visitors silently. Cloudflare Turnstile and hCaptcha are the usual alternatives; "
        "all of them hand the page a token the server must verify.</p>\n"
        "<p>A v2 widget is a div with the class g-recaptcha and a data-sitekey:</p>\n"
        "<pre><code>&lt;script src=&quot;https://www.google.com/recaptcha/api.js&quot; async "
        'defer&gt;&lt;/script&gt;\n&lt;div class="g-recaptcha" data-sitekey="6Lc..."&gt;'
        "&lt;/div&gt;</code></pre>\n"
        "<p>With v3 you call execute with an action name:</p>\n"
        "<pre><code>grecaptcha.execute('6Lc...', {action: 'homepage'})"
        ".then(function(token) { /* send it */ });</code></pre>\n"
        "<p>Turnstile looks alike: "
        '<code>&lt;div class="cf-turnstile" data-sitekey="0x4AAAAAAA..."&gt;&lt;/div&gt;'
        "</code>, and the token arrives in cf-turnstile-response. hCaptcha uses "
        '<code>&lt;div class="h-captcha" data-sitekey="..."&gt;</code> and '
        "h-captcha-response.</p>\n"
        "</article>\n"
        f"{_markers(ray)}</body></html>\n"
    )
