"""Accounts: one per solver service the crawl uses — its key, its client, whether it is
still usable, its balance, and reports of results a site refused.

Why apart from solving: these are facts about a service account that every solve reads
(and the crawl's signals refresh), not part of any one solve.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task

from scrapy_captcha._bounded import BoundedSet
from scrapy_captcha._compat import close_spider, spawn
from scrapy_captcha.errors import FATAL, ConfigurationError, SolverError
from scrapy_captcha.services._client import SolverClient, poll_floor
from scrapy_captcha.services.providers import Provider, load_provider

if TYPE_CHECKING:
    from scrapy_captcha._context import Context

#: task ids remembered as reported (a bounded set)
MAX_REPORTED = 100_000
#: how long a service's published User-Agent is used before it is read again, and how
#: long after a failed read the fallback is used before trying again (seconds)
USER_AGENT_TTL = 3600.0
USER_AGENT_RETRY = 300.0


class Accounts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = s = ctx.settings
        assert s.provider is not None  # (CaptchaSettings.check_solver ran at start-up)
        self.default = load_provider(s.provider, s.task_types, s.envelopes.get(s.provider))
        self._providers: dict[str, Provider] = {self.default.name: self.default}
        self._clients: dict[str, SolverClient] = {}
        #: provider name -> why that account is unusable (bad key, zero balance, no key)
        self.disabled: dict[str, str] = {}
        #: provider name -> calls in a row that could not reach the service
        self._unreachable: dict[str, int] = {}
        for name in s.providers:  # (a bad envelope or profile fails at start-up)
            self.provider_named(name)
        self._reported: BoundedSet[str] = BoundedSet(MAX_REPORTED)
        self._low: set[str] = set()
        self._watch: task.LoopingCall | None = None
        #: reports under way: a crawl that ends meanwhile waits for them (a refund)
        self._reporting: set[defer.Deferred[Any]] = set()
        #: service -> (its current User-Agent, monotonic time it expires)
        self._user_agents: dict[str, tuple[str, float]] = {}
        #: accounts whose start-up balance read is under way -> solves waiting for it
        self._first_reads: dict[str, list[defer.Deferred[None]]] = {}

    def provider_named(self, name: str | None) -> Provider:
        """A provider by name or import path (None: CAPTCHA_PROVIDER), loaded once.
        Raises ConfigurationError for an unknown one."""
        if not name:
            return self.default
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = load_provider(
                name, self.settings.task_types, self.settings.envelopes.get(name)
            )
            if not self.key_for(provider):
                self.disable(provider, "no_api_key", "set CAPTCHA_API_KEYS")
        return provider

    def key_for(self, provider: Provider) -> str:
        # CAPTCHA_API_KEY belongs to CAPTCHA_PROVIDER only: another service never gets it.
        return self.settings.key_for(provider.name)

    def disable(self, provider: Provider, reason: str, detail: object = "") -> None:
        """Stop using one provider account for the rest of the crawl (other providers
        configured through CAPTCHA_API_KEYS keep working). When no account of the chain
        is left, solving is over: one ERROR saying which accounts and why, and the spider
        closes with ``captcha_solver_unavailable`` (CAPTCHA_CLOSE_ON_UNAVAILABLE) rather
        than ending ``finished`` with every protected page lost."""
        if provider.name in self.disabled:
            return
        self.disabled[provider.name] = reason
        self.ctx.inc(f"disabled/{reason}")
        # (the chain, and services kept for meta["captcha"]["provider"] in CAPTCHA_API_KEYS)
        accounts = list(dict.fromkeys([*self.settings.providers, *self.settings.api_keys]))
        others = [n for n in accounts if n not in self.disabled]
        self.ctx.log.error(
            "Captcha solving with %s disabled for the rest of the crawl: %s%s%s",
            provider.name,
            reason,
            f" ({detail})" if detail else "",
            f"; the chain goes on with {', '.join(others)}" if others else "",
        )
        if others or provider.name not in accounts:
            return
        why = ", ".join(f"{n}: {self.disabled[n]}" for n in accounts)
        if self.settings.close_on_unavailable:
            self.ctx.log.error(
                "No usable solver account is left (%s): closing the spider "
                "(captcha_solver_unavailable; CAPTCHA_CLOSE_ON_UNAVAILABLE = False goes on "
                "crawling, every challenge then gives up)",
                why,
            )
            close_spider(self.ctx.crawler, "captcha_solver_unavailable")
        else:
            self.ctx.log.error(
                "No usable solver account is left (%s): every challenge gives up from now on",
                why,
            )

    def reachable(self, provider: Provider, ok: bool) -> None:
        """A call to ``provider`` reached it (``ok``) or not (connection refused, no
        answer in time, a 5xx page): CAPTCHA_UNREACHABLE_AFTER misses in a row make the
        account unusable (``unreachable``)."""
        name = provider.name
        if ok:
            self._unreachable.pop(name, None)
            return
        count = self._unreachable[name] = self._unreachable.get(name, 0) + 1
        if count >= self.settings.unreachable_after:
            self._unreachable.pop(name, None)
            self.disable(
                provider, "unreachable", f"{count} calls in a row could not reach the service"
            )

    def client(self, provider: Provider) -> SolverClient:
        name = provider.name
        client = self._clients.get(name)
        if client is None:
            s = self.settings
            default = name == self.default.name
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
            if s.poll_interval < poll_floor(client.base_url):
                self.ctx.warn_once(
                    "poll",
                    "CAPTCHA_POLL_INTERVAL=%.1f s: providers ban clients polling faster than "
                    "once every %.0f s; polling every %.0f s",
                    s.poll_interval,
                    poll_floor(client.base_url),
                    client.poll_interval,
                )
        return client

    # -- the User-Agent a service wants its tasks to name -------------------------------

    def user_agent_url(self, provider: Provider) -> str | None:
        """Where ``provider`` publishes the User-Agent its tasks must name: its
        documented address, or the same path under CAPTCHA_API_URLS' address when the
        service is reached elsewhere (a relay, the emulators)."""
        url = provider.user_agent_url
        if not url:
            return None
        client = self.client(provider)
        if client.base_url == provider.base_url.rstrip("/"):
            return url
        return f"{client.base_url}/api/useragent/actual"

    async def service_user_agent(self, provider: Provider, refresh: bool = False) -> str | None:
        """The User-Agent ``provider`` currently wants (read at most every
        USER_AGENT_TTL, or now when ``refresh``); its profile's fallback when it cannot
        be read (warned once); None for services that publish none."""
        url = self.user_agent_url(provider)
        if url is None:
            return None
        cached = self._user_agents.get(provider.name)
        if cached is not None and not refresh and cached[1] > time.monotonic():
            return cached[0]
        try:
            agent = await self.client(provider).fetch_user_agent(url)
        except SolverError as exc:
            fallback = cached[0] if cached else provider.fallback_user_agent
            self.ctx.inc("user_agent/fallback")
            self.ctx.warn_once(
                f"ua|{provider.name}",
                "Could not read %s's current User-Agent (%s): its tasks name %s",
                provider.name,
                exc,
                "the last one read" if cached else "the profile's fallback",
            )
            if fallback:
                self._user_agents[provider.name] = (fallback, time.monotonic() + USER_AGENT_RETRY)
            return fallback
        self.ctx.inc("user_agent/read")
        if cached is None or cached[0] != agent:
            self.ctx.log.info("%s's current User-Agent: %s", provider.name, agent)
        self._user_agents[provider.name] = (agent, time.monotonic() + USER_AGENT_TTL)
        return agent

    def known_user_agent(self, provider: Provider) -> str | None:
        """The User-Agent last read for ``provider`` (or its fallback), without reading."""
        cached = self._user_agents.get(provider.name)
        return cached[0] if cached else provider.fallback_user_agent

    def report_later(self, service: str | None, kind: str, task_id: Any) -> None:
        """:meth:`report_incorrect` in the background; :meth:`close` waits for it."""
        d = spawn(self.report_incorrect(service, kind, task_id))
        if not d.called:
            self._reporting.add(d)
            d.addBoth(lambda result: self._reporting.discard(d))

    async def report_incorrect(self, service: str | None, kind: str, task_id: Any) -> None:
        """The site refused what the service returned: report it through the service's
        report endpoint (a refund, and better workers), once per task."""
        if not self.settings.report_incorrect or service is None or task_id is None:
            return
        ident = f"{service}|{task_id}"
        if ident in self._reported:
            return
        self._reported.add(ident)
        try:
            provider = self.provider_named(service)
        except ConfigurationError:
            return
        # ``kind`` may be the widget kind the site refused: the profile resolves it to
        # the task kinds its report endpoints are listed by.
        method = provider.report_method(kind)
        if not method:
            self.ctx.inc(f"reported/none/{service}")
            return
        build = getattr(provider, "report_payload", None)
        payload = build(task_id) if callable(build) else {"taskId": task_id}
        try:
            await self.client(provider).report(method, payload)
        except SolverError as exc:
            self.ctx.log.warning("Could not report task %s to %s: %s", task_id, service, exc)
            return
        self.ctx.inc(f"reported/{service}")
        self.ctx.log.info("Reported task %s to %s as incorrect (%s)", task_id, service, method)

    # -- balances -------------------------------------------------------------------------

    def chain(self) -> list[Provider]:
        """Every account of the chain (CAPTCHA_PROVIDERS, else CAPTCHA_PROVIDER); one
        that cannot be loaded is reported and left out."""
        providers: list[Provider] = []
        for name in self.settings.providers:
            try:
                providers.append(self.provider_named(name))
            except ConfigurationError as exc:
                self.ctx.warn_once(f"provider|{exc}", "%s", exc)
        return providers

    def read_balances_at_start(self) -> None:
        """Read every account of the chain in the background as the spider opens; a
        solve that needs an account meanwhile waits for its read (:meth:`ready`), so
        a bad key or an empty account is found before a task is sent to it."""
        for provider in self.chain():
            if provider.name in self._first_reads:
                continue
            self._first_reads[provider.name] = []
            d = spawn(self.check_balance(provider))
            d.addBoth(self._first_read_done, provider.name)

    def _first_read_done(self, _: object, name: str) -> None:
        for waiter in self._first_reads.pop(name, []):
            waiter.callback(None)

    async def ready(self, provider: Provider) -> None:
        """Before a task is sent: wait for ``provider``'s start-up balance read if it is
        still under way; a fatal SolverError if the account is unusable (nothing sent)."""
        waiters = self._first_reads.get(provider.name)
        if waiters is not None:
            waiter: defer.Deferred[None] = defer.Deferred()
            waiters.append(waiter)
            await maybe_deferred_to_future(waiter)
        reason = self.disabled.get(provider.name)
        if reason is not None:
            raise SolverError(reason, f"{provider.name} is unusable", family=FATAL)

    async def check_balance(self, provider: Provider) -> None:
        """Read one account's balance. Balances are kept in USD
        (``captcha/balance/<service>``, CAPTCHA_BALANCE_WARN) whatever unit the service
        answers in; a bad key or an empty account disables the account; a balance under
        CAPTCHA_BALANCE_WARN is logged once each time it falls below."""
        name = provider.name
        if name in self.disabled:
            return
        try:
            raw = await self.client(provider).get_balance()
        except SolverError as exc:
            self.reachable(provider, not exc.transport)
            if exc.fatal:
                if name not in self.disabled:  # (a solve may have found it first)
                    self.ctx.inc(f"failed/{exc.reason}")
                self.disable(provider, exc.reason, exc)
            else:
                self.ctx.log.warning("Could not read the %s balance: %s", name, exc)
            return
        self.reachable(provider, True)
        balance = round(provider.balance_usd(raw), 6)
        if provider is self.default:
            self.ctx.set_stat("balance", balance)
        self.ctx.set_stat(f"balance/{name}", balance)
        if provider.balance_unit == "USD":
            self.ctx.log.info("%s balance: %.4f", name, balance)
        else:
            self.ctx.log.info(
                "%s balance: %s %s (%.4f USD)", name, f"{raw:g}", provider.balance_unit, balance
            )
        if balance <= 0:
            # (the service would refuse every task with ERROR_ZERO_BALANCE: say so now,
            # before a challenge waits on it)
            if name not in self.disabled:
                self.ctx.inc("failed/zero_balance")
            self.disable(provider, "zero_balance", f"balance {balance:.4f} USD")
            return
        if balance < self.settings.balance_warn:
            if name not in self._low:
                self._low.add(name)
                self.ctx.log.warning(
                    "%s balance is low: %.4f (CAPTCHA_BALANCE_WARN=%.2f)",
                    name,
                    balance,
                    self.settings.balance_warn,
                )
        else:
            self._low.discard(name)

    def watch_balances(self) -> None:
        """Re-read every configured account's balance each CAPTCHA_BALANCE_INTERVAL."""
        interval = self.settings.balance_interval
        if not interval or self._watch is not None:
            return

        def check_all() -> None:
            for provider in self.chain():
                if self.key_for(provider):
                    spawn(self.check_balance(provider))

        self._watch = task.LoopingCall(check_all)
        self._watch.start(interval, now=False).addErrback(
            lambda f: self.ctx.log.error("balance watcher failed", exc_info=f.value)
        )

    async def close(self) -> None:
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        for d in list(self._reporting):  # (each bounded by CAPTCHA_REQUEST_TIMEOUT)
            await maybe_deferred_to_future(d)
        for client in self._clients.values():
            await client.close()
