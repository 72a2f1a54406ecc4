"""The walls beyond Cloudflare, read from status, headers, cookies and markup.

Pure functions of one response, like the Cloudflare rules in ``_detection.py``, and cheap
on ordinary pages by construction: each detector first asks what costs nothing (the
status, a header, the host), and only reads the body where those point at its wall;
walls served with a 2xx status are looked for only where a header or the host says so.
The body is read in a bounded window (:data:`WALL_SCAN_BYTES`), lower-cased once and
shared by every detector; values (keys, URLs, ids) are read from the same window with its
case kept.

Each detector returns a :class:`~scrapy_captcha.detect._challenge.Challenge` with its variant,
whether a service can open it, and the parameters a task needs; the services' documents
the parameters follow are cited at each detector. Walls no service opens are blocks:
recognised and reported, never paid for -- including the reCAPTCHA some of their pages
embed (detect() answers before any widget is looked for).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Final
from urllib.parse import quote, urlencode, urljoin, urlsplit

from scrapy.http import Headers

from scrapy_captcha._kinds import (
    AMAZON,
    AWS_WAF,
    DATADOME,
    INCAPSULA,
)
from scrapy_captcha.detect._challenge import Challenge, ResponseView
from scrapy_captcha.detect._wall_blocks import (
    MAX_VALUE,
    REFUSALS,
    WALL_SCAN_BYTES,
    akamai,
    azure_waf,
    cloudfront,
    ddos_guard,
    found_params,
    kasada,
    perimeterx,
    qrator,
    radware,
    sucuri,
    value_text,
)

__all__ = ["WALL_DETECTORS", "WALL_SCAN_BYTES", "is_wall_candidate", "may_be_wall"]

#: Bytes of a ``var dd = {...}`` / ``gokuProps = {...}`` object read for its values.
_OBJECT_BYTES: Final = 4096
# --- AWS WAF ------------------------------------------------------------------------------
# Task fields: anti-captcha AmazonTask(Proxyless) (https://anti-captcha.com/apidoc/
# task-types/AmazonTaskProxyless): websiteKey = gokuProps.key, iv, context, optional
# captchaScript (captcha.js) and challengeScript (challenge.js); 2captcha's AmazonTask and
# capsolver's AntiAwsWafTask take the same values under their names.

_GOKU_VALUE: Final = re.compile(rb"""["']?(key|iv|context)["']?\s*:\s*["']([^"'\\]{1,2048})["']""")
_AWS_SCRIPT: Final = re.compile(
    rb"""https://[\w.-]{1,200}\.awswaf\.com/[\w./-]{0,300}?/(challenge|captcha|jsapi)\.js"""
)


def _aws_waf(view: ResponseView) -> Challenge | None:
    """202 + ``x-amzn-waf-action: challenge`` (the body may be empty) or 405 +
    ``x-amzn-waf-action: captcha``; without the header, a 202/405 page that sets
    ``window.gokuProps`` and loads its script from ``*.awswaf.com``. Never an ordinary
    page: ``x-amzn-requestid`` or an awswaf.com script on a 200 say nothing."""
    action = view.header(b"x-amzn-waf-action") if b"x-amzn-waf-action" in view.names else b""
    if action not in (b"challenge", b"captcha"):
        if view.status not in (202, 405) or not view.is_scannable():
            return None
        text = view.scan(WALL_SCAN_BYTES)
        if b"gokuprops" not in text or b"awswaf.com" not in text:
            return None
        action = b"captcha" if b"/captcha.js" in text else b"challenge"
    params: dict[str, str] = {}
    if view.body and view.is_scannable():
        raw = view.raw(WALL_SCAN_BYTES)
        at = raw.find(b"gokuProps")
        if at >= 0:
            for m in _GOKU_VALUE.finditer(raw, at, at + _OBJECT_BYTES):
                params.setdefault(m.group(1).decode(), value_text(m.group(2)))
        for m in _AWS_SCRIPT.finditer(raw):
            params.setdefault(f"{m.group(1).decode()}_script", value_text(m.group()))
            if len(params) >= 6:
                break
    return Challenge(AWS_WAF, action.decode(), True, params)


# --- Amazon's robot check -----------------------------------------------------------------
# An image captcha every service reads (ImageToTextTask); its answer goes back with the
# form's own fields, in the page's session.

_AMAZON_HOST: Final = re.compile(r"(?:^|\.)amazon\.(?:com|co\.[a-z]{2}|com\.[a-z]{2}|[a-z]{2})$")
_AMAZON_IMAGE: Final = re.compile(
    r"^https://(?:[\w-]+\.)*(?:ssl-images-amazon\.com|media-amazon\.com)/captcha/"
)
_AMAZON_PAGE_BYTES: Final = 64 * 1024


def _amazon(view: ResponseView) -> Challenge | None:
    """The ``/errors/validateCaptcha`` form with its image on Amazon's image host, on an
    Amazon site (200 or 503): what an image gate needs, read from the form."""
    host = view.host
    if "amazon." not in host or not _AMAZON_HOST.search(host) or not view.is_scannable():
        return None
    if b"/errors/validatecaptcha" not in view.scan(_AMAZON_PAGE_BYTES):
        return None
    from parsel import Selector

    raw = view.raw(_AMAZON_PAGE_BYTES).decode("utf-8", "replace")
    try:
        form = Selector(text=raw, type="html").xpath(
            "/descendant::form[contains(@action, '/errors/validateCaptcha')][1]"
        )
    except Exception:  # (lxml refuses some hostile documents outright)
        return None
    if not form:
        return None
    image = urljoin(view.url, (form.xpath(".//img/@src").get() or "").strip())
    if not _AMAZON_IMAGE.match(image):
        return None
    fields, answer = [], None
    for inp in form.xpath(".//input[@name][position() <= 50]"):
        kind = (inp.attrib.get("type") or "text").lower()
        name = inp.attrib["name"]
        if kind == "hidden":
            fields.append((name, inp.attrib.get("value") or ""))
        elif kind in ("text", "") and answer is None:
            answer = name
    if answer is None:
        return None
    params = found_params(
        image_url=image,
        action=urljoin(view.url, form.attrib.get("action") or ""),
        method=(form.attrib.get("method") or "GET").upper(),
        answer_field=answer,
        fields=urlencode(fields),
    )
    return Challenge(AMAZON, "captcha", True, params)


# --- DataDome -----------------------------------------------------------------------------
# Task fields: capsolver DatadomeSliderTask (https://docs.capsolver.com/en/guide/captcha/
# datadome/: captchaUrl, for the slider and the interstitial alike; "t=bv means your IP is
# banned"), CapMonster CustomTask class DataDome (metadata.captchaUrl and datadomeCookie),
# 2captcha DataDomeSliderTask (captchaUrl). The captcha URL is built as they document it:
# https://geo.captcha-delivery.com/captcha/?initialCid=...&hash=...&cid=...&t=fe
# &referer=...&s=...&e=...; the interstitial (device check) one at /interstitial/.

_DD_PAIR: Final = re.compile(
    rb"""['"](\w{1,16})['"]\s*:\s*(?:['"]([^'"\\]{0,512})['"]|(-?\d{1,20}))"""
)
_DD_OBJECT: Final = re.compile(rb"var\s+dd\s*=\s*\{")
_DD_HOST: Final = re.compile(r"^(?:[\w-]+\.)*captcha-delivery\.com$")
_DD_STATUSES: Final = frozenset({401, 403, 405})


def _datadome(view: ResponseView) -> Challenge | None:
    """403 (sometimes 401) with ``var dd={...}`` pointing at captcha-delivery.com (or the
    JSON ``{"url": ...}`` an XHR gets): the slider captcha (``rt: 'c'``), the interstitial
    device check (``rt: 'i'``), or ``t: 'bv'``, the IP banned (not solvable: blocked)."""
    if view.status not in _DD_STATUSES or not view.body:
        return None
    if view.is_json():
        return _datadome_json(view)
    if not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    if b"captcha-delivery.com" not in text:
        return None
    raw = view.raw(WALL_SCAN_BYTES)
    m = _DD_OBJECT.search(raw)
    if m is None:
        return None
    dd: dict[str, str] = {}
    for pair in _DD_PAIR.finditer(raw, m.end(), m.end() + _OBJECT_BYTES):
        value = pair.group(2) if pair.group(2) is not None else pair.group(3)
        dd.setdefault(pair.group(1).decode(), value_text(value or b""))
    host = dd.get("host", "")
    if not _DD_HOST.match(host) or not dd.get("cid"):
        return None
    cookie = dd.get("cookie") or view.cookie(b"datadome") or ""
    t, rt = dd.get("t", ""), dd.get("rt", "")
    if t == "bv":
        return Challenge(DATADOME, "banned", False, found_params(host=host, cid=dd["cid"], t=t))
    variant = "interstitial" if rt == "i" or t == "it" else "captcha"
    query = [
        ("initialCid", dd["cid"]),
        ("hash", dd.get("hsh", "")),
        ("cid", cookie),
        *([("t", t)] if variant == "captcha" else []),
        ("referer", view.url),
        ("s", dd.get("s", "")),
        *([("e", dd["e"])] if dd.get("e") else []),
        *([("b", dd["b"])] if variant == "interstitial" and dd.get("b") else []),
        *([("dm", "cd")] if variant == "interstitial" else []),
    ]
    path = "interstitial" if variant == "interstitial" else "captcha"
    url = f"https://{host}/{path}/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
    params = found_params(
        captcha_url=url,
        cid=dd["cid"],
        hash=dd.get("hsh"),
        t=t,
        s=dd.get("s"),
        e=dd.get("e"),
        host=host,
        cookie=cookie,
    )
    return Challenge(DATADOME, variant, True, params)


def _datadome_json(view: ResponseView) -> Challenge | None:
    if len(view.body) > 16 * 1024:
        return None
    try:
        reply = json.loads(view.body)
    except ValueError:
        return None
    url = reply.get("url") if isinstance(reply, dict) else None
    if not isinstance(url, str) or len(url) > MAX_VALUE:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not _DD_HOST.match(parts.hostname or ""):
        return None
    if "t=bv" in parts.query:
        return Challenge(DATADOME, "banned", False, found_params(host=parts.hostname))
    variant = "interstitial" if parts.path.startswith("/interstitial") else "captcha"
    return Challenge(DATADOME, variant, True, found_params(captcha_url=url, host=parts.hostname))


# --- Imperva / Incapsula ------------------------------------------------------------------
# Task fields: capsolver AntiImpervaTaskProxyless, utmvc (https://docs.capsolver.com/en/
# guide/captcha/imperva/): scriptURL, "the script URL of incapsula, it usually contains
# _Incapsula_Resource", with the incap_ses_* cookies.

_INCAP_SCRIPT: Final = re.compile(
    rb"""src\s*=\s*["']([^"']{0,1024}_Incapsula_Resource\?[^"']{1,1024})["']""", re.I
)
_INCAP_INCIDENT: Final = re.compile(rb"incident(?:_id=|\s+id:?\s*)([0-9]{1,30}-[0-9]{1,40})", re.I)
#: A challenge page is the script and nothing else: a few KB at most.
_INCAP_CHALLENGE_BYTES: Final = 16 * 1024


def _is_incapsula(view: ResponseView) -> bool:
    """Imperva's own headers: ``X-Iinfo`` and ``X-CDN: Incapsula`` on its responses."""
    names = view.names
    return b"x-iinfo" in names or (b"x-cdn" in names and b"incapsula" in view.header(b"x-cdn"))


def _incapsula(view: ResponseView) -> Challenge | None:
    """The "Request unsuccessful. Incapsula incident ID" page (a block), or the
    ``_Incapsula_Resource`` challenge: a small page holding that script and no content.
    Read on Incapsula's headers or cookies, or on a refusal status."""
    if not (_is_incapsula(view) or view.status in REFUSALS) or not view.is_scannable():
        return None
    text = view.scan(WALL_SCAN_BYTES)
    if b"_incapsula_resource" not in text and b"incapsula incident" not in text:
        return None
    raw = view.raw(WALL_SCAN_BYTES)
    small = len(view.body) <= _INCAP_CHALLENGE_BYTES
    # The block page frames Imperva's own error resource (CWUDNSAI), whose fallback text
    # is the incident ID; an article quoting that text is not one.
    if b"_incapsula_resource?cwudnsai=" in text or (
        small and b"incapsula incident" in text and b"_incapsula_resource" in text
    ):
        incident = _INCAP_INCIDENT.search(raw)
        return Challenge(
            INCAPSULA,
            "block",
            False,
            found_params(incident_id=value_text(incident.group(1)) if incident else None),
        )
    if not small or b"noindex" not in text:
        return None  # (every page of an Incapsula site loads the script)
    script = _INCAP_SCRIPT.search(raw)
    if script is None:
        return None
    url = urljoin(view.url, html.unescape(value_text(script.group(1))))
    return Challenge(INCAPSULA, "challenge", True, found_params(script_url=url))


#: Asked in this order after Cloudflare (the order of ``WALLS``); the first finding wins.
WALL_DETECTORS: Final[tuple[Callable[[ResponseView], Challenge | None], ...]] = (
    _aws_waf,
    _amazon,
    _datadome,
    _incapsula,
    perimeterx,
    akamai,
    kasada,
    ddos_guard,
    sucuri,
    radware,
    qrator,
    cloudfront,
    azure_waf,
)


#: Headers that make a wall detector read a 2xx response (AWS WAF's action, Imperva's,
#: Sucuri's); other walls come with a refusal status or on their own host.
_WALL_HEADERS: Final = frozenset(
    {b"x-amzn-waf-action", b"x-iinfo", b"x-cdn", b"x-sucuri-id", b"x-sucuri-block"}
)


def may_be_wall(view: ResponseView) -> bool:
    """Whether any wall detector could answer: an ordinary 2xx/3xx response (no wall's
    header, not on Amazon's or Radware's host) is declined in one call, not thirteen."""
    if view.status >= 400 or view.status == 202:
        return True
    if view.names & _WALL_HEADERS:
        return True
    url = view.url
    if "amazon." not in url and "perfdrive.com" not in url:
        return False
    host = view.host
    return "amazon." in host or host.endswith("perfdrive.com")


def is_wall_candidate(status: int, headers: Headers) -> bool:
    """Header-only: a wall's own header on a refusal (AWS WAF's action, Kasada's
    ``x-kpsdk-*``, DataDome's, Sucuri's block, CloudFront's error): kept out of the cache
    before the body is even decompressed."""
    if status < 400 and status != 202:
        return False
    action = bytes(headers.get(b"x-amzn-waf-action") or b"").strip().lower()
    if action in (b"challenge", b"captcha"):
        return True
    if status not in REFUSALS:
        return False
    names = {bytes(name).lower() for name in headers}
    if any(name.startswith(b"x-kpsdk") for name in names):
        return True
    if b"x-dd-b" in names or (b"x-datadome" in names and status in _DD_STATUSES):
        return True
    if b"x-sucuri-block" in names:
        return True
    return b"error from cloudfront" in bytes(headers.get(b"x-cache") or b"").lower()
