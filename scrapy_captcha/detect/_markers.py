"""The byte prefilter: does a page carry any widget marker at all?

Most pages carry none, so this is what every clean page costs; a hit only means "look
closer" (parse the page). Why two anchored patterns and not one alternation or one search
per marker: CPython's ``re`` tries every position against an alternation of literals (about
7 ms per MB here), and one ``bytes.find`` per marker costs 0.3-0.45 ms per MB each; a
pattern that starts with a literal runs the fast prefix search of ``re`` and tests the
alternatives only where that literal is (0.3-0.5 ms per MB). So the markers are grouped by
a literal they all contain, and each group is one such pattern:

- ``key``: the words a site key is kept under (``data-sitekey``, ``sitekey:``,
  ``site_key``, ``data-*-public-key``...);
- ``cha``: the captcha APIs' and widgets' URLs and ids (``recaptcha/``,
  ``challenges.cloudflare.com/``, ``captcha_id`` / ``captchaId``), in a ``src``, a lazy
  loader's attribute, an injected string or an iframe.

Every widget :func:`~scrapy_captcha.detect._widgets.find_widgets` reports carries one of them
(tests/test_corpus_widgets.py checks the corpus page by page). Measured in
``benchmarks/bench_clean.py``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from scrapy_captcha.detect._encoding import is_wide, sniff_encoding
from scrapy_captcha.detect._page import MAX_PARSE_BYTES

if TYPE_CHECKING:
    from scrapy_captcha.detect._page import Page


#: The words a site key is kept under, wherever it is (attribute, JS option, JSON).
KEY_WORDS: Final[tuple[bytes, ...]] = (
    b"sitekey",
    b"site_key",
    b"site-key",
    b"publickey",
    b"public_key",
    b"public-key",
)
_KEY_WORDS: Final = re.compile(
    b"key(?:" + b"|".join(b"(?<=" + re.escape(w) + b")" for w in KEY_WORDS) + b")"
)
#: ``cha`` followed by what makes it a captcha API's URL or id: ``recaptcha/``,
#: ``hcaptcha/``..., ``challenges.cloudflare.com/`` (Turnstile's script and frames),
#: ``captcha_id`` / ``captchaId`` (GeeTest v4).
_API_WORDS: Final = re.compile(rb"cha(?=/|llenges\.cloudflare\.com/|_id|Id)")
_PATTERNS: Final = (_KEY_WORDS, _API_WORDS)


def window(page: Page) -> tuple[bytes, int]:
    """The bytes to search and where to stop: the body itself (no copy) up to the parse
    window, or the window re-encoded for a UTF-16/32 page."""
    body = page.response.body
    if is_wide(sniff_encoding(page.response)):
        head = page.head()
        return head, len(head)
    return body, min(len(body), MAX_PARSE_BYTES)


def has_widget_markers(page: Page) -> bool:
    """Whether the page's window carries a widget marker (computed once per page)."""
    cached: bool | None = page.memo.get("widget_markers")
    if cached is None:
        data, end = window(page)
        cached = any(p.search(data, 0, end) is not None for p in _PATTERNS)
        page.memo["widget_markers"] = cached
    return cached
