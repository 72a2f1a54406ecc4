"""Support for Scrapy 2.13, which still passes ``spider=`` to every middleware method.

Components are written the 2.14+ way (no ``spider`` argument); on 2.13 their methods are
wrapped to accept and drop it. Nothing happens on newer Scrapy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import scrapy

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
