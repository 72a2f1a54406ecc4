"""What the add-on does with each request and response (one manager per crawler).

Why a manager: the work is split across three downloader-middleware positions (see
``middleware.py``), and they must share one view of clearances, pending solves and
budgets. Waiting for a solve is ``flights.py``'s job; solving is ``client.py``'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.python import to_bytes
from twisted.internet import defer

from scrapy_captcha import meta
from scrapy_captcha.clearance import (
    Clearance,
    Route,
    format_cookie_header,
    parse_cookie_header,
    route_for,
    undo_clearance,
)
from scrapy_captcha.client import SolverClient
from scrapy_captcha.detection import Challenge, detect, is_challenge_candidate
from scrapy_captcha.errors import (
    INPUT,
    CaptchaError,
    ConfigurationError,
    SolverCancelled,
    SolverError,
)
from scrapy_captcha.flights import (
    ATTEMPTS,
    LAST_TASK,
    PARK,
    VARIANT,
    Flight,
    FlightBoard,
    spawn,
    wait_inline,
)
from scrapy_captcha.gates import GateKeeper
from scrapy_captcha.meta import META_OPT_OUT, META_OPTIONS, META_RESULT
from scrapy_captcha.providers import CLOUDFLARE, Provider, TaskContext, load_provider
from scrapy_captcha.settings import CaptchaSettings
from scrapy_captcha.store import ClearanceStore, open_store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger("scrapy_captcha")

_ROUTE, _APPLIED, _SET_DONT_CACHE = meta.ROUTE, meta.APPLIED, meta.SET_DONT_CACHE
_REROUTED, _UNDO = meta.REROUTED, meta.UNDO
#: never carried over to a copy of a request
_PRIVATE = (
    _ROUTE,
    _APPLIED,
    PARK,
    _SET_DONT_CACHE,
    meta.JOB,
    meta.REPLAY,
    meta.AUX,
    meta.SESSION,
)
#: never carried over to a brand-new request made from one (a gate submission)
PRIVATE_ALL = frozenset((*_PRIVATE, _UNDO, _REROUTED))

_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


def apply_session(request: Request, session: dict[str, Any]) -> None:
    """Send a page's session cookies with a request made on its behalf (its gate form
    submission, its captcha image), once, on the Cookie header CookiesMiddleware built:
    only to the page's own host, as a browser would, and without touching the jar."""
    cookies = dict(session.get("extra") or {})
    if (urlparse_cached(request).hostname or "").lower() == session.get("host"):
        cookies = {**session.get("cookies", {}), **cookies}
    if cookies:
        jar = parse_cookie_header(request.headers.get("Cookie"))
        jar.update(cookies)
        request.headers["Cookie"] = format_cookie_header(jar)


_MANAGERS: weakref.WeakKeyDictionary[Crawler, CaptchaManager] = weakref.WeakKeyDictionary()


class CaptchaManager:
    @classmethod
    def for_crawler(cls, crawler: Crawler) -> CaptchaManager:
        manager = _MANAGERS.get(crawler)
        if manager is None:
            manager = _MANAGERS[crawler] = cls(crawler)
        return manager

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.settings = CaptchaSettings.from_settings(crawler.settings)
        self.stats = crawler.stats
        self.provider = load_provider(self.settings.provider, self.settings.task_types)
        self.store: ClearanceStore = open_store(self.settings.cache_url, crawler)
        #: this process's name on solve leases of a shared store
        self._owner = uuid.uuid4().hex[:16]
        # Keyed hash secret for proxy identities: stable across processes sharing keys.
        keys = [self.settings.api_key, *sorted(self.settings.api_keys.values())]
        self._secret = hashlib.sha256("|".join(["scrapy-captcha", *keys]).encode()).digest()
        # Header values Scrapy sets by default: replayed solver headers may replace these,
        # never a value the spider chose.
        self._default_headers = {
            str(k).lower(): to_bytes(v)
            for k, v in crawler.settings.getdict("DEFAULT_REQUEST_HEADERS").items()
        }
        self._default_headers["accept-encoding"] = b", ".join(ACCEPTED_ENCODINGS)
        self._clients: dict[str, SolverClient] = {}
        self._providers: dict[str, Provider] = {}
        self.board = FlightBoard(crawler, self._inc)
        self.gates = GateKeeper(self)
        self.challenged_domains: set[str] = set()
        #: why solving is off for the whole crawl (no reactor), if it is
        self.disabled_reason: str | None = None
        if not crawler.settings.getbool("TWISTED_REACTOR_ENABLED", True):
            # treq needs a reactor; say so once at start rather than fail every solve.
            self.disabled_reason = "no_reactor"
        #: provider name -> why that account is unusable (bad key, zero balance, no key)
        self.disabled_providers: dict[str, str] = {}
        # Tasks the provider rejected as malformed (by route, provider and extra fields):
        # resending the same task is pointless.
        self._rejected: dict[str, str] = {}
        self.tasks_created = 0
        self._solve_seconds = 0.0
        self._budget_closed = False
        self._warned: set[str] = set()
        if self.settings.enabled:
            self.board.connect_signals()
            crawler.signals.connect(self._on_spider_opened, signal=signals.spider_opened)
            crawler.signals.connect(self._on_spider_closed, signal=signals.spider_closed)

    def __repr__(self) -> str:
        return f"<CaptchaManager {self.provider.name} flights={len(self.board.flights)}>"

    # -- helpers ------------------------------------------------------------------------

    def _inc(self, key: str, count: int = 1) -> None:
        self.stats.inc_value(f"captcha/{key}", count)

    def _warn_once(self, key: str, msg: str, *args: Any, level: int = logging.WARNING) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.log(level, msg, *args)

    def _active(self, request: Request) -> bool:
        return self.settings.enabled and not request.meta.get(META_OPT_OUT)

    def _options(self, request: Request) -> dict[str, Any]:
        opts = request.meta.get(META_OPTIONS)
        return opts if isinstance(opts, dict) else {}

    def _client(self, provider: Provider) -> SolverClient:
        name = provider.name
        client = self._clients.get(name)
        if client is None:
            s = self.settings
            default = name == self.provider.name
            client = SolverClient(
                provider,
                self._key_for(provider),
                base_url=s.api_urls.get(name) or (s.api_url if default else None),
                request_timeout=s.request_timeout,
                poll_interval=s.poll_interval,
                solve_timeout=s.solve_timeout,
                max_reply_size=s.max_reply_size,
                on_call=lambda method: self._inc(f"solver/{method}"),
            )
            self._clients[name] = client
            if s.poll_interval < 2 and not urlsplit(client.base_url).netloc.startswith(_LOOPBACK):
                self._warn_once(
                    "poll",
                    "CAPTCHA_POLL_INTERVAL=%.1f s: providers ban clients polling faster than "
                    "once every 2 s",
                    s.poll_interval,
                )
        return client

    def _close_spider(self, reason: str) -> None:
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        if hasattr(engine, "close_spider_async"):
            spawn(engine.close_spider_async(reason=reason))
        else:  # Scrapy 2.13
            engine.close_spider(engine.spider, reason)

    def _disable(self, provider: Provider, reason: str, detail: object = "") -> None:
        """Stop using one provider account for the rest of the crawl (other providers
        configured through CAPTCHA_API_KEYS keep working)."""
        if provider.name in self.disabled_providers:
            return
        self.disabled_providers[provider.name] = reason
        self.stats.set_value("captcha/disabled", reason)
        logger.error(
            "Captcha solving with %s disabled for the rest of the crawl: %s%s",
            provider.name,
            reason,
            f" ({detail})" if detail else "",
        )
        if self.settings.close_on_fatal:
            self._close_spider(f"captcha_{reason}")

    def _key_for(self, provider: Provider) -> str:
        return self.settings.api_keys.get(provider.name, self.settings.api_key)

    def _provider_for(self, request: Request) -> Provider:
        """The request's provider: ``meta["captcha"]["provider"]`` or CAPTCHA_PROVIDER.
        Raises ConfigurationError for an unknown one."""
        return self.provider_named(self._options(request).get("provider"))

    def provider_named(self, name: str | None) -> Provider:
        """A provider by name or import path (None: CAPTCHA_PROVIDER), loaded once."""
        if not name or name == self.provider.name:
            return self.provider
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = load_provider(name, self.settings.task_types)
            if not self._key_for(provider):
                self._disable(provider, "no_api_key", "set CAPTCHA_API_KEYS")
        return provider

    def budget_allows(self) -> bool:
        """False once CAPTCHA_MAX_SOLVES tasks were created (and close the spider, once)."""
        if self.settings.max_solves and self.tasks_created >= self.settings.max_solves:
            if not self._budget_closed:
                self._budget_closed = True
                logger.warning(
                    "CAPTCHA_MAX_SOLVES=%d reached: closing the spider", self.settings.max_solves
                )
                self._close_spider("captcha_budget_exhausted")
            return False
        return True

    def _reject_key(self, route: Route, provider: Provider, request: Request) -> str:
        extra = self._options(request).get("task") or {}
        return f"{route.key}|{provider.name}|{sorted(extra.items())!r}"

    # -- 585: before Cookies/HttpProxy -------------------------------------------------

    async def before_request(self, request: Request) -> Request | Response | None:
        """A carrier back from a widget/image solve becomes its gate submission or its
        replayed page; any other request may get a proxy assigned."""
        if not self._active(request):
            return None
        if meta.JOB in request.meta:
            return await self.gates.on_request(request)
        self.assign_proxy(request)
        return None

    def assign_proxy(self, request: Request) -> None:
        """Route requests through CAPTCHA_DOMAIN_PROXIES / CAPTCHA_PROXY when they have no
        proxy of their own, so HttpProxyMiddleware handles the credentials."""
        if not self._active(request) or "proxy" in request.meta:
            return
        host = (urlparse_cached(request).hostname or "").lower()
        proxy = (
            self._options(request).get("proxy")
            or self.settings.proxy_for_domain(host)
            or (self.settings.proxy if host in self.challenged_domains else None)
        )
        if proxy:
            request.meta["proxy"] = proxy

    # -- 760: after Cookies and HttpProxy: the real route is known ---------------------

    async def before_download(self, request: Request) -> Request | None:
        if not self._active(request):
            return None
        undo = request.meta.pop(_UNDO, None)
        if undo is not None:
            # A retry, redirect or re-issue of a request that carried a clearance: take
            # it off, since this request may now go through another route.
            undo_clearance(request, undo)
        request.meta.pop(_APPLIED, None)
        session = request.meta.pop(meta.SESSION, None)
        if session is not None:
            apply_session(request, session)
        route = route_for(request, self._secret)
        request.meta[_ROUTE] = route
        parked_before = request.meta.pop(PARK, None) is not None
        flight = self.board.get(route.key)
        if parked_before:
            await wait_inline(request, flight)
        elif flight is not None:
            # Wait outside the downloader; the site is not asked again meanwhile.
            return self._park_copy(request, route, request.meta.get(ATTEMPTS, 0))
        clearance = await self.store.get(route.key)
        if clearance is None:
            return None
        request.meta[_UNDO] = clearance.apply(request, self._default_headers)
        request.meta[_APPLIED] = (clearance.id, clearance.task_id)
        self._inc("cache/hit")
        return None

    # -- 950: above HttpCache -----------------------------------------------------------

    def guard(self, request: Request, response: Response) -> None:
        """Keep challenge and block pages out of Scrapy's HTTP cache. Runs before the body
        is decompressed: Cloudflare-looking 403/429/503s are kept out on status and
        headers alone; an uncompressed body is also checked with the full detection."""
        if request.meta.get("dont_cache"):
            return  # (opted-out requests too: a challenge page is never worth caching)
        encoding = response.headers.get("Content-Encoding") or b"identity"
        encoded = encoding.lower() != b"identity"
        if is_challenge_candidate(response.status, response.headers) or (
            not encoded and detect(response) is not None
        ):
            request.meta["dont_cache"] = True
            request.meta[_SET_DONT_CACHE] = True

    # -- 585: after decompression, before Retry and MetaRefresh -------------------------

    async def on_response(self, request: Request, response: Response) -> Request | Response:
        if not self._active(request):
            return response
        try:
            return await self._on_response(request, response)
        except (defer.CancelledError, asyncio.CancelledError):
            raise
        except Exception:
            # A bug of ours must not cost the user the page.
            logger.exception("scrapy-captcha failed on %s; passing the response on", response)
            return response

    async def _on_response(self, request: Request, response: Response) -> Request | Response:
        challenge = detect(response)
        applied = request.meta.get(_APPLIED)
        attempts = request.meta.get(ATTEMPTS, 0)
        if challenge is None:
            if applied is not None:
                request.meta[META_RESULT] = {
                    "kind": CLOUDFLARE,
                    **({"variant": request.meta[VARIANT]} if VARIANT in request.meta else {}),
                    "solved": True,
                    "from_cache": attempts == 0,
                    "task_id": applied[1],
                    "attempts": attempts,
                }
            # Past Cloudflare: a captcha widget or image on the page itself?
            return await self.gates.on_response(request, response) or response
        self._inc(f"detected/{challenge.kind}")
        if not challenge.solvable:
            logger.info(
                "%s on %s (%s): not solvable, passed on",
                challenge.kind,
                request.url,
                challenge.variant,
            )
            return self._unsolved(request, response, challenge, "blocked")

        if "cached" in response.flags:
            # A challenge stored by HttpCache before the add-on guarded it: solving it
            # would be paid for and then served again from the cache. Fetch afresh,
            # bypassing the cache for this request from now on.
            self._inc("http_cache_bypassed")
            copy = self._copy(request)
            copy.meta["dont_cache"] = True
            return copy
        route = request.meta.get(_ROUTE) or route_for(request, self._secret)
        if applied is not None and await self.store.invalidate(route.key, applied[0]):
            self._inc("cache/invalidated")
            logger.info("Clearance for %s was challenged again: dropped", route.describe())
        if attempts >= self.settings.max_attempts:
            return self._unsolved(request, response, challenge, "max_attempts")
        try:
            provider = self._provider_for(request)
        except ConfigurationError as exc:
            self._warn_once(f"provider|{exc}", "%s", exc, level=logging.ERROR)
            return self._unsolved(request, response, challenge, "bad_provider")
        disabled = self.disabled_reason or self.disabled_providers.get(provider.name)
        if disabled is not None:
            return self._unsolved(request, response, challenge, disabled)
        if not route.has_proxy:
            return self._no_proxy(request, response, challenge, route)
        reject_key = self._reject_key(route, provider, request)
        if reject_key in self._rejected:
            return self._unsolved(request, response, challenge, self._rejected[reject_key])

        if self.board.get(route.key) is None:
            current = await self.store.get(route.key)
            if current is not None and (applied is None or current.id != applied[0]):
                # A fresher clearance landed while this request was on the wire.
                return self._reissue(request, attempts + 1)
        # (Checked again: another response of the route may have started a flight while
        # a networked store answered.)
        if self.board.get(route.key) is None:
            if not self.budget_allows():
                return self._unsolved(request, response, challenge, "budget")
            self._start_flight(route, request, challenge, provider, reject_key)
        return self._park_copy(request, route, attempts)

    def _no_proxy(
        self, request: Request, response: Response, challenge: Challenge, route: Route
    ) -> Request | Response:
        fallback = self._options(request).get("proxy") or self.settings.proxy
        if fallback and "proxy" not in request.meta and not request.meta.get(_REROUTED):
            # Send it (and later requests to the domain) through CAPTCHA_PROXY, where the
            # challenge can be solved; the clearance will be bound to that proxy.
            self.challenged_domains.add(route.domain)
            copy = self._copy(request)
            copy.meta["proxy"] = fallback
            copy.meta[_REROUTED] = True
            logger.info(
                "Challenge on %s without a proxy: rerouting through CAPTCHA_PROXY", route.domain
            )
            return copy
        self._warn_once(
            f"noproxy|{route.domain}",
            "Cloudflare challenge on %s but the request has no proxy: a clearance is bound to "
            "the exit IP, so it cannot be solved. Set CAPTCHA_PROXY, CAPTCHA_DOMAIN_PROXIES or "
            "meta['proxy'].",
            route.domain,
        )
        return self._unsolved(request, response, challenge, "no_proxy")

    def _unsolved(
        self,
        request: Request,
        response: Response,
        challenge: Challenge,
        reason: str,
    ) -> Response:
        self._inc(f"unsolved/{reason}")
        request.meta[META_RESULT] = {
            "kind": challenge.kind,
            "variant": challenge.variant,
            "solved": False,
            "reason": reason,
            "attempts": request.meta.get(ATTEMPTS, 0),
            "task_id": request.meta.get(LAST_TASK),
        }
        # Retrying cannot get past a challenge we gave up on or a block page, and would
        # only hit a site that may be rate-limiting us: keep RetryMiddleware (550) off it.
        request.meta["dont_retry"] = True
        return response

    def _copy(self, request: Request) -> Request:
        copy = request.replace(dont_filter=True)
        if copy.meta.pop(_SET_DONT_CACHE, None):
            copy.meta.pop("dont_cache", None)
        for key in _PRIVATE:
            copy.meta.pop(key, None)
        return copy

    def _reissue(self, request: Request, attempts: int) -> Request:
        copy = self._copy(request)
        copy.meta[ATTEMPTS] = attempts
        return copy

    def _park_copy(self, request: Request, route: Route, attempts: int) -> Request:
        copy = self._reissue(request, attempts)
        copy.meta[PARK] = route.key
        return copy

    # -- flights ------------------------------------------------------------------------

    def _start_flight(
        self,
        route: Route,
        request: Request,
        challenge: Challenge,
        provider: Provider,
        reject_key: str,
    ) -> Flight:
        """The first challenged request of a route decides the solve's provider and
        extra task fields; requests joining the flight share its result."""
        opts = self._options(request)
        proxy = route.solver_proxy()
        assert proxy is not None
        ctx = TaskContext(
            url=request.url,
            proxy=proxy,
            method=request.method,
            body=request.body,
            content_type=(request.headers.get("Content-Type") or b"").decode("latin-1"),
            extra=opts.get("task") or {},
        )
        self.tasks_created += 1
        logger.info(
            "Cloudflare %s challenge on %s: solving with %s",
            challenge.variant,
            route.describe(),
            provider.name,
        )
        return self.board.start(
            route.key,
            lambda flight: self._fly(flight, route, provider, ctx, reject_key),
            route=route,
            variant=challenge.variant,
        )

    async def _fly(
        self, flight: Flight, route: Route, provider: Provider, ctx: TaskContext, reject_key: str
    ) -> None:
        error: CaptchaError | None = None
        lease: str | None = None
        try:
            if self.store.shared:
                shared, lease = await self._share(route)
                if shared is not None:
                    self._landed_elsewhere(flight, route, shared)
                    return
            client = self._client(provider)
            result = await client.solve(provider.cloudflare_task(ctx))
            solution = provider.parse_cloudflare(result.reply)
            if solution is None:
                raise SolverError(
                    "malformed_reply", "ready reply holds no cookies", task_id=result.task_id
                )
            flight.task_id = result.task_id
            clearance = Clearance.from_solution(
                solution, ttl=self.settings.clearance_ttl, task_id=result.task_id
            )
            await self.store.set(route.key, clearance)
            self._inc(f"solved/{CLOUDFLARE}")
            logger.info(
                "Solved Cloudflare challenge for %s in %.1fs (task %s); %d requests waiting",
                route.describe(),
                result.seconds,
                result.task_id,
                len(flight.parked) + len(flight.waiters),
            )
        except SolverError as exc:
            error = exc
            flight.task_id = exc.task_id
            self._inc(f"failed/{exc.reason}")
            if exc.fatal:
                self._disable(provider, exc.reason, exc)
            elif exc.family == INPUT:
                self._rejected[reject_key] = exc.reason
                logger.error("Solver rejected the task for %s: %s", route.describe(), exc)
            else:
                logger.warning("Solve for %s failed: %s", route.describe(), exc)
        except (defer.CancelledError, asyncio.CancelledError):
            error = SolverCancelled("crawl closed while solving")
        except Exception as exc:  # a bug: log it, but let the waiting requests go on
            logger.exception("Unexpected error solving for %s", route.describe())
            error = SolverError("internal", type(exc).__name__)
            self._inc("failed/internal")
        finally:
            if lease is not None:
                await self.store.release_lease(route.key, lease)
            self._solve_seconds += time.monotonic() - flight.started
            self.stats.set_value("captcha/solve_seconds", round(self._solve_seconds, 3))
            self.board.land(flight, error)

    async def _share(self, route: Route) -> tuple[Clearance | None, str | None]:
        """Single flight across the processes of a shared store. Returns the clearance
        another process solved (then nothing is solved here), and the lease owner id if
        this process must solve. A holder that dies stops renewing its lease, which then
        expires: the next waiter takes it over."""
        owner = f"{self._owner}:{uuid.uuid4().hex[:8]}"
        ttl = self.settings.lease_ttl
        deadline = time.monotonic() + self.settings.solve_timeout + ttl
        waited_before = False
        while True:
            if await self.store.acquire_lease(route.key, owner, ttl):
                if waited_before:
                    self._inc("shared/lease_taken_over")
                    logger.info(
                        "Solve lease for %s ended without a clearance: solving here",
                        route.describe(),
                    )
                # Another process may have stored one between our miss and the lease.
                return await self.store.get(route.key), owner
            left = deadline - time.monotonic()
            if left <= 0:  # (a holder renewing its lease far past any solve deadline)
                logger.warning("Gave up waiting for another process to solve %s", route.describe())
                return None, None
            clearance = await self.store.wait_for(route.key, left)
            if clearance is not None:
                return clearance, None
            waited_before = True

    def _landed_elsewhere(self, flight: Flight, route: Route, clearance: Clearance) -> None:
        self.tasks_created -= 1  # no task of ours: the budget is not spent
        flight.task_id = clearance.task_id
        self._inc("shared/waited")
        logger.info(
            "Clearance for %s solved by another process (task %s); %d requests waiting",
            route.describe(),
            clearance.task_id,
            len(flight.parked) + len(flight.waiters),
        )

    # -- signals ------------------------------------------------------------------------

    async def _on_spider_opened(self, **kwargs: Any) -> None:
        self._check_components()
        if self.disabled_reason == "no_reactor":
            logger.error(
                "TWISTED_REACTOR_ENABLED is False: scrapy-captcha talks to solvers through "
                "treq, which needs the Twisted reactor. Challenges are passed on unsolved."
            )
            self.stats.set_value("captcha/disabled", "no_reactor")
            return
        if not self._key_for(self.provider):
            self._disable(self.provider, "no_api_key", "CAPTCHA_API_KEY is not set")
            return
        if self.settings.check_balance:
            spawn(self._check_balance())

    async def _check_balance(self) -> None:
        try:
            balance = await self._client(self.provider).get_balance()
        except SolverError as exc:
            if exc.fatal:
                self._inc(f"failed/{exc.reason}")
                self._disable(self.provider, exc.reason, exc)
            else:
                logger.warning("Could not read the %s balance: %s", self.provider.name, exc)
            return
        self.stats.set_value("captcha/balance", balance)
        logger.info("%s balance: %.4f", self.provider.name, balance)

    def _check_components(self) -> None:
        from scrapy_captcha.addon import PRIORITIES  # the add-on's list of components

        engine = self.crawler.engine
        if engine is None:
            return
        present = {type(mw) for mw in engine.downloader.middleware.middlewares}
        missing = [cls.__name__ for cls in PRIORITIES if cls not in present]
        if missing:
            logger.error(
                "scrapy-captcha is incomplete: %s not in DOWNLOADER_MIDDLEWARES. Use ADDONS = "
                "{'scrapy_captcha.Addon': 500} or see the README for the manual setup.",
                ", ".join(missing),
            )

    async def _on_spider_closed(self, **kwargs: Any) -> None:
        self.board.close()
        self.gates.close()
        dropped = self.stats.get_value("captcha/dropped_on_close", 0)
        if dropped:
            logger.info("%d requests waiting for a captcha solve were dropped at close", dropped)
        for client in self._clients.values():
            await client.close()
        await self.store.close()
