"""Widget gates: the gate flavours (Turnstile, reCAPTCHA v2 / invisible / v3 / Enterprise,
hCaptcha), their markup, the captcha pages' common chrome, and the serving of ``/gate/...``,
``/widget/...`` (a widget outside any form) and ``/widget/verify``."""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._cloudflare import _markers

if TYPE_CHECKING:
    from ._state import _Respond, _SiteState


@dataclass(frozen=True)
class _GateSpec:
    """One gate flavour: the widget kind, the field its token comes back in, the action the
    site checks, and the options its site key is registered with."""

    kind: str
    field: str
    action: str | None = None
    invisible: bool = False
    enterprise: bool = False
    resp_key: bool = False
    v3_cookie: bool = False


GATES: dict[str, _GateSpec] = {
    "turnstile": _GateSpec("turnstile", "cf-turnstile-response", "continue"),
    "turnstile-field": _GateSpec("turnstile", "ts-answer", "continue"),
    "recaptcha-v2": _GateSpec("recaptcha_v2", "g-recaptcha-response"),
    "recaptcha-v2-invisible": _GateSpec("recaptcha_v2", "g-recaptcha-response", invisible=True),
    "recaptcha-v3": _GateSpec("recaptcha_v3", "g-recaptcha-response", "submit_gate"),
    "recaptcha-v2-enterprise": _GateSpec("recaptcha_v2", "g-recaptcha-response", enterprise=True),
    "recaptcha-v3-enterprise": _GateSpec(
        "recaptcha_v3", "g-recaptcha-response", "login", enterprise=True
    ),
    "hcaptcha": _GateSpec("hcaptcha", "h-captcha-response"),
    "recaptcha-v2-respkey": _GateSpec("recaptcha_v2", "g-recaptcha-response", resp_key=True),
    "recaptcha-v3-cookie": _GateSpec(
        "recaptcha_v3", "g-recaptcha-response", "submit_gate", v3_cookie=True
    ),
    "geetest-v4": _GateSpec("geetest_v4", "captcha_output"),
    "mtcaptcha": _GateSpec("mtcaptcha", "mtcaptcha-verifiedtoken"),
    "friendly-captcha": _GateSpec("friendly_captcha", "frc-captcha-solution"),
}
#: Kind paths of ``/widget/<kindpath>/<name>`` (a widget outside any form).
WIDGET_KINDPATHS = ("turnstile", "recaptcha-v2")

_SEARCH_FORM = (
    '<form action="/search" method="get"><input type="text" name="q">'
    "<button>Search</button></form>"
)
_CONTINUE = '<button type="submit" name="continue" value="1">Continue</button>'
_TURNSTILE_API = (
    '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>'
)
_RECAPTCHA_API = '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
_V3_INPUT = '<input type="hidden" name="g-recaptcha-response" id="g-recaptcha-response">'

#: (head, markup in the form, script after it) of GeeTest v4, MTCaptcha, Friendly Captcha
_OTHER_WIDGETS = {
    "geetest-v4": (
        '<script src="https://static.geetest.com/v4/gt4.js"></script>',
        '<div id="captcha-box"></div>',
        "<script>initGeetest4({captchaId: 'KEY', product: 'float'}, function (captcha) "
        "{ captcha.appendTo('#captcha-box'); });</script>",
    ),
    "mtcaptcha": (
        '<script src="https://service.mtcaptcha.com/mtcv1/client/mtcaptcha.min.js" async>'
        "</script>",
        '<div class="mtcaptcha" data-sitekey="{key}"></div>',
        "",
    ),
    "friendly-captcha": (
        '<script type="module" src="https://cdn.jsdelivr.net/npm/friendly-challenge@0.9.12/'
        'widget.module.min.js" async defer></script>',
        '<div class="frc-captcha" data-sitekey="{key}"></div>',
        "",
    ),
}

#: Header of every captcha page: never cached.
NO_STORE = (("Cache-Control", "private, no-store"),)


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _widget_markup(kindpath: str, key: str, cdata: str) -> tuple[str, str, str, str]:
    """(head scripts, markup inside the form, script after the form, submit button)."""
    if kindpath in ("turnstile", "turnstile-field"):
        field = ' data-response-field-name="ts-answer"' if kindpath == "turnstile-field" else ""
        div = (
            f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue" '
            f'data-cdata="{cdata}"{field}></div>'
        )
        return _TURNSTILE_API, div, "", _CONTINUE
    if kindpath == "recaptcha-v2-invisible":
        button = (
            f'<button class="g-recaptcha" data-sitekey="{key}" data-callback="onSubmit" '
            'data-size="invisible" type="submit" name="continue" value="1">Continue</button>'
        )
        script = (
            "<script>function onSubmit(token) { "
            'document.getElementById("gate-form").submit(); }</script>'
        )
        return _RECAPTCHA_API, "", script, button
    if kindpath in ("recaptcha-v3", "recaptcha-v3-cookie", "recaptcha-v3-enterprise"):
        enterprise = kindpath == "recaptcha-v3-enterprise"
        api = "enterprise.js" if enterprise else "api.js"
        ns = "grecaptcha.enterprise" if enterprise else "grecaptcha"
        action = GATES[kindpath].action
        head = f'<script src="https://www.google.com/recaptcha/{api}?render={key}"></script>'
        script = (
            f"<script>{ns}.ready(function() {{ {ns}.execute('{key}', {{action: '{action}'}})"
            ".then(function(token) { document.getElementById('g-recaptcha-response').value = "
            "token; }); });</script>"
        )
        return head, _V3_INPUT, script, _CONTINUE
    if kindpath == "hcaptcha":
        head = '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>'
        return head, f'<div class="h-captcha" data-sitekey="{key}"></div>', "", _CONTINUE
    if kindpath in _OTHER_WIDGETS:
        head, inside, after = _OTHER_WIDGETS[kindpath]
        return head, inside.format(key=key), after.replace("KEY", key), _CONTINUE
    div = f'<div class="g-recaptcha" data-sitekey="{key}"></div>'
    if kindpath == "recaptcha-v2-enterprise":
        head = '<script src="https://www.google.com/recaptcha/enterprise.js" async defer></script>'
        return head, div, "", _CONTINUE
    return _RECAPTCHA_API, div, "", _CONTINUE  # recaptcha-v2, recaptcha-v2-respkey


def _gate_page(
    kindpath: str, name: str, key: str, csrf: str, cdata: str, error: str, ray: str
) -> str:
    head, inside, after, button = _widget_markup(kindpath, key, cdata)
    ename = html.escape(name)
    error_html = f'<p class="error" id="gate-error">{html.escape(error)}</p>' if error else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Verify you are human</title>{head}</head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n"
        f"<main><h1>One more step</h1>{error_html}"
        f"<p>Please confirm you are human to continue to {ename}.</p>\n"
        f'<form id="gate-form" method="post" action="/gate/{kindpath}/{ename}">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<input type="hidden" name="next" value="/content/{ename}">'
        f"{inside}{button}</form>{after}</main>\n{_markers(ray)}</body></html>\n"
    )


def _content_page(name: str, inner: str, ray: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Content {html.escape(name)}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n<main>{inner}"
        "<p>Thanks for verifying. Here is what you asked for.</p></main>\n"
        f"{_markers(ray)}</body></html>\n"
    )


def _simple_page(title: str, inner: str, ray: str) -> str:
    return (
        f"<html><head><title>{html.escape(title)}</title></head><body>{inner}\n"
        f"{_markers(ray)}</body></html>\n"
    )


def _widget_page(kindpath: str, name: str, key: str, ray: str) -> str:
    ename = html.escape(name)
    if kindpath == "turnstile":
        api = _TURNSTILE_API
        div = f'<div class="cf-turnstile" data-sitekey="{key}" data-action="continue"></div>'
    else:
        api = _RECAPTCHA_API
        div = f'<div class="g-recaptcha" data-sitekey="{key}"></div>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Listing {ename}</title></head>\n"
        f"<body><header>{_SEARCH_FORM}</header>\n"
        f'<main><h1 id="content">Listing {ename}</h1>'
        "<p>Prove you are human to reveal the seller's phone number.</p>\n"
        f'{api}{div}<p id="phone">hidden</p></main>\n{_markers(ray)}</body></html>\n'
    )


def _serve_gate(
    site: _SiteState,
    respond: _Respond,
    host: str,
    kindpath: str,
    name: str,
    post: bool,
    form: dict[str, list[str]],
    cookies: dict[str, str],
    ray: str,
) -> None:
    """A widget gate: the form on GET, the content once a valid token comes back."""
    spec = GATES[kindpath]
    sitekey = site.sitekey(host, kindpath)
    detail: dict[str, Any] = {"gate": kindpath, "name": name}
    sid = cookies.get("gate_sid")
    reason = _session_problem(site, "gate", sid, form) if post else ""
    if post and not reason:
        if _field(form, "next") != f"/content/{name}" or _field(form, "continue") != "1":
            reason = "missing_fields"
        else:
            verdict = site.authority.verify(
                _field(form, spec.field),
                sitekey,
                action=spec.action,
                resp_key=_field(form, "respKey") if spec.resp_key else None,
                cookie=cookies.get("_GRECAPTCHA") if spec.v3_cookie else None,
            )
            geetest = spec.kind == "geetest_v4"
            if verdict.ok and geetest and not _geetest_fields_ok(form, sitekey):
                reason = "missing_fields"
            elif verdict.ok:
                page = _content_page(
                    name,
                    f'<h1 id="content">Content behind gate {html.escape(name)}</h1>'
                    f'<p id="gate-kind">{kindpath}</p>',
                    ray,
                )
                respond(200, page, "gate_ok", list(NO_STORE), detail=detail)
                return
            else:
                reason = verdict.reason

    def form_page(session: str) -> str:
        csrf = site.csrf("gate", session)
        return _gate_page(kindpath, name, sitekey, csrf, secrets.token_hex(8), reason, ray)

    _reply_form(respond, "gate_sid", sid, form_page, reason, detail)


def _geetest_fields_ok(form: dict[str, list[str]], sitekey: str) -> bool:
    """GeeTest v4's answer comes back as its five fields, for the site's captcha id."""
    names = ("lot_number", "pass_token", "gen_time", "captcha_output")
    return _field(form, "captcha_id") == sitekey and all(_field(form, n) for n in names)


def _session_problem(
    site: _SiteState, scope: str, sid: str | None, form: dict[str, list[str]]
) -> str:
    """Why a posted form's session does not hold (``no_session``, ``bad_csrf``), or "": the
    first checks of every form the site guards."""
    if not sid:
        return "no_session"
    if not site.csrf_ok(scope, sid, _field(form, "csrf")):
        return "bad_csrf"
    return ""


def _reply_form(
    respond: _Respond,
    cookie: str,
    sid: str | None,
    form_page: Callable[[str], str],
    reason: str,
    detail: dict[str, Any],
) -> None:
    """Send a guarded form (again): start a session first if there is none, and log why the
    post failed if it did. ``form_page`` renders the form for the session."""
    extra = list(NO_STORE)
    if not sid:
        sid = secrets.token_urlsafe(24)
        extra.append(("Set-Cookie", f"{cookie}={sid}; Path=/; HttpOnly; SameSite=Lax"))
    page = form_page(sid)
    if reason:
        respond(200, page, "gate_fail", extra, detail={**detail, "reason": reason})
    else:
        respond(200, page, "gate", extra, detail=detail)


def _serve_widget_page(
    site: _SiteState, respond: _Respond, host: str, kindpath: str, name: str, ray: str
) -> None:
    """A listing with a widget outside any form (a phone number revealed by a token)."""
    page = _widget_page(kindpath, name, site.sitekey(host, kindpath), ray)
    respond(200, page, "widget_page", list(NO_STORE), detail={"gate": kindpath, "name": name})


def _serve_widget_verify(
    site: _SiteState, respond: _Respond, host: str, form: dict[str, list[str]]
) -> None:
    """What a page's own script posts a widget token to; answers JSON."""
    kindpath = _field(form, "kindpath")
    if kindpath in GATES:
        spec = GATES[kindpath]
        verdict = site.authority.verify(
            _field(form, "token"),
            site.sitekey(host, kindpath),
            action=spec.action,
            resp_key=_field(form, "respKey") or None,
        )
        ok, reason = verdict.ok, verdict.reason
    else:
        ok, reason = False, "unknown_kindpath"
    respond(
        200,
        json.dumps({"ok": ok, "reason": reason}),
        "widget_ok" if ok else "widget_fail",
        list(NO_STORE),
        "application/json",
        detail={"gate": kindpath, "reason": reason},
    )
