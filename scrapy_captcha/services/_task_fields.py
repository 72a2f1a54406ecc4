"""The pieces of a task that do not depend on the service: proxies in each format the
services take (a URL, split fields, a colon string) and the credentials each carries,
an image's format, a POSTed page's ``rqData``, a Chrome User-Agent.

Pure functions: the profiles (``_profiles_base``) choose which to use.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from scrapy_captcha._kinds import (
    AMAZON,
    IMAGE,
    RECAPTCHA_ENTERPRISE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
)
from scrapy_captcha._kinds import TASK_KINDS as _TASK_KINDS
from scrapy_captcha.errors import ConfigurationError

#: what each proxy scheme is called in ``proxyType`` fields: anti-captcha documents
#: http, socks4 and socks5 ("http" being any http/https proxy); CapMonster documents the
#: same and "https" only "if http doesn't work"
PROXY_TYPES: Mapping[str, str] = {
    "http": "http",
    "https": "http",
    "socks4": "socks4",
    "socks5": "socks5",
    "socks5h": "socks5",
}


#: every task kind a profile may have a task for (keys of ``Provider.task_types``)
TASK_KINDS: tuple[str, ...] = _TASK_KINDS
#: the task kinds a widget kind's task may be (an invisible v2 widget is a v2 task, an
#: Enterprise widget a v2 or v3 Enterprise task): what reports and hints look up
TASK_KINDS_OF: Mapping[str, tuple[str, ...]] = {
    RECAPTCHA_V2_INVISIBLE: (RECAPTCHA_V2,),
    RECAPTCHA_ENTERPRISE: ("recaptcha_v2_enterprise", "recaptcha_v3_enterprise"),
    # (Amazon's robot check is an image captcha every service reads)
    AMAZON: (IMAGE,),
}
#: the reCAPTCHA task kinds
RECAPTCHA_TASKS = (
    RECAPTCHA_V2,
    "recaptcha_v2_enterprise",
    "recaptcha_v3",
    "recaptcha_v3_enterprise",
)
#: reCAPTCHA's second API domain (``www.recaptcha.net``), for ``apiDomain`` fields
RECAPTCHA_NET = "www.recaptcha.net"
#: USD per Chinese yuan, for services that keep balances in yuan-based units
#: (yescaptcha's points); a round figure of the exchange rate, good enough for a
#: low-balance warning
USD_PER_CNY = 0.14


@dataclass(frozen=True)
class TaskContext:
    """What a profile needs to build a clearance task (Cloudflare's, or another wall's:
    ``_wall_tasks``) for one challenged request."""

    url: str
    #: full proxy URL, credentials included ("": a proxyless task)
    proxy: str = field(repr=False)
    method: str = "GET"
    body: bytes = field(default=b"", repr=False)
    content_type: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: the challenge page as served (CapMonster's cf_clearance task needs it)
    page_html: bytes = field(default=b"", repr=False)
    #: the User-Agent the challenged request was sent with (capsolver's ``userAgent``)
    user_agent: str | None = None
    #: the User-Agent the service wants its tasks to name (CapMonster: its current one)
    service_user_agent: str | None = None
    #: what detection read from the wall's page (``Challenge.params``: keys, script and
    #: captcha URLs), untrusted and bounded
    params: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: the page's session cookies (the wall's own: ``datadome``, ``incap_ses_*``)
    cookies: Mapping[str, str] = field(default_factory=dict, repr=False)


def task_kinds(kind: str) -> tuple[str, ...]:
    """The task kinds ``kind`` (a task kind or a widget kind) stands for."""
    return TASK_KINDS_OF.get(kind, (kind,))


def chrome_user_agent(value: str | None) -> bool:
    """A Chrome (or Chromium-based) browser's User-Agent (capsolver takes only those)."""
    return bool(value) and "Chrome/" in str(value) and "Mozilla/5.0" in str(value)


def image_type(image: bytes) -> str | None:
    """The image format from its magic bytes (solvers want ``imageType``; the header of a
    fetched captcha is often wrong or ``application/octet-stream``)."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if image.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if image.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "webp"
    if image.startswith(b"BM"):
        return "bmp"
    return None


def split_proxy(
    proxy: str, types: Mapping[str, str] = PROXY_TYPES, *, with_type: bool = True
) -> dict[str, Any]:
    """``proxyType/proxyAddress/proxyPort/proxyLogin/proxyPassword`` from a proxy URL
    (anti-captcha, CapMonster, 2captcha); ``proxyPort`` is an int, as their SDKs send it.
    ``with_type=False`` leaves ``proxyType`` out (anti-captcha's AntiBotCookieTask)."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = types.get(parts.scheme.lower())
    if not parts.hostname or port is None or scheme is None:
        raise ConfigurationError(
            "the task's proxy must be scheme://[user:pass@]host:port with a scheme of "
            f"{sorted(types)}"
        )
    fields: dict[str, Any] = {"proxyType": scheme} if with_type else {}
    fields.update({"proxyAddress": parts.hostname, "proxyPort": port})
    if parts.username is not None:
        fields["proxyLogin"] = unquote(parts.username)
        fields["proxyPassword"] = unquote(parts.password or "")
    return fields


def colon_proxy(proxy: str) -> str:
    """``[type:]host:port[:user:pass]`` (capsolver): the scheme only when not plain HTTP."""
    split = split_proxy(proxy)
    out = f"{split['proxyAddress']}:{split['proxyPort']}"
    if "proxyLogin" in split:
        out += f":{split['proxyLogin']}:{split['proxyPassword']}"
    return out if split["proxyType"] == "http" else f"{split['proxyType']}:{out}"


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def proxy_secrets(task: Mapping[str, Any]) -> list[str]:
    """The proxy credentials a task carries, in whichever form its profile put them:
    split ``proxyLogin``/``proxyPassword`` fields, a ``proxy`` URL
    (``scheme://user:pass@host:port``) or a ``proxy`` string ``[type:]host:port:user:pass``
    (capsolver). What error texts quoting the task must never show."""
    found: list[str] = []
    for name in ("proxyPassword", "proxyLogin"):
        value = task.get(name)
        if isinstance(value, str) and value:
            found.append(value)
    proxy = task.get("proxy")
    if isinstance(proxy, str) and proxy:
        if "@" in proxy:
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            found.extend(v for v in (password, user) if v)
        else:
            pieces = proxy.split(":")
            if pieces and pieces[0].lower() in PROXY_TYPES:
                pieces = pieces[1:]
            if len(pieces) >= 4:  # host:port:user:pass (a password may hold colons)
                found.extend(v for v in (":".join(pieces[3:]), pieces[2]) if v)
    return found


def _sniff_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def build_rq_data(method: str, body: bytes, content_type: str) -> dict[str, Any] | None:
    """ez-captcha's ``rqData`` for a page reached by POST: JSON or FORM fields.

    A body without a JSON Content-Type that parses as a JSON object is sent as JSON (APIs
    often post JSON as text/plain or with no type); ``mode`` always comes last, so a body
    field of that name can never replace it."""
    if method.upper() != "POST":
        return None
    ctype = content_type.lower()
    text = body.decode("utf-8", "replace")
    if "multipart" in ctype:
        return None
    sniff = not ctype.startswith("application/x-www-form") and text.lstrip()[:1] in ("{", "[")
    if "json" in ctype or sniff:
        data = _sniff_json(text or "{}")
        if isinstance(data, dict) and "mode" not in data:
            return {**data, "mode": "JSON"}
        if "json" in ctype or isinstance(data, (dict, list)):
            return None  # a JSON array, or a JSON field named ``mode``: not describable
    fields: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in fields:  # a repeated field keeps every value
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    if "mode" in fields:
        return None  # ez-captcha reads the mode from the same object: it would be lost
    return {**fields, "mode": "FORM"}
