"""Requests waiting for a solve, kept in Redis when the crawl's queue is shared.

Why: with scrapy-redis every worker pops from one queue in Redis. A request that waits for
a solve is parked off the scheduler (``_coordination``); held only in its worker's memory,
it would be lost for the whole crawl if that worker died. So while parked it is also on
its worker's *shelf* in the shared store:

- ``{prefix}parked:{spider}:{worker}``: hash, park id -> the request (Scrapy's
  ``Request.to_dict``, pickled as scrapy-redis pickles its own queue, base64);
- ``{prefix}parkers:{spider}``: the workers that have a shelf;
- ``{prefix}alive:{worker}``: set every third of ``CAPTCHA_LEASE_TTL``, expiring after it.

When the solve lands the worker schedules the request again (into the shared queue) and
only then takes it off its shelf. Every worker looks, at start and every third of the TTL,
for shelves whose worker is no longer alive: it claims such a shelf atomically (Lua) and
schedules what was on it. Delivery is at least once: a worker stalled for longer than the
TTL may see its requests recovered by another and then send them itself too.

A worker that closes leaves its shelf for the others, or for the next run when none is
left (the queue persists too); with ``SCHEDULER_PERSIST = False`` the queue is flushed at
close, and so is the shelf.

Trust: the shelf is unpickled as scrapy-redis unpickles its queue: whoever can write to
this Redis can already put requests in the crawl.
"""

from __future__ import annotations

import base64
import binascii
import logging
import pickle
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.utils.request import request_from_dict
from twisted.internet import task

from scrapy_captcha._compat import engine_closing, spawn
from scrapy_captcha._redis_link import RedisLink, RedisUnavailable
from scrapy_captcha._state import RequestState

if TYPE_CHECKING:
    from scrapy import Spider

    from scrapy_captcha._context import Context

logger = logging.getLogger("scrapy_captcha")

# KEYS: shelf, parkers, alive. ARGV: worker, ttl ms, then id, request pairs.
_PUT = """
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return 1
"""
# KEYS: shelf, parkers. ARGV: worker, then ids.
_TAKE = """
for i = 2, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""
# KEYS: the other worker's shelf, parkers, its alive key. ARGV: that worker.
# Nothing while it is alive; else its whole shelf, which is gone from Redis once returned.
_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local v = redis.call('HVALS', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return v
"""


class RedisShelf:
    """The Redis side of the shelves of one spider's workers (see the module docstring)."""

    def __init__(self, link: RedisLink, prefix: str, spider: str) -> None:
        self.link = link
        self.prefix = prefix
        self.parkers = f"{prefix}parkers:{spider}"
        self._spider = spider

    def __repr__(self) -> str:
        return f"<RedisShelf {self.parkers!r}>"

    def shelf_key(self, worker: str) -> str:
        return f"{self.prefix}parked:{self._spider}:{worker}"

    def alive_key(self, worker: str) -> str:
        return f"{self.prefix}alive:{worker}"

    async def put(self, worker: str, entries: dict[str, str], ttl: float) -> None:
        pairs = [x for item in entries.items() for x in item]
        keys = (self.shelf_key(worker), self.parkers, self.alive_key(worker))
        await self.link.call("EVAL", _PUT, 3, *keys, worker, _ms(ttl), *pairs)

    async def take(self, worker: str, ids: list[str]) -> None:
        keys = (self.shelf_key(worker), self.parkers)
        await self.link.call("EVAL", _TAKE, 2, *keys, worker, *ids)

    async def beat(self, worker: str, ttl: float) -> None:
        await self.link.call("SET", self.alive_key(worker), "1", "PX", _ms(ttl))

    async def leave(self, worker: str, *, flush: bool) -> None:
        """This worker stops: others may claim its shelf at once (or it is flushed)."""
        if flush:
            await self.take(worker, [])
            await self.link.call("DEL", self.shelf_key(worker))
            await self.link.call("SREM", self.parkers, worker)
        await self.link.call("DEL", self.alive_key(worker))

    async def claim(self, me: str) -> tuple[list[str], int]:
        """The requests on shelves of workers no longer alive (now off Redis), and how
        many other workers still have a shelf."""
        claimed: list[str] = []
        others = 0
        for worker in await self.link.call("SMEMBERS", self.parkers):
            worker = worker.decode() if isinstance(worker, bytes) else str(worker)
            if worker == me:
                continue
            keys = (self.shelf_key(worker), self.parkers, self.alive_key(worker))
            got = await self.link.call("EVAL", _CLAIM, 3, *keys, worker)
            if got:
                claimed.extend(v.decode() if isinstance(v, bytes) else str(v) for v in got)
            elif await self.link.call("EXISTS", keys[2]):
                others += 1
        return claimed, others


class Shelving:
    """This worker's shelf: what it parks goes on it, what lands comes off it, and the
    shelves of dead workers are claimed and their requests scheduled here."""

    def __init__(self, ctx: Context, shelf: RedisShelf, ttl: float, worker: str) -> None:
        self.ctx = ctx
        self.shelf = shelf
        self.ttl = ttl
        #: this process's id (also the prefix of its solve leases)
        self.worker = worker
        #: other workers with a shelf at the last look (the crawl must not end meanwhile)
        self.others = 0
        self._spider: Spider | None = None
        self._crawl: Callable[[Request], Any] = lambda request: None
        self._loop: task.LoopingCall | None = None
        self._busy = False

    def __repr__(self) -> str:
        return f"<Shelving worker={self.worker} {self.shelf!r}>"

    def open(self, spider: Spider, crawl: Callable[[Request], Any]) -> None:
        """Start beating and looking for dead workers' shelves (at once, then every third
        of the TTL): ``crawl`` schedules what is claimed."""
        self._spider, self._crawl = spider, crawl
        self.ctx.log.info(
            "Worker %s: requests waiting for a solve are also kept in %r", self.worker, self.shelf
        )
        self._loop = task.LoopingCall(lambda: spawn(self.tick()))
        self._loop.start(self.ttl / 3, now=True).addErrback(
            lambda f: logger.error("shelf watcher failed", exc_info=f.value)
        )

    def put(self, request: Request) -> None:
        """Put a parked request on the shelf (in the background: parking goes on at once;
        while Redis is down it waits in this worker's memory only, as without a shelf)."""
        try:
            blob = _encode(request, self._spider)
        except Exception as exc:  # unpicklable meta, a callback that is no spider method
            self.ctx.warn_once(
                f"unshelvable:{type(exc).__name__}",
                "A request waiting for a solve cannot be kept in Redis (%s: %s); such "
                "requests wait in this worker's memory only",
                type(exc).__name__,
                str(exc)[:200],
            )
            self.ctx.inc("parked/unshelvable")
            return
        state = RequestState.of(request)
        state.shelved = park_id = uuid.uuid4().hex
        spawn(self._put(state, park_id, blob))

    async def _put(self, state: RequestState, park_id: str, blob: str) -> None:
        stored = await self._quietly(self.shelf.put(self.worker, {park_id: blob}, self.ttl))
        if not stored and state.shelved == park_id:
            state.shelved = None  # in memory only: dropped at close, not left

    def taken(self, requests: list[Request]) -> None:
        """These requests were scheduled again: off the shelf."""
        ids = []
        for request in requests:
            state = RequestState.peek(request)
            if state is not None and state.shelved:
                ids.append(state.shelved)
                state.shelved = None
        if ids:
            spawn(self._quietly(self.shelf.take(self.worker, ids)))

    def keep(self, request: Request) -> bool:
        """At close: True if the request stays on the shelf for another worker."""
        state = RequestState.peek(request)
        return bool(state is not None and state.shelved and self._persist())

    async def tick(self) -> None:
        if self._busy or self._spider is None or engine_closing(self.ctx.crawler):
            return
        self._busy = True
        try:
            await self.shelf.beat(self.worker, self.ttl)
            claimed, self.others = await self.shelf.claim(self.worker)
        except RedisUnavailable:
            return
        finally:
            self._busy = False
        self._schedule(claimed)

    def _schedule(self, claimed: list[str]) -> None:
        requests = []
        for blob in claimed:
            try:
                requests.append(_decode(blob, self._spider))
            except Exception as exc:
                self.ctx.inc("parked/unreadable")
                self.ctx.warn_once(
                    "shelf-unreadable",
                    "Skipped an unreadable request on a Redis shelf (%s)",
                    type(exc).__name__,
                )
        if not requests:
            return
        self.ctx.log.info(
            "Scheduling %d requests that waited for a solve in a worker that stopped",
            len(requests),
        )
        for request in requests:
            state = RequestState.of(request)
            state.shelved = state.park = None
            self.ctx.inc("parked/recovered")
            self._crawl(request)

    async def close(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._spider is not None:
            await self._quietly(self.shelf.leave(self.worker, flush=not self._persist()))

    def _persist(self) -> bool:
        return self.ctx.crawler.settings.getbool("SCHEDULER_PERSIST", True)

    async def _quietly(self, call: Any) -> bool:
        try:
            await call
        except RedisUnavailable:
            self.ctx.inc("parked/redis_unavailable")
            return False
        return True


def _encode(request: Request, spider: Spider | None) -> str:
    data = pickle.dumps(request.to_dict(spider=spider), protocol=4)
    return base64.b64encode(data).decode("ascii")


def _decode(blob: str, spider: Spider | None) -> Request:
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    return request_from_dict(pickle.loads(data), spider=spider)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
