"""What a route is: the (domain, proxy) a request really goes through, and its key.

A clearance is bound to the exit IP, so it is kept per route. The proxy identity in the
key includes the credentials (sticky-session proxies pick the exit IP by user name), but
only as a keyed hash: neither the key nor any repr holds a password. A base module, as the
request state that carries a route is: every layer may import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from scrapy.utils.httpobj import urlparse_cached

if TYPE_CHECKING:
    from scrapy import Request

__all__ = ["Route", "basic_credentials", "cookie_digest", "route_for", "route_secret"]


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


def cookie_digest(value: str) -> str:
    """A cookie value as kept on a request's state (pickled with JOBDIR): enough to tell
    it changed, never the value itself."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]


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


def route_secret(api_key: str, api_keys: dict[str, str]) -> bytes:
    """Keyed-hash secret for proxy identities: stable across the processes sharing a
    store (same keys), different for every other configuration."""
    keys = [api_key, *sorted(api_keys.values())]
    return hashlib.sha256("|".join(["scrapy-captcha", *keys]).encode()).digest()
