"""Every touch of a Scrapy internal or version difference, in one place.

Each function here is pinned by a test in ``tests/test_compat.py``: if a Scrapy release
moves what it relies on, that test says which one.

- Scrapy 2.13 still passes ``spider=`` to every middleware method: components are written
  the 2.14+ way and wrapped to accept and drop it there.
- ``engine.download_async`` / ``engine.close_spider_async`` are 2.14+; 2.13 has the
  Deferred-returning ``download`` / ``close_spider``.
- Scrapy has no signal for "the engine started closing the spider" (``spider_closed``
  comes after the downloader and scheduler are closed): read the engine's slot.
- The Accept-Encoding value Scrapy's HttpCompressionMiddleware sets by default.
- The public-suffix lookup of Scrapy's cookie middleware, made offline-safe for tests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import scrapy
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import defer

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger("scrapy_captcha")

LEGACY_SPIDER_ARGUMENT = scrapy.version_info < (2, 14)

_C = TypeVar("_C", bound=type)

_METHODS = ("process_request", "process_response", "process_exception")


def _accept_spider_argument(method: Callable[..., Coroutine[Any, Any, Any]]) -> Any:
    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, spider: Any = None, **kwargs: Any) -> Any:
        return await method(self, *args, **kwargs)

    return wrapper


def spider_argument_compat(cls: _C) -> _C:
    """Class decorator for downloader middlewares with ``async def`` methods."""
    if LEGACY_SPIDER_ARGUMENT:  # pragma: no cover - exercised on Scrapy 2.13 only
        for name in _METHODS:
            if name in vars(cls):
                setattr(cls, name, _accept_spider_argument(vars(cls)[name]))
    return cls


def engine_of(crawler: Crawler) -> Any:
    """The crawler's engine, or None before the crawl starts (Scrapy 2.19 raises
    RuntimeError there, 2.13 gives None)."""
    try:
        return crawler.engine
    except (RuntimeError, AttributeError):
        return None


async def download(crawler: Crawler, request: Request) -> Response:
    """Fetch ``request`` through the whole downloader (middlewares, cookies, proxy),
    without passing it to the spider."""
    engine = engine_of(crawler)
    assert engine is not None
    if hasattr(engine, "download_async"):
        return await engine.download_async(request)
    return await maybe_deferred_to_future(engine.download(request))  # pragma: no cover


def close_spider(crawler: Crawler, reason: str) -> defer.Deferred[Any] | None:
    """Ask the engine to close the spider (no-op without an open spider)."""
    engine = engine_of(crawler)
    if engine is None or engine.spider is None:
        return None
    if hasattr(engine, "close_spider_async"):
        return deferred_from_coro(engine.close_spider_async(reason=reason))
    return engine.close_spider(engine.spider, reason)  # pragma: no cover


def engine_closing(crawler: Crawler) -> bool:
    """True once the engine has started closing the spider (or has none)."""
    engine = engine_of(crawler)
    if engine is None or engine.spider is None:
        return True
    slot = getattr(engine, "_slot", None)
    return slot is None or getattr(slot, "closing", None) is not None


def installed_reactor() -> Any:
    """The crawl's reactor, looked up at call time (importing it at module level would
    install the default one). Typed Any: Twisted before 24 types it as a module."""
    from twisted.internet import reactor

    return reactor


def spawn(coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
    """Run a coroutine in the background; cancellation and bugs never go unhandled."""
    d = deferred_from_coro(coro)

    def _swallow(failure: Any) -> None:
        if not failure.check(defer.CancelledError, asyncio.CancelledError):
            logging.getLogger("scrapy_captcha").error(
                "scrapy-captcha background task failed", exc_info=failure.value
            )

    d.addErrback(_swallow)
    return d


def before_scheduler_close(crawler: Crawler, callback: Callable[[Any], None]) -> bool:
    """Call ``callback(scheduler)`` when the engine closes its scheduler, just before it
    does (a JOBDIR scheduler then writes its queues to disk). Scrapy has no signal for
    that moment: wrap the slot's scheduler's ``close``. False if there is none."""
    slot = getattr(engine_of(crawler), "_slot", None)
    scheduler = getattr(slot, "scheduler", None)
    original = getattr(scheduler, "close", None)
    if original is None:
        return False

    def close(reason: str) -> Any:
        try:
            callback(scheduler)
        except Exception:  # the scheduler must close whatever happened
            logger.exception("scrapy-captcha failed before the scheduler closed")
        return original(reason)

    scheduler.close = close  # type: ignore[union-attr]
    return True


def accepted_encodings() -> bytes:
    """The Accept-Encoding value HttpCompressionMiddleware puts on requests."""
    from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS

    return b", ".join(ACCEPTED_ENCODINGS)


def offline_public_suffixes() -> None:
    """Scrapy's cookie middleware downloads the public suffix list on first use and logs
    a traceback when there is no internet: point it at the snapshot tldextract ships."""
    from scrapy.downloadermiddlewares import cookies
    from tldextract import TLDExtract

    cookies._split_domain = TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)


#: Scrapy's own downloader middlewares above 760 that never touch a request's User-Agent,
#: cookies or proxy (ours included): not suspects when a clearance leaves altered
_INNOCENT_LATE = frozenset(
    {
        "scrapy.downloadermiddlewares.stats.DownloaderStats",
        "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware",
        "scrapy_captcha.middleware.ChallengeCacheGuard",
        "scrapy_captcha.ChallengeCacheGuard",
    }
)


def late_middlewares(crawler: Crawler) -> list[tuple[str, int]]:
    """The enabled downloader middlewares whose ``process_request`` runs after
    ClearanceMiddleware (priority above 760), as (import path, priority)."""
    from scrapy.utils.misc import load_object

    merged = crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    found: list[tuple[str, int]] = []
    for key, priority in merged.items():
        if priority is None or priority <= 760:
            continue
        cls = load_object(key) if isinstance(key, str) else key
        path = f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else str(key)
        if path in _INNOCENT_LATE or str(key) in _INNOCENT_LATE:
            continue
        found.append((path, int(priority)))
    return sorted(found, key=lambda item: item[1])


def cache_response(crawler: Crawler, request: Request, response: Response) -> bool:
    """Store ``response`` in Scrapy's HTTP cache (HTTPCACHE_ENABLED) as the answer to
    ``request``, through the cache's own policy and storage (what HttpCacheMiddleware's
    ``process_response`` does). False when the cache is off or its policy declines."""
    from scrapy.downloadermiddlewares.httpcache import HttpCacheMiddleware

    try:
        cache = crawler.get_downloader_middleware(HttpCacheMiddleware)
    except RuntimeError:  # (no engine yet)
        return False
    if cache is None or not cache.policy.should_cache_response(response, request):
        return False
    cache.storage.store_response(crawler.spider, request, response)
    return True


def apply_pre_crawler_settings(settings: Any) -> None:
    """What a CrawlerProcess does to its settings before any crawler exists: each add-on
    of ``ADDONS`` updates them (``update_pre_crawler_settings``, Scrapy 2.13+)."""
    from scrapy.addons import AddonManager

    load = getattr(AddonManager, "load_pre_crawler_settings", None)
    if load is not None:
        load(settings)
