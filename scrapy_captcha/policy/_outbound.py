"""The outbound policy: what the add-on may send on a page's behalf, and where.

Why one module: the add-on *acts* on pages it does not control. It fetches captcha images
a page names, submits forms to the ``action`` a page chose, and replays headers a solver
sent back. Every request it originates passes here, at every hop (its redirects too):

- the URL judged is the one that goes on the wire: Scrapy's ``Request`` normalises what a
  page wrote (w3lib: backslashes, fullwidth digits, ideographic dots, IDNA), so the policy
  builds the request first and reads ``request.url``, never the raw string;
- ``http``/``https`` only, no credentials in the URL, a plain host name or address;
- the page's own *origin* (scheme, host, port) is always allowed; another origin must be
  on the page's site (registrable domain) unless CAPTCHA_ALLOW_OFFSITE, in the spider's
  ``allowed_domains``, and not on a loopback, private or link-local address unless the
  page itself is on one (CAPTCHA_PUBLIC_ADDRESSES names address:port pairs to treat as
  public: a test site on loopback, a staging site on a private network); one wall's own
  image host is the only exception to "its site" (Amazon's robot check, ``_amazon.py``);
- host names are resolved through the reactor's resolver (the one Scrapy connects with,
  and its DNS cache) before the request is sent, unless it goes through a proxy (the
  proxy resolves on its own network); the connected peer is checked on the response too;
- another origin gets none of the page's credentials: no ``Cookie``, ``Authorization`` or
  spider header, no cookie jar, and the ``Referer`` cut to the page's origin.

A refusal is decided before any solve is paid for where it can be (URLs and addresses
known up front), and at every hop after.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.url import url_is_from_any_domain
from tldextract import TLDExtract
from twisted.internet import defer
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from scrapy_captcha._compat import installed_reactor
from scrapy_captcha.detect._amazon import wall_target_allowed
from scrapy_captcha.detect._page import submission_url

if TYPE_CHECKING:
    from scrapy.http import Response

    from scrapy_captcha.detect._page import Page

#: what a request keeps on a change of origin: the proxy's own credentials and what a
#: browser sends to any origin. Everything else (``Authorization``, ``Cookie``, the
#: spider's own headers) belonged to the page's origin.
_KEEP_ON_ORIGIN_CHANGE = frozenset(
    {
        b"proxy-authorization",
        b"user-agent",
        b"accept",
        b"accept-language",
        b"accept-encoding",
        b"content-type",
        b"origin",
        b"referer",
    }
)

#: hosts made only of digits, hex digits, ``x`` and dots are address literals
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}", re.I)
#: what a host may be made of once Scrapy has normalised it (IDNA done): anything else
#: (``%``, spaces...) is read differently by different parsers and proxies
_HOST_CHARS = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+", re.I)

# The public-suffix snapshot tldextract ships (Scrapy depends on it): no network fetch.
_EXTRACT = TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)

#: seconds a name resolution may take before the request is refused as unresolved
RESOLVE_TIMEOUT = 30.0


class Origin(NamedTuple):
    """Scheme, host (lower case, no trailing dot, no brackets) and port of a URL."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def serialized(self) -> str:
        """As a browser writes an origin (``Origin``, ``Referer``): no default port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.scheme == "https" else 80)
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")


class Target(NamedTuple):
    """A URL as it goes on the wire, and its origin."""

    url: str
    origin: Origin


def judge(url: str) -> Target | str:
    """The target a request for ``url`` really goes to (``Request(url).url``), or why the
    policy cannot send to it: ``bad_url`` (Scrapy cannot build it, credentials or odd
    characters in its host), ``bad_scheme``."""
    try:
        wire = Request(url).url
        parts = urlsplit(wire)
        port = parts.port
    except (ValueError, TypeError):
        return "bad_url"
    if parts.scheme not in ("http", "https"):
        return "bad_scheme"
    host = (parts.hostname or "").rstrip(".")
    if not host or "@" in parts.netloc or not _HOST_CHARS.fullmatch(host) or port == 0:
        return "bad_url"
    default = 443 if parts.scheme == "https" else 80
    return Target(wire, Origin(parts.scheme, host, default if port is None else port))


def origin_of(url: str) -> Origin | None:
    target = judge(url)
    return target.origin if isinstance(target, Target) else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal names, shorthand IPv4 forms included (``127.1``,
    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``: resolvers accept them all)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return ipaddress.IPv4Address("0.0.0.0")  # numeric but unreadable: not public
    return None


@lru_cache(maxsize=4096)
def site_of(host: str) -> str:
    """The registrable domain of ``host`` (``a.b.example.co.uk`` -> ``example.co.uk``);
    an IP literal is its own site; a name under no known suffix keeps its last two
    labels."""
    host = host.lower().rstrip(".")
    if _ip(host) is not None:
        return host
    parts = _EXTRACT(host)
    if parts.suffix:
        return f"{parts.domain}.{parts.suffix}" if parts.domain else parts.suffix
    return ".".join(host.split(".")[-2:])


def is_internal(host: str) -> bool:
    """Loopback, private, link-local and other non-public addresses, and ``localhost``."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and _not_public(ip)


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not ip.is_global or ip.is_multicast


class PageSide(NamedTuple):
    """The page the add-on acts for: its URL, origin, and whether it is itself internal
    (then other internal addresses are its neighbours, as on an intranet)."""

    url: str
    origin: Origin | None
    internal: bool


@implementer(IResolutionReceiver)
class _Addresses:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.done: defer.Deferred[list[str]] = defer.Deferred()

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.found.append(str(getattr(address, "host", "")))

    def resolutionComplete(self) -> None:
        if not self.done.called:
            self.done.callback(self.found)


async def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT) -> list[str]:
    """The addresses ``host`` resolves to, through the reactor's name resolver: the one
    Scrapy's downloader connects with (Scrapy's caching resolver when installed, so the
    answer judged is the answer connected to). Never blocks the reactor."""
    reactor = installed_reactor()
    receiver = _Addresses()
    reactor.nameResolver.resolveHostName(receiver, host, port)
    receiver.done.addTimeout(timeout, reactor)
    return await maybe_deferred_to_future(receiver.done)


class Outbound:
    """Where the add-on may send requests of its own (one per crawler)."""

    def __init__(
        self,
        allow_offsite: bool = False,
        public_addresses: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.allow_offsite = allow_offsite
        self.public_addresses = public_addresses

    # -- what is internal -----------------------------------------------------------------

    def address_internal(self, address: str, port: int) -> bool:
        ip = _ip(address)
        if ip is None or not _not_public(ip):
            return False
        return (ip.compressed, port) not in self.public_addresses

    def literal_internal(self, origin: Origin) -> bool:
        """Internal by its URL alone: ``localhost`` names, internal address literals."""
        host = origin.host
        if host == "localhost" or host.endswith(".localhost"):
            return True
        return _ip(host) is not None and self.address_internal(host, origin.port)

    def page(self, response: Response) -> PageSide:
        """The page side of a response: internal by its host, or (fetched without a
        proxy) by the address it came from."""
        side = self.page_of(response.url)
        if side.internal or side.origin is None:
            return side
        request = getattr(response, "request", None)
        peer = getattr(response, "ip_address", None)
        direct = peer is not None and request is not None and not request.meta.get("proxy")
        if direct and self.address_internal(str(peer), side.origin.port):
            return PageSide(side.url, side.origin, True)
        return side

    def page_of(self, url: str) -> PageSide:
        origin = origin_of(url)
        return PageSide(url, origin, origin is not None and self.literal_internal(origin))

    # -- the policy -------------------------------------------------------------------------

    def refusal(
        self, page: PageSide | str, target_url: str, spider: Any = None, wall: str | None = None
    ) -> str | None:
        """Why ``target_url`` may not be sent to on behalf of ``page``, or None; ``wall``
        names the wall an image is fetched for (its own image host is exempt)."""
        if isinstance(page, str):
            page = self.page_of(page)
        target = judge(target_url)
        if isinstance(target, str):
            return target
        origin = target.origin
        if origin == page.origin:
            return None
        if self.literal_internal(origin) and not page.internal:
            return "internal_address"
        page_host = page.origin.host if page.origin is not None else ""
        if wall_target_allowed(wall, page_host, origin.scheme, origin.host):
            return None
        if not self.allow_offsite and site_of(origin.host) != site_of(page_host):
            return "offsite"
        allowed = getattr(spider, "allowed_domains", None)
        if allowed and not url_is_from_any_domain(target.url, allowed):
            return "offsite"
        return None

    async def resolved_refusal(
        self, page: PageSide, target_url: str, via_proxy: bool
    ) -> str | None:
        """``internal_address`` if the target's host name resolves to an internal address
        (any of them) and the page is not internal itself; None otherwise, or when a proxy
        resolves it. A name that does not resolve is left to the download (which fails)."""
        target = judge(target_url)
        if via_proxy or page.internal or isinstance(target, str) or target.origin == page.origin:
            return None
        origin = target.origin
        if _ip(origin.host) is not None:
            return None  # (a literal: judged by refusal())
        try:
            addresses = await resolve(origin.host, origin.port)
        except Exception:
            return None
        if any(self.address_internal(a, origin.port) for a in addresses):
            return "internal_address"
        return None

    def headers_for(self, request: Request, page: PageSide | str) -> bool:
        """On a change of origin, drop what belonged to the page's origin (credentials,
        cookies, the spider's own headers) and cut the Referer to the page's origin, as a
        browser's default referrer policy does. True if the origin changed."""
        if isinstance(page, str):
            page = self.page_of(page)
        if origin_of(request.url) == page.origin:
            return False
        for name in list(request.headers):
            if bytes(name).lower() not in _KEEP_ON_ORIGIN_CHANGE:
                del request.headers[name]
        if b"Referer" in request.headers:
            request.headers[b"Referer"] = f"{page.origin.serialized()}/" if page.origin else b""
        return True

    def gate_refusal(
        self,
        page: Page,
        image_url: str | None,
        form_index: int | None,
        spider: Any = None,
        wall: str | None = None,
    ) -> tuple[str, str, str] | None:
        """What a gate's solve would send that the policy refuses, as (what, origin of
        the target, why): its image fetch, its form submission; or None."""
        side = self.page(page.response)
        targets = [("image", image_url)] if image_url else []
        if form_index is not None:
            try:
                targets.append(("form", submission_url(page, form_index)))
            except ValueError:  # (an action no URL parser reads)
                return "form", "(no URL)", "bad_url"
        for what, url in targets:
            reason = self.refusal(side, url, spider, wall if what == "image" else None)
            if reason is not None:
                origin = origin_of(url)
                return what, str(origin) if origin is not None else "(no URL)", reason
        return None
