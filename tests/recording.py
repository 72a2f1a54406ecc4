"""The crawl the crawl tests run: ``RecordingSpider`` and the spec that drives it.

Shared by the two ways a test crawl runs: in the pytest process (``conftest.run_crawl``,
on the session's reactor) and in a subprocess (``tests/crawl_runner.py``, for the tests
where a process boundary is the point, and for the benchmarks).

The spec: ``{"reactor": "asyncio"|"twisted", "settings": {...}, "batches": [{"delay": s,
"requests": [{"url", "method", "body", "headers", "meta", "tag"}]}], "release": {"tag",
"count", "url"}, "download_async": [urls]}``. Batch N+1 starts when every request of batch
N has had its outcome, after ``delay`` seconds. A request with ``"api": {...}`` is parsed by
``parse_api``, which uses the spider API (``solve_widget`` / ``solve_image``) from an
``async def`` callback and submits the page's form itself.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import scrapy
from form2request import form2request
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task

REACTOR_CLASSES = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "twisted": "twisted.internet.selectreactor.SelectReactor",
}


class RecordingSpider(scrapy.Spider):
    name = "recording"

    def __init__(self, spec: dict[str, Any], out: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.out = out
        if spec.get("allowed_domains"):
            self.allowed_domains = list(spec["allowed_domains"])
        self.batches: list[dict[str, Any]] = spec.get("batches", [])
        self.pending: dict[int, int] = {}
        self.released = False
        #: direct fetches (engine.download_async) not finished yet: they keep the spider
        #: open (their coroutines may not have started when the engine first looks idle)
        self.direct_pending = 0
        self.t0 = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RecordingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        if spider.spec.get("record_signals"):
            # The add-on's own signals, counted in stats as "signals/<name>".
            from scrapy_captcha import signals as captcha_signals

            for name in vars(captcha_signals):
                if name.startswith("captcha_"):

                    def count(name: str = name, **kwargs: Any) -> None:
                        crawler.stats.inc_value(f"signals/{name}")

                    crawler.signals.connect(
                        count, signal=getattr(captcha_signals, name), weak=False
                    )
        return spider

    def _idle(self, **kwargs: Any) -> None:
        if self.direct_pending:
            raise DontCloseSpider

    def _dropped(self, request: scrapy.Request, **kwargs: Any) -> None:
        self.out["dropped"].append(request.url)

    async def start(self):  # type: ignore[override]
        # engine.download_async fetches run beside the crawl, as a robots.txt or media
        # pipeline fetch would: they wait for solves inline, not parked.
        for url in self.spec.get("download_async", []):
            self.direct_pending += 1
            deferred_from_coro(self._fetch_direct(url))
        for request in self._batch(0):
            yield request

    async def _fetch_direct(self, url: str) -> None:
        record: dict[str, Any] = {"url": url}
        try:
            engine = self.crawler.engine
            request = scrapy.Request(url)
            if hasattr(engine, "download_async"):
                response = await engine.download_async(request)
            else:  # Scrapy 2.13
                response = await maybe_deferred_to_future(engine.download(request))
            record.update(status=response.status, body=response.text[:4000])
        except Exception as exc:
            record.update(error=type(exc).__name__)
        finally:
            self.direct_pending -= 1
        self.out["download_async"].append(record)

    def _batch(self, index: int) -> list[scrapy.Request]:
        if index >= len(self.batches):
            return []
        requests = self.batches[index]["requests"]
        self.pending[index] = len(requests)
        return [self._request(r, index) for r in requests]

    def _request(self, r: dict[str, Any], batch: int) -> scrapy.Request:
        cb_kwargs: dict[str, Any] = {"tag": r.get("tag", ""), "batch": batch}
        if r.get("api"):
            cb_kwargs["api"] = r["api"]
        return scrapy.Request(
            r["url"],
            method=r.get("method", "GET"),
            body=r.get("body"),
            headers=r.get("headers"),
            meta=dict(r.get("meta", {})),
            callback=self.parse_api if r.get("api") else self.parse,
            errback=None if r.get("no_errback") else self.failed,
            cb_kwargs=cb_kwargs,
            dont_filter=r.get("dont_filter", False),
        )

    async def parse_api(
        self, response: scrapy.http.Response, tag: str, batch: int, api: dict[str, Any]
    ):
        """Get a token (or an image's text) through the spider API, then submit the form
        ``api["submit"]`` times with it."""
        from scrapy_captcha import CaptchaError, solve_image, solve_widget

        record: dict[str, Any] = {"tag": tag, "url": response.url}
        self.out["api"].append(record)
        formdata: dict[str, str] = {}
        try:
            if api["what"] == "none":  # the spider fills the form as if there were no captcha
                pass
            elif api["what"] == "widget":
                token = await solve_widget(self, response, action=api.get("action"))
                record.update(
                    kind=token.kind, task_id=token.task_id, fields=sorted(token.formdata)
                )
                formdata = token.formdata
            else:
                src = response.css(api["selector"]).attrib["src"]
                text = await solve_image(self, src)
                record["text_len"] = len(text)
                formdata = {api["field"]: text}
        except CaptchaError as exc:
            record.update(error=type(exc).__name__, reason=getattr(exc, "reason", None))
            for request in await self._done(batch):
                yield request
            return
        times = api.get("submit", 1)
        self.pending[batch] += times - 1
        captcha = api.get("captcha", {"widgets": "ignore"})
        for i in range(times):
            form = form2request(
                response.xpath(api["form"]), {**api.get("formdata", {}), **formdata}
            )
            yield form.to_scrapy(
                callback=self.parse,
                errback=self.failed,
                cb_kwargs={"tag": f"{tag}#{i}", "batch": batch},
                meta={**response.meta, "captcha": captcha},
                dont_filter=True,
            )

    async def _done(self, batch: int) -> list[scrapy.Request]:
        self.pending[batch] -= 1
        if self.pending[batch] or batch + 1 >= len(self.batches):
            return []
        delay = self.batches[batch + 1].get("delay", 0)
        if delay:
            from twisted.internet import reactor

            await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))
        return self._batch(batch + 1)

    def _maybe_release(self, tag: str) -> None:
        release = self.spec.get("release")
        if not release or self.released or tag != release["tag"]:
            return
        if sum(1 for p in self.out["pages"] if p["tag"] == tag) >= release["count"]:
            self.released = True
            self.out["released_at"] = len(self.out["pages"])
            urllib.request.urlopen(
                urllib.request.Request(release["url"], method="POST"), timeout=5
            )

    async def parse(self, response: scrapy.http.Response, tag: str, batch: int):
        text = response.text if isinstance(response, scrapy.http.TextResponse) else ""
        sel = scrapy.Selector(text=text) if text else None
        self.out["pages"].append(
            {
                "tag": tag,
                "batch": batch,
                "url": response.url,
                "status": response.status,
                "content": sel.css("#content::text").get() if sel else None,
                "posted": sel.css("#posted::text").get() if sel else None,
                "ctype": sel.css("#ctype::text").get() if sel else None,
                "title": sel.css("title::text").get() if sel else None,
                "gate_error": sel.css(".error::text").get() if sel else None,
                "method": response.request.method,
                "result": response.meta.get("captcha_result"),
                "proxy": response.meta.get("proxy"),
                "user_agent": (response.request.headers.get("User-Agent") or b"").decode(),
                "cf_mitigated": (response.headers.get("cf-mitigated") or b"").decode(),
                "cookiejar": response.meta.get("cookiejar"),
                "t": time.monotonic() - self.t0,
            }
        )
        self._maybe_release(tag)
        for request in await self._done(batch):
            yield request

    async def failed(self, failure: Any):
        from scrapy_captcha import CaptchaUnsolved

        failed = failure.request
        exc = failure.value
        if isinstance(exc, CaptchaUnsolved):
            # A page the add-on could not get past: its errback gets the page and why.
            page = exc.response
            text = page.text if isinstance(page, scrapy.http.TextResponse) else ""
            sel = scrapy.Selector(text=text) if text else None
            self.out["unsolved"].append(
                {
                    "tag": failed.cb_kwargs.get("tag", ""),
                    "url": failed.url,
                    "reason": exc.reason,
                    "kind": exc.kind,
                    "status": page.status if page is not None else None,
                    "title": sel.css("title::text").get() if sel else None,
                    "result": exc.result,
                    "message": str(exc)[:300],
                }
            )
        else:
            self.out["errors"].append(
                {
                    "tag": failed.cb_kwargs.get("tag", ""),
                    "url": failed.url,
                    "error": type(exc).__name__,
                    "message": str(exc)[:300],
                }
            )
        for request in await self._done(failed.cb_kwargs.get("batch", 0)):
            yield request


def new_out() -> dict[str, Any]:
    """What a crawl records (the fields of ``conftest.CrawlResult`` but the log)."""
    return {
        "pages": [],
        "errors": [],
        "unsolved": [],
        "dropped": [],
        "download_async": [],
        "api": [],
        "stats": {},
        "reason": None,
    }


def crawl_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """The crawl's settings: the test defaults, then the spec's own."""
    return {
        "TWISTED_REACTOR": REACTOR_CLASSES[spec.get("reactor", "asyncio")],
        "ADDONS": {"scrapy_captcha.Addon": 500},
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "CAPTCHA_POLL_INTERVAL": 0.1,
        # (run_crawl gives each test's crawl a file store of its own; elsewhere memory)
        "CAPTCHA_CACHE_URL": "memory://",
        "CAPTCHA_SOLVE_TIMEOUT": 30,
        "CLOSESPIDER_TIMEOUT": spec.get("closespider_timeout", 90),
        "RETRY_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": True,
        **spec.get("settings", {}),
    }


def record_reason(crawler: Any, out: dict[str, Any]) -> None:
    """Record the spider's close reason in ``out["reason"]``."""

    def closed(spider: Any, reason: str) -> None:
        out["reason"] = reason

    crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)


def crawl_and_record(
    spider_cls: type[scrapy.Spider],
    settings: dict[str, Any],
    record: dict[str, Any],
    out_path: str,
    **spider_kwargs: Any,
) -> None:
    """Run one crawl in this process (``CrawlerProcess``: the process boundary is the
    point) and write ``record`` with its close reason and stats to ``out_path`` as JSON."""
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider_cls)
    record_reason(crawler, record)
    process.crawl(crawler, **spider_kwargs)
    process.start()
    record_stats(crawler, record)
    with open(out_path, "w") as f:
        json.dump(record, f)


def record_stats(crawler: Any, out: dict[str, Any]) -> None:
    """Copy the crawl's stats into ``out["stats"]`` as JSON-safe values."""
    out["stats"] = {
        k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
        for k, v in crawler.stats.get_stats().items()
    }
