"""The answers of the wall tasks (``_wall_tasks``), normalised: a clearance's cookies and
User-Agent, and GeeTest v4's five fields. Pure functions of a decoded, untrusted reply.

The shapes each service documents for a wall's cookie:

- ``cookie``: a ``Set-Cookie``-like string, ``datadome=...; Max-Age=...; Domain=...``
  (capsolver's and 2captcha's DataDome), or the bare value of the wall's cookie
  (capsolver's AWS WAF: the ``aws-waf-token``);
- ``cookies``: ``{name: value}`` (CapMonster's AmazonTask, ``aws-waf-token``);
- ``domains``: ``{domain: {cookies: {name: "value; attributes"}}}`` (CapMonster's
  CustomTask answers: DataDome, Imperva);
- ``token``: the wall cookie's value (anti-captcha's AmazonTask);
- a field named after the wall's cookie (``___utmvc``, ``reese84``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from scrapy_captcha._kinds import INCAPSULA, WALL_COOKIES
from scrapy_captcha.services._cookies import parse_solver_cookies
from scrapy_captcha.services._solutions import CloudflareSolution, TokenSolution, picker
from scrapy_captcha.services._wall_tasks import GEETEST_FIELDS
from scrapy_captcha.services._wire import MAX_TOKEN, clean_cookies, user_agent_ok

#: what an Imperva clearance may carry instead of ``___utmvc`` (a reese84 sensor's)
_INCAPSULA_COOKIES = ("___utmvc", "reese84")
#: ``domains`` entries read at most (a hostile reply may name thousands)
_MAX_DOMAINS = 8


def _set_cookie(text: str) -> tuple[str, str, float | None]:
    """``name=value; Max-Age=...`` -> (name, value, expiry); ("", text, None) for a bare
    value."""
    first, *attributes = text.split(";")
    name, sep, value = first.partition("=")
    if not sep or not name.strip() or " " in name.strip():
        return "", text.strip(), None
    expires: float | None = None
    for attribute in attributes[:16]:
        key, _, arg = attribute.strip().partition("=")
        if key.lower() == "max-age" and arg.strip().lstrip("-").isdigit():
            expires = time.time() + int(arg.strip()[:12])
    return name.strip(), value.strip(), expires


def _cookies_of(kind: str, pick: Any) -> tuple[dict[str, str], float | None]:
    wanted = WALL_COOKIES[kind]
    cookies, expires = parse_solver_cookies(pick("cookies"))
    domains = pick("domains")
    if isinstance(domains, Mapping):
        for entry in list(domains.values())[:_MAX_DOMAINS]:
            found = entry.get("cookies") if isinstance(entry, Mapping) else None
            if isinstance(found, Mapping):
                cookies.update({str(k): str(v) for k, v in found.items() if v is not None})
    single = pick("cookie")
    if isinstance(single, str) and single.strip():
        name, value, expires = _set_cookie(single)
        cookies[name or wanted] = value
    token = pick("token")
    if isinstance(token, str) and token.strip() and wanted not in cookies:
        cookies[wanted] = token.strip()
    for name in (*_INCAPSULA_COOKIES, wanted):
        value = pick(name)
        if isinstance(value, str) and value.strip():
            cookies.setdefault(name, value)
    # (a value may still carry its Set-Cookie attributes: CapMonster's ``domains``)
    for name, value in list(cookies.items()):
        _, bare, until = _set_cookie(f"{name}={value}")
        cookies[name] = bare
        if name == wanted and until is not None:
            expires = until
    return cookies, expires


def parse_wall_solution(kind: str, reply: Mapping[str, Any]) -> CloudflareSolution | None:
    """The clearance a wall task bought, or None when the reply holds none of the wall's
    own cookie (or the User-Agent it is bound to cannot be sent)."""
    pick = picker(reply)
    dropped: list[str] = []
    raw, expires = _cookies_of(kind, pick)
    cookies = clean_cookies(raw, dropped)
    names = _INCAPSULA_COOKIES if kind == INCAPSULA else (WALL_COOKIES[kind],)
    if not any(cookies.get(name) for name in names):
        return None
    agent = pick("userAgent", "user_agent", "useragent")
    if agent is not None and not user_agent_ok(agent):
        return None
    return CloudflareSolution(
        cookies=cookies,
        user_agent=agent or None,
        request_headers={},
        headers={},
        content=None,
        cookie_expires=expires,
        dropped=tuple(dropped),
    )


def parse_geetest_solution(reply: Mapping[str, Any]) -> TokenSolution | None:
    """GeeTest v4's answer (every service documents the same five fields); its
    ``captcha_output`` stands as the token."""
    pick = picker(reply)
    fields: dict[str, str] = {}
    for name in GEETEST_FIELDS:
        value = pick(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return None
        if len(value) > MAX_TOKEN or not value.isprintable():
            return None
        fields[name] = value.strip()
    return TokenSolution(token=fields["captcha_output"], fields=fields)
