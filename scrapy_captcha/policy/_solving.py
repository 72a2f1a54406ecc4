"""Solving: provider profiles, solver clients, accounts, the task budget and one error
policy, for the Cloudflare flow, the gate flow and the spider API alike.

Why one owner: a dead account, a spent budget or a task the provider rejected must look
the same whichever path met it; the budget counter changes here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy_captcha._bounded import BoundedDict
from scrapy_captcha._kinds import CLOUDFLARE, IMAGE, WALL_COOKIES
from scrapy_captcha._state import options
from scrapy_captcha.errors import INPUT, ConfigurationError, SolverError
from scrapy_captcha.policy._budget import Budget, Reservation
from scrapy_captcha.policy._outcome import Outcome
from scrapy_captcha.services._client import TaskResult
from scrapy_captcha.services._health import Health
from scrapy_captcha.services._solutions import CloudflareSolution, TokenSolution
from scrapy_captcha.services._task_prep import (
    NOT_SENT,
    bound_to,
    no_task_hint,
    prepared,
    report_dropped,
    token_builder,
)
from scrapy_captcha.services.providers import Provider, TaskContext

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._context import Context
    from scrapy_captcha.detect._widgets import Widget
    from scrapy_captcha.services._accounts import Accounts

_T = TypeVar("_T")


#: what a ready Cloudflare reply must hold (for the malformed-reply error)
CLOUDFLARE_WHAT = "usable cookies and User-Agent"


class Solving:
    """Providers, clients and accounts of one crawler, and the budget it may spend."""

    def __init__(self, ctx: Context, accounts: Accounts, *, reactor_enabled: bool = True) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.accounts = accounts
        #: why solving is off for the whole crawl (treq needs a reactor), if it is
        self.disabled_reason: str | None = None if reactor_enabled else "no_reactor"
        # Tasks the provider rejected as malformed, by a caller's key: resending the same
        # task is pointless.
        self._rejected: BoundedDict[str, str] = BoundedDict(100_000)
        self.budget = Budget(ctx)
        #: failures in a row, services resting, kinds a service refused
        self.health = Health(ctx)
        self._hinted: set[str] = set()

    # -- providers ------------------------------------------------------------------------

    def provider_named(self, name: str | None) -> Provider:
        return self.accounts.provider_named(name)

    def chain(self, request: Request | None = None) -> list[Provider]:
        """The services a request may be solved by, in order: ``meta["captcha"]
        ["provider"]`` alone, else CAPTCHA_PROVIDERS (or CAPTCHA_PROVIDER). Raises
        ConfigurationError for an unknown one."""
        name = options(request).get("provider") if request is not None else None
        if name:
            return [self.provider_named(name)]
        return [self.provider_named(n) for n in self.settings.providers]

    def choose(
        self, request: Request | None, task_key: str, name: str | None = None
    ) -> tuple[Provider | None, str | None]:
        """The first service of the chain that can take a ``task_key`` task now (one
        resting after repeated failures only if no other can), or why none can."""
        chain = [self.provider_named(name)] if name else self.chain(request)
        reason: str | None = None
        resting: Provider | None = None
        for provider in chain:
            why = self.unavailable(provider, task_key)
            if why is not None:
                reason = reason or why
            elif self.health.resting(provider) and len(chain) > 1:
                resting = resting or provider
            else:
                return provider, None
        return (resting, None) if resting is not None else (None, reason)

    def _next(self, provider: Provider, task_key: str, request: Request | None) -> Provider | None:
        chain = self.chain(request)
        if provider not in chain:
            return None
        for candidate in chain[chain.index(provider) + 1 :]:
            if self.unavailable(candidate, task_key) is None:
                return candidate
        return None

    def price(self, provider: Provider, task_key: str) -> float | None:
        """USD per solved task: CAPTCHA_PRICES, else the profile's public price list."""
        own = self.settings.prices.get(provider.name, {})
        if task_key in own:
            return own[task_key]
        value = getattr(provider, "prices", {}).get(task_key)
        return float(value) if isinstance(value, (int, float)) else None

    def unavailable(self, provider: Provider, task_key: str | None = None) -> str | None:
        """Why no task for ``task_key`` can be sent to ``provider`` now (the whole add-on
        or the account is off, the provider has no such task, or refused the kind), or
        None."""
        disabled = self.disabled_reason or self.accounts.disabled.get(provider.name)
        if disabled is not None:
            return disabled
        if task_key is None:
            return None
        if self.health.refused(provider.name, task_key):
            return "bad_task"
        try:
            provider.task_type(task_key)
        except ConfigurationError:
            if f"notask|{provider.name}|{task_key}" not in self._hinted:
                self._hinted.add(f"notask|{provider.name}|{task_key}")
                can = [n for n in self.settings.providers if self._can(n, task_key)]
                self.ctx.log.warning("%s", no_task_hint(provider, task_key, can))
            return "no_task"
        return None

    def _can(self, name: str, task_key: str) -> bool:
        try:
            other = self.provider_named(name)
        except ConfigurationError:
            return False
        return (
            other.can(task_key)
            and name not in self.accounts.disabled
            and not self.health.refused(name, task_key)
        )

    # -- budget -------------------------------------------------------------------------

    def reserve(self, provider: Provider, task_key: str) -> Reservation | None:
        """Hold one task (and its expected price) of the budget for a solve about to
        start; see ``_budget.py``."""
        return self.budget.reserve(self.price(provider, task_key))

    # -- rejected tasks -----------------------------------------------------------------

    def rejected(self, key: str) -> str | None:
        return self._rejected.get(key)

    def reject_key(self, route_key: str, provider: Provider, request: Request) -> str:
        extra = options(request).get("task") or {}
        return f"{route_key}|{provider.name}|{sorted(extra.items())!r}"

    # -- solving ------------------------------------------------------------------------

    async def _solve(
        self,
        provider: Provider,
        task_key: str,
        build: Callable[[Provider], Mapping[str, Any]],
        parse: Callable[[Provider, TaskResult, Mapping[str, Any]], _T | None],
        what: str,
        where: str,
        reservation: Reservation,
        *,
        request: Request | None = None,
        timeout: float | None = None,
        reject_key: str | None = None,
        on_created: Callable[[str, str | int], Any] | None = None,
        log_solved: bool = True,
        service_user_agent: bool = False,
    ) -> tuple[_T, Outcome]:
        """Solve with ``provider``, failing over along the request's chain when the
        account is dead, the service keeps failing or refuses the kind; count the cost.
        ``parse`` is given the task as sent (a reply may leave out what the task named,
        such as its User-Agent)."""
        agent_refreshed = False
        while True:
            noted = None if on_created is None else functools.partial(on_created, provider.name)
            try:
                await self.accounts.ready(provider)
                if service_user_agent and provider.user_agent_url:
                    await self.accounts.service_user_agent(provider)
                payload = await prepared(self.ctx, provider, build)
                reservation.commit()
                client = self.accounts.client(provider)
                result = await client.solve(payload, timeout=timeout, on_created=noted)
            except SolverError as exc:
                if exc.reason == "wrong_user_agent" and not agent_refreshed:
                    # The service's current User-Agent changed: read it, send once more
                    # (createTask refused the task: nothing was bought).
                    agent_refreshed = True
                    self.ctx.inc("user_agent/refreshed")
                    await self.accounts.service_user_agent(provider, refresh=True)
                    continue
                reservation.release()  # (a failed task is not paid for: its price is freed)
                self.failed(provider, exc, where, reject_key=reject_key)
                self.health.note(provider, exc)
                self.health.note_refusal(provider, task_key, exc)
                following = None
                held: Reservation | None = None
                if (
                    exc.fatal
                    or exc.reason == "missing_params"  # (not sent: nothing was bought)
                    or self.health.resting(provider)
                    or self.health.refused(provider.name, task_key)
                ):
                    following = self._next(provider, task_key, request)
                # The next service's task is another task: it needs its own place in
                # the budget (at its own price), or the failover stops here.
                if following is not None:
                    held = self.budget.reserve(self.price(following, task_key))
                if following is None or held is None:
                    if exc.reason == "missing_params" and reject_key is not None:
                        self._rejected[reject_key] = exc.reason  # (no service can take it)
                    raise
                reservation = held
                self.ctx.inc("failover")
                self.ctx.log.warning(
                    "Failing over from %s to %s for %s (%s)",
                    provider.name,
                    following.name,
                    where,
                    exc.reason,
                )
                provider = following
                agent_refreshed = False
                continue
            self.accounts.reachable(provider, True)
            value = parse(provider, result, payload)
            cost = self.price(provider, task_key)
            # A ready task is paid for, even when its reply is unusable.
            reservation.solved(provider.name)
            if value is None:
                raise self._malformed(provider, result, what, where)
            self.health.note(provider, None)
            self.ctx.inc(f"solved_by/{provider.name}")
            outcome = Outcome(result.task_id, provider.name, cost, result.seconds)
            outcome.announce(self.ctx, task_key, where, log=log_solved)
            return value, outcome

    def failed(
        self,
        provider: Provider,
        exc: SolverError,
        where: str,
        *,
        reject_key: str | None = None,
    ) -> SolverError:
        """The one error policy: count it, disable a dead account, remember a rejected
        task (never resent), log the rest. Returns ``exc`` for raising."""
        if exc.fatal and provider.name in self.accounts.disabled:
            return exc  # (counted once: the balance check may have found it first)
        self.ctx.inc(f"failed/{exc.reason}")
        self.accounts.reachable(provider, not exc.transport)
        if exc.fatal:
            self.accounts.disable(provider, exc.reason, exc)
        elif exc.family == INPUT:
            if reject_key is not None and exc.reason != "missing_params":
                self._rejected[reject_key] = exc.reason
            what = "Task not sent" if exc.reason in NOT_SENT else "Solver rejected the task"
            self.ctx.log.error("%s for %s: %s", what, where, exc)
        else:
            self.ctx.log.warning("Solve for %s failed: %s", where, exc)
        return exc

    def _malformed(
        self, provider: Provider, result: TaskResult, what: str, where: str
    ) -> SolverError:
        error = SolverError(
            "malformed_reply", f"ready reply holds no {what}", task_id=result.task_id
        )
        return self.failed(provider, error, where)

    async def solve_clearance(
        self,
        kind: str,
        provider: Provider,
        task: TaskContext,
        where: str,
        reject_key: str,
        reservation: Reservation,
        request: Request | None = None,
        on_created: Callable[[str, str | int], Any] | None = None,
    ) -> tuple[CloudflareSolution, Outcome]:
        """Buy a ``kind`` wall's clearance: cookies and the User-Agent they are bound to."""
        solution, outcome = await self._solve(
            provider,
            kind,
            lambda p: p.clearance_task(
                kind,
                dataclasses.replace(task, service_user_agent=self.accounts.known_user_agent(p))
                if p.user_agent_url
                else task,
            ),
            lambda p, result, sent: bound_to(p.parse_clearance(kind, result.reply), sent),
            CLOUDFLARE_WHAT if kind == CLOUDFLARE else f"{WALL_COOKIES[kind]} cookie",
            where,
            reservation,
            request=request,
            reject_key=reject_key,
            on_created=on_created,
            log_solved=False,  # (the flow logs its own line, with the requests waiting)
            service_user_agent=True,
        )
        self._clearance_solved(kind, solution)
        return solution, outcome

    def _clearance_solved(self, kind: str, solution: CloudflareSolution) -> None:
        report_dropped(self.ctx, solution.dropped)
        self.ctx.inc(f"solved/{kind}")

    async def resume_clearance(
        self,
        kind: str,
        provider: Provider,
        task_id: str | int,
        where: str,
        timeout: float | None = None,
    ) -> tuple[CloudflareSolution, Outcome]:
        """Poll the clearance task a process that died had created: its result is paid
        for already (no budget spent here, no cost counted twice: the cost is unknown
        here). A failure is left to the caller, which then solves afresh; a fatal one (a
        dead account) goes through the error policy first."""
        if self.unavailable(provider, kind) is not None:
            raise SolverError("unavailable", f"{provider.name} cannot take solves now")
        try:
            result = await self.accounts.client(provider).resume(task_id, timeout)
        except SolverError as exc:
            if exc.fatal:
                self.failed(provider, exc, where)
            raise
        # (The task is not known here: a bare clearance is bound to the User-Agent the
        # service wants now, the one the dead process's task named.)
        agent = self.accounts.known_user_agent(provider) if provider.user_agent_url else None
        solution = bound_to(provider.parse_clearance(kind, result.reply), {"userAgent": agent})
        if solution is None:
            raise self._malformed(provider, result, CLOUDFLARE_WHAT, where)
        self._clearance_solved(kind, solution)
        self.ctx.inc("shared/task_resumed")
        return solution, Outcome(result.task_id, provider.name, None, result.seconds)

    async def solve_token(
        self,
        provider: Provider,
        widget: Widget,
        reservation: Reservation,
        extra: Any = None,
        request: Request | None = None,
    ) -> tuple[TokenSolution, Outcome]:
        fields = extra if isinstance(extra, dict) else None
        solution, outcome = await self._solve(
            provider,
            widget.task_key,
            token_builder(self.ctx, widget, fields, request),
            lambda p, result, sent: p.parse_widget(widget.kind, result.reply),
            "token",
            f"a {widget.kind} captcha on {widget.page_url}",
            reservation,
            request=request,
        )
        report_dropped(self.ctx, solution.dropped)
        self.ctx.inc(f"solved/{widget.kind}")
        return solution, outcome

    async def solve_text(
        self,
        provider: Provider,
        image: bytes,
        reservation: Reservation,
        image_type: Any = None,
        extra: Any = None,
        request: Request | None = None,
        kind: str = IMAGE,
    ) -> tuple[str, Outcome]:
        fields = extra if isinstance(extra, dict) else None
        hint = str(image_type) if image_type else None
        text, outcome = await self._solve(
            provider,
            "image",
            lambda p: p.image_task(image, hint, fields),
            lambda p, result, sent: p.parse_text(result.reply),
            "text",
            "an image captcha" if kind == IMAGE else f"an image captcha ({kind})",
            reservation,
            request=request,
            timeout=self.settings.image_timeout,
        )
        self.ctx.inc(f"solved/{kind}")
        return text.strip(), outcome
