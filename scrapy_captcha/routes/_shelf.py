"""Requests waiting for a solve, kept in Redis when the crawl's queue is shared.

Why: with scrapy-redis every worker pops from one queue in Redis. A request that waits for
a solve is parked off the scheduler (``_coordination``); held only in its worker's memory,
it would be lost for the whole crawl if that worker died. So while parked it is also on
its worker's *shelf* in the shared store:

- ``{prefix}parked:{queue}:{worker}``: hash, park id -> the request, an authenticated
  entry without credentials (``_shelf_entries``); ``{queue}`` is scrapy-redis's queue key
  for the spider, so two crawls in one Redis keep apart;
- ``{prefix}parkers:{queue}``: the workers that have a shelf;
- ``{prefix}alive:{worker}``: set every quarter of ``CAPTCHA_LEASE_TTL``, expiring after it.

When the solve lands the worker schedules the request again (into the shared queue) and
only then takes it off its shelf; a take that fails is retried at the next look. Every
worker looks, at start and every quarter of the TTL, for shelves whose worker is no longer
alive: it moves such a shelf onto its own atomically (Lua), schedules what was on it and
then takes it off, so a claimed request is never only in one process's memory either.
Delivery is at least once: a worker stalled for longer than the TTL may see its requests
recovered by another and then send them itself too. A look moves at most
:data:`CLAIM_BATCH` entries and :data:`CLAIM_BYTES` bytes; an entry over
``MAX_ENTRY_BYTES`` (no worker writes one) is deleted in Redis, never transferred.

A worker that closes leaves its shelf for the others, or for the next run when none is
left (the queue persists too); without ``SCHEDULER_PERSIST`` (off by default in
scrapy-redis) the queue is flushed at close, and so is the shelf.

Trust: nothing read back is trusted. Entries are authenticated before anything is decoded,
data-only where the request allows it, and hold no credentials (``_shelf_entries``);
unknown, unauthenticated and malformed entries are skipped and counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task

from scrapy_captcha._compat import engine_closing as _engine_closing
from scrapy_captcha._compat import spawn
from scrapy_captcha._route import route_secret
from scrapy_captcha._state import RequestState
from scrapy_captcha.routes._redis_link import RedisLink, RedisUnavailable, ms
from scrapy_captcha.routes._shelf_entries import (
    MAX_ENTRY_BYTES,
    ShelfKeys,
    Unauthenticated,
    decode,
    encode,
    pickle_allowed,
)

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
# KEYS: the other worker's shelf, parkers, its alive key, my shelf, my alive key. ARGV:
# that worker, me, ttl ms, batch, bytes, entry max. Nothing while it is alive; else up to
# ``batch`` entries and ``bytes`` bytes (one at least) of its shelf move onto mine (returns
# dropped, id, request, id, request...): never only in one process's memory. An entry over
# ``entry max`` is deleted here, never sent. The rest waits for the next look.
_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local ids = redis.call('HKEYS', KEYS[1])
local batch, budget, biggest = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out, n, size, dropped = {0}, 0, 0, 0
for i = 1, #ids do
  if n >= batch then break end
  local len = redis.call('HSTRLEN', KEYS[1], ids[i])
  if len > biggest then
    redis.call('HDEL', KEYS[1], ids[i])
    dropped = dropped + 1
  else
    if n > 0 and size + len > budget then break end
    local v = redis.call('HGET', KEYS[1], ids[i])
    redis.call('HSET', KEYS[4], ids[i], v)
    redis.call('HDEL', KEYS[1], ids[i])
    out[#out + 1] = ids[i]
    out[#out + 1] = v
    n, size = n + 1, size + len
  end
end
out[1] = dropped
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
if n > 0 then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[5], '1', 'PX', ARGV[3])
end
return out
"""
#: requests claimed from one dead worker's shelf per look, and their bytes at most
CLAIM_BATCH = 500
CLAIM_BYTES = 4 * 1024 * 1024


def queue_name(settings: Any, spider: str) -> str:
    """The shared queue's name: scrapy-redis's ``SCHEDULER_QUEUE_KEY`` for this spider, so
    two crawls (or projects) sharing a Redis never take each other's parked requests."""
    key = str(settings.get("SCHEDULER_QUEUE_KEY") or "%(spider)s:requests")
    try:
        return key % {"spider": spider}
    except (KeyError, ValueError, TypeError):
        return f"{key}:{spider}"


class RedisShelf:
    """The Redis side of the shelves of one spider's workers (see the module docstring)."""

    def __init__(self, link: RedisLink, prefix: str, queue: str) -> None:
        self.link = link
        self.prefix = prefix
        self.parkers = f"{prefix}parkers:{queue}"
        self.queue = queue

    def __repr__(self) -> str:
        return f"<RedisShelf {self.parkers!r}>"

    def shelf_key(self, worker: str) -> str:
        return f"{self.prefix}parked:{self.queue}:{worker}"

    def alive_key(self, worker: str) -> str:
        return f"{self.prefix}alive:{worker}"

    async def put(self, worker: str, entries: dict[str, str], ttl: float) -> None:
        pairs = [x for item in entries.items() for x in item]
        keys = (self.shelf_key(worker), self.parkers, self.alive_key(worker))
        await self.link.call("EVAL", _PUT, 3, *keys, worker, ms(ttl), *pairs)

    async def take(self, worker: str, ids: list[str]) -> None:
        keys = (self.shelf_key(worker), self.parkers)
        await self.link.call("EVAL", _TAKE, 2, *keys, worker, *ids)

    async def beat(self, worker: str, ttl: float) -> None:
        await self.link.call("SET", self.alive_key(worker), "1", "PX", ms(ttl))

    async def leave(self, worker: str, *, flush: bool) -> None:
        """This worker stops: others may claim its shelf at once (or it is flushed)."""
        if flush:
            await self.link.call("DEL", self.shelf_key(worker))
            await self.link.call("SREM", self.parkers, worker)
        await self.link.call("DEL", self.alive_key(worker))

    async def others(self, me: str) -> list[str]:
        """The other workers that have a shelf."""
        return [w for w in map(_text, await self.link.call("SMEMBERS", self.parkers)) if w != me]

    async def claim(self, worker: str, me: str, ttl: float) -> tuple[dict[str, str], int] | None:
        """Move the shelf of ``worker`` onto mine if it is no longer alive: its entries
        (id -> request) and how many oversized ones were deleted, or None while it is
        alive."""
        keys = (self.shelf_key(worker), self.parkers, self.alive_key(worker))
        mine = (self.shelf_key(me), self.alive_key(me))
        args = (worker, me, ms(ttl), CLAIM_BATCH, CLAIM_BYTES, MAX_ENTRY_BYTES)
        got = await self.link.call("EVAL", _CLAIM, 5, *keys, *mine, *args)
        if not got:
            return None if await self.link.call("EXISTS", keys[2]) else ({}, 0)
        flat = [_text(x) for x in got[1:]]
        return dict(zip(flat[::2], flat[1::2], strict=False)), int(got[0])


class Shelving:
    """This worker's shelf: what it parks goes on it, what lands comes off it, and the
    shelves of dead workers are claimed and their requests scheduled here."""

    def __init__(
        self,
        ctx: Context,
        shelf: RedisShelf,
        ttl: float,
        worker: str,
        engine_closing: Callable[[], bool] | None = None,
    ) -> None:
        self.ctx = ctx
        self._engine_closing = engine_closing or (lambda: _engine_closing(ctx.crawler))
        self.shelf = shelf
        self.ttl = ttl
        #: this process's id (also the prefix of its solve leases)
        self.worker = worker
        #: scrapy-redis keeps its queue at close only with SCHEDULER_PERSIST (default off)
        self.persist = ctx.crawler.settings.getbool("SCHEDULER_PERSIST")
        #: other live workers with a shelf at the last look (the crawl must not end while
        #: one of them may die and leave its requests to this one)
        self.others = 0
        self._spider: Spider | None = None
        self._crawl: Callable[[Request], Any] = lambda request: None
        self._loop: task.LoopingCall | None = None
        self._ticking: defer.Deferred[Any] | None = None
        self._closed = False
        #: ids to take off this worker's shelf still (a take that failed, a put whose
        #: outcome is unknown); retried at every look, so nothing stale stays behind
        self._untaken: set[str] = set()
        #: ids Redis has confirmed on this worker's shelf (left at close only if there)
        self._stored: set[str] = set()
        settings = ctx.settings
        self.keys = ShelfKeys(route_secret(settings.api_key, settings.api_keys), shelf.queue)
        self._pickle_ok = pickle_allowed(ctx.crawler.settings.get("SCHEDULER_SERIALIZER"))

    def __repr__(self) -> str:
        return f"<Shelving worker={self.worker} {self.shelf!r}>"

    def open(self, spider: Spider, crawl: Callable[[Request], Any]) -> None:
        """Start beating and looking for dead workers' shelves (at once, then every quarter
        of the TTL): ``crawl`` schedules what is claimed."""
        self._spider, self._crawl = spider, crawl
        self.ctx.log.info(
            "Worker %s: requests waiting for a solve are also kept in %r", self.worker, self.shelf
        )
        self._loop = task.LoopingCall(self._look)
        self._loop.start(self.ttl / 4, now=True).addErrback(
            lambda f: logger.error("shelf watcher failed", exc_info=f.value)
        )

    def _look(self) -> None:
        if self._ticking is None:
            self._ticking = spawn(self.tick())
            self._ticking.addBoth(self._looked)
        elif not self._closing():  # a slow look must not make this worker look dead
            spawn(self._quietly(self.shelf.beat(self.worker, self.ttl)))

    async def look(self) -> None:
        """A look now, or the end of the one under way (the loop's, at open() too)."""
        self._look()
        if self._ticking is not None:
            await maybe_deferred_to_future(self._ticking)

    def _looked(self, result: Any) -> Any:
        self._ticking = None
        return result

    def put(self, request: Request) -> None:
        """Put a parked request on the shelf (in the background: parking goes on at once;
        while Redis is down it waits in this worker's memory only, as without a shelf)."""
        park_id = uuid.uuid4().hex
        try:
            blob = encode(request, self._spider, self.keys, park_id, pickle_ok=self._pickle_ok)
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
        state.shelved = park_id
        spawn(self._put(state, park_id, blob))

    async def _put(self, state: RequestState, park_id: str, blob: str) -> None:
        stored = await self._quietly(self.shelf.put(self.worker, {park_id: blob}, self.ttl))
        if stored:
            if park_id not in self._untaken:  # (not taken meanwhile)
                self._stored.add(park_id)
        else:
            # In memory only now (dropped at close, not left); the put may still have
            # reached Redis: take it off at the next look.
            self._untaken.add(park_id)
            if state.shelved == park_id:
                state.shelved = None

    def taken(self, requests: list[Request]) -> None:
        """These requests were scheduled again (or went into a JOBDIR queue): off the
        shelf."""
        for request in requests:
            state = RequestState.peek(request)
            if state is not None and state.shelved:
                self._untaken.add(state.shelved)
                state.shelved = None
        spawn(self._take())

    async def _take(self) -> None:
        if self._untaken:
            ids = list(self._untaken)
            if await self._quietly(self.shelf.take(self.worker, ids)):
                self._untaken.difference_update(ids)
                self._stored.difference_update(ids)

    def keep(self, request: Request) -> bool:
        """At close: True if the request stays on the shelf for another worker (or the
        next run), as the queue itself is kept."""
        state = RequestState.peek(request)
        if state is None or not state.shelved:
            return False
        if self.persist and state.shelved in self._stored:
            return True
        # Dropped here: its entry (if its put lands after all) must not be sent again.
        self._untaken.add(state.shelved)
        return False

    async def tick(self) -> None:
        """Beat; retry takes; claim the shelves of workers no longer alive."""
        if self._closing():
            return
        try:
            await self.shelf.beat(self.worker, self.ttl)
            await self._take()
            others = 0
            for worker in await self.shelf.others(self.worker):
                if self._closing():
                    return
                claimed = await self.shelf.claim(worker, self.worker, self.ttl)
                if claimed is None:
                    others += 1
                    continue
                entries, dropped = claimed
                if dropped:
                    self._skipped("oversized", dropped)
                if entries:
                    self._schedule(entries)
            self.others = others
        except RedisUnavailable:
            self.others = 0  # (a dead Redis must not hold the crawl open)
            return

    def _closing(self) -> bool:
        return self._closed or self._spider is None or self._engine_closing()

    def _schedule(self, entries: dict[str, str]) -> None:
        """Schedule claimed requests (now on this worker's shelf), then take them off. A
        worker closing meanwhile leaves them there, as its own."""
        if self._closing():
            return
        requests = []
        for park_id, blob in entries.items():
            try:
                request = decode(blob, self._spider, self.keys, park_id)
            except Exception as exc:
                self._untaken.add(park_id)
                self._skipped(
                    "unauthenticated" if isinstance(exc, Unauthenticated) else "unreadable"
                )
                continue
            state = RequestState.of(request)
            state.park, state.shelved = None, park_id
            requests.append(request)
        if requests:
            self.ctx.log.info(
                "Scheduling %d requests that waited for a solve in a worker that stopped",
                len(requests),
            )
        for request in requests:
            self.ctx.inc("parked/recovered")
            self._crawl(request)
        self.taken(requests)

    def _skipped(self, why: str, count: int = 1) -> None:
        """Entries no worker of this crawl wrote (or too big, or malformed): never sent."""
        self.ctx.inc(f"parked/{why}", count)
        self.ctx.warn_once(
            f"shelf-{why}",
            "Skipped an unreadable request on a Redis shelf (%s): not sent; something other "
            "than this crawl's workers writes to its Redis keys",
            why,
        )

    async def close(self) -> None:
        """Stop looking; leave the shelf to the others (or flush it with the queue)."""
        self._closed = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._ticking is not None:  # (each Redis call in it is bounded)
            await maybe_deferred_to_future(self._ticking)
        if self._spider is not None:
            await self._take()
            await self._quietly(self.shelf.leave(self.worker, flush=not self.persist))

    async def _quietly(self, call: Any) -> bool:
        try:
            await call
        except RedisUnavailable:
            self.ctx.inc("parked/redis_unavailable")
            return False
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
