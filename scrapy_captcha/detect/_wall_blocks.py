"""Walls no service opens -- PerimeterX / HUMAN, Akamai, Kasada, DDoS-Guard, Sucuri, Radware,
Qrator, CloudFront and Azure WAF errors: recognised and reported as blocks (per-vendor
stat and give-up reason), never paid for, including the reCAPTCHA some of their pages
embed. Each asks the status first (a refusal) and the page only then; a vendor's header or
sensor script on an ordinary page says nothing.
"""

from __future__ import annotations

import html
import re
from typing import Final
from urllib.parse import urljoin

from scrapy_captcha._kinds import (
    AKAMAI,
    AZURE_WAF,
    CLOUDFRONT,
    DDOS_GUARD,
    KASADA,
    PERIMETERX,
    QRATOR,
    RADWARE,
    SUCURI,
)
from scrapy_captcha.detect._challenge import Challenge, ResponseView

#: Leading body bytes a wall detector reads (as in ``_walls.py``).
WALL_SCAN_BYTES: Final = 256 * 1024
#: Values read from a page are at most this long (a key, a URL, an id).
MAX_VALUE: Final = 2048
#: A refusal: the statuses block and challenge pages come with.
REFUSALS: Final = frozenset({401, 403, 405, 406, 429, 503})


def any_marker(text: bytes, *markers: bytes) -> bool:
    return any(marker in text for marker in markers)


def value_text(value: bytes) -> str:
    return value[:MAX_VALUE].decode("utf-8", "replace")


def found_params(**values: str | None) -> dict[str, str]:
    """The parameters that were found (None and empty values left out)."""
    return {name: value for name, value in values.items() if value}


_PX_APP_ID: Final = re.compile(
    rb"""_pxAppId\s*=\s*['"](PX[\w]{1,40})['"]|["']?appId["']?\s*:\s*['"](PX[\w]{1,40})['"]"""
)


def perimeterx(view: ResponseView) -> Challenge | None:
    """PerimeterX / HUMAN: its block page (403) with the "Press & Hold" captcha
    (``px-captcha``) or the ``_pxAppId`` of its script. Its sensor on an ordinary page says
    nothing."""
    if view.status not in REFUSALS or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    captcha = any_marker(
        text, b"px-captcha", b"press &amp; hold", b"press & hold", b"captcha.px-cdn"
    )
    if not (captcha or b"_pxappid" in text):
        return None
    raw = view.raw(WALL_SCAN_BYTES)
    app = _PX_APP_ID.search(raw)
    app_id = value_text(app.group(1) or app.group(2)) if app else None
    return Challenge(
        PERIMETERX, "captcha" if captcha else "block", False, found_params(app_id=app_id)
    )


_AKAMAI_REFERENCE: Final = re.compile(rb"reference\s*#\s*([0-9a-f.]{6,80})", re.I)


def akamai(view: ResponseView) -> Challenge | None:
    """Akamai's "Access Denied" (403): "You don't have permission to access", with its
    ``Reference #...`` and an errors.edgesuite.net link."""
    if view.status not in REFUSALS or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    if b"access denied" not in text:
        return None
    plain = html.unescape(text[:16384].decode("utf-8", "replace")).encode()
    if not (b"errors.edgesuite.net" in plain or b"reference #" in plain):
        return None
    if b"permission to access" not in plain and b"akamaighost" not in view.header(b"Server"):
        return None
    ref = _AKAMAI_REFERENCE.search(plain)
    return Challenge(
        AKAMAI, "block", False, found_params(reference=value_text(ref.group(1)) if ref else None)
    )


_KASADA_SCRIPT: Final = re.compile(rb"""src\s*=\s*["']([^"']{1,512}/ips\.js[^"']{0,512})["']""")


def kasada(view: ResponseView) -> Challenge | None:
    """Kasada: a 429 (or 403) with its ``x-kpsdk-*`` headers, or a page loading its
    ``ips.js`` with ``KPSDK``."""
    if view.status not in REFUSALS:
        return None
    headed = any(name.startswith(b"x-kpsdk") for name in view.names)
    raw = view.raw(WALL_SCAN_BYTES) if view.is_scannable() else b""
    text = raw.lower()
    if not headed and not (b"kpsdk" in text and b"ips.js" in text):
        return None
    script = _KASADA_SCRIPT.search(raw)
    url = urljoin(view.url, value_text(script.group(1))) if script else None
    return Challenge(KASADA, "challenge", False, found_params(script_url=url))


def ddos_guard(view: ResponseView) -> Challenge | None:
    """DDoS-Guard's check or block page on a refusal: its own check script, or a page naming
    it served with its ``Server`` header (which its sites send on every response, the
    origin's own refusals included)."""
    if view.status not in REFUSALS or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    challenge = any_marker(text, b"check.ddos-guard.net", b"/.well-known/ddos-guard/")
    if not challenge and not (b"ddos-guard" in view.header(b"Server") and b"ddos-guard" in text):
        return None
    return Challenge(DDOS_GUARD, "challenge" if challenge else "block", False)


def sucuri(view: ResponseView) -> Challenge | None:
    """Sucuri's firewall: "Access Denied - Sucuri Website Firewall" (403, ``x-sucuri-*``
    headers), or its JavaScript check (``sucuri_cloudproxy_js``, on Sucuri's headers)."""
    refused = view.status in REFUSALS
    names = view.names
    if not (refused or b"x-sucuri-id" in names or b"x-sucuri-block" in names):
        return None
    headed = b"x-sucuri-id" in names or b"x-sucuri-block" in names
    headed = headed or b"sucuri" in view.header(b"Server")
    if not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    if (
        refused
        and b"sucuri website firewall" in text
        and any_marker(text, b"access denied", b"blocked")
    ):
        return Challenge(SUCURI, "block", False)
    if headed and b"sucuri_cloudproxy_js" in text:
        return Challenge(SUCURI, "challenge", False)
    return None


def radware(view: ResponseView) -> Challenge | None:
    """Radware Bot Manager's captcha page (served from validate.perfdrive.com), or its block
    page on a refusal."""
    host = view.host
    on_radware = host == "perfdrive.com" or host.endswith(".perfdrive.com")
    if not (on_radware or view.status in REFUSALS) or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    if not (
        on_radware or any_marker(text, b"radware bot manager", b"perfdrive.com", b"shieldsquare")
    ):
        return None
    if on_radware or b"captcha" in text:
        return Challenge(RADWARE, "captcha", False)
    return Challenge(RADWARE, "block", False)


#: A refusal this short carries no page of the origin's own.
_BARE_BYTES: Final = 2048


def qrator(view: ResponseView) -> Challenge | None:
    """Qrator's refusal: with its ``Server: QRATOR`` (which its sites send on every
    response), a bare refusal (no page of the origin's) or a page that names it."""
    if view.status not in REFUSALS or b"qrator" not in view.header(b"Server"):
        return None
    text = view.scan(WALL_SCAN_BYTES) if view.is_scannable() else b""
    if len(view.body) < _BARE_BYTES or b"qrator" in text:
        return Challenge(QRATOR, "block", False)
    return None


_CLOUDFRONT_ID: Final = re.compile(rb"request id:\s*([\w=-]{8,120})", re.I)


def cloudfront(view: ResponseView) -> Challenge | None:
    """CloudFront's own error page ("The request could not be satisfied", ``x-cache: Error
    from cloudfront``): ``block`` on a 403 ("Request blocked"), ``error`` otherwise."""
    if view.status < 400 or b"x-cache" not in view.names:
        return None
    cache = view.header(b"x-cache")
    if b"error from cloudfront" not in cache:
        return None
    text = view.scan(WALL_SCAN_BYTES) if view.is_scannable() else b""
    if text and b"could not be satisfied" not in text and b"cloudfront" not in text:
        return None
    ref = _CLOUDFRONT_ID.search(view.raw(WALL_SCAN_BYTES)) if text else None
    variant = "block" if view.status == 403 else "error"
    return Challenge(
        CLOUDFRONT,
        variant,
        False,
        found_params(request_id=value_text(ref.group(1)) if ref else None),
    )


def azure_waf(view: ResponseView) -> Challenge | None:
    """Azure Front Door's WAF ("The request is blocked.", with ``x-azure-ref``) and
    Application Gateway's WAF (403 naming ``Microsoft-Azure-Application-Gateway``)."""
    if view.status != 403 or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    ref = view.header_values(b"x-azure-ref")
    if ref and b"the request is blocked" in text:
        return Challenge(AZURE_WAF, "block", False, found_params(reference=value_text(ref[0])))
    if b"microsoft-azure-application-gateway" in text:
        return Challenge(AZURE_WAF, "block", False)
    return None
