"""Solving: provider profiles, solver clients, accounts, the task budget and one error
policy, for the Cloudflare flow, the gate flow and the spider API alike.

Why one owner: a dead account, a spent budget or a task the provider rejected must look
the same whichever path met it; the budget counter changes here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy_captcha._client import SolverClient, TaskResult
from scrapy_captcha._compat import close_spider
from scrapy_captcha._kinds import CLOUDFLARE, IMAGE
from scrapy_captcha._solutions import CloudflareSolution, TokenSolution
from scrapy_captcha._state import options
from scrapy_captcha.errors import INPUT, ConfigurationError, SolverError
from scrapy_captcha.providers import Provider, TaskContext, load_provider

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._context import Context
    from scrapy_captcha._widgets import Widget

_LOOPBACK = ("127.", "localhost", "::1", "[::1]")


class Reservation:
    """One task of the budget, held for one solve: committed when createTask is sent,
    released otherwise (both idempotent, whichever comes first wins)."""

    __slots__ = ("_solving", "done")

    def __init__(self, solving: Solving) -> None:
        self._solving = solving
        self.done = False

    def commit(self) -> None:
        if not self.done:
            self.done = True
            self._solving.account(sent=True)

    def release(self) -> None:
        if not self.done:
            self.done = True
            self._solving.account(sent=False)


class Solving:
    """Providers, clients and accounts of one crawler, and the budget it may spend."""

    def __init__(self, ctx: Context, *, reactor_enabled: bool = True) -> None:
        self.ctx = ctx
        self.settings = s = ctx.settings
        self.provider = load_provider(s.provider, s.task_types)
        self._providers: dict[str, Provider] = {}
        self._clients: dict[str, SolverClient] = {}
        #: why solving is off for the whole crawl (treq needs a reactor), if it is
        self.disabled_reason: str | None = None if reactor_enabled else "no_reactor"
        #: provider name -> why that account is unusable (bad key, zero balance, no key)
        self.disabled: dict[str, str] = {}
        # Tasks the provider rejected as malformed, by a caller's key: resending the same
        # task is pointless.
        self._rejected: dict[str, str] = {}
        self._tasks = 0  # createTask calls sent
        self._held = 0  # reservations of solves in progress, not sent yet
        self._budget_closed = False

    # -- providers and accounts ---------------------------------------------------------

    def key_for(self, provider: Provider) -> str:
        return self.settings.api_keys.get(provider.name, self.settings.api_key)

    def provider_named(self, name: str | None) -> Provider:
        """A provider by name or import path (None: CAPTCHA_PROVIDER), loaded once.
        Raises ConfigurationError for an unknown one."""
        if not name or name == self.provider.name:
            return self.provider
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = load_provider(name, self.settings.task_types)
            if not self.key_for(provider):
                self.disable(provider, "no_api_key", "set CAPTCHA_API_KEYS")
        return provider

    def provider_for(self, request: Request) -> Provider:
        """``meta["captcha"]["provider"]`` or CAPTCHA_PROVIDER."""
        return self.provider_named(options(request).get("provider"))

    def disable(self, provider: Provider, reason: str, detail: object = "") -> None:
        """Stop using one provider account for the rest of the crawl (other providers
        configured through CAPTCHA_API_KEYS keep working)."""
        if provider.name in self.disabled:
            return
        self.disabled[provider.name] = reason
        self.ctx.set_stat("disabled", reason)
        self.ctx.log.error(
            "Captcha solving with %s disabled for the rest of the crawl: %s%s",
            provider.name,
            reason,
            f" ({detail})" if detail else "",
        )
        if self.settings.close_on_fatal:
            close_spider(self.ctx.crawler, f"captcha_{reason}")

    def unavailable(self, provider: Provider, task_key: str | None = None) -> str | None:
        """Why no task for ``task_key`` can be sent to ``provider`` now (the whole add-on
        or the account is off, or the provider has no such task), or None."""
        disabled = self.disabled_reason or self.disabled.get(provider.name)
        if disabled is not None:
            return disabled
        if task_key is None:
            return None
        try:
            provider.task_type(task_key)
        except ConfigurationError:
            self.ctx.warn_once(
                f"notask|{provider.name}|{task_key}",
                "%s has no task type for %s captchas: reported, not solved (add one with "
                "CAPTCHA_TASK_TYPES = {%r: '<TaskType>'})",
                provider.name,
                task_key,
                task_key,
            )
            return "no_task"
        return None

    # -- budget -------------------------------------------------------------------------

    def reserve(self) -> Reservation | None:
        """Hold one task of CAPTCHA_MAX_SOLVES for a solve about to start; None when the
        budget is spent (then the spider is closed, once) or fully held by solves in
        progress. A task counts when its createTask is sent (:meth:`Reservation.commit`);
        a solve that never gets that far (an image fetch failed, another process solved
        the route) gives its hold back."""
        limit = self.settings.max_solves
        if limit and self._tasks >= limit:
            if not self._budget_closed:
                self._budget_closed = True
                self.ctx.log.warning("CAPTCHA_MAX_SOLVES=%d reached: closing the spider", limit)
                close_spider(self.ctx.crawler, "captcha_budget_exhausted")
            return None
        if limit and self._tasks + self._held >= limit:
            return None
        self._held += 1
        return Reservation(self)

    def account(self, *, sent: bool) -> None:
        """A reservation ends: its task was sent, or was not."""
        self._held -= 1
        if sent:
            self._tasks += 1

    # -- rejected tasks -----------------------------------------------------------------

    def rejected(self, key: str) -> str | None:
        return self._rejected.get(key)

    def reject_key(self, route_key: str, provider: Provider, request: Request) -> str:
        extra = options(request).get("task") or {}
        return f"{route_key}|{provider.name}|{sorted(extra.items())!r}"

    # -- solving ------------------------------------------------------------------------

    def client(self, provider: Provider) -> SolverClient:
        name = provider.name
        client = self._clients.get(name)
        if client is None:
            s = self.settings
            default = name == self.provider.name
            client = SolverClient(
                provider,
                self.key_for(provider),
                base_url=s.api_urls.get(name) or (s.api_url if default else None),
                request_timeout=s.request_timeout,
                poll_interval=s.poll_interval,
                solve_timeout=s.solve_timeout,
                max_reply_size=s.max_reply_size,
                on_call=lambda method: self.ctx.inc(f"solver/{method}"),
            )
            self._clients[name] = client
            if s.poll_interval < 2 and not urlsplit(client.base_url).netloc.startswith(_LOOPBACK):
                self.ctx.warn_once(
                    "poll",
                    "CAPTCHA_POLL_INTERVAL=%.1f s: providers ban clients polling faster than "
                    "once every 2 s",
                    s.poll_interval,
                )
        return client

    async def _solve(
        self,
        provider: Provider,
        task: Mapping[str, Any],
        where: str,
        reservation: Reservation,
        *,
        timeout: float | None = None,
        reject_key: str | None = None,
    ) -> TaskResult:
        reservation.commit()
        try:
            return await self.client(provider).solve(task, timeout=timeout)
        except SolverError as exc:
            raise self.failed(provider, exc, where, reject_key=reject_key) from None

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
        self.ctx.inc(f"failed/{exc.reason}")
        if exc.fatal:
            self.disable(provider, exc.reason, exc)
        elif exc.family == INPUT:
            if reject_key is not None:
                self._rejected[reject_key] = exc.reason
            self.ctx.log.error("Solver rejected the task for %s: %s", where, exc)
        else:
            self.ctx.log.warning("Solve for %s failed: %s", where, exc)
        return exc

    def _report_dropped(self, dropped: tuple[str, ...]) -> None:
        for name in dropped:
            self.ctx.inc("reply/dropped_field")
            self.ctx.warn_once(
                f"dropped|{name}",
                "Solver reply %s cannot be sent on a request (not an HTTP token, not "
                "latin-1, or too long): left out",
                name,
            )

    def _malformed(
        self, provider: Provider, result: TaskResult, what: str, where: str
    ) -> SolverError:
        error = SolverError(
            "malformed_reply", f"ready reply holds no {what}", task_id=result.task_id
        )
        return self.failed(provider, error, where)

    async def solve_cloudflare(
        self,
        provider: Provider,
        ctx: TaskContext,
        where: str,
        reject_key: str,
        reservation: Reservation,
    ) -> tuple[CloudflareSolution, TaskResult]:
        result = await self._solve(
            provider, provider.cloudflare_task(ctx), where, reservation, reject_key=reject_key
        )
        solution = provider.parse_cloudflare(result.reply)
        if solution is None:
            raise self._malformed(provider, result, "usable cookies and User-Agent", where)
        self._report_dropped(solution.dropped)
        self.ctx.inc(f"solved/{CLOUDFLARE}")
        return solution, result

    async def solve_token(
        self, provider: Provider, widget: Widget, reservation: Reservation, extra: Any = None
    ) -> tuple[TokenSolution, str | int]:
        task = provider.widget_task(widget, extra if isinstance(extra, dict) else None)
        where = f"a {widget.kind} captcha on {widget.page_url}"
        result = await self._solve(provider, task, where, reservation)
        solution = provider.parse_token(result.reply)
        if solution is None:
            raise self._malformed(provider, result, "token", where)
        self._report_dropped(solution.dropped)
        self.ctx.inc(f"solved/{widget.kind}")
        return solution, result.task_id

    async def solve_text(
        self,
        provider: Provider,
        image: bytes,
        reservation: Reservation,
        image_type: Any = None,
        extra: Any = None,
    ) -> tuple[str, str | int]:
        task = provider.image_task(
            image,
            str(image_type) if image_type else None,
            extra if isinstance(extra, dict) else None,
        )
        where = "an image captcha"
        result = await self._solve(
            provider, task, where, reservation, timeout=self.settings.image_timeout
        )
        text = provider.parse_text(result.reply)
        if text is None:
            raise self._malformed(provider, result, "text", where)
        self.ctx.inc(f"solved/{IMAGE}")
        return text.strip(), result.task_id

    # -- account checks -----------------------------------------------------------------

    def check_default_key(self) -> bool:
        """False (and the default account disabled) when CAPTCHA_API_KEY is not set."""
        if self.key_for(self.provider):
            return True
        self.disable(self.provider, "no_api_key", "CAPTCHA_API_KEY is not set")
        return False

    async def check_balance(self) -> None:
        try:
            balance = await self.client(self.provider).get_balance()
        except SolverError as exc:
            if exc.fatal:
                self.ctx.inc(f"failed/{exc.reason}")
                self.disable(self.provider, exc.reason, exc)
            else:
                self.ctx.log.warning("Could not read the %s balance: %s", self.provider.name, exc)
            return
        self.ctx.set_stat("balance", balance)
        self.ctx.log.info("%s balance: %.4f", self.provider.name, balance)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
