"""Clearance stores: where solved clearances live between requests.

One small async interface so a process-local dict and a shared Redis can stand behind it
(``CAPTCHA_CACHE_URL``: ``file://`` (the default) and ``memory://`` here, ``redis://`` in
``_store_redis``; other schemes
map to classes in ``BACKENDS``, or pass the import path of your own
:class:`ClearanceStore` subclass).

A *shared* store also gives single flight across processes: before solving a route, a
process takes its lease; the others wait for the clearance it stores. A per-process store
needs none of that (the flight board already gives single flight within the process), so
the lease methods here are trivial.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeGuard

from scrapy.utils.misc import load_object

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.routes.clearance import Clearance

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from scrapy_captcha.routes._shelf import RedisShelf


logger = logging.getLogger("scrapy_captcha")

#: clearances a memory store keeps (about 1 KB each): a million routes
DEFAULT_MAX_ENTRIES = 1_000_000


#: seconds a task note's creation time may lie ahead of this process's clock (another
#: machine's clock may run a little ahead); a note further in the future is not trusted
NOTE_CLOCK_SKEW = 30.0


def created_ok(created: Any, now: float) -> TypeGuard[float]:
    """A task note's ``created`` read back from a shared store: a finite number, not in
    the future (NaN or Infinity would lift the solve deadline and the poll interval)."""
    return (
        isinstance(created, (int, float))
        and not isinstance(created, bool)
        and math.isfinite(created)
        and created <= now + NOTE_CLOCK_SKEW
    )


class TaskNote(NamedTuple):
    """The solver task a lease holder waited for (see :meth:`ClearanceStore.note_task`)."""

    provider: str
    task_id: str | int
    #: when it was created (``time.time()``)
    created: float


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

    async def note_task(
        self, key: str, owner: str, provider: str, task_id: str | int, ttl: float
    ) -> None:
        """Say which solver task the holder of ``key``'s lease waits for, so that a
        process taking the lease over (the holder died) polls that task instead of paying
        for another. Released with the lease."""
        return None

    async def noted_task(self, key: str) -> TaskNote | None:
        """The task noted for ``key`` by a lease holder that never released its lease."""
        return None

    async def wait_for(self, key: str, timeout: float) -> Clearance | None:
        """Wait (without blocking the reactor) for the clearance the lease holder stores:
        it, or None once the lease is gone without one or ``timeout`` passes."""
        return await self.get(key)

    def shelf(self, spider: str) -> RedisShelf | None:
        """Where requests waiting for a solve are also kept while the crawl's queue is
        shared by several workers (``CAPTCHA_SHARED_QUEUE``); None: memory only."""
        return None

    async def close(self) -> None:
        return None


class MemoryStore(ClearanceStore):
    """Per-process store with constant cost per call whatever the number of routes:
    expiries are kept in a heap (pruning is amortised O(log n) per set, never a scan of
    every entry) and at most ``max_entries`` clearances are kept, the least recently used
    evicted first (``captcha/store/evicted``)."""

    scheme = "memory"

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, stats: Any = None) -> None:
        self.max_entries = max(1, int(max_entries))
        self._stats = stats
        self._data: OrderedDict[str, Clearance] = OrderedDict()
        #: (expires_at, key, clearance id); stale items are skipped when popped
        self._expiry: list[tuple[float, str, str]] = []

    @classmethod
    def from_url(cls, url: str, crawler: Crawler) -> MemoryStore:
        limit = crawler.settings.getint("CAPTCHA_CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)
        return cls(max_entries=limit, stats=crawler.stats)

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._data)} clearances>"

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> Clearance | None:
        clearance = self._data.get(key)
        if clearance is None:
            return None
        if clearance.expired():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return clearance

    async def set(self, key: str, clearance: Clearance) -> None:
        self._prune(time.time())
        self._data[key] = clearance
        self._data.move_to_end(key)
        heapq.heappush(self._expiry, (clearance.expires_at, key, clearance.id))
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
            if self._stats is not None:
                self._stats.inc_value("captcha/store/evicted")
        if len(self._expiry) > 2 * len(self._data) + 1024:  # mostly stale: rebuild
            self._expiry = [(c.expires_at, k, c.id) for k, c in self._data.items()]
            heapq.heapify(self._expiry)

    def _prune(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, key, clearance_id = heapq.heappop(expiry)
            current = self._data.get(key)
            if current is not None and current.id == clearance_id:
                del self._data[key]

    async def invalidate(self, key: str, clearance_id: str) -> bool:
        current = self._data.get(key)
        if current is not None and current.id == clearance_id:
            del self._data[key]
            return True
        return False


#: the journal of a file store: one JSON object a line
_JOURNAL = "clearances.jsonl"
#: bytes of a journal read at most, and of one of its lines
MAX_JOURNAL_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 256 * 1024


class FileStore(MemoryStore):
    """The default store: a memory store whose clearances outlive the process. Each
    change is appended to a journal (``clearances.jsonl``, readable by its owner only)
    under the project's data directory (``.scrapy/captcha``, as HTTPCACHE_DIR), so a
    re-run or a JOBDIR resume reuses every clearance that is still valid instead of
    paying for it again. The journal is compacted at close and when it has grown to
    mostly dead lines. One crawl process at a time: processes that run together share
    clearances through ``redis://``.

    Entries are read back like any untrusted input: malformed, expired or ill-typed
    lines are skipped (``captcha/store/skipped``)."""

    scheme = "file"

    def __init__(self, directory: str, max_entries: int = DEFAULT_MAX_ENTRIES, stats: Any = None):
        super().__init__(max_entries, stats)
        self.path = Path(directory) / _JOURNAL
        self._lines = 0
        self._load()
        self._file: IO[str] | None = None

    @classmethod
    def from_url(cls, url: str, crawler: Crawler) -> FileStore:
        from scrapy.utils.project import data_path

        where = url.split("://", 1)[1] if "://" in url else ""
        directory = data_path(where or "captcha", createdir=True)
        limit = crawler.settings.getint("CAPTCHA_CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)
        return cls(directory, max_entries=limit, stats=crawler.stats)

    def __repr__(self) -> str:
        return f"<FileStore {self.path} {len(self._data)} clearances>"

    def _skip(self) -> None:
        if self._stats is not None:
            self._stats.inc_value("captcha/store/skipped")

    def _load(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        now = time.time()
        with handle:
            read = 0
            for raw in handle:
                read += len(raw)
                if read > MAX_JOURNAL_BYTES:
                    self._skip()
                    break
                self._lines += 1
                if len(raw) > MAX_LINE_BYTES:
                    self._skip()
                    continue
                try:
                    entry = json.loads(raw)
                    key = entry["k"]
                    if not isinstance(key, str) or len(key) > 1024:
                        raise ValueError("bad key")
                    if "drop" in entry:
                        current = self._data.get(key)
                        if current is not None and current.id == entry["drop"]:
                            del self._data[key]
                        continue
                    clearance = Clearance.from_dict(entry["c"])
                except (ValueError, KeyError, TypeError, RecursionError):
                    self._skip()
                    continue
                if clearance.expires_at > now:
                    self._data[key] = clearance
                    self._data.move_to_end(key)
                else:
                    self._data.pop(key, None)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        self._expiry = [(c.expires_at, k, c.id) for k, c in self._data.items()]
        heapq.heapify(self._expiry)

    def _append(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()
        self._lines += 1
        if self._lines > 2 * len(self._data) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the journal with the live clearances only (atomically)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        now = time.time()
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        lines = 0
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for key, clearance in self._data.items():
                if clearance.expires_at > now:
                    out.write(json.dumps({"k": key, "c": clearance.to_dict()}) + "\n")
                    lines += 1
        os.replace(tmp, self.path)
        self._lines = lines

    async def set(self, key: str, clearance: Clearance) -> None:
        await super().set(key, clearance)
        self._append({"k": key, "c": clearance.to_dict()})

    async def invalidate(self, key: str, clearance_id: str) -> bool:
        dropped = await super().invalidate(key, clearance_id)
        if dropped:
            self._append({"k": key, "drop": clearance_id})
        return dropped

    async def close(self) -> None:
        try:
            self._compact()
        except OSError as exc:  # (a read-only or vanished directory: nothing to lose)
            logger.warning("Could not compact the clearance journal %s: %s", self.path, exc)


_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*")

BACKENDS: dict[str, str] = {
    "file": "scrapy_captcha.routes.store.FileStore",
    "memory": "scrapy_captcha.routes.store.MemoryStore",
    "redis": "scrapy_captcha.routes._store_redis.RedisStore",
    "rediss": "scrapy_captcha.routes._store_redis.RedisStore",
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
