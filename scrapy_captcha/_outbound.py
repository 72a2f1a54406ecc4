"""The outbound policy: what the add-on may send on a page's behalf, and where.

Why one module: the add-on *acts* on pages it does not control. It fetches captcha images
a page names, submits forms to the ``action`` a page chose, and replays headers a solver
sent back. Every request it originates passes here first: ``http``/``https`` only; the
page's own site (registrable domain) unless CAPTCHA_ALLOW_OFFSITE; the spider's
``allowed_domains``; never a loopback, private or link-local address unless the page
itself is on one; and on a change of host only the headers that belong to the new host.
A refusal is decided before any solve is paid for.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.utils.url import url_is_from_any_domain
from tldextract import TLDExtract

from scrapy_captcha._forms import submission_url

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._page import Page

#: what a request keeps on a change of host: the proxy's own credentials. Everything else
#: (``Authorization``, ``Cookie``, the spider's own headers) belonged to the page's host;
#: the downloader middlewares add Scrapy's defaults again on the way out.
_KEEP_ON_HOST_CHANGE = (b"Proxy-Authorization",)

#: hosts made only of digits, hex digits, ``x`` and dots are address literals
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}", re.I)

# The public-suffix snapshot tldextract ships (Scrapy depends on it): no network fetch.
_EXTRACT = TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


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
    if ip is None:
        return False
    return not ip.is_global or ip.is_multicast


class Outbound:
    """Where the add-on may send requests of its own (one per crawler)."""

    def __init__(self, allow_offsite: bool = False) -> None:
        self.allow_offsite = allow_offsite

    def refusal(self, page_url: str, target_url: str, spider: Any = None) -> str | None:
        """Why ``target_url`` may not be sent to on behalf of ``page_url``, or None."""
        target = urlsplit(target_url)
        if target.scheme not in ("http", "https") or not target.hostname:
            return "bad_scheme"
        page_host = (urlsplit(page_url).hostname or "").lower()
        host = target.hostname.lower()
        if host == page_host:
            return None
        if is_internal(host) and not is_internal(page_host):
            return "internal_address"
        if not self.allow_offsite and site_of(host) != site_of(page_host):
            return "offsite"
        allowed = getattr(spider, "allowed_domains", None)
        if allowed and not url_is_from_any_domain(target_url, allowed):
            return "offsite"
        return None

    def gate_refusal(
        self, page: Page, image_url: str | None, form_index: int | None, spider: Any = None
    ) -> tuple[str, str, str] | None:
        """What a gate's solve would send that the policy refuses, as (what, scheme and
        host of the target, why): its image fetch, its form submission; or None."""
        targets = [("image", image_url)] if image_url else []
        if form_index is not None:
            targets.append(("form", submission_url(page, form_index)))
        for what, url in targets:
            reason = self.refusal(page.url, url, spider)
            if reason is not None:
                parts = urlsplit(url)
                where = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else "(no URL)"
                return what, where, reason
        return None

    @staticmethod
    def headers_for(request: Request, page_url: str) -> None:
        """On a change of host, drop what belonged to the page's host, as Scrapy's
        redirect middleware does (and more: the spider's own headers too)."""
        page_host = (urlsplit(page_url).hostname or "").lower()
        if (urlsplit(request.url).hostname or "").lower() == page_host:
            return
        kept = {name: request.headers.getlist(name) for name in _KEEP_ON_HOST_CHANGE}
        request.headers.clear()
        for name, values in kept.items():
            if values:
                request.headers.setlist(name, values)
