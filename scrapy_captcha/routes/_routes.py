"""Routes and clearances: which (domain, proxy) a request goes through, and what it carries.

A clearance is bound to the exit IP, so it is stored per route. The proxy identity in the
route key includes the credentials, since sticky-session proxies pick the exit IP by user
name, but only as a keyed hash: neither the key nor any repr holds a password. This
service owns the route secret, the clearance store, putting clearances and page sessions
on requests (and taking them off), and the proxies CAPTCHA_PROXY /
CAPTCHA_DOMAIN_PROXIES assign.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.python import to_bytes

from scrapy_captcha._bounded import BoundedSet
from scrapy_captcha._compat import accepted_encodings
from scrapy_captcha._kinds import DOMAIN_WIDE_WALLS
from scrapy_captcha._route import (
    Route,
    cookie_digest,
    route_for,
    route_secret,
)
from scrapy_captcha._state import RequestState, options
from scrapy_captcha.policy._outbound import site_of
from scrapy_captcha.routes.clearance import Clearance, undo_clearance
from scrapy_captcha.services._cookies import (
    apply_set_cookies,
    format_cookie_header,
    parse_cookie_header,
)
from scrapy_captcha.services._fingerprint import (
    META_KEY,
    apply_target,
    impersonating_schemes,
    undo_target,
    uses_impersonation,
)
from scrapy_captcha.services._wire import cookie_ok

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

    from scrapy_captcha._context import Context
    from scrapy_captcha.routes.store import ClearanceStore


#: Cookies bound to the exit IP that earned them (Cloudflare's, DataDome's, which it renews
#: on every response): kept per route, never in the shared cookie jar
ROUTE_BOUND_COOKIES = (b"cf_clearance", b"__cf_bm", b"datadome")
#: how long site-set route cookies are kept (``__cf_bm`` lives 30 minutes)
ROUTE_COOKIE_TTL = 1800.0
MAX_ROUTE_COOKIES = 100_000


def apply_session(request: Request, session: dict[str, Any]) -> None:
    """Send a page's session cookies, and the cookies a solver returned with its token
    (v3's ``_GRECAPTCHA``), with a request made on its behalf (its gate form submission,
    its captcha image), once, on the Cookie header CookiesMiddleware built: only to the
    page's own origin (scheme, host and port), as a browser would, and without touching
    the jar. A solver's cookie never replaces one of the page's (the jar's, or the page's
    own session): the page's session is what the site gave this visitor."""
    parts = urlparse_cached(request)
    try:
        port = parts.port if parts.port is not None else 443 if parts.scheme == "https" else 80
    except ValueError:
        return
    host = (parts.hostname or "").lower().rstrip(".")
    shown = f"[{host}]" if ":" in host else host
    if "origin" in session:
        if f"{parts.scheme}://{shown}:{port}" != session["origin"]:
            return
    elif host != session.get("host"):  # (a state pickled by an older version: JOBDIR)
        return
    jar = parse_cookie_header(request.headers.get("Cookie"))
    jar.update(session.get("cookies", {}))
    for name, value in (session.get("extra") or {}).items():
        jar.setdefault(name, value)
    if jar:
        request.headers["Cookie"] = format_cookie_header(jar)


def default_headers(settings: BaseSettings) -> dict[str, bytes]:
    """Header values Scrapy sets by default: replayed solver headers may replace these,
    never a value the spider chose."""
    headers = {
        str(k).lower(): to_bytes(v) for k, v in settings.getdict("DEFAULT_REQUEST_HEADERS").items()
    }
    headers["accept-encoding"] = accepted_encodings()
    return headers


class Routes:
    """Routes, the clearance store, and what goes on a request at 760."""

    def __init__(
        self,
        ctx: Context,
        store: ClearanceStore,
        defaults: dict[str, bytes],
        impersonate_schemes: frozenset[str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.secret = route_secret(ctx.settings.api_key, ctx.settings.api_keys)
        self.defaults = defaults
        #: domains challenged without a proxy: CAPTCHA_PROXY routes them from now on
        self.challenged_domains: BoundedSet[str] = BoundedSet(100_000)
        #: route key -> (Cloudflare cookies a site set on a route without a clearance,
        #: their expiry); least recently used first
        self._route_cookies: OrderedDict[str, tuple[dict[str, str], float]] = OrderedDict()
        #: URL schemes scrapy-impersonate downloads (None: read DOWNLOAD_HANDLERS once)
        self.impersonate_schemes = impersonate_schemes
        #: sites (registrable domains) met with a wall whose clearance serves the whole
        #: site (DataDome's cookie is set on the registrable domain)
        self.site_walls: BoundedSet[str] = BoundedSet(100_000)

    # -- clearance keys ---------------------------------------------------------------

    @staticmethod
    def _site_key(route: Route) -> str:
        return f"{site_of(route.domain)}|{route.key.partition('|')[2]}"

    def clearance_key(self, route: Route, kind: str) -> str:
        """Where a ``kind`` wall's clearance for ``route`` is kept: the route's own key,
        or, for a wall whose cookie serves the whole site, the site's (same proxy)."""
        if kind not in DOMAIN_WIDE_WALLS:
            return route.key
        self.site_walls.add(site_of(route.domain))
        return self._site_key(route)

    def keys(self, route: Route) -> tuple[str, ...]:
        """The clearance keys a request of ``route`` may be served by: its own, then its
        site's once a site-wide wall was met there."""
        if not self.site_walls or site_of(route.domain) not in self.site_walls:
            return (route.key,)
        site_key = self._site_key(route)
        return (route.key,) if site_key == route.key else (route.key, site_key)

    async def lookup(self, keys: tuple[str, ...]) -> tuple[Clearance | None, str]:
        """The first clearance stored under ``keys``, and its key."""
        for key in keys:
            clearance = await self.store.get(key)
            if clearance is not None:
                return clearance, key
        return None, keys[0]

    def route(self, request: Request) -> Route:
        state = RequestState.peek(request)
        if state is not None and state.route is not None:
            return state.route
        return route_for(request, self.secret)

    def assign_proxy(self, request: Request) -> None:
        """Route requests through CAPTCHA_DOMAIN_PROXIES / CAPTCHA_PROXY when they have no
        proxy of their own, so HttpProxyMiddleware handles the credentials."""
        if "proxy" in request.meta:
            return
        settings = self.ctx.settings
        host = (urlparse_cached(request).hostname or "").lower()
        proxy = (
            options(request).get("proxy")
            or settings.proxy_for_domain(host)
            or (settings.proxy if host in self.challenged_domains else None)
        )
        if proxy:
            request.meta["proxy"] = proxy

    def fallback_proxy(self, request: Request) -> str | None:
        """Where a challenge met without a proxy can be solved, if anywhere."""
        state = RequestState.peek(request)
        if "proxy" in request.meta or (state is not None and state.rerouted):
            return None
        return options(request).get("proxy") or self.ctx.settings.proxy

    def prepare(self, request: Request) -> tuple[RequestState, Route]:
        """At 760: take off what an earlier trip put on (a retry, redirect or re-issue may
        now go through another route), add the page session it was sent with, and fix
        the route it really goes through."""
        state = RequestState.of(request)
        if state.undo is not None:
            undo_target(request, state.undo.get(META_KEY))  # (the spider's own target)
            undo_clearance(request, state.undo)
            state.undo = None
        state.applied = state.sent = state.cleared_key = state.cleared_kind = None
        if state.session is not None:
            apply_session(request, state.session)
            state.session = None
        state.route = route = route_for(request, self.secret)
        return state, route

    def apply(
        self, request: Request, state: RequestState, clearance: Clearance, key: str | None = None
    ) -> None:
        """Put ``clearance`` (stored under ``key``: the route's own by default) on."""
        undo = clearance.apply(request, self.defaults)
        if self.impersonate_schemes is None:
            self.impersonate_schemes = impersonating_schemes(self.ctx.crawler.settings)
        if uses_impersonation(request, self.impersonate_schemes):
            # curl_cffi's TLS fingerprint must be the browser the clearance is bound to
            change = apply_target(request, clearance.user_agent)
            if change is not None:
                undo[META_KEY] = change
        state.undo = undo
        state.applied = (clearance.id, clearance.task_id)
        state.cleared_kind = clearance.kind
        state.cleared_key = key or (state.route.key if state.route is not None else None)
        state.solver = clearance.provider
        state.sent = {
            "user_agent": clearance.user_agent,
            "cookies": {k: cookie_digest(v) for k, v in clearance.cookies.items()},
            "proxy": request.meta.get("proxy"),
        }
        self.ctx.inc("cache/hit")

    # -- exit-bound cookies ----------------------------------------------------------------

    def route_cookies(self, route: Route) -> dict[str, str]:
        """The exit-bound cookies the site gave this route (no clearance held)."""
        entry = self._route_cookies.get(route.key)
        return dict(entry[0]) if entry is not None and entry[1] > time.time() else {}

    def apply_route_cookies(self, request: Request, state: RequestState, route: Route) -> None:
        """The Cloudflare cookies this route was given by the site (no clearance held)."""
        entry = self._route_cookies.get(route.key)
        if entry is None:
            return
        cookies, expires_at = entry
        if expires_at <= time.time():
            del self._route_cookies[route.key]
            return
        self._route_cookies.move_to_end(route.key)
        carrier = Clearance(cookies=cookies, user_agent=None, headers={}, expires_at=expires_at)
        state.undo = carrier.apply(request, self.defaults)

    async def capture(self, request: Request, response: Response) -> None:
        """Take the exit-bound cookies (``cf_clearance``, ``__cf_bm``, ``datadome``) out of
        a response's ``Set-Cookie`` (so the shared cookie jar never holds them) and keep
        them for the request's route: in its clearance when it carries one, else beside
        it."""
        raw = response.headers.getlist(b"Set-Cookie")
        bound = [c for c in raw if c.split(b"=", 1)[0].strip() in ROUTE_BOUND_COOKIES]
        if not bound:
            return
        others = [c for c in raw if c not in bound]
        if others:
            response.headers.setlist(b"Set-Cookie", others)
        else:
            del response.headers[b"Set-Cookie"]
        state = RequestState.peek(request)
        route = state.route if state is not None else None
        if route is None:
            return
        cookies = {k: v for k, v in apply_set_cookies({}, bound).items() if cookie_ok(k, v)}
        applied = state.applied if state is not None else None
        key = (state.cleared_key if state is not None else None) or route.key
        clearance = await self.store.get(key) if applied is not None else None
        if clearance is not None and applied is not None and clearance.id == applied[0]:
            if any(clearance.cookies.get(k) != v for k, v in cookies.items()):
                merged = {**clearance.cookies, **cookies}
                await self.store.set(key, replace(clearance, cookies=merged))
            return
        previous = self._route_cookies.pop(route.key, ({}, 0.0))[0]
        self._route_cookies[route.key] = (
            {**previous, **cookies},
            time.time() + ROUTE_COOKIE_TTL,
        )
        while len(self._route_cookies) > MAX_ROUTE_COOKIES:
            self._route_cookies.popitem(last=False)
