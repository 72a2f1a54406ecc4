"""Pins for every Scrapy internal ``_compat.py`` relies on: if a Scrapy release moves
one, the test named after it fails instead of the add-on misbehaving quietly."""

from __future__ import annotations

import inspect

import pytest
import scrapy
from scrapy import Request, Spider
from scrapy.core.engine import ExecutionEngine
from scrapy.downloadermiddlewares import cookies
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.utils.test import get_crawler

from scrapy_captcha import _compat


def test_spider_argument_dropped_only_on_scrapy_2_13() -> None:
    assert (scrapy.version_info < (2, 14)) == _compat.LEGACY_SPIDER_ARGUMENT

    @_compat.spider_argument_compat
    class Component:
        async def process_request(self, request: Request) -> str:
            return request.url

    request = Request("https://example.com/")
    if _compat.LEGACY_SPIDER_ARGUMENT:  # Scrapy 2.13 passes spider=: accepted and dropped
        coro = Component().process_request(request, spider=None)  # type: ignore[call-arg]
        with pytest.raises(StopIteration) as done:
            coro.send(None)
        assert done.value.value == request.url
    else:
        with pytest.raises(TypeError):
            Component().process_request(request, spider=None)  # type: ignore[call-arg]


def test_engine_has_the_download_and_close_calls_used() -> None:
    assert hasattr(ExecutionEngine, "download_async") or hasattr(ExecutionEngine, "download")
    assert hasattr(ExecutionEngine, "close_spider_async") or hasattr(
        ExecutionEngine, "close_spider"
    )


def test_engine_slot_closing_marks_the_start_of_a_close() -> None:
    """``engine_closing`` reads ``engine._slot.closing``: None while crawling, set once
    the engine starts closing the spider."""
    from scrapy.core import engine as engine_module

    slot_cls = getattr(engine_module, "_Slot", None) or engine_module.Slot
    source = inspect.getsource(slot_cls)
    assert "self.closing" in source
    assert "self._slot" in inspect.getsource(ExecutionEngine)

    class NoEngine:
        engine = None

    assert _compat.engine_closing(NoEngine())  # type: ignore[arg-type]
    # Before the crawl starts, Scrapy 2.19's Crawler.engine raises; 2.13's is None.
    assert _compat.engine_of(get_crawler(Spider)) is None
    assert _compat.engine_closing(get_crawler(Spider))


def test_accepted_encodings_is_what_httpcompression_sends() -> None:
    crawler = get_crawler(Spider)
    mw = HttpCompressionMiddleware.from_crawler(crawler)
    request = Request("https://example.com/")
    if _compat.LEGACY_SPIDER_ARGUMENT:  # pragma: no cover
        mw.process_request(request, crawler._create_spider("s"))
    else:
        mw.process_request(request)
    assert request.headers["Accept-Encoding"] == _compat.accepted_encodings()


def test_cookie_middleware_public_suffix_lookup_is_replaceable() -> None:
    from tldextract import TLDExtract

    assert isinstance(cookies._split_domain, TLDExtract)
    before = cookies._split_domain
    try:
        _compat.offline_public_suffixes()
        assert cookies._split_domain is not before
        assert cookies._split_domain("www.example.co.uk").suffix == "co.uk"
    finally:
        cookies._split_domain = before
