"""The clearance flow: challenged responses of the walls whose solve buys a cookie
(Cloudflare, AWS WAF, DataDome, Imperva) become one solve per clearance key, and requests
carry the clearance it bought.

At 760 (``before_download``) a request's route is fixed and its clearance, if one is
stored, put on; a request of a route with a pending solve is parked instead of asking
the site again. At 585 (``on_response``) a challenge is decided on (``_decide.py``) and
acted upon: a clearance wall is solved (``_clearance_flight.py``), Amazon's robot check
goes to the gate flow, a wall no service opens (or one CAPTCHA_WALLS leaves out) is given
up (``_wall_flow.py``). At 950 (``guard``) challenge pages are kept out of the HTTP cache.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from scrapy_captcha._kinds import AMAZON, CLEARANCE_WALLS, CLOUDFLARE, PROXY_BOUND_WALLS
from scrapy_captcha._state import (
    META_RESULT,
    RequestState,
    cleared_result,
    refetch_uncached,
    reissue,
)
from scrapy_captcha.detect._detection import Challenge, detect, is_challenge_candidate
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.flows._clearance_flight import WALL_NAMES, ClearanceFlights
from scrapy_captcha.flows._diagnose import explain_change, what_changed
from scrapy_captcha.flows._wall_flow import other_wall, switched_off
from scrapy_captcha.policy._decide import Action, Facts, decide, decide_after_store
from scrapy_captcha.routes._coordination import park
from scrapy_captcha.services.providers import Provider

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._context import Context
    from scrapy_captcha.policy._solving import Solving
    from scrapy_captcha.routes._coordination import Coordination
    from scrapy_captcha.routes._routes import Route, Routes

#: what takes a wall page the gate flow solves (Amazon's robot check): the request to
#: send instead, or the page itself once given up
ImageWall = Callable[["Request", "Response", Challenge], Awaitable["Request | Response"]]


class CloudflareFlow:
    def __init__(
        self,
        ctx: Context,
        solving: Solving,
        routes: Routes,
        coordination: Coordination,
        image_wall: ImageWall | None = None,
    ) -> None:
        self.ctx = ctx
        self.solving = solving
        self.routes = routes
        self.coordination = coordination
        self.flights = ClearanceFlights(ctx, solving, routes, coordination)
        #: the gate flow's handler of Amazon's robot check
        self.image_wall = image_wall

    # -- 760: after Cookies and HttpProxy: the real route is known ---------------------

    async def before_download(self, request: Request) -> Request | None:
        state, route = self.routes.prepare(request)
        keys = self.routes.keys(route)
        pending = next((k for k in keys if self.coordination.get(k) is not None), None)
        if state.park is not None:
            # Came straight back without the scheduler (engine.download_async): wait here.
            await self.coordination.wait_inline(request, state)
        elif pending is not None:
            # Wait outside the downloader; the site is not asked again meanwhile.
            return park(request, pending)
        clearance, key = await self.routes.lookup(keys)
        if clearance is not None:
            self.routes.apply(request, state, clearance, key)
        else:
            self.routes.apply_route_cookies(request, state, route)
        return None

    async def after_download(self, request: Request, response: Response) -> None:
        """At 760, before CookiesMiddleware sees the response: Cloudflare's exit-bound
        cookies go to the route, never into the jar every proxy shares."""
        await self.routes.capture(request, response)

    # -- 950: above HttpCache -----------------------------------------------------------

    @staticmethod
    def guard(request: Request, response: Response) -> None:
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
            RequestState.of(request).set_dont_cache = True

    # -- 585: after decompression, before Retry and MetaRefresh -------------------------

    async def on_response(self, request: Request, response: Response) -> Request | Response | None:
        """A request to send instead, the response to pass on, or None: no wall here
        (the gate flow may look at the page)."""
        state = RequestState.of(request)
        if state.replay:
            return None  # (a gate page replayed to its request: the gate flow's)
        challenge = detect(response)
        if challenge is None:
            if state.applied is not None:
                result = request.meta[META_RESULT] = cleared_result(state)
                self.ctx.inc(f"passed/{result['kind']}")
            return None
        self.ctx.detected(request, response, challenge.kind, challenge.variant)
        vendor = challenge.vendor
        self.ctx.inc(f"wall/{vendor}")
        if challenge.solvable and vendor not in self.ctx.settings.walls:
            return switched_off(self.ctx, request, response, challenge)
        if vendor == AMAZON and challenge.solvable and self.image_wall is not None:
            return await self.image_wall(request, response, challenge)
        if vendor not in CLEARANCE_WALLS or (vendor != CLOUDFLARE and not challenge.solvable):
            return other_wall(self.ctx, request, response, challenge)
        kind = vendor  # (a clearance wall's task kind is its own name)
        route = self.routes.route(request)
        key = self.routes.clearance_key(route, kind)
        cached = "cached" in response.flags
        applied = state.applied
        altered = what_changed(request, state) if challenge.solvable else []
        if altered and not cached:
            # The clearance did not leave as it was put on: the site is right to refuse
            # it, and another solve would be refused the same way. Say who, pay nothing.
            explain_change(self.ctx, route.describe(), altered)
            why, variant = "clearance_altered", challenge.variant
            self.ctx.give_up(request, challenge.kind, why, variant=variant, response=response)
            return response
        if (
            challenge.solvable
            and applied is not None
            and state.attempts
            and state.last_task == applied[1]
        ):
            # The clearance this request waited for was challenged at once: refused.
            self.solving.accounts.report_later(state.solver, kind, applied[1])
        if (
            challenge.solvable
            and not cached
            and applied is not None
            and await self.routes.store.invalidate(state.cleared_key or key, applied[0])
        ):
            self.ctx.inc("cache/invalidated")
            self.ctx.log.info("Clearance for %s was challenged again: dropped", route.describe())
        provider: Provider | None = None
        unavailable: str | None = None
        reject_key = ""
        if challenge.solvable and not cached:
            try:
                provider, unavailable = self.solving.choose(request, kind)
                if provider is not None:
                    reject_key = self.solving.reject_key(key, provider, request)
            except ConfigurationError as exc:
                self.ctx.warn_once(f"provider|{exc}", "%s", exc, level=logging.ERROR)
                unavailable = "bad_provider"
        decision = decide(
            Facts(
                challenged=True,
                solvable=challenge.solvable,
                from_cache=cached,
                attempts=state.attempts,
                max_attempts=self.ctx.settings.max_attempts,
                unavailable=unavailable,
                has_proxy=route.has_proxy or kind not in PROXY_BOUND_WALLS,
                can_reroute=self.routes.fallback_proxy(request) is not None,
                rejected=self.solving.rejected(reject_key) if provider else None,
                flight_pending=self.coordination.get(key) is not None,
            )
        )
        if decision.action is Action.CHECK_STORE:
            current = await self.routes.store.get(key)
            applied = state.applied
            decision = decide_after_store(
                fresher_clearance=current is not None
                and (applied is None or current.id != applied[0]),
                # (Checked again: another response of the route may have started a
                # flight while a networked store answered.)
                flight_pending=self.coordination.get(key) is not None,
            )
        if decision.action is Action.SOLVE:
            assert provider is not None
            reservation = self.solving.reserve(provider, kind)
            if reservation is None:
                return self._give_up(request, response, challenge, route, "budget")
            task = self.flights.task(kind, route, request, response, challenge)
            variant = challenge.variant
            self.flights.start(
                kind, key, route, request, task, variant, provider, reject_key, reservation
            )
            return park(request, key)
        return self._act(decision.action, decision.reason, request, response, challenge, key)

    def _act(
        self,
        action: Action,
        reason: str | None,
        request: Request,
        response: Response,
        challenge: Challenge,
        key: str,
    ) -> Request | Response:
        state = RequestState.of(request)
        if action is Action.REFETCH:
            self.ctx.inc("http_cache_bypassed")
            return refetch_uncached(request)
        route = self.routes.route(request)
        if action is Action.REROUTE:
            return self._reroute(request, route)
        if action is Action.REISSUE:
            return reissue(request, state.attempts + 1)
        if action is Action.JOIN:
            return park(request, key)
        assert reason is not None
        return self._give_up(request, response, challenge, route, reason)

    def _give_up(
        self,
        request: Request,
        response: Response,
        challenge: Challenge,
        route: Route,
        reason: str,
    ) -> Response:
        if reason == "blocked":
            self.ctx.log.info(
                "%s on %s (%s): not solvable, passed on",
                challenge.kind,
                request.url,
                challenge.variant,
            )
        elif reason == "no_proxy":
            self.ctx.warn_once(
                f"noproxy|{route.domain}",
                "%s challenge on %s but the request has no proxy: its clearance is bound "
                "to the exit IP, so it cannot be solved. Set CAPTCHA_PROXY, "
                "CAPTCHA_DOMAIN_PROXIES or meta['proxy'].",
                WALL_NAMES.get(challenge.vendor, challenge.vendor),
                route.domain,
            )
        self.ctx.give_up(
            request,
            challenge.kind,
            reason,
            variant=challenge.variant,
            task_id=RequestState.of(request).last_task,
            response=response,
        )
        return response

    def _reroute(self, request: Request, route: Route) -> Request:
        """Send it (and later requests to the domain) through CAPTCHA_PROXY, where the
        challenge can be solved; the clearance will be bound to that proxy."""
        fallback = self.routes.fallback_proxy(request)
        self.routes.challenged_domains.add(route.domain)
        copy = reissue(request)
        copy.meta["proxy"] = fallback
        RequestState.of(copy).rerouted = True
        self.ctx.log.info(
            "Challenge on %s without a proxy: rerouting through CAPTCHA_PROXY", route.domain
        )
        return copy
