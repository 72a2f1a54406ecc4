"""What every part of the add-on shares for one crawler: settings, stats, logging.

Why a service: stats keys (``captcha/`` prefix), warn-once bookkeeping and the "gave up on
this request" report are the same for the Cloudflare flow, the gate flow and the spider
API; one owner keeps their names and shapes from drifting apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from scrapy_captcha._bounded import BoundedSet
from scrapy_captcha._state import META_HANDLE, META_OPT_OUT, META_RESULT, RequestState
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.settings import handles, parse_handle
from scrapy_captcha.signals import captcha_detected, captcha_unsolved

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from scrapy_captcha.settings import CaptchaSettings

logger = logging.getLogger("scrapy_captcha")


class CrawlerLogger(logging.LoggerAdapter):  # type: ignore[type-arg,unused-ignore]
    """Log records carry ``extra={"spider": ...}`` like Scrapy's own, so handlers and
    formatters that key on the spider see ours too."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(logger, {})
        self._crawler = crawler

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = kwargs.setdefault("extra", {})
        extra.setdefault("spider", getattr(self._crawler, "spider", None))
        return msg, kwargs


class Context:
    """Settings, stats and logging of one crawler."""

    def __init__(self, crawler: Crawler, settings: CaptchaSettings) -> None:
        self.crawler = crawler
        self.settings = settings
        stats = crawler.stats
        assert stats is not None  # (set when the crawler is built; Optional in 2.13's hints)
        self.stats = stats
        self.log = CrawlerLogger(crawler)
        self._warned: BoundedSet[str] = BoundedSet(10_000)
        self._solve_seconds = 0.0

    def inc(self, key: str, count: int = 1) -> None:
        self.stats.inc_value(f"captcha/{key}", count)

    def add(self, key: str, amount: float) -> None:
        """A float total (money, seconds), kept rounded in the stats."""
        name = f"captcha/{key}"
        self.stats.set_value(name, round(float(self.stats.get_value(name, 0.0)) + amount, 6))

    def set_stat(self, key: str, value: Any) -> None:
        self.stats.set_value(f"captcha/{key}", value)

    def add_solve_seconds(self, started: float) -> None:
        """Add the time since ``started`` (monotonic) to ``captcha/solve_seconds``."""
        self._solve_seconds += time.monotonic() - started
        self.set_stat("solve_seconds", round(self._solve_seconds, 3))

    def warn_once(self, key: str, msg: str, *args: Any, level: int = logging.WARNING) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.log(level, msg, *args)

    def active(self, request: Request) -> bool:
        return self.settings.enabled and not request.meta.get(META_OPT_OUT)

    def handled(self, meta: Mapping[str, Any], reason: str) -> bool:
        """Whether the spider takes pages given up for ``reason`` in its callback (meta
        ``handle_captcha_unsolved``, else CAPTCHA_HANDLE_UNSOLVED)."""
        value = meta.get(META_HANDLE)
        if value is None:
            return handles(self.settings.handle_unsolved, reason)
        try:
            return handles(parse_handle(META_HANDLE, value), reason)
        except ConfigurationError:
            return False

    def detected(
        self, request: Request, response: Response, kind: str, variant: str | None
    ) -> None:
        """A wall or captcha found on a response: counted, and ``captcha_detected``."""
        self.inc(f"detected/{kind}")
        self.send(
            captcha_detected,
            request=request,
            response=response,
            kind=kind,
            variant=variant,
        )

    def send(self, signal: object, **kwargs: Any) -> None:
        """Send one of :mod:`scrapy_captcha.signals` (a failing handler is logged)."""
        self.crawler.signals.send_catch_log(signal, **kwargs)

    def give_up(
        self,
        request: Request,
        kind: str,
        reason: str,
        *,
        task_id: str | int | None = None,
        stat: str = "unsolved",
        dont_retry: bool = True,
        response: Response | None = None,
        **extra: Any,
    ) -> None:
        """Record that ``request`` goes on unsolved (``captcha/<stat>/<reason>`` and
        ``meta["captcha_result"]``). Retrying cannot get past a challenge we gave up on,
        and would only hit a site that may be rate-limiting us: ``dont_retry`` keeps
        RetryMiddleware (550) off it.

        ``stat="unsolved"``: a page the add-on could not get past; the spider middleware
        sends it to the errback as ``CaptchaUnsolved`` (logged once per reason here).
        ``stat="skipped"``: a page with a captcha the add-on leaves to the spider (a form
        it must fill itself): an ordinary page for the callback."""
        self.inc(f"{stat}/{reason}")
        state = RequestState.of(request)
        request.meta[META_RESULT] = {
            "kind": kind,
            **extra,
            "solved": False,
            "reason": reason,
            "attempts": state.attempts,
            "task_id": task_id,
            # (the solves it waited for; a failed task costs nothing)
            "cost": round(state.cost, 6),
            **({"skipped": True} if stat == "skipped" else {}),
        }
        if dont_retry:
            request.meta["dont_retry"] = True
        if stat != "unsolved":
            return
        state.unsolved = (kind, reason)
        self.warn_once(
            f"unsolved|{reason}",
            "Could not get past a %s on %s: %s. The page goes to the errback as "
            "CaptchaUnsolved (meta handle_captcha_unsolved or CAPTCHA_HANDLE_UNSOLVED hands "
            "such pages to the callback); further %r give-ups are counted in "
            "captcha/unsolved/%s",
            kind,
            request.url,
            reason,
            reason,
            reason,
        )
        self.send(
            captcha_unsolved,
            request=request,
            response=response,
            kind=kind,
            reason=reason,
        )
