"""Make a Scrapy crawl fully offline-safe for tests and demos."""

from __future__ import annotations


def offline_public_suffixes() -> None:
    """Scrapy's cookie middleware downloads the public suffix list on first use and logs
    a traceback when there is no internet. Point it at the snapshot tldextract ships, so
    offline test crawls stay quiet. Call before starting the crawl."""
    from scrapy.downloadermiddlewares import cookies
    from tldextract import TLDExtract

    cookies._split_domain = TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)
