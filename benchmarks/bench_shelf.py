"""Shelf claims: what one look at a dead worker's shelf costs, whatever that shelf holds.

Run from the repository root:  python benchmarks/bench_shelf.py

Each row runs in its own process (a clean peak RSS) against a throw-away redis-server:
a dead worker's shelf is filled (honest entries written as a worker writes them, or
forged giants a Redis writer put there), then a worker looks until the shelf is empty.
Printed: looks needed, the most entries and bytes one look received, the process's peak
RSS (and its growth during the looks), the slowest look, and whether a Redis call timed
out. Target (not asserted by the suite): a few MiB per look whatever the shelf holds.
Before claims were bounded by bytes, 40 forged entries of 8 MiB came back in one reply:
the 1 s call timed out (the store fell back to memory), and with a longer timeout the
look took 3 s and the worker's peak RSS grew by 322 MiB, to 420 MiB.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from typing import Any

from harness import child_json, on_reactor, table

from scrapy_captcha.testing import RedisServer

PREFIX, QUEUE = "scrapy-captcha:", "s:requests"
CASES = {
    "40 forged entries of 8 MiB": ("forged", 40, 8 << 20),
    "40 honest entries of ~930 KB": ("honest", 40, 700_000),
    "1 200 honest small entries": ("honest", 1200, 100),
}


def fill(redis: RedisServer, kind: str, count: int, size: int) -> None:
    from scrapy import Request

    from scrapy_captcha.routes._routes import route_secret
    from scrapy_captcha.routes._shelf_entries import ShelfKeys, encode

    keys = ShelfKeys(route_secret("", {}), QUEUE)
    shelf = f"{PREFIX}parked:{QUEUE}:dead"
    for i in range(count):
        park_id = uuid.uuid4().hex
        if kind == "forged":
            blob = "x" * size
        else:
            request = Request(f"http://x/{i}", body=b"b" * size, dont_filter=True)
            blob = encode(request, None, keys, park_id, pickle_ok=True)
        redis.command("HSET", shelf, park_id, blob)
    redis.command("SADD", f"{PREFIX}parkers:{QUEUE}", "dead")


def child(url: str) -> None:
    """One worker looking until the dead shelf is gone; prints its measures as JSON."""

    async def run() -> dict[str, Any]:
        from scrapy import Spider  # (imported once the reactor is installed)
        from scrapy.utils.test import get_crawler

        from scrapy_captcha._context import Context
        from scrapy_captcha.routes._redis_link import RedisAddress, RedisLink
        from scrapy_captcha.routes._shelf import RedisShelf, Shelving
        from scrapy_captcha.settings import CaptchaSettings

        crawler = get_crawler()
        ctx = Context(crawler, CaptchaSettings.from_settings(crawler.settings))
        link = RedisLink(RedisAddress.parse(url))  # (the default 1 s timeout)
        shelf = RedisShelf(link, PREFIX, QUEUE)
        received: list[tuple[int, int]] = []
        original = shelf.claim

        async def claim(*args: Any) -> Any:
            got = await original(*args)
            if got:
                received.append((len(got[0]), sum(map(len, got[0].values()))))
            return got

        shelf.claim = claim  # type: ignore[method-assign]
        crawled: list[str] = []
        shelving = Shelving(ctx, shelf, 300.0, "me", engine_closing=lambda: False)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        shelving.open(Spider(name="x"), lambda request: crawled.append(request.url))
        slowest = looks = 0.0
        while looks < 100:
            started = time.monotonic()
            await shelving.look()
            slowest = max(slowest, time.monotonic() - started)
            looks += 1
            if not await link.call("EXISTS", shelf.shelf_key("dead")):
                break
        out = dict(
            looks=int(looks),
            entries=max((n for n, _ in received), default=0),
            bytes=max((b for _, b in received), default=0),
            rss=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024,
            peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            down=link.down,
            slowest=slowest,
            sent=len(crawled),
            oversized=ctx.stats.get_value("captcha/parked/oversized", 0),
        )
        await shelving.close()
        await link.close()
        return out

    print(json.dumps(on_reactor(run)))


def main() -> None:
    rows = []
    for name, (kind, count, size) in CASES.items():
        with RedisServer() as redis:
            fill(redis, kind, count, size)
            m = child_json(__file__, "--child", redis.url, timeout=600)
        rows.append(
            (
                name,
                str(m["looks"]),
                str(m["sent"]),
                str(m["oversized"]),
                str(m["entries"]),
                f"{m['bytes'] / (1 << 20):.1f}",
                f"{m['peak']:.0f} (+{m['rss']:.0f})",
                f"{m['slowest'] * 1000:.0f}",
                "yes" if m["down"] else "no",
            )
        )
    headers = (
        "dead shelf",
        "looks",
        "sent",
        "deleted in Redis",
        "max entries/look",
        "max MiB/look",
        "peak RSS MiB",
        "slowest look ms",
        "Redis timed out",
    )
    print(table(headers, rows))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
