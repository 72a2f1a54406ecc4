"""Cloudflare answers in the shapes the services other than 1captcha / ez-captcha document
(the worker's browse is the same; only what it reports differs)."""

from __future__ import annotations

import secrets
from typing import Any

from ._browser import _Cookie


def shape_cloudflare(style: str, raw: dict[str, Any], user_agent: str) -> dict[str, Any]:
    """anti-captcha (``antibot``): cookies, a fingerprint holding the UA, and the final URL;
    CapMonster (``cf_clearance``): the cookie's value alone (the UA is the one the task
    named); capsolver: cookies, ``token`` (the clearance) and ``userAgent``."""
    cookies: list[_Cookie] = raw.get("cookies", [])
    jar = {c.name: c.value for c in cookies}
    if style == "antibot":
        return {
            "cookies": jar,
            "localStorage": {},
            "fingerprint": {
                "self.navigator.userAgent": user_agent,
                "self.screen.width": 1920,
                "self.screen.height": 1080,
            },
            "url": raw.get("url", ""),
        }
    if style == "cf_clearance":
        return {"cf_clearance": jar.get("cf_clearance", "")}
    return {
        "cookies": jar,
        "token": jar.get("cf_clearance", ""),
        "type": "challenge",
        "userAgent": user_agent,
        "id": secrets.token_hex(8),
    }
