"""Offline demo: the example project's spider against the emulators, no account needed.

Run from the repository root:  python example_project/demo.py

It starts a Cloudflare-like site, two forward proxies and a solver on loopback, crawls
three shops (one behind a managed challenge through an open proxy, one behind a legacy
"I'm Under Attack" page through an authenticated proxy, one ordinary Cloudflare-hosted
shop) plus a blocked one, and pages behind captcha gates ("verify you are human, then
continue" forms with a Turnstile, a reCAPTCHA v2 and a reCAPTCHA v3), and logs in to two
accounts whose login forms carry a Turnstile and a reCAPTCHA (the AccountSpider knows
nothing of captchas: the add-on fills the token in when the login leaves), and prints what
happened.

Then it makes three mistakes a first crawl makes, and shows what each costs the user: a
typo in the service chain (the crawl does not start: an error naming the setting and the
service meant), a dead API key (one ERROR, and the crawl closes with a reason instead of
losing every page), and a gate no service in the chain can solve (the page goes to the
spider's errback as ``CaptchaUnsolved``, never to its callback as if it were content).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.utils.project import get_project_settings

from scrapy_captcha.testing import ACCOUNT, EmulatorStack, offline_public_suffixes

SHOPS = {
    "shop.example": ("managed", "proxy_a"),
    "legacy.example": ("legacy", "proxy_b"),
    "open.example": ("open", "proxy_a"),
    "denied.example": ("block_1020", "proxy_a"),
}
PAGES = {"shop.example": 30, "legacy.example": 15, "open.example": 10, "denied.example": 2}
#: gate pages on gates.example: the spider's callback gets the page behind each
GATES = ["turnstile", "recaptcha-v2", "recaptcha-v3"]
#: login pages with a Turnstile and a reCAPTCHA: the AccountSpider fills them, the add-on
#: fills the token in when the login leaves
LOGINS = ["turnstile", "recaptcha-v2"]
#: a gate whose captcha (hCaptcha) the demo's service has no task for: unsolved
UNSOLVABLE = "http://gates.example/gate/hcaptcha/article-hcaptcha"


def main() -> None:
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "shop.settings")
    offline_public_suffixes()
    items: list[dict[str, Any]] = []
    with EmulatorStack(solve_latency=1.0) as stack:
        proxies = {
            "proxy_a": stack.proxy_a.url,
            "proxy_b": stack.proxy_b.url_with("alice", "s3cret"),
        }
        for host, (mode, _) in SHOPS.items():
            stack.site.add_host(host, mode)
        stack.site.add_host("gates.example", "open")
        settings = get_project_settings()
        settings.setdict(
            {
                **stack.scrapy_settings("1captcha", api_key="test-key"),
                "CAPTCHA_POLL_INTERVAL": 0.5,  # loopback emulator; real providers want 3 s
                "CAPTCHA_CACHE_URL": "memory://",  # (the emulators' ports change every run)
                "CAPTCHA_DOMAIN_PROXIES": {
                    "gates.example": proxies["proxy_a"],
                    **{h: proxies[p] for h, (_, p) in SHOPS.items()},
                },
                "ROBOTSTXT_OBEY": False,
                "LOG_LEVEL": "WARNING",
                "TELNETCONSOLE_ENABLED": False,
            },
            priority="cmdline",
        )
        # Show the add-on's own story at INFO and only Scrapy's warnings.
        story = logging.StreamHandler()
        story.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s"))
        captcha_logger = logging.getLogger("scrapy_captcha")
        captcha_logger.setLevel(logging.INFO)
        captcha_logger.addHandler(story)
        captcha_logger.propagate = False
        process = CrawlerProcess(settings)
        crawler = process.create_crawler("catalog")

        def collect(item: dict[str, Any], **kwargs: Any) -> None:
            items.append(item)

        crawler.signals.connect(collect, signal=signals.item_scraped)
        # A login written as if there were no captcha (fill on submit).
        logins = process.create_crawler("account")
        logins.signals.connect(collect, signal=signals.item_scraped)
        started = time.monotonic()
        process.crawl(
            crawler,
            sites=",".join(f"http://{host}" for host in PAGES),
            pages=",".join(str(n) for n in PAGES.values()),
            urls=",".join(
                [
                    *(f"http://gates.example/gate/{kind}/article-{kind}" for kind in GATES),
                    UNSOLVABLE,
                ]
            ),
        )
        process.crawl(
            logins,
            logins=",".join(f"http://gates.example/account/{k}/demo" for k in LOGINS),
            username=ACCOUNT["username"],
            password=ACCOUNT["password"],
        )
        seen = mistakes(process, stack, proxies["proxy_a"])
        process.start()
        elapsed = time.monotonic() - started
        report(items, stack, elapsed, crawler.stats.get_stats())
        print()
        print("A first crawl's mistakes, and what the user is told:")
        print("-" * 72)
        for case in MISTAKES:
            print(f"{case}:\n  {seen.get(case, '(nothing: a quiet failure)')}")


#: a first crawl's mistakes, each run as a crawl of its own beside the demo's
MISTAKES: dict[str, dict[str, Any]] = {
    "a typo in CAPTCHA_PROVIDERS": {"CAPTCHA_PROVIDERS": "1captcha,capsolvr"},
    "a dead API key": {"CAPTCHA_API_KEY": "wrong-key"},
    "a gate no service of the chain can solve": {},
}


class ErrorLines(logging.Handler):
    """The add-on's ERROR lines about one crawler's spider (its records carry it)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(logging.ERROR)
        self.crawler = crawler
        self.lines: list[str] = []
        logging.getLogger("scrapy_captcha").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "spider", None) is getattr(self.crawler, "spider", False):
            self.lines.append(record.getMessage())


def mistakes(process: CrawlerProcess, stack: EmulatorStack, proxy: str) -> dict[str, str]:
    """Schedule a crawl per mistake; the returned dict fills in with what each told."""
    from shop.spiders.catalog import CatalogSpider

    from scrapy_captcha import ConfigurationError

    base = {
        **stack.scrapy_settings("1captcha", api_key="test-key"),
        "CAPTCHA_DOMAIN_PROXIES": {"shop.example": proxy, "gates.example": proxy},
        "CAPTCHA_CACHE_URL": "memory://",
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "CRITICAL",
        "TELNETCONSOLE_ENABLED": False,
    }
    seen: dict[str, str] = {}
    for case, settings in MISTAKES.items():
        own = process.settings.copy()
        # (above "cmdline": CrawlerProcess.crawl() applies its own settings to a Crawler)
        own.setdict({**base, **settings}, priority=50)
        crawler = Crawler(CatalogSpider, own)
        items: list[dict[str, Any]] = []
        crawler.signals.connect(
            lambda item, items=items, **kw: items.append(item),
            signal=signals.item_scraped,
            weak=False,
        )

        errors = ErrorLines(crawler)

        def closed(
            reason: str, case: str = case, items: list = items, errors=errors, **kw: Any
        ) -> None:
            lost = [i for i in items if i.get("unsolved")]
            seen[case] = f"the crawl closed ({reason})" + (
                f"; errback: CaptchaUnsolved({lost[0]['unsolved']}) on {lost[0]['url']}"
                if lost
                else ""
            )
            if errors.lines:
                seen[case] += f"; the last ERROR line: {errors.lines[-1]}"

        def failed(failure: Any, case: str = case) -> None:
            if failure.check(ConfigurationError):
                seen[case] = f"the crawl did not start: {failure.value}"
            else:
                seen[case] = f"failed: {failure.value!r}"

        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
        pages = "3" if case == "a dead API key" else "0"
        urls = UNSOLVABLE if case.startswith("a gate") else ""
        process.crawl(crawler, sites="http://shop.example", pages=pages, urls=urls).addErrback(
            failed
        )
    return seen


def report(
    items: list[dict[str, Any]], stack: EmulatorStack, elapsed: float, stats: dict[str, Any]
) -> None:
    by_host: dict[str, Counter[str]] = {}
    for item in items:
        host = item["url"].split("/")[2]
        c = by_host.setdefault(host, Counter())
        c["pages"] += 1
        c[f"http {item['status']}"] += 1
        result = item["captcha"] or {}
        if item.get("logged_in"):
            c[f"logged in ({result.get('kind')} filled on submit)"] += 1
        elif result.get("submitted"):
            c[f"through a {result['kind']} gate"] += 1
        elif result.get("solved"):
            c["via clearance"] += 1
        elif item.get("unsolved"):
            c[f"to the errback: CaptchaUnsolved ({item['unsolved']})"] += 1
        elif result.get("kind"):
            c[f"left to the spider ({result.get('reason')})"] += 1
    print()
    print(f"scrapy-captcha demo: crawl finished in {elapsed:.1f} s")
    print("-" * 72)
    print(f"{'site':<16} {'challenge':<11} {'pages':>5}  outcome")
    for host, mode in [*((h, m) for h, (m, _) in SHOPS.items()), ("gates.example", "widgets")]:
        c = by_host.get(host, Counter())
        detail = ", ".join(f"{v} {k}" for k, v in sorted(c.items()) if k != "pages")
        print(f"{host:<16} {mode:<11} {c['pages']:>5}  {detail}")
    print("-" * 72)
    tasks = stack.solver.tasks
    print(
        f"solver tasks created: {len(tasks)} (one per protected site and proxy, "
        "one per captcha gate)"
    )
    for t in tasks:
        print(f"  task {t.id}: {t.type} for {t.task.get('websiteURL')} -> {t.status}")
    print(
        f"site challenges served: {stack.site.count('challenge')}, "
        f"pages served: {stack.site.count('page')}, blocks: {stack.site.count('block')}"
    )
    print(
        "add-on stats: "
        + ", ".join(
            f"{k.removeprefix('captcha/')}={round(v, 2) if isinstance(v, float) else v}"
            for k, v in sorted(stats.items())
            if k.startswith("captcha/")
        )
    )
    print(
        "Every page of the protected shops arrived, the gated pages arrived as the pages "
        "behind their gates, and the blocked shop and the unsolvable gate went to the "
        "spider's errback (CaptchaUnsolved), never to its callback."
    )


if __name__ == "__main__":
    main()
