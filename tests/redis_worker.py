"""One scrapy-redis worker: a ``RedisSpider`` reading its start URLs from a Redis list, with
scrapy-redis's scheduler and dupefilter (one queue shared by every worker) and the add-on
storing clearances in the same Redis. What a Scrapy user runs on each machine.

Every delivered page is pushed to a Redis list at once (``<name>:delivered``), so what a
worker delivered before it was SIGKILLed is counted too. At exit the crawl's stats go to
``OUT.json``. Usage: ``python redis_worker.py SPEC.json OUT.json``; the spec holds
``settings`` (the add-on's, with ``CAPTCHA_CACHE_URL``), ``reactor`` and ``name``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import redis
from scrapy import Request
from scrapy.http import Response
from scrapy_redis.spiders import RedisSpider

from recording import crawl_and_record, crawl_settings, new_out
from scrapy_captcha.testing import offline_public_suffixes


class WorkerSpider(RedisSpider):
    """Start URLs come from ``<name>:start_urls`` as JSON ``{"url", "proxy", "headers"}``."""

    name = "workers"
    worker = ""

    def make_request_from_data(self, data: bytes) -> Request:
        item = json.loads(data)
        meta, headers = {"proxy": item["proxy"]}, item.get("headers")
        return Request(item["url"], meta=meta, headers=headers, dont_filter=True)

    def parse(self, response: Response) -> Iterator[Any]:
        link: redis.Redis = self.server  # scrapy-redis's own connection
        record = {"url": response.url, "status": response.status, "worker": self.worker}
        link.rpush(f"{self.name}:delivered", json.dumps(record))
        yield {"url": response.url}


def main(spec_path: str, out_path: str) -> None:
    offline_public_suffixes()
    with open(spec_path) as f:
        spec = json.load(f)
    out = new_out()
    redis_url = spec["settings"]["CAPTCHA_CACHE_URL"]
    settings = {
        **crawl_settings(spec),
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "MAX_IDLE_TIME_BEFORE_CLOSE": spec.get("max_idle", 3),
        "REDIS_START_URLS_BATCH_SIZE": spec.get("batch", 4),
        "REDIS_START_URLS_KEY": spec.get("start_key", "%(name)s:start_urls"),
        **spec["settings"],
    }
    WorkerSpider.worker = spec["name"]
    crawl_and_record(WorkerSpider, settings, out, out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
