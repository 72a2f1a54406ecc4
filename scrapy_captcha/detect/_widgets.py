"""Find captcha widgets (Turnstile, reCAPTCHA, hCaptcha, GeeTest v4, MTCaptcha, Friendly
Captcha) and captcha images in HTML pages.

Pure functions of one response, like ``_detection.py``: no I/O. A widget is the real thing
a browser would render: an element carrying a site key, a captcha API script together with
the call that renders or executes it, a plugin's configuration with the key its script
renders, or the widget's own iframe on an already rendered page. Prose about reCAPTCHA,
escaped code samples, markup inside ``<pre>``/``<code>``/``<template>``/``<textarea>`` and
scripts that merely mention the words are not widgets.

Bounded by construction: a byte scan decides whether a page is parsed at all; a parsed page
costs a fixed number of passes in C (XPath queries, one regex per kind of marker over the
inline script) and a bounded number of Python steps (:class:`~scrapy_captcha.detect._scan.Steps`):
elements, calls and script tags are looked at up to a cap whether they turn out to be
widgets or not. Pages above :data:`THREAD_BYTES` can be read off the reactor thread with
:func:`find_widgets_async`.
"""

from __future__ import annotations

from typing import Any, Final

from scrapy.http import Response
from twisted.python.threadpool import ThreadPool

from scrapy_captcha._compat import installed_reactor
from scrapy_captcha.detect._markers import has_widget_markers
from scrapy_captcha.detect._page import Page, html_page
from scrapy_captcha.detect._widget import Found, Widget
from scrapy_captcha.detect._widget_config import configured_widgets
from scrapy_captcha.detect._widget_facts import MAX_ELEMENTS, MAX_WIDGETS, Facts
from scrapy_captcha.detect._widget_readers import (
    element_widgets,
    geetest_widgets,
    iframe_widgets,
    rendered_widgets,
    v3_widgets,
)

__all__ = [
    "MAX_ELEMENTS",
    "MAX_WIDGETS",
    "THREAD_BYTES",
    "Widget",
    "find_widgets",
    "find_widgets_async",
]

#: Pages with more bytes than this that carry widget markers are read in a thread by
#: :func:`find_widgets_async`: parsing costs about 1 ms per 70 KB and a hostile page of a
#: few hundred KB can cost 15-20 ms, which adds up when many arrive at once.
THREAD_BYTES: Final = 32 * 1024


def find_widgets(response: Response | Page) -> list[Widget]:
    """Every captcha widget on an HTML page, in the order they were declared (elements,
    iframes, render calls, configuration, then v3 scripts). Returns ``[]`` quickly for
    pages without widget markup."""
    page = html_page(response)
    if page is None or not has_widget_markers(page):
        return []
    done: list[Widget] | None = page.memo.get("widgets")
    if done is None:  # (read once per page: the budget is the page's, not the call's)
        facts = Facts(page)
        found = Found(page, facts)
        element_widgets(page, facts, found)
        iframe_widgets(page, facts, found)
        rendered_widgets(page, facts, found)
        geetest_widgets(page, facts, found)
        v3_widgets(page, facts, found)
        configured_widgets(page, facts, found)
        done = page.memo["widgets"] = found.widgets
    return list(done)


async def find_widgets_async(response: Response | Page) -> list[Widget]:
    """:func:`find_widgets`, in a thread for pages above :data:`THREAD_BYTES` that carry
    widget markers, inline otherwise. Parsing and XPath release the GIL; the thread pool
    has one thread, so that however many large pages arrive at once, one parse at a time
    competes with the reactor for the GIL. Works under either reactor; the Page it fills is
    used by one thread at a time."""
    page = html_page(response)
    if page is None:
        return []
    if len(page.response.body) <= THREAD_BYTES or not has_widget_markers(page):
        return find_widgets(page)
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet.threads import deferToThreadPool

    reactor = installed_reactor()
    return await maybe_deferred_to_future(
        deferToThreadPool(reactor, _parser_pool(reactor), find_widgets, page)
    )


_POOL: list[ThreadPool] = []


def _parser_pool(reactor: Any) -> ThreadPool:
    """The process's one widget-parsing thread, stopped with the reactor."""
    if not _POOL:
        pool = ThreadPool(minthreads=0, maxthreads=1, name="scrapy-captcha-widgets")
        pool.start()
        reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
        _POOL.append(pool)
    return _POOL[0]
