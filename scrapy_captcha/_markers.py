"""The byte prefilter: does a page carry any widget marker at all?

Most pages carry none, so this is what every clean page costs; a hit only means "look
closer" (parse the page). Why anchored regexes and not one alternation or one search per
marker: CPython's ``re`` tries every position against an alternation of literals (about
7 ms per MB here), and one ``bytes.find`` per marker costs 0.3-0.45 ms per MB each; a
pattern that starts with one literal byte runs the fast prefix loop of ``re`` and tests
the alternatives only where that byte is (about 0.35 ms per MB). So the markers are
grouped by a byte they all contain, and each group is one such pattern:

- ``y``: the words a site key is kept under (``data-sitekey``, ``sitekey:``,
  ``site_key``, ``siteKey``, ``data-*-public-key``...);
- ``/``: the captcha APIs' and widgets' URLs (``/recaptcha/``, ``/turnstile/``,
  ``geetest.com/``, ``/gt4.js``), in a ``src``, a lazy loader's attribute, an injected
  string or an iframe.

Every widget :func:`~scrapy_captcha._widgets.find_widgets` reports carries one of them
(tests/test_corpus_widgets.py checks the corpus page by page).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from scrapy_captcha._encoding import is_wide, sniff_encoding

if TYPE_CHECKING:
    from scrapy_captcha._page import Page


def _anchored(anchor: bytes, markers: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """One pattern for markers that all contain ``anchor``: the anchor first (the fast
    prefix loop), then each marker checked around it with fixed-width lookarounds."""
    branches = []
    for marker in markers:
        at = marker.index(anchor)
        before, after = marker[: at + 1], marker[at + 1 :]
        branch = b"(?<=" + re.escape(before) + b")" if len(before) > 1 else b""
        if after:
            branch += b"(?=" + re.escape(after) + b")"
        branches.append(branch)
    return re.compile(re.escape(anchor) + b"(?:" + b"|".join(branches) + b")")


#: The words a site key is kept under, wherever it is (attribute, JS option, JSON).
KEY_WORDS: Final[tuple[bytes, ...]] = (
    b"sitekey",
    b"site_key",
    b"site-key",
    b"siteKey",
    b"publickey",
    b"public_key",
    b"public-key",
    b"publicKey",
)
#: Paths and hosts of the captcha APIs' scripts and widget frames.
API_PATHS: Final[tuple[bytes, ...]] = (
    b"/recaptcha/",
    b"/turnstile/",
    b"geetest.com/",
    b"/gt4.js",
)
_PATTERNS: Final = (_anchored(b"y", KEY_WORDS), _anchored(b"/", API_PATHS))


def window(page: Page) -> tuple[bytes, int]:
    """The bytes to search and where to stop: the body itself (no copy) up to the parse
    window, or the window re-encoded for a UTF-16/32 page."""
    from scrapy_captcha._page import MAX_PARSE_BYTES

    body = page.response.body
    if is_wide(sniff_encoding(page.response)):
        head = page.head()
        return head, len(head)
    return body, min(len(body), MAX_PARSE_BYTES)


def has_widget_markers(page: Page) -> bool:
    """Whether the page's window carries a widget marker (computed once per page)."""
    cached: bool | None = page.__dict__.get("_widget_markers")
    if cached is None:
        data, end = window(page)
        cached = any(p.search(data, 0, end) is not None for p in _PATTERNS)
        page.__dict__["_widget_markers"] = cached
    return cached
