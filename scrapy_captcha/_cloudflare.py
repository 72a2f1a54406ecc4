"""The Cloudflare flow: challenged responses become one solve per route, and requests
carry the clearance it bought.

At 760 (``before_download``) a request's route is fixed and its clearance, if one is
stored, put on; a request of a route with a pending solve is parked instead of asking
the site again. At 585 (``on_response``) a challenge is decided on (``_decide.py``) and
acted upon. At 950 (``guard``) challenge pages are kept out of the HTTP cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy_captcha._compat import spawn
from scrapy_captcha._coordination import Flight, park
from scrapy_captcha._decide import Action, Facts, decide, decide_after_store
from scrapy_captcha._detection import Challenge, detect, is_challenge_candidate
from scrapy_captcha._diagnose import explain_change, what_changed
from scrapy_captcha._kinds import CLOUDFLARE
from scrapy_captcha._state import (
    META_RESULT,
    RequestState,
    cleared_result,
    options,
    refetch_uncached,
    reissue,
)
from scrapy_captcha._wall_flow import other_wall
from scrapy_captcha.clearance import Clearance
from scrapy_captcha.errors import ConfigurationError, SolverError
from scrapy_captcha.providers import Provider, TaskContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._context import Context
    from scrapy_captcha._coordination import Coordination
    from scrapy_captcha._outcome import Outcome
    from scrapy_captcha._routes import Route, Routes
    from scrapy_captcha._solutions import CloudflareSolution
    from scrapy_captcha._solving import Reservation, Solving
    from scrapy_captcha.store import TaskNote


#: challenge page bytes a task may carry (CapMonster's ``htmlPageBase64``)
MAX_PAGE_HTML = 512 * 1024


class CloudflareFlow:
    def __init__(
        self, ctx: Context, solving: Solving, routes: Routes, coordination: Coordination
    ) -> None:
        self.ctx = ctx
        self.solving = solving
        self.routes = routes
        self.coordination = coordination

    # -- 760: after Cookies and HttpProxy: the real route is known ---------------------

    async def before_download(self, request: Request) -> Request | None:
        state, route = self.routes.prepare(request)
        if state.park is not None:
            # Came straight back without the scheduler (engine.download_async): wait here.
            await self.coordination.wait_inline(request, state)
        elif self.coordination.get(route.key) is not None:
            # Wait outside the downloader; the site is not asked again meanwhile.
            return park(request, route.key)
        clearance = await self.routes.store.get(route.key)
        if clearance is not None:
            self.routes.apply(request, state, clearance)
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
        """A request to send instead, the response to pass on, or None: no challenge
        here (the gate flow may look at the page)."""
        challenge = detect(response)
        state = RequestState.of(request)
        if challenge is None:
            if state.applied is not None:
                request.meta[META_RESULT] = cleared_result(state)
                self.ctx.inc(f"passed/{CLOUDFLARE}")
            return None
        self.ctx.detected(request, response, challenge.kind, challenge.variant)
        if challenge.vendor != CLOUDFLARE:
            return other_wall(self.ctx, request, response, challenge)
        route = self.routes.route(request)
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
            self.solving.accounts.report_later(state.solver, CLOUDFLARE, applied[1])
        if (
            challenge.solvable
            and not cached
            and applied is not None
            and await self.routes.store.invalidate(route.key, applied[0])
        ):
            self.ctx.inc("cache/invalidated")
            self.ctx.log.info("Clearance for %s was challenged again: dropped", route.describe())
        provider: Provider | None = None
        unavailable: str | None = None
        reject_key = ""
        if challenge.solvable and not cached:
            try:
                provider, unavailable = self.solving.choose(request, CLOUDFLARE)
                if provider is not None:
                    reject_key = self.solving.reject_key(route.key, provider, request)
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
                has_proxy=route.has_proxy,
                can_reroute=self.routes.fallback_proxy(request) is not None,
                rejected=self.solving.rejected(reject_key) if provider else None,
                flight_pending=self.coordination.get(route.key) is not None,
            )
        )
        if decision.action is Action.CHECK_STORE:
            current = await self.routes.store.get(route.key)
            applied = state.applied
            decision = decide_after_store(
                fresher_clearance=current is not None
                and (applied is None or current.id != applied[0]),
                # (Checked again: another response of the route may have started a
                # flight while a networked store answered.)
                flight_pending=self.coordination.get(route.key) is not None,
            )
        return self._act(
            decision.action,
            decision.reason,
            request,
            response,
            challenge,
            route,
            provider,
            reject_key,
        )

    def _act(
        self,
        action: Action,
        reason: str | None,
        request: Request,
        response: Response,
        challenge: Challenge,
        route: Route,
        provider: Provider | None,
        reject_key: str,
    ) -> Request | Response:
        state = RequestState.of(request)
        if action is Action.REFETCH:
            self.ctx.inc("http_cache_bypassed")
            return refetch_uncached(request)
        if action is Action.REROUTE:
            return self._reroute(request, route)
        if action is Action.REISSUE:
            return reissue(request, state.attempts + 1)
        if action is Action.SOLVE:
            assert provider is not None
            reservation = self.solving.reserve(provider, CLOUDFLARE)
            if reservation is None:
                action, reason = Action.GIVE_UP, "budget"
            else:
                self._start(route, request, response, challenge, provider, reject_key, reservation)
                action = Action.JOIN
        if action is Action.JOIN:
            return park(request, route.key)
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
                "Cloudflare challenge on %s but the request has no proxy: a clearance is "
                "bound to the exit IP, so it cannot be solved. Set CAPTCHA_PROXY, "
                "CAPTCHA_DOMAIN_PROXIES or meta['proxy'].",
                route.domain,
            )
        assert reason is not None
        self.ctx.give_up(
            request,
            challenge.kind,
            reason,
            variant=challenge.variant,
            task_id=state.last_task,
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

    # -- the solve ----------------------------------------------------------------------

    def _start(
        self,
        route: Route,
        request: Request,
        response: Response,
        challenge: Challenge,
        provider: Provider,
        reject_key: str,
        reservation: Reservation,
    ) -> Flight:
        """The first challenged request of a route decides the solve's provider and
        extra task fields; requests joining the flight share its result."""
        proxy = route.solver_proxy()
        assert proxy is not None
        task = TaskContext(
            url=request.url,
            proxy=proxy,
            method=request.method,
            body=request.body,
            content_type=(request.headers.get("Content-Type") or b"").decode("latin-1"),
            extra=options(request).get("task") or {},
            # (the challenge page, for services that want it: CapMonster's Cloudflare task)
            page_html=response.body[:MAX_PAGE_HTML],
            # (the User-Agent it was sent with, for services that take one: capsolver)
            user_agent=(request.headers.get("User-Agent") or b"").decode("latin-1") or None,
        )
        self.ctx.log.info(
            "Cloudflare %s challenge on %s: solving with %s",
            challenge.variant,
            route.describe(),
            provider.name,
        )

        async def work(flight: Flight) -> None:
            try:
                await self._fly(flight, route, provider, task, reject_key, reservation, request)
            finally:
                reservation.release()  # (no-op once its createTask was sent)

        return self.coordination.start(
            route.key, work, variant=challenge.variant, what=f"for {route.describe()}"
        )

    def _noter(self, route: Route, lease: str | None) -> Callable[[str, str | int], Any] | None:
        """With a shared store: note the task as soon as it exists, so a process taking
        the lease over after this one died polls it instead of paying for another."""
        if lease is None:
            return None
        ttl = self.ctx.settings.solve_timeout + self.ctx.settings.lease_ttl
        store = self.routes.store
        return lambda name, task_id: spawn(store.note_task(route.key, lease, name, task_id, ttl))

    async def _resume(
        self, inherited: TaskNote | None, route: Route, request: Request
    ) -> tuple[CloudflareSolution, Outcome] | None:
        """Poll the task a dead lease holder had created, when its service is one this
        request may use (a name read from Redis never loads anything) and it may still be
        solved in time. None: solve anew."""
        if inherited is None:
            return None
        name, task_id, created = inherited
        try:
            chain = {p.name: p for p in self.solving.chain(request)}
        except ConfigurationError:
            return None
        # (``created`` was checked when read: finite, not in the future; the time left is
        # never more than a whole solve's)
        solve_timeout = self.ctx.settings.solve_timeout
        left = min(solve_timeout, solve_timeout - (time.time() - created))
        if name not in chain or not left > max(self.ctx.settings.poll_interval, 0.0):
            return None
        self.ctx.log.info(
            "Resuming task %s of the process that stopped solving %s", task_id, route.describe()
        )
        try:
            return await self.solving.resume_cloudflare(
                chain[name], task_id, route.describe(), timeout=left
            )
        except SolverError as exc:
            self.ctx.inc("shared/resume_failed")
            self.ctx.log.info("Task %s not resumed (%s): solving afresh", task_id, exc.reason)
            return None

    async def _fly(
        self,
        flight: Flight,
        route: Route,
        provider: Provider,
        task: TaskContext,
        reject_key: str,
        reservation: Reservation,
        request: Request,
    ) -> None:
        share = await self.coordination.share(route.key, route.describe())
        shared, lease = share.clearance, share.lease
        try:
            if shared is not None:
                flight.task_id = shared.task_id
                self.ctx.inc("shared/waited")
                self.ctx.log.info(
                    "Clearance for %s solved by another process (task %s); %d requests waiting",
                    route.describe(),
                    shared.task_id,
                    len(flight.parked) + len(flight.waiters),
                )
                return
            resumed = await self._resume(share.inherited, route, request)
            if resumed is not None:
                solution, result = resumed
            else:
                solution, result = await self.solving.solve_cloudflare(
                    provider,
                    task,
                    route.describe(),
                    reject_key,
                    reservation,
                    request,
                    on_created=self._noter(route, lease),
                )
            flight.task_id, flight.cost = result.task_id, result.cost
            clearance = Clearance.from_solution(
                solution,
                ttl=self.ctx.settings.clearance_ttl,
                task_id=result.task_id,
                provider=result.provider,
                cost=result.cost,
            )
            await self.routes.store.set(route.key, clearance)
            self.ctx.log.info(
                "Solved Cloudflare challenge for %s in %.1fs (task %s); %d requests waiting",
                route.describe(),
                result.seconds,
                result.task_id,
                len(flight.parked) + len(flight.waiters),
            )
        finally:
            await self.coordination.release(route.key, lease)
            self.ctx.add_solve_seconds(flight.started)
