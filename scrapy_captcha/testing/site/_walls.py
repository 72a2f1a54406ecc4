"""The walls beyond Cloudflare, as the site emulator serves them: AWS WAF (challenge and
captcha), DataDome (captcha, interstitial, banned) with its captcha server
(``geo.captcha-delivery.com``), Imperva's ``_Incapsula_Resource`` challenge, and Amazon's
robot check with its image host (``images-na.ssl-images-amazon.com``, reached through the
forward proxy's tunnel).

Each lets a request through only with what a real solve yields, checked by the shared
:class:`~scrapy_captcha.testing._wall_authority.WallAuthority` (or, for Amazon's image,
the ``WidgetAuthority``): a cookie earned for this site (and exit, and User-Agent, where
the wall binds it), never a forged or misapplied one.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from .._wall_authority import site_of
from ._cloudflare import solve_answer

if TYPE_CHECKING:
    from ._state import _Respond, _SiteState

WALL_MODES = (
    "aws_waf",
    "aws_waf_captcha",
    "datadome",
    "datadome_interstitial",
    "datadome_banned",
    "incapsula",
    "amazon",
)
#: DataDome's captcha server and Amazon's image host, served whatever the host modes
DD_HOST = "geo.captcha-delivery.com"
AMAZON_IMAGES = "images-na.ssl-images-amazon.com"
_NO_STORE = [("Cache-Control", "private, no-store")]
_INCAP_SESSION = "incap_ses_1184_2781354"


def _sig(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def serve_wall_host(
    site: _SiteState,
    respond: _Respond,
    host: str,
    target: str,
    method: str,
    body: bytes,
    exit_id: str,
    ua: str,
) -> bool:
    """The walls' own hosts: DataDome's captcha server, Amazon's image host."""
    path, _, query = target.partition("?")
    args = parse_qs(query if method == "GET" else body.decode("latin-1"))
    if host == DD_HOST:
        _serve_datadome_captcha(site, respond, path, method, args, exit_id, ua)
        return True
    if host == AMAZON_IMAGES and path.startswith("/captcha/"):
        cid = path.split("/")[2] if len(path.split("/")) > 3 else ""
        png = site.authority.new_image(f"amazon:{cid}")
        respond(200, png, "wall_image", list(_NO_STORE), "image/jpeg")
        return True
    return False


def serve_wall(
    site: _SiteState,
    respond: _Respond,
    mode: str,
    host: str,
    target: str,
    cookies: dict[str, str],
    exit_id: str,
    ua: str,
) -> bool:
    """A wall page, or False to let the request through to the page it asked for."""
    walls = site.walls
    detail = {"wall": mode}
    if mode.startswith("aws_waf"):
        if walls.aws_valid(cookies.get("aws-waf-token", ""), host):
            return False
        key, iv, context = walls.aws_challenge(host)
        captcha = mode == "aws_waf_captcha"
        status, action = (405, "captcha") if captcha else (202, "challenge")
        page = _aws_page(key, iv, context, captcha)
        extra = [("x-amzn-waf-action", action), *_NO_STORE]
        respond(status, page, "wall", extra, detail=detail)
        return True
    if mode.startswith("datadome"):
        if mode != "datadome_banned" and walls.dd_valid(
            cookies.get("datadome", ""), host, exit_id, ua
        ):
            return False
        cid = walls.dd_challenge(host, exit_id)
        initial = secrets.token_urlsafe(36)
        extra = [
            ("x-datadome", "protected"),
            (
                "Set-Cookie",
                f"datadome={initial}; Max-Age=31536000; Domain=.{site_of(host)}; Path=/",
            ),
            *_NO_STORE,
        ]
        respond(403, _dd_page(host, cid, mode, initial), "wall", extra, detail=detail)
        return True
    if mode == "incapsula":
        session = cookies.get(_INCAP_SESSION) or _incap_session(site, host, exit_id)
        if walls.utmvc_valid(cookies.get("___utmvc", ""), host, session):
            return False
        key = walls.incap_script(host)
        extra = [
            ("X-CDN", "Incapsula"),
            ("X-Iinfo", "12-34567890-0 0NNN RT(1700000000000 0) q(0 -1 -1 -1) r(0 -1)"),
            ("Set-Cookie", f"{_INCAP_SESSION}={session}; path=/"),
            *_NO_STORE,
        ]
        respond(200, _incap_page(key), "wall", extra, detail=detail)
        return True
    if mode == "amazon":
        return _serve_amazon(site, respond, host, target, cookies)
    return False


# -- AWS WAF ---------------------------------------------------------------------------------


def _aws_page(key: str, iv: str, context: str, captcha: bool) -> str:
    base = "4b6f2a9c81d3.7e5a1c0b9d2f.us-east-1"
    scripts = f'<script src="https://{base}.token.awswaf.com/4b6f2a9c81d3/e8d1f0a7c3b2/challenge.js"></script>'
    if captcha:
        scripts = f'<script src="https://{base}.captcha.awswaf.com/4b6f2a9c81d3/e8d1f0a7c3b2/9a8b7c6d5e4f/captcha.js"></script>{scripts}'
    goku = json.dumps({"key": key, "iv": iv, "context": context})
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Human Verification</title><script>window.gokuProps = {goku};</script>"
        f"{scripts}</head><body><h1>Let's confirm you are human</h1>"
        '<div id="captcha-container"></div></body></html>\n'
    )


# -- DataDome --------------------------------------------------------------------------------


def _dd_page(host: str, cid: str, mode: str, initial: str) -> str:
    rt, t = ("i", "it") if mode == "datadome_interstitial" else ("c", "fe")
    if mode == "datadome_banned":
        t = "bv"
    dd = (
        f"{{'rt':'{rt}','cid':'{cid}','hsh':'A55FBF4311ED6F1BF9911EB71931D5','t':'{t}',"
        f"'s':43337,'e':'{_sig(cid)}','host':'{DD_HOST}','cookie':'{initial}'}}"
    )
    return (
        f'<html lang="en"><head><title>{html.escape(host)}</title></head><body style="margin:0">'
        '<p id="cmsg">Please enable JS and disable any ad blocker</p>'
        f'<script data-cfasync="false">var dd={dd}</script>'
        '<script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script>'
        "</body></html>\n"
    )


def _serve_datadome_captcha(
    site: _SiteState,
    respond: _Respond,
    path: str,
    method: str,
    args: dict[str, list[str]],
    exit_id: str,
    ua: str,
) -> None:
    """The captcha (or device check) a DataDome challenge points at, from the exit it was
    issued to, and its check: solved, it answers the visitor's ``datadome`` cookie."""
    cid = (args.get("initialCid") or args.get("cid") or [""])[0]
    issued = site.walls.dd_issued(cid)
    if issued is None or issued[1] != exit_id:
        respond(403, "<html><body>blocked</body></html>", "dd_refused", list(_NO_STORE))
        return
    if method == "GET" and path.rstrip("/") in ("/captcha", "/interstitial"):
        page = (
            "<html><body><form id='dd-check' method='post' action='/captcha/check'>"
            f"<input type='hidden' name='cid' value='{html.escape(cid)}'>"
            "<div class='slider'></div></form></body></html>"
        )
        respond(200, page, "dd_captcha", list(_NO_STORE))
        return
    answer = (args.get("answer") or [""])[0]
    if method != "POST" or not hmac.compare_digest(answer, solve_answer(cid, DD_HOST)):
        respond(
            403, json.dumps({"error": "wrong"}), "dd_fail", list(_NO_STORE), "application/json"
        )
        return
    site_name = issued[0]
    value = site.walls.dd_cookie(site_name, exit_id, ua)
    cookie = (
        f"datadome={value}; Max-Age=31536000; Domain=.{site_name}; Path=/; Secure; SameSite=Lax"
    )
    respond(200, json.dumps({"cookie": cookie}), "dd_ok", list(_NO_STORE), "application/json")


# -- Imperva ---------------------------------------------------------------------------------


def _incap_session(site: _SiteState, host: str, exit_id: str) -> str:
    """One Imperva session per visitor (host and exit), as a browser keeps its cookie."""
    return site.csrf("incap", f"{host}|{exit_id}")


def _incap_page(key: str) -> str:
    return (
        '<html style="height:100%"><head><META NAME="ROBOTS" CONTENT="NOINDEX, NOFOLLOW">'
        '<meta name="format-detection" content="telephone=no">'
        f'<script type="text/javascript" src="/_Incapsula_Resource?SWJIYLWA={key}&amp;ns=2'
        '&amp;cb=1416263017"></script></head><body style="margin:0px;height:100%"></body>'
        "</html>\n"
    )


# -- Amazon ----------------------------------------------------------------------------------


def _serve_amazon(
    site: _SiteState, respond: _Respond, host: str, target: str, cookies: dict[str, str]
) -> bool:
    session = cookies.get("session-id", "")
    cleared = cookies.get("amzn-clear", "")
    if session and cleared and hmac.compare_digest(cleared, site.csrf("amazon", session)):
        return False
    path, _, query = target.partition("?")
    extra = list(_NO_STORE)
    if path == "/errors/validateCaptcha":
        args = parse_qs(query)
        cid = (args.get("amzn") or [""])[0]
        answer = (args.get("field-keywords") or [""])[0]
        back = (args.get("amzn-r") or ["/"])[0]
        if (
            session
            and cid == _amazon_cid(site, session)
            and site.authority.check_image(f"amazon:{cid}", answer)
        ):
            extra += [
                ("Set-Cookie", f"amzn-clear={site.csrf('amazon', session)}; Path=/"),
                ("Location", back if back.startswith("/") else "/"),
            ]
            respond(302, b"", "wall_ok", extra, detail={"wall": "amazon"})
            return True
    if not session:
        session = secrets.token_hex(10)
        extra.append(("Set-Cookie", f"session-id={session}; Path=/"))
    back = target if path != "/errors/validateCaptcha" else "/"
    page = _amazon_page(_amazon_cid(site, session), back)
    respond(200, page, "wall", extra, detail={"wall": "amazon"})
    return True


def _amazon_cid(site: _SiteState, session: str) -> str:
    return site.csrf("amazon-cid", session)[:16]


def _amazon_page(cid: str, back: str) -> str:
    return (
        '<!doctype html><html lang="en-us"><head><meta charset="utf-8">'
        '<title dir="ltr">Amazon.com</title></head><body>'
        "<h4>Enter the characters you see below</h4>"
        "<p>Sorry, we just need to make sure you're not a robot.</p>"
        '<form method="get" action="/errors/validateCaptcha" name="">'
        f'<input type=hidden name="amzn" value="{cid}" />'
        f'<input type=hidden name="amzn-r" value="{html.escape(quote(back, safe="/?=&"))}" />'
        f'<img src="https://{AMAZON_IMAGES}/captcha/{cid}/Captcha_nvmwqbhgta.jpg">'
        '<input autocomplete="off" id="captchacharacters" name="field-keywords" type="text">'
        '<button type="submit">Continue shopping</button></form></body></html>\n'
    )
