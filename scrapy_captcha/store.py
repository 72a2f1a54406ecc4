"""Clearance stores: where solved clearances live between requests.

One small async interface so a process-local dict and a shared Redis can stand behind it
(``CAPTCHA_CACHE_URL``: ``memory://`` here, ``redis://`` in ``store_redis``; other schemes
map to classes in ``BACKENDS``, or pass the import path of your own
:class:`ClearanceStore` subclass).

A *shared* store also gives single flight across processes: before solving a route, a
process takes its lease; the others wait for the clearance it stores. A per-process store
needs none of that (the flight board already gives single flight within the process), so
the lease methods here are trivial.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, ClassVar

from scrapy.utils.misc import load_object

from scrapy_captcha.clearance import Clearance
from scrapy_captcha.errors import ConfigurationError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class ClearanceStore:
    """Interface of a clearance store. Keys are ``Route.key`` strings (no credentials)."""

    scheme: ClassVar[str] = ""
    #: True if other processes see this store (then the lease methods matter)
    shared: ClassVar[bool] = False

    @classmethod
    def from_url(cls, url: str, crawler: Crawler) -> ClearanceStore:
        return cls()

    async def get(self, key: str) -> Clearance | None:
        """The live clearance for ``key``; expired ones are never returned."""
        raise NotImplementedError

    async def set(self, key: str, clearance: Clearance) -> None:
        raise NotImplementedError

    async def invalidate(self, key: str, clearance_id: str) -> bool:
        """Drop ``key`` if it still holds that clearance; a newer one is kept."""
        raise NotImplementedError

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """Become the one process solving ``key`` for ``ttl`` seconds (renewed while held);
        False if another process holds the lease."""
        return True

    async def release_lease(self, key: str, owner: str) -> None:
        """Give the lease up, if ``owner`` still holds it."""
        return None

    async def wait_for(self, key: str, timeout: float) -> Clearance | None:
        """Wait (without blocking the reactor) for the clearance the lease holder stores:
        it, or None once the lease is gone without one or ``timeout`` passes."""
        return await self.get(key)

    async def close(self) -> None:
        return None


class MemoryStore(ClearanceStore):
    """Per-process store; expiry is checked on read, and dead entries are pruned."""

    scheme = "memory"

    def __init__(self) -> None:
        self._data: dict[str, Clearance] = {}

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._data)} clearances>"

    async def get(self, key: str) -> Clearance | None:
        clearance = self._data.get(key)
        if clearance is None:
            return None
        if clearance.expired():
            del self._data[key]
            return None
        return clearance

    async def set(self, key: str, clearance: Clearance) -> None:
        now = time.time()
        if len(self._data) > 1024:  # prune lazily so long crawls do not accumulate
            for k in [k for k, c in self._data.items() if c.expired(now)]:
                del self._data[k]
        self._data[key] = clearance

    async def invalidate(self, key: str, clearance_id: str) -> bool:
        current = self._data.get(key)
        if current is not None and current.id == clearance_id:
            del self._data[key]
            return True
        return False


_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*")

BACKENDS: dict[str, str] = {
    "memory": "scrapy_captcha.store.MemoryStore",
    "redis": "scrapy_captcha._store_redis.RedisStore",
    "rediss": "scrapy_captcha._store_redis.RedisStore",
}


def open_store(url: str, crawler: Crawler) -> ClearanceStore:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    path = BACKENDS.get(scheme) or (url if "://" not in url else None)
    if path is None:
        raise ConfigurationError(
            f"CAPTCHA_CACHE_URL: unsupported scheme {scheme!r}; use one of "
            f"{sorted(f'{s}://' for s in BACKENDS)} or a ClearanceStore import path"
        )
    # An import path is echoed in errors; anything else may be a mistyped URL holding a
    # password, and is not.
    shown = repr(path) if _IMPORT_PATH.fullmatch(path) else "(value not shown)"
    try:
        cls = load_object(path)
    except (ValueError, NameError, ImportError, AttributeError):
        raise ConfigurationError(f"CAPTCHA_CACHE_URL: cannot load {shown}") from None
    if not (isinstance(cls, type) and issubclass(cls, ClearanceStore)):
        raise ConfigurationError(f"CAPTCHA_CACHE_URL: {shown} is not a ClearanceStore")
    return cls.from_url(url, crawler)
