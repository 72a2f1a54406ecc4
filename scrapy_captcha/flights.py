"""Pending solves (*flights*) and the requests waiting for them.

Why this shape: a request that waits for a solve inside the downloader pins one of
``CONCURRENT_REQUESTS`` (a pending middleware call keeps it in ``Downloader.active``), so
thirty requests waiting on six solves would starve every other domain. Instead a waiting
request is handed back to the engine marked for parking (meta ``PARK``); the
``request_scheduled`` handler here takes it off the scheduling path and keeps it on its
flight. When the flight lands, every parked request is scheduled again. A ``spider_idle``
handler keeps the spider open while flights are pending, and a close watcher releases
everything promptly when the engine starts closing.

Requests fetched with ``engine.download_async`` never pass the scheduler; they wait inline
(``Flight.wait``), one Deferred per waiter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import defer, task

from scrapy_captcha.clearance import Route
from scrapy_captcha.errors import CaptchaError, SolverCancelled

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger("scrapy_captcha")

#: request meta: solves this request has waited for (flights that landed)
ATTEMPTS = "_captcha_attempts"
#: request meta: route key of the flight to park this request on
PARK = "_captcha_park"
#: request meta: task id and challenge variant of the last flight the request waited on
LAST_TASK = "_captcha_last_task"
VARIANT = "_captcha_variant"


def spawn(coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
    """Run a coroutine in the background; cancellation and bugs never go unhandled."""
    d = deferred_from_coro(coro)

    def _swallow(failure: Any) -> None:
        if not failure.check(defer.CancelledError, asyncio.CancelledError):
            logger.error("scrapy-captcha background task failed", exc_info=failure.value)

    d.addErrback(_swallow)
    return d


@dataclass(eq=False)
class Flight:
    """One pending solve, and everything waiting for it: a Cloudflare solve for one
    route (keyed by ``Route.key``), or one widget or image job (keyed ``job:<id>``)."""

    key: str
    route: Route | None = None
    started: float = field(default_factory=time.monotonic)
    parked: list[Request] = field(default_factory=list)
    waiters: list[defer.Deferred[None]] = field(default_factory=list)
    task: defer.Deferred[None] | None = None
    done: bool = False
    variant: str = ""
    task_id: str | int | None = None

    async def wait(self) -> None:
        """Wait inline; raises SolverCancelled if the crawl closes meanwhile. One Deferred
        per waiter: a shared one would hand its result to the first waiter only."""
        d: defer.Deferred[None] = defer.Deferred()
        self.waiters.append(d)
        await maybe_deferred_to_future(d)


def waited(request: Request, flight: Flight | None) -> None:
    """Record that ``request`` waited on a flight that has landed: one attempt used
    (whether or not it was challenged itself: that is what bounds the solves), and which
    task and challenge it was, when the flight is at hand."""
    request.meta[ATTEMPTS] = request.meta.get(ATTEMPTS, 0) + 1
    if flight is not None:
        request.meta[LAST_TASK] = flight.task_id
        request.meta[VARIANT] = flight.variant


async def wait_inline(request: Request, flight: Flight | None) -> None:
    """Wait for ``flight`` here: ``request`` came straight back without passing the
    scheduler (``engine.download_async``), so nothing else will re-send it. Its flight
    counts as an attempt whether it is still pending or has just landed."""
    if flight is not None:
        try:
            await flight.wait()
        except SolverCancelled:
            raise IgnoreRequest("crawl closed while waiting for a captcha solve") from None
    waited(request, flight)


class FlightBoard:
    """The flights of one crawler, keyed by route key."""

    def __init__(self, crawler: Crawler, inc: Callable[..., None]) -> None:
        self.crawler = crawler
        self._inc = inc
        self.flights: dict[str, Flight] = {}
        self.closing = False
        self._close_watch: task.LoopingCall | None = None

    def connect_signals(self) -> None:
        self.crawler.signals.connect(self._on_request_scheduled, signal=signals.request_scheduled)
        self.crawler.signals.connect(self._on_spider_idle, signal=signals.spider_idle)

    def get(self, key: str) -> Flight | None:
        return self.flights.get(key)

    def start(
        self,
        key: str,
        fly: Callable[[Flight], Coroutine[Any, Any, None]],
        *,
        route: Route | None = None,
        variant: str = "",
    ) -> Flight:
        """Register a flight under ``key`` and run ``fly(flight)``, which must end by
        calling :meth:`land` (in a ``finally``)."""
        flight = Flight(key, route=route, variant=variant)
        self.flights[key] = flight
        flight.task = spawn(fly(flight))
        self._watch_close()
        return flight

    def land(self, flight: Flight, error: CaptchaError | None) -> None:
        """Release everything waiting on a flight: exactly once, whatever happened."""
        if flight.done:
            return
        flight.done = True
        if self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        cancelled = isinstance(error, SolverCancelled) or self.closing or self.engine_closing()
        for waiter in flight.waiters:
            if not waiter.called:
                if cancelled:
                    waiter.errback(SolverCancelled("crawl closed while waiting for a solve"))
                else:
                    waiter.callback(None)
        parked, flight.parked = flight.parked, []
        engine = self.crawler.engine
        for request in parked:
            if cancelled or engine is None:
                self._drop(request)
            else:
                waited(request, flight)
                # Back through the scheduler: solved -> the clearance is applied at 760;
                # failed -> the site challenges again and the request's attempts decide.
                engine.crawl(request)

    def close(self) -> None:
        """Cancel every flight and release its requests (spider closed)."""
        self._cancel_all()
        if self._close_watch is not None and self._close_watch.running:
            self._close_watch.stop()

    # -- closing ------------------------------------------------------------------------

    def engine_closing(self) -> bool:
        """True once the engine has started closing the spider. Scrapy has no signal for
        that moment (spider_closed comes after the downloader and scheduler are closed),
        so read the engine's slot."""
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return True
        slot = getattr(engine, "_slot", None)
        return slot is None or getattr(slot, "closing", None) is not None

    def _watch_close(self) -> None:
        """While solves are pending, notice a closing engine within half a second, so
        waiting requests are released and solves cancelled instead of holding the close
        up for a whole solve."""
        if self._close_watch is None or not self._close_watch.running:
            self._close_watch = task.LoopingCall(self._check_close)
            self._close_watch.start(0.5, now=False).addErrback(
                lambda f: logger.error("close watcher failed", exc_info=f.value)
            )

    def _check_close(self) -> None:
        if self.flights and self.engine_closing():
            self._cancel_all()
        if not self.flights and self._close_watch is not None and self._close_watch.running:
            self._close_watch.stop()

    def _cancel_all(self) -> None:
        self.closing = True
        for flight in list(self.flights.values()):
            if flight.task is not None:
                flight.task.cancel()
            self.land(flight, SolverCancelled("spider closed"))

    def _drop(self, request: Request) -> None:
        """Like a request still in the scheduler at close: one request_dropped signal."""
        self._inc("dropped_on_close")
        self.crawler.signals.send_catch_log(
            signals.request_dropped, request=request, spider=self.crawler.spider
        )

    # -- signals ------------------------------------------------------------------------

    def _on_request_scheduled(self, request: Request, **kwargs: Any) -> None:
        key = request.meta.pop(PARK, None)
        if key is None:
            return
        flight = self.flights.get(key)
        if flight is None or flight.done:
            # Its flight landed between the park decision and now: let it through, with
            # the attempt counted as for every other request that waited on it.
            waited(request, flight)
            return
        flight.parked.append(request)
        self._inc("parked")
        raise IgnoreRequest("parked until the captcha solve lands")

    def _on_spider_idle(self, **kwargs: Any) -> None:
        if self.flights:
            raise DontCloseSpider
