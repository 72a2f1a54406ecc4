"""A first crawl, offline: the spider of shop_spider.py against the emulators of
``scrapy_captcha.testing`` (a Cloudflare-like site, a forward proxy and a solver service,
all on loopback; no account, no internet).

Run it from this directory:  python first_crawl.py
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess

from scrapy_captcha.testing import EmulatorStack, offline_public_suffixes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shop_spider import ShopSpider

URLS = [
    "http://shop.example/product/1",  # behind a Cloudflare managed challenge
    "http://shop.example/product/2",  # same site and proxy: the same clearance
    "http://gates.example/gate/turnstile/news",  # a "verify you are human" Turnstile form
    "http://denied.example/product/1",  # a Cloudflare block (error 1020): no solve helps
]


def main() -> None:
    offline_public_suffixes()  # no download of the public suffix list
    items: list[dict[str, Any]] = []
    with EmulatorStack() as stack:
        stack.site.add_host("shop.example", "managed")
        stack.site.add_host("gates.example", "open")
        stack.site.add_host("denied.example", "block_1020")
        process = CrawlerProcess(
            {
                "ADDONS": {"scrapy_captcha.Addon": 500},
                # CAPTCHA_PROVIDER, CAPTCHA_API_KEY and the emulated service's URL
                **stack.scrapy_settings("capsolver"),
                # a clearance is bound to the exit IP: every site goes through a proxy
                "CAPTCHA_DOMAIN_PROXIES": {
                    host: stack.proxy_a.url
                    for host in ("shop.example", "gates.example", "denied.example")
                },
                "CAPTCHA_CACHE_URL": "memory://",  # (the emulators' ports change every run)
                "CAPTCHA_POLL_INTERVAL": 0.5,  # a loopback solver; real services want 3 s
                "ROBOTSTXT_OBEY": False,
                "LOG_LEVEL": "WARNING",
            }
        )
        crawler = process.create_crawler(ShopSpider)

        def collect(item: dict[str, Any], **kwargs: Any) -> None:
            items.append(item)

        crawler.signals.connect(collect, signals.item_scraped)
        process.crawl(crawler, urls=",".join(URLS))
        process.start()
        print(f"solver tasks: {len(stack.solver.tasks)}")
    for item in sorted(items, key=lambda i: i["url"]):
        print(json.dumps(item, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
