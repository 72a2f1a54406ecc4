"""Make a Scrapy crawl fully offline-safe for tests and demos."""

from __future__ import annotations

from scrapy_captcha._compat import offline_public_suffixes as _offline


def offline_public_suffixes() -> None:
    """Scrapy's cookie middleware downloads the public suffix list on first use and logs
    a traceback when there is no internet. Point it at the snapshot tldextract ships, so
    offline test crawls stay quiet. Call before starting the crawl."""
    _offline()
