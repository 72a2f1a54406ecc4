"""Coordination: pending solves (*flights*), the requests waiting for them, and single
flight across the processes of a shared store.

Why this shape: a request that waits for a solve inside the downloader pins one of
``CONCURRENT_REQUESTS`` (a pending middleware call keeps it in ``Downloader.active``), so
thirty requests waiting on six solves would starve every other domain. Instead a waiting
request is handed back to the engine marked for parking (:func:`park`); the
``request_scheduled`` handler here takes it off the scheduling path and keeps it on its
flight. When the flight lands, every parked request is scheduled again. Requests fetched
with ``engine.download_async`` never pass the scheduler: they wait inline
(:func:`wait_inline`), one Deferred per waiter. A ``spider_idle`` handler keeps the
spider open while flights are pending, and a close watcher releases everything promptly
when the engine starts closing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task

from scrapy_captcha._compat import before_scheduler_close, engine_closing, engine_of, spawn
from scrapy_captcha._state import RequestState, reissue
from scrapy_captcha.errors import CaptchaError, SolverCancelled, SolverError
from scrapy_captcha.routes._shelf import Shelving, queue_name

if TYPE_CHECKING:
    from scrapy_captcha._context import Context
    from scrapy_captcha.routes.clearance import Clearance
    from scrapy_captcha.routes.store import ClearanceStore, TaskNote

logger = logging.getLogger("scrapy_captcha")


@dataclass(eq=False)
class Flight:
    """One pending solve, and everything waiting for it: a Cloudflare solve for one
    route (keyed by ``Route.key``), or one widget or image job (keyed ``job:<id>``)."""

    key: str
    started: float = field(default_factory=time.monotonic)
    parked: list[Request] = field(default_factory=list)
    waiters: list[defer.Deferred[None]] = field(default_factory=list)
    task: defer.Deferred[None] | None = None
    done: bool = False
    variant: str = ""
    task_id: str | int | None = None
    #: what its task cost (USD), once solved at a known price
    cost: float | None = None
    #: why it failed, once landed (None: solved)
    error: CaptchaError | None = None

    async def wait(self) -> None:
        """Wait inline; raises SolverCancelled if the crawl closes meanwhile. One Deferred
        per waiter: a shared one would hand its result to the first waiter only."""
        d: defer.Deferred[None] = defer.Deferred()
        self.waiters.append(d)
        await maybe_deferred_to_future(d)


@dataclass(frozen=True)
class Share:
    """What :meth:`Coordination.share` found: a clearance another process solved, or
    this process's lease (it solves), with the task a dead holder left, if any."""

    clearance: Clearance | None = None
    lease: str | None = None
    #: the task a previous holder of the lease created and never released
    inherited: TaskNote | None = None


def waited(state: RequestState, flight: Flight | None) -> None:
    """Record that a request waited on a flight that has landed: one attempt used
    (whether or not it was challenged itself: that is what bounds the solves), and which
    task and challenge it was, when the flight is at hand."""
    state.attempts += 1
    if flight is not None:
        state.last_task = flight.task_id
        state.variant = flight.variant
        state.cost += flight.cost or 0.0


def park(request: Request, key: str, attempts: int | None = None) -> Request:
    """A copy of ``request`` to hand back to the engine: the scheduler signal parks it
    on flight ``key`` (or, fetched inline, it waits at 760)."""
    copy = reissue(request, attempts)
    RequestState.of(copy).park = key
    return copy


class Coordination:
    """The flights of one crawler, keyed by route key or job key."""

    def __init__(self, ctx: Context, store: ClearanceStore) -> None:
        self.ctx = ctx
        self.crawler = ctx.crawler
        self.store = store
        #: this process's name on solve leases of a shared store
        self._owner = uuid.uuid4().hex[:16]
        self.flights: dict[str, Flight] = {}
        self.closing = False
        #: a scheduler that outlives the crawl (JOBDIR): parked requests go back into it
        #: at close instead of being dropped
        self._keeper: Any = None
        self._close_watch: task.LoopingCall | None = None
        #: a queue shared by several workers (scrapy-redis): parked requests also go to
        #: this worker's shelf in the shared store (``_shelf``)
        self.shelving: Shelving | None = None
        #: ``id()`` of requests a landed flight sent back, until their response (or
        #: failure) comes through CaptchaMiddleware: they are paid for, still to deliver
        self.delivering: set[int] = set()
        self._idle_callbacks: list[Callable[[], Any]] = []

    def connect_signals(self) -> None:
        self.crawler.signals.connect(self._on_request_scheduled, signal=signals.request_scheduled)
        self.crawler.signals.connect(self._on_spider_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._on_spider_opened, signal=signals.spider_opened)

    def _on_spider_opened(self, spider: Any, **kwargs: Any) -> None:
        if self.crawler.settings.get("JOBDIR"):
            # A paused job must find its waiting requests in its queue when resumed.
            before_scheduler_close(self.crawler, self._requeue_at_close)
        if self.ctx.settings.shared_queue:
            shelf = self.store.shelf(queue_name(self.crawler.settings, spider.name))
            if shelf is None:
                self.ctx.log.warning(
                    "A shared request queue (scrapy-redis, or CAPTCHA_SHARED_QUEUE) with a "
                    "clearance store other processes do not see (%r): requests waiting for a "
                    "solve are kept in this worker's memory only, and each worker solves for "
                    "itself. Set CAPTCHA_CACHE_URL to the Redis the queue uses.",
                    self.store,
                )
                return
            self.shelving = Shelving(self.ctx, shelf, self.ctx.settings.lease_ttl, self._owner)
            self.shelving.open(spider, self._schedule_recovered)

    def _schedule_recovered(self, request: Request) -> None:
        engine = engine_of(self.crawler)
        if engine is not None:
            engine.crawl(request)

    def _requeue_at_close(self, scheduler: Any) -> None:
        self._keeper = scheduler
        self._cancel_all()

    def get(self, key: str) -> Flight | None:
        return self.flights.get(key)

    def start(
        self,
        key: str,
        work: Callable[[Flight], Coroutine[Any, Any, None]],
        *,
        variant: str = "",
        what: str = "",
    ) -> Flight:
        """Register a flight under ``key`` and run ``work(flight)`` in the background.
        Whatever ``work`` does, the flight lands exactly once: a SolverError becomes
        ``flight.error``, cancellation SolverCancelled, a bug an ``internal`` error."""
        flight = Flight(key, variant=variant)
        self.flights[key] = flight
        flight.task = spawn(self._run(flight, work, what))
        self._watch_close()
        return flight

    async def _run(
        self, flight: Flight, work: Callable[[Flight], Coroutine[Any, Any, None]], what: str
    ) -> None:
        try:
            await work(flight)
        except SolverError as exc:
            flight.error = exc
            flight.task_id = exc.task_id
        except (defer.CancelledError, asyncio.CancelledError):
            flight.error = SolverCancelled("crawl closed while solving")
        except Exception as exc:  # a bug: log it, but let the waiting requests go on
            self.ctx.log.exception("Unexpected error solving %s", what or flight.key)
            flight.error = SolverError("internal", type(exc).__name__)
            self.ctx.inc("failed/internal")
        finally:
            self.land(flight)

    def land(self, flight: Flight) -> None:
        """Release everything waiting on a flight: exactly once, whatever happened."""
        if flight.done:
            return
        flight.done = True
        if self.flights.get(flight.key) is flight:
            del self.flights[flight.key]
        cancelled = (
            isinstance(flight.error, SolverCancelled)
            or self.closing
            or engine_closing(self.crawler)
        )
        for waiter in flight.waiters:
            if not waiter.called:
                if cancelled:
                    waiter.errback(SolverCancelled("crawl closed while waiting for a solve"))
                else:
                    waiter.callback(None)
        parked, flight.parked = flight.parked, []
        engine = engine_of(self.crawler)
        if cancelled or engine is None:
            for request in parked:
                self._drop(request)
            return
        for request in parked:
            waited(RequestState.of(request), flight)
            if self._idle_callbacks:
                self.delivering.add(id(request))
            # Back through the scheduler: solved -> the clearance is applied at 760;
            # failed -> the site challenges again and the request's attempts decide.
            engine.crawl(request)
        if self.shelving is not None:
            self.shelving.taken(parked)  # (after: at least once)
        self._maybe_idle()

    def when_idle(self, callback: Callable[[], Any]) -> None:
        """Call ``callback`` once no solve is under way and every request a landed solve
        sent back has come through (now, if that is already so)."""
        self._idle_callbacks.append(callback)
        self._maybe_idle()

    def delivered(self, request: Request) -> None:
        """A request sent back by a landed solve came through CaptchaMiddleware."""
        if self.delivering:
            self.delivering.discard(id(request))
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self._idle_callbacks and not self.flights and not self.delivering:
            callbacks, self._idle_callbacks = self._idle_callbacks, []
            for callback in callbacks:
                callback()

    async def wait_inline(self, request: Request, state: RequestState) -> None:
        """Wait for the flight ``request`` was to be parked on, here: it came straight
        back without passing the scheduler (``engine.download_async``), so nothing else
        will re-send it. Its flight counts as an attempt whether it is still pending or
        has just landed."""
        key, state.park = state.park, None
        flight = self.flights.get(key) if key else None
        if flight is not None:
            try:
                await flight.wait()
            except SolverCancelled:
                raise IgnoreRequest("crawl closed while waiting for a captcha solve") from None
        waited(state, flight)

    # -- single flight across processes -------------------------------------------------

    async def share(self, route_key: str, describe: str) -> Share:
        """Single flight across the processes of a shared store: the clearance another
        process solved (then nothing is solved here), or the lease owner id if this
        process must solve. A holder that dies stops renewing its lease, which then
        expires: the next waiter takes it over, with the task the dead holder had created
        (:attr:`Share.inherited`). A per-process store: an empty Share."""
        if not self.store.shared:
            return Share()
        owner = f"{self._owner}:{uuid.uuid4().hex[:8]}"
        settings = self.ctx.settings
        ttl = settings.lease_ttl
        deadline = time.monotonic() + settings.solve_timeout + ttl
        waited_before = False
        while True:
            if await self.store.acquire_lease(route_key, owner, ttl):
                if waited_before:
                    self.ctx.inc("shared/lease_taken_over")
                    self.ctx.log.info(
                        "Solve lease for %s ended without a clearance: solving here", describe
                    )
                try:
                    # A note left means its holder never released the lease (it died,
                    # whether or not anyone was waiting). Another process may also have
                    # stored a clearance between our miss and the lease.
                    inherited = await self.store.noted_task(route_key)
                    return Share(await self.store.get(route_key), owner, inherited)
                except Exception:
                    await self.store.release_lease(route_key, owner)
                    raise
            if not waited_before:
                self.ctx.log.debug("Another process is solving %s: waiting for it", describe)
            left = deadline - time.monotonic()
            if left <= 0:  # (a holder renewing its lease far past any solve deadline)
                self.ctx.log.warning("Gave up waiting for another process to solve %s", describe)
                return Share()
            clearance = await self.store.wait_for(route_key, left)
            if clearance is not None:
                return Share(clearance)
            waited_before = True

    async def release(self, route_key: str, lease: str | None) -> None:
        if lease is not None:
            await self.store.release_lease(route_key, lease)

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every flight and release its requests (spider closed)."""
        self._cancel_all()
        if self._close_watch is not None and self._close_watch.running:
            self._close_watch.stop()

    async def close_shelf(self) -> None:
        """After :meth:`close`: this worker's shelf is left to the others."""
        if self.shelving is not None:
            await self.shelving.close()

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
        if self.flights and engine_closing(self.crawler):
            self._cancel_all()
        if not self.flights and self._close_watch is not None and self._close_watch.running:
            self._close_watch.stop()

    def _cancel_all(self) -> None:
        self.closing = True
        for flight in list(self.flights.values()):
            if flight.task is not None:
                flight.task.cancel()
            flight.error = SolverCancelled("spider closed")
            self.land(flight)

    def _drop(self, request: Request) -> None:
        """Back into a scheduler that persists (JOBDIR): the resumed job sends it (it is
        ``dont_filter``, so the dupefilter that saw the original lets it through).
        Otherwise like a request still in the scheduler at close: one request_dropped
        signal."""
        if self._keeper is not None and self._keeper.enqueue_request(request):
            self.ctx.inc("requeued_on_close")
            if self.shelving is not None:
                self.shelving.taken([request])  # in the job's queue now: once is enough
            return
        if self.shelving is not None and self.shelving.keep(request):
            self.ctx.inc("parked/left_shelved")  # another worker (or the next run) sends it
            return
        self.ctx.inc("dropped_on_close")
        self.crawler.signals.send_catch_log(
            signals.request_dropped, request=request, spider=self.crawler.spider
        )

    # -- signals ------------------------------------------------------------------------

    def _on_request_scheduled(self, request: Request, **kwargs: Any) -> None:
        state = RequestState.peek(request)
        if state is None or state.park is None:
            return
        key, state.park = state.park, None
        flight = self.flights.get(key)
        if flight is None or flight.done:
            # Its flight landed between the park decision and now: let it through, with
            # the attempt counted as for every other request that waited on it.
            waited(state, flight)
            return
        flight.parked.append(request)
        self.ctx.inc("parked")
        if self.shelving is not None:
            self.shelving.put(request)
        self.ctx.log.debug("Parked %s until the solve of its route lands", request)
        raise IgnoreRequest("parked until the captcha solve lands")

    def _on_spider_idle(self, **kwargs: Any) -> None:
        # (Another worker's shelf: its requests come back here if that worker dies.)
        if self.flights or (self.shelving is not None and self.shelving.others):
            raise DontCloseSpider
