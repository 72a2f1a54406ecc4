"""One clearance solve: the task a wall's first challenged request decides, its flight
(single flight per clearance key, across processes with a shared store), and the
clearance it buys, stored for every request of the route.

The same for every wall whose solve buys a cookie (Cloudflare, AWS WAF, DataDome,
Imperva): the task kind is the wall's, and so are the stats and the log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from scrapy_captcha._compat import spawn
from scrapy_captcha._kinds import CLOUDFLARE, PROXY_BOUND_WALLS
from scrapy_captcha._state import options
from scrapy_captcha.errors import ConfigurationError, SolverError
from scrapy_captcha.flows._jobs import page_cookies
from scrapy_captcha.policy._outbound import origin_of, site_of
from scrapy_captcha.routes._coordination import Flight
from scrapy_captcha.routes.clearance import Clearance
from scrapy_captcha.services._task_prep import token_proxy_wanted
from scrapy_captcha.services.providers import Provider, TaskContext

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._context import Context
    from scrapy_captcha.detect._challenge import Challenge
    from scrapy_captcha.policy._outcome import Outcome
    from scrapy_captcha.policy._solving import Reservation, Solving
    from scrapy_captcha.routes._coordination import Coordination
    from scrapy_captcha.routes._routes import Route, Routes
    from scrapy_captcha.routes.store import TaskNote
    from scrapy_captcha.services._solutions import CloudflareSolution


#: challenge page bytes a task may carry (CapMonster's ``htmlPageBase64``)
MAX_PAGE_HTML = 512 * 1024
#: where each URL a wall's page names may point (a page is untrusted: what it names goes
#: to the services, which fetch it): the page's own site, or the wall vendor's
_PARAM_SITES = {
    "script_url": None,  # (Imperva's script: the page's own site)
    "captcha_url": "captcha-delivery.com",
    "challenge_script": "awswaf.com",
    "captcha_script": "awswaf.com",
    "jsapi_script": "awswaf.com",
}
#: what log lines call each wall
WALL_NAMES = {
    CLOUDFLARE: "Cloudflare",
    "aws_waf": "AWS WAF",
    "datadome": "DataDome",
    "incapsula": "Imperva",
}


def _trusted(params: Mapping[str, str], page_url: str) -> dict[str, str]:
    """A wall page's values, less the URLs that point elsewhere than they may (the page's
    own site, or an https URL of the wall vendor's): a task that needs one is then not
    sent (``missing_params``)."""
    kept: dict[str, str] = {}
    page = origin_of(page_url)
    for name, value in params.items():
        if name in _PARAM_SITES:
            target = origin_of(value)
            site = _PARAM_SITES[name] or (site_of(page.host) if page is not None else None)
            if target is None or (target.scheme != "https" and _PARAM_SITES[name]):
                continue
            if site is None or site_of(target.host) != site:
                continue
        kept[name] = value
    return kept


class ClearanceFlights:
    """Starts and flies the clearance solves of one crawler."""

    def __init__(
        self, ctx: Context, solving: Solving, routes: Routes, coordination: Coordination
    ) -> None:
        self.ctx = ctx
        self.solving = solving
        self.routes = routes
        self.coordination = coordination

    def task(
        self, kind: str, route: Route, request: Request, response: Response, challenge: Challenge
    ) -> TaskContext:
        """What the services' tasks for this challenge are built from. A proxy-bound wall's
        task always carries the route's proxy; another wall's only where CAPTCHA_TOKEN_PROXY
        asks for it (its proxyless task is the one the services recommend)."""
        proxy = route.solver_proxy() or ""
        if kind not in PROXY_BOUND_WALLS and not token_proxy_wanted(self.ctx, request):
            proxy = ""
        cookies = {**self.routes.route_cookies(route), **page_cookies(request, response)}
        return TaskContext(
            url=request.url,
            proxy=proxy,
            method=request.method,
            body=request.body,
            content_type=(request.headers.get("Content-Type") or b"").decode("latin-1"),
            extra=options(request).get("task") or {},
            # (the challenge page, for services that want it: CapMonster's Cloudflare task)
            page_html=response.body[:MAX_PAGE_HTML] if kind == CLOUDFLARE else b"",
            # (the User-Agent it was sent with, for services that take one)
            user_agent=(request.headers.get("User-Agent") or b"").decode("latin-1") or None,
            params=_trusted(challenge.params, request.url),
            cookies=cookies,
        )

    def start(
        self,
        kind: str,
        key: str,
        route: Route,
        request: Request,
        task: TaskContext,
        variant: str,
        provider: Provider,
        reject_key: str,
        reservation: Reservation,
    ) -> Flight:
        """The first challenged request of a clearance key decides the solve's provider
        and task; requests joining the flight share its result."""
        self.ctx.log.info(
            "%s %s challenge on %s: solving with %s",
            WALL_NAMES.get(kind, kind),
            variant,
            route.describe(),
            provider.name,
        )

        async def work(flight: Flight) -> None:
            try:
                await self._fly(
                    kind, key, flight, route, provider, task, reject_key, reservation, request
                )
            finally:
                reservation.release()  # (no-op once its createTask was sent)

        return self.coordination.start(key, work, variant=variant, what=f"for {route.describe()}")

    def _noter(self, key: str, lease: str | None) -> Callable[[str, str | int], Any] | None:
        """With a shared store: note the task as soon as it exists, so a process taking
        the lease over after this one died polls it instead of paying for another."""
        if lease is None:
            return None
        ttl = self.ctx.settings.solve_timeout + self.ctx.settings.lease_ttl
        store = self.routes.store
        return lambda name, task_id: spawn(store.note_task(key, lease, name, task_id, ttl))

    async def _resume(
        self, kind: str, inherited: TaskNote | None, route: Route, request: Request
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
            return await self.solving.resume_clearance(
                kind, chain[name], task_id, route.describe(), timeout=left
            )
        except SolverError as exc:
            self.ctx.inc("shared/resume_failed")
            self.ctx.log.info("Task %s not resumed (%s): solving afresh", task_id, exc.reason)
            return None

    async def _fly(
        self,
        kind: str,
        key: str,
        flight: Flight,
        route: Route,
        provider: Provider,
        task: TaskContext,
        reject_key: str,
        reservation: Reservation,
        request: Request,
    ) -> None:
        share = await self.coordination.share(key, route.describe())
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
            resumed = await self._resume(kind, share.inherited, route, request)
            if resumed is not None:
                solution, result = resumed
            else:
                solution, result = await self.solving.solve_clearance(
                    kind,
                    provider,
                    task,
                    route.describe(),
                    reject_key,
                    reservation,
                    request,
                    on_created=self._noter(key, lease),
                )
            flight.task_id, flight.cost = result.task_id, result.cost
            clearance = Clearance.from_solution(
                solution,
                ttl=self.ctx.settings.clearance_ttl,
                task_id=result.task_id,
                provider=result.provider,
                cost=result.cost,
                kind=kind,
            )
            await self.routes.store.set(key, clearance)
            self.ctx.log.info(
                "Solved %s challenge for %s in %.1fs (task %s); %d requests waiting",
                WALL_NAMES.get(kind, kind),
                route.describe(),
                result.seconds,
                result.task_id,
                len(flight.parked) + len(flight.waiters),
            )
        finally:
            await self.coordination.release(key, lease)
            self.ctx.add_solve_seconds(flight.started)
