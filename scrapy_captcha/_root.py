"""The per-crawler root: builds the add-on's services and answers the crawler's signals.

Scrapy builds it once per crawler as an extension (``middleware.CaptchaExtension``),
before the downloader middlewares, so the middlewares and the spider API find it with
``crawler.get_extension()`` instead of through a global, and the start-up checks always
run at the same moment. Each service gets what it needs through its constructor and
never reads it back from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from scrapy_captcha._compat import close_spider
from scrapy_captcha._context import Context
from scrapy_captcha._kinds import CLOUDFLARE
from scrapy_captcha._watch import Watch
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.flows._cloudflare import CloudflareFlow
from scrapy_captcha.flows._fill import FormFiller
from scrapy_captcha.flows._gates import GateFlow
from scrapy_captcha.policy._hops import OwnRequests
from scrapy_captcha.policy._outbound import Outbound
from scrapy_captcha.policy._solving import Solving
from scrapy_captcha.routes._coordination import Coordination
from scrapy_captcha.routes._routes import Routes, default_headers
from scrapy_captcha.routes.store import open_store
from scrapy_captcha.services._accounts import Accounts
from scrapy_captcha.services.providers import PROVIDERS
from scrapy_captcha.settings import CaptchaSettings

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class Root:
    """Builds and owns the services of one crawler; answers its signals."""

    def __init__(self, crawler: Crawler, settings: CaptchaSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        self.ctx = Context(crawler, settings)
        reactor = crawler.settings.getbool("TWISTED_REACTOR_ENABLED", True)
        self.accounts = Accounts(self.ctx)
        self.solving = Solving(self.ctx, self.accounts, reactor_enabled=reactor)
        store = open_store(settings.cache_url, crawler)
        self.routes = Routes(self.ctx, store, default_headers(crawler.settings))
        self.coordination = Coordination(self.ctx, store)
        self.outbound = Outbound(settings.allow_offsite, settings.public_addresses)
        self.own = OwnRequests(self.outbound, self.ctx)
        self.filler = FormFiller(self.ctx, self.solving, self.coordination)
        self.gates = GateFlow(
            self.ctx, self.solving, self.coordination, self.outbound, self.filler
        )
        self.cloudflare = CloudflareFlow(
            self.ctx, self.solving, self.routes, self.coordination, self.gates.on_wall
        )
        self.watch = Watch(self.ctx, self.coordination, self.solving)
        self.solving.budget.on_exhausted = self._on_budget_exhausted
        self.coordination.connect_signals()
        crawler.signals.connect(self._on_spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._on_spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Every check that can fail does so here, as the crawl starts: a mistake in the
        settings or a missing component stops it before any page or money is spent."""
        settings = CaptchaSettings.from_settings(crawler.settings)
        if not settings.enabled:
            raise NotConfigured("CAPTCHA_ENABLED is False")
        if not crawler.settings.getbool("TWISTED_REACTOR_ENABLED", True):
            raise ConfigurationError(
                "scrapy-captcha talks to solver services through treq, which needs the "
                "Twisted reactor, but TWISTED_REACTOR_ENABLED is False: enable the reactor "
                "or set CAPTCHA_ENABLED = False"
            )
        settings.check_solver()
        root = cls(crawler, settings)
        missing = root.missing_components()
        if missing:
            raise ConfigurationError(
                "scrapy-captcha is incomplete, " + "; ".join(missing) + " missing: use ADDONS "
                "= {'scrapy_captcha.Addon': 500}, or see the README for the manual set-up"
            )
        root.check_chain()
        return root

    @classmethod
    def of(cls, crawler: Crawler) -> Self:
        """The crawler's root; a clear error if the add-on is not set up."""
        root = crawler.get_extension(cls)
        if root is None:
            if not crawler.settings.getbool("CAPTCHA_ENABLED", True):
                raise ConfigurationError("CAPTCHA_ENABLED is False")
            raise ConfigurationError(
                "scrapy-captcha is not set up: add ADDONS = {'scrapy_captcha.Addon': 500}, "
                "or 'scrapy_captcha.CaptchaExtension' to EXTENSIONS (see the README)"
            )
        return root

    def __repr__(self) -> str:
        flights = len(self.coordination.flights)
        return f"<{type(self).__name__} {self.accounts.default.name} flights={flights}>"

    def check_chain(self) -> None:
        """A chain in which no service can clear a Cloudflare challenge: say so at start,
        naming the services that can (a challenge met later gives up with ``no_task``)."""
        chain = [self.accounts.provider_named(name) for name in self.settings.providers]
        if any(CLOUDFLARE in p.types for p in chain):
            return
        able = sorted(n for n, cls in PROVIDERS.items() if CLOUDFLARE in cls.task_types)
        self.ctx.log.warning(
            "No service in CAPTCHA_PROVIDER(S) (%s) can clear a Cloudflare challenge: such "
            "pages will give up with 'no_task'. Services that can: %s",
            ", ".join(p.name for p in chain),
            ", ".join(able),
        )

    # -- signals ------------------------------------------------------------------------

    async def _on_spider_opened(self, **kwargs: Any) -> None:
        if self.settings.check_balance:
            self.accounts.read_balances_at_start()
            self.accounts.watch_balances()
        self.watch.start()

    def missing_components(self) -> list[str]:
        """Names of the add-on's components the crawler lacks."""
        return []

    def _on_budget_exhausted(self) -> None:
        """CAPTCHA_CLOSE_ON_BUDGET: close once the solves under way have landed and
        delivered their pages (they are paid for)."""
        if self.settings.close_on_budget:
            self.coordination.when_idle(
                lambda: close_spider(self.crawler, "captcha_budget_exhausted")
            )

    async def _on_spider_closed(self, **kwargs: Any) -> None:
        self.watch.stop()
        self.coordination.close()
        await self.coordination.close_shelf()
        self.gates.close()
        self.filler.close()
        dropped = self.ctx.stats.get_value("captcha/dropped_on_close", 0)
        if dropped:
            self.ctx.log.info(
                "%d requests waiting for a captcha solve were dropped at close", dropped
            )
        await self.accounts.close()
        await self.routes.store.close()
        self.watch.summary()
