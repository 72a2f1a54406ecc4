"""What a solve buys (a :class:`Clearance`) and where it may be used (a :class:`Route`).

A clearance is bound by Cloudflare to the exit IP and the User-Agent of the browser that
earned it, so it is stored per (domain, proxy identity). The proxy identity includes the
credentials, since sticky-session proxies pick the exit IP by user name, but only as a
keyed hash: neither the key nor any repr holds a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from scrapy import Request
from scrapy.utils.httpobj import urlparse_cached

from scrapy_captcha.providers import CloudflareSolution

# Request headers from the solving browser that must not be replayed: HTTP/2 pseudo
# headers are dropped separately; these are per-connection, per-body or managed by Scrapy.
_DROP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "cookie",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "priority",
        "user-agent",  # set from Clearance.user_agent
    }
)


def decodable_encodings() -> tuple[str, ...]:
    """Content encodings Scrapy's HttpCompressionMiddleware can really decode here."""
    found = ["gzip", "deflate"]
    for enc, modules in (("br", ("brotli", "brotlicffi")), ("zstd", ("zstandard",))):
        for module in modules:
            try:
                __import__(module)
            except ImportError:
                continue
            found.append(enc)
            break
    return tuple(found)


_DECODABLE = decodable_encodings()


def filter_headers(raw: dict[str, str]) -> dict[str, str]:
    """The solver's request headers, minus what must not or cannot be replayed."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        name = name.lower().strip()
        if not name or name.startswith(":") or name in _DROP_HEADERS:
            continue
        if name == "accept-encoding":
            offered = [part.split(";")[0].strip().lower() for part in value.split(",")]
            kept = [enc for enc in offered if enc in _DECODABLE]
            if not kept:
                continue
            value = ", ".join(kept)
        out[name] = value
    return out


@dataclass(frozen=True)
class Clearance:
    """Cookies, User-Agent and headers that let requests through one (domain, proxy)."""

    cookies: dict[str, str] = field(repr=False)
    user_agent: str | None
    headers: dict[str, str] = field(repr=False)
    expires_at: float
    task_id: str | int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    @classmethod
    def from_solution(
        cls,
        solution: CloudflareSolution,
        *,
        ttl: float,
        task_id: str | int | None = None,
        now: float | None = None,
    ) -> Clearance:
        now = time.time() if now is None else now
        expires = now + ttl
        if solution.cookie_expires and solution.cookie_expires > now:
            expires = min(expires, solution.cookie_expires)
        # The browser's real User-Agent is the one it sent; the reply's ``user_agent``
        # field is sometimes stale, and cf_clearance is bound to what was sent.
        sent_ua = solution.request_headers.get("user-agent")
        return cls(
            cookies=dict(solution.cookies),
            user_agent=sent_ua or solution.user_agent,
            headers=filter_headers(solution.request_headers),
            expires_at=expires,
            task_id=task_id,
            created_at=now,
        )

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clearance:
        return cls(**data)

    def apply(self, request: Request, defaults: Mapping[str, bytes] | None = None) -> Undo:
        """Put the clearance on a request that has passed the Cookies middleware.

        The User-Agent and cookies are always set: the clearance is bound to them. Other
        replayed headers replace only what is absent or still Scrapy's default
        (``defaults``): a header the spider chose, say ``Accept: application/json``,
        stays. Returns what to undo if the request later goes through another route.
        """
        defaults = defaults or {}
        undo: Undo = {"headers": {}, "added": {}, "replaced": {}}
        for name, value in self.headers.items():
            current = request.headers.get(name)
            if current is not None and current != defaults.get(name):
                continue
            undo["headers"][name] = (current, value.encode("latin-1"))
            request.headers[name] = value
        if self.user_agent:
            ua = self.user_agent.encode("latin-1")
            undo["headers"]["user-agent"] = (request.headers.get("User-Agent"), ua)
            request.headers["User-Agent"] = ua
        jar = parse_cookie_header(request.headers.get("Cookie"))
        for name, value in self.cookies.items():
            if name in jar and jar[name] != value:
                undo["replaced"][name] = jar[name]
            undo["added"][name] = value
            jar[name] = value
        request.headers["Cookie"] = format_cookie_header(jar)
        return undo


#: what ``Clearance.apply`` changed: header -> (original or None, applied value), and the
#: cookies it added / replaced; picklable, so it can live in request meta (JOBDIR).
Undo = dict[str, dict[str, Any]]


def undo_clearance(request: Request, undo: Undo) -> None:
    """Take a clearance off a request (a retry, redirect or re-issue of one that carried
    it), leaving whatever was changed since by someone else alone."""
    for name, (original, applied) in undo.get("headers", {}).items():
        if request.headers.get(name) != applied:
            continue
        if original is None:
            del request.headers[name]
        else:
            request.headers[name] = original
    jar = parse_cookie_header(request.headers.get("Cookie"))
    changed = False
    for name, value in undo.get("added", {}).items():
        if jar.get(name) != value:
            continue
        changed = True
        if name in undo.get("replaced", {}):
            jar[name] = undo["replaced"][name]
        else:
            del jar[name]
    if changed:
        if jar:
            request.headers["Cookie"] = format_cookie_header(jar)
        else:
            del request.headers["Cookie"]


def parse_cookie_header(header: bytes | None) -> dict[str, str]:
    jar: dict[str, str] = {}
    if header:
        for part in header.decode("latin-1").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                jar[name] = value
    return jar


def format_cookie_header(jar: Mapping[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


@dataclass(frozen=True)
class Route:
    """The (domain, proxy) a request really goes through, as seen after HttpProxy.

    ``key`` identifies it in the clearance store; ``proxy_url`` has no credentials;
    ``_auth`` keeps the Proxy-Authorization value only to rebuild the solver's proxy URL.
    """

    domain: str
    proxy_url: str | None
    key: str
    _auth: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def has_proxy(self) -> bool:
        return self.proxy_url is not None

    def solver_proxy(self) -> str | None:
        """The proxy URL, credentials included, in the form solver APIs take."""
        if self.proxy_url is None:
            return None
        creds = basic_credentials(self._auth)
        if creds is None:
            return self.proxy_url
        parts = urlsplit(self.proxy_url)
        user, password = creds
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
        return f"{parts.scheme}://{netloc}"

    def describe(self) -> str:
        """For log lines: never shows credentials."""
        proxy = self.proxy_url or "no proxy"
        return f"{self.domain} via {proxy}{' (authenticated)' if self._auth else ''}"


def basic_credentials(header: bytes | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith(b"basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("latin-1").partition(":")
    except (binascii.Error, ValueError):
        return None
    return unquote(user), unquote(password)


def _normalise_proxy(proxy: str) -> str:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal: keep the brackets, or host and port run together
        host = f"[{host}]"
    port = parts.port or (
        443 if parts.scheme == "https" else 1080 if "socks" in parts.scheme else 80
    )
    return f"{parts.scheme or 'http'}://{host}:{port}"


def route_for(request: Request, secret: bytes) -> Route:
    """Compute the route of a request that has been through HttpProxyMiddleware."""
    domain = (urlparse_cached(request).hostname or "").lower()
    proxy = request.meta.get("proxy")
    if not proxy:
        return Route(domain, None, f"{domain}|direct")
    proxy_url = _normalise_proxy(str(proxy))
    auth = request.headers.get(b"Proxy-Authorization")
    if auth is None:
        # Not through HttpProxy yet (or it is disabled): credentials may still be inline.
        parts = urlsplit(str(proxy))
        if parts.username is not None:
            auth = b"Basic " + base64.b64encode(
                f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode("latin-1")
            )
    digest = hmac.new(
        secret, proxy_url.encode() + b"|" + (auth or b""), hashlib.sha256
    ).hexdigest()[:32]
    return Route(domain, proxy_url, f"{domain}|{digest}", auth)
