"""The Redis clearance store: one clearance per route for every crawler process, and the
lease that lets only one of them solve a route at a time.

Keys (``prefix`` is ``CAPTCHA_CACHE_PREFIX``, so several projects can share one Redis;
``route`` is ``Route.key``: the domain and an HMAC of the proxy identity, never the proxy's
credentials):

- ``{prefix}clearance:{route}``: the clearance as JSON (``Clearance.to_dict``), with a Redis
  TTL that ends when the clearance expires;
- ``{prefix}lease:{route}``: the id of the process solving the route. It expires after
  ``CAPTCHA_LEASE_TTL`` unless its holder renews it (every third of the TTL while solving),
  so a process that dies mid-solve blocks the others for at most the TTL.

Compare-and-delete (dropping a re-challenged clearance, releasing a lease) runs as Lua, so
it is atomic: a clearance another process stored meanwhile is never dropped.

Fallback: every clearance is also kept in a :class:`MemoryStore`. While Redis is down
(see ``redis_link``) the store answers from memory, leases are always granted (the
process's own flight board still gives single flight within it), and what was set or
invalidated meanwhile is written to Redis when it is back.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from scrapy_captcha._bounded import BoundedDict, BoundedSet
from scrapy_captcha._compat import installed_reactor, spawn
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.routes._redis_link import (
    RedisAddress,
    RedisLink,
    RedisUnavailable,
    ms,
)
from scrapy_captcha.routes._shelf import RedisShelf
from scrapy_captcha.routes.clearance import Clearance
from scrapy_captcha.routes.store import ClearanceStore, MemoryStore, TaskNote, created_ok
from scrapy_captcha.services._wire import task_id_ok
from scrapy_captcha.settings import CaptchaSettings

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger("scrapy_captcha")

#: what an outage's writes to replay when Redis is back may hold (the most recent kept;
#: older clearances stay in this process's memory only)
UNSYNCED_MAX = 100_000
#: seconds between two looks at Redis while another process solves (``wait_for``)
POLL_INTERVAL = 0.2

# KEYS[1] clearance key, ARGV[1] clearance id: delete only that clearance.
_DROP_CLEARANCE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, c = pcall(cjson.decode, v)
if ok and type(c) == 'table' and c['id'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] lease key, KEYS[2] its task note, ARGV[1] owner: delete the lease (and the
# note of its task) only if that owner still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""
# KEYS[1] lease key, KEYS[2] its task note, ARGV owner, note, ttl ms: note the task only
# while that owner holds the lease (a note must never outlive its holder's solve).
_NOTE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return 0
"""
# KEYS[1] lease key, ARGV[1] owner, ARGV[2] ttl ms: extend the lease if still held.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisStore(ClearanceStore):
    """``CAPTCHA_CACHE_URL = "redis://[:password@]host[:port][/db]"`` (or ``rediss://``)."""

    scheme = "redis"
    shared: ClassVar[bool] = True

    @classmethod
    def from_url(cls, url: str, crawler: Crawler) -> RedisStore:
        if importlib.util.find_spec("txredisapi") is None:
            raise ConfigurationError(
                "CAPTCHA_CACHE_URL: a Redis store needs txredisapi: "
                "pip install 'scrapy-captcha[redis]'"
            )
        settings = CaptchaSettings.from_settings(crawler.settings)
        return cls(
            RedisAddress.parse(url),
            prefix=settings.cache_prefix,
            timeout=settings.cache_timeout,
            retry_max=settings.cache_retry,
            stats=crawler.stats,
        )

    def __init__(
        self,
        address: RedisAddress,
        *,
        prefix: str = "scrapy-captcha:",
        timeout: float = 1.0,
        retry_max: float = 5.0,
        stats: StatsCollector | None = None,
    ) -> None:
        self.prefix = prefix
        self.stats = stats
        self.memory = MemoryStore()
        self.link = RedisLink(
            address,
            timeout=timeout,
            retry_max=retry_max,
            on_down=lambda: self._inc("store/fallback"),
            on_up=self._recovered,
        )
        # What happened while Redis was down, to write when it is back.
        self._unsynced_sets: BoundedDict[str, None] = BoundedDict(UNSYNCED_MAX)
        #: keys whose entry could not be read (warned about once each)
        self._unreadable: BoundedSet[str] = BoundedSet(10_000)
        self._unsynced_drops: BoundedDict[str, str] = BoundedDict(UNSYNCED_MAX)
        # Leases held by this process: key -> (owner, ttl, renewal call)
        self._leases: dict[str, tuple[str, float, Any]] = {}

    def __repr__(self) -> str:
        state = "down: memory fallback" if self.link.down else "up"
        return f"<RedisStore {self.link.address.describe()} prefix={self.prefix!r} {state}>"

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"captcha/{key}")

    def clearance_key(self, key: str) -> str:
        return f"{self.prefix}clearance:{key}"

    def lease_key(self, key: str) -> str:
        return f"{self.prefix}lease:{key}"

    def task_key(self, key: str) -> str:
        return f"{self.prefix}task:{key}"

    async def _eval(self, script: str, key: str, *args: Any) -> Any:
        """Run a Lua script on one key (atomic on the server)."""
        return await self.link.call("EVAL", script, 1, key, *args)

    # -- clearances -------------------------------------------------------------------

    async def get(self, key: str) -> Clearance | None:
        try:
            raw = await self.link.call("GET", self.clearance_key(key))
        except RedisUnavailable:
            return await self.memory.get(key)
        return await self._mirror(key, raw)

    async def set(self, key: str, clearance: Clearance) -> None:
        await self.memory.set(key, clearance)
        try:
            await self._write(key, clearance)
            # The route is solved: no task of it is to be resumed, even if the holder's
            # release then fails.
            await self.link.call("DEL", self.task_key(key))
        except RedisUnavailable:
            self._unsynced_sets[key] = None

    async def invalidate(self, key: str, clearance_id: str) -> bool:
        dropped_here = await self.memory.invalidate(key, clearance_id)
        try:
            return bool(await self._eval(_DROP_CLEARANCE, self.clearance_key(key), clearance_id))
        except RedisUnavailable:
            self._unsynced_sets.pop(key, None)
            self._unsynced_drops[key] = clearance_id
            return dropped_here

    async def _write(self, key: str, clearance: Clearance, *only_new: str) -> None:
        ttl_ms = int((clearance.expires_at - time.time()) * 1000)
        if ttl_ms > 0:
            value = json.dumps(clearance.to_dict(), separators=(",", ":"))
            await self.link.call("SET", self.clearance_key(key), value, "PX", ttl_ms, *only_new)

    async def _mirror(self, key: str, raw: str | None) -> Clearance | None:
        """Decode a stored clearance, keeping a copy in memory for a later outage."""
        if raw is None:
            return None
        try:
            clearance = Clearance.from_dict(json.loads(raw))
        except (TypeError, ValueError, RecursionError):
            if key not in self._unreadable:
                self._unreadable.add(key)
                logger.warning(
                    "Ignoring an unreadable clearance in Redis for %s (solved again)", key
                )
            self._inc("store/unreadable")
            return None
        if clearance.expired():
            return None
        await self.memory.set(key, clearance)
        return clearance

    # -- leases: one solving process per route ----------------------------------------

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        try:
            got = await self.link.call("SET", self.lease_key(key), owner, "NX", "PX", ms(ttl))
        except RedisUnavailable:
            return True  # alone for now: the flight board is single flight in-process
        if got is None:
            return False
        self._leases[key] = (owner, ttl, self._renew_later(key, owner, ttl))
        return True

    async def release_lease(self, key: str, owner: str) -> None:
        held = self._leases.get(key)
        if held is not None and held[0] == owner:
            del self._leases[key]
            if held[2].active():
                held[2].cancel()
        with contextlib.suppress(RedisUnavailable):  # (then it expires by itself)
            await self._release(key, owner)

    async def _release(self, key: str, owner: str) -> None:
        await self.link.call("EVAL", _RELEASE, 2, self.lease_key(key), self.task_key(key), owner)

    async def note_task(
        self, key: str, owner: str, provider: str, task_id: str | int, ttl: float
    ) -> None:
        note = {"provider": provider, "task_id": task_id, "created": time.time()}
        keys = (self.lease_key(key), self.task_key(key))
        with contextlib.suppress(RedisUnavailable):
            await self.link.call("EVAL", _NOTE, 2, *keys, owner, json.dumps(note), ms(ttl))

    async def noted_task(self, key: str) -> TaskNote | None:
        try:
            raw = await self.link.call("GET", self.task_key(key))
            note = json.loads(raw) if raw is not None else None
        except RedisUnavailable:
            return None
        except (TypeError, ValueError, RecursionError):
            note = None
        if not isinstance(note, dict):
            return None
        provider, task_id, created = note.get("provider"), note.get("task_id"), note.get("created")
        if (
            not isinstance(provider, str)
            or not task_id_ok(task_id)
            or not created_ok(created, time.time())
        ):
            return None
        return TaskNote(provider, task_id, float(created))

    async def wait_for(self, key: str, timeout: float) -> Clearance | None:
        """Poll until a clearance for ``key`` is stored (returned), or the lease is gone
        with none stored, Redis is down, or ``timeout`` passes (None)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw, holder = await self.link.call(
                    "MGET", self.clearance_key(key), self.lease_key(key)
                )
            except RedisUnavailable:
                return None
            clearance = await self._mirror(key, raw)
            left = deadline - time.monotonic()
            if clearance is not None or holder is None or left <= 0:
                return clearance
            await maybe_deferred_to_future(
                task.deferLater(installed_reactor(), min(POLL_INTERVAL, left), lambda: None)
            )

    def _renew_later(self, key: str, owner: str, ttl: float) -> Any:
        return installed_reactor().callLater(ttl / 3, lambda: spawn(self._renew(key, owner, ttl)))

    async def _renew(self, key: str, owner: str, ttl: float) -> None:
        held = self._leases.get(key)
        if held is None or held[0] != owner:
            return
        try:
            kept = await self._eval(_RENEW, self.lease_key(key), owner, ms(ttl))
        except RedisUnavailable:
            kept = 1  # try again later; Redis may be back before the lease runs out
        if self._leases.get(key, (None,))[0] != owner:
            return  # released meanwhile
        if kept:
            self._leases[key] = (owner, ttl, self._renew_later(key, owner, ttl))
        else:
            del self._leases[key]
            logger.warning("Lost the Redis solve lease for %s (expired)", key)

    def shelf(self, spider: str) -> RedisShelf:
        return RedisShelf(self.link, self.prefix, spider)

    # -- outages and shutdown ---------------------------------------------------------

    async def _recovered(self) -> None:
        """Redis is back: apply what this process learned meanwhile. Invalidations first;
        a clearance is written only where Redis has none (another may be newer)."""
        self._inc("store/recovered")
        try:
            for key, clearance_id in list(self._unsynced_drops.items()):
                await self._eval(_DROP_CLEARANCE, self.clearance_key(key), clearance_id)
                if self._unsynced_drops.get(key) == clearance_id:  # (not a newer drop)
                    del self._unsynced_drops[key]
            for key in list(self._unsynced_sets):
                clearance = await self.memory.get(key)
                if clearance is not None:
                    await self._write(key, clearance, "NX")
                self._unsynced_sets.pop(key, None)
        except RedisUnavailable:
            pass  # down again; the rest is written at the next recovery

    async def close(self) -> None:
        """Release the leases still held (a closing crawl solves nothing more)."""
        for key, (owner, _, call) in list(self._leases.items()):
            if call.active():
                call.cancel()
            if not self.link.down:
                with contextlib.suppress(RedisUnavailable):
                    await self._release(key, owner)
        self._leases.clear()
        await self.link.close()
