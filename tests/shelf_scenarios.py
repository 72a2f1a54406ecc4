"""Shelf scenarios (requests waiting for a solve, kept in Redis for a shared queue), each
run in its own process under a real reactor against a real redis-server.

The races here (a Redis blip between two claims, a claim whose reply is lost after Redis
ran it, a look still running while the worker closes, a take that fails) cannot be timed
from outside a crawl, so the real ``Shelving`` / ``RedisShelf`` / ``RedisLink`` are driven
directly; a link that fails one chosen script call stands for the blip. The whole worker is
tested in ``test_workers.py``. Usage: ``python shelf_scenarios.py REACTOR SCENARIO``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

# (run as a script, under coverage too: its neighbours are not on the path by themselves)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_scenarios import main, until

PREFIX = "scrapy-captcha:"
QUEUE = "s:requests"


_SPIDER: list[Any] = []


def spider() -> Any:
    """The crawl's spider (made once the reactor is installed)."""
    if not _SPIDER:
        from scrapy import Spider

        class S(Spider):
            name = "s"

            def parse(self, response: Any) -> None:
                pass

        _SPIDER.append(S())
    return _SPIDER[0]


def request(path: str) -> Any:
    from scrapy import Request

    return Request(f"http://x/{path}", callback=spider().parse, dont_filter=True)


def flaky_link(url: str, script: str, nth: int, *, after: bool = False) -> Any:
    """A link whose ``nth`` call of ``script`` fails: before Redis runs it, or ``after``
    (the reply is lost)."""
    from scrapy_captcha._redis_link import RedisAddress, RedisLink, RedisUnavailable

    class Flaky(RedisLink):
        seen = 0

        async def call(self, *args: Any) -> Any:
            if args[:2] == ("EVAL", script):
                self.seen += 1
                if self.seen == nth:
                    if after:
                        await super().call(*args)
                    raise RedisUnavailable("simulated blip")
            return await super().call(*args)

    return Flaky(RedisAddress.parse(url))


class Worker:
    """A Shelving as a worker's Coordination builds it, its crawl() recorded."""

    def __init__(self, url: str, link: Any = None, queue: str = QUEUE, **settings: Any) -> None:
        from scrapy.utils.test import get_crawler

        from scrapy_captcha._context import Context
        from scrapy_captcha._redis_link import RedisAddress, RedisLink
        from scrapy_captcha._shelf import RedisShelf, Shelving
        from scrapy_captcha.settings import CaptchaSettings

        crawler = get_crawler(type(spider()), settings_dict=settings)
        self.ctx = Context(crawler, CaptchaSettings.from_settings(crawler.settings))
        self.link = link or RedisLink(RedisAddress.parse(url))
        self.crawled: list[str] = []
        self.closed = False
        self.shelving = Shelving(
            self.ctx,
            RedisShelf(self.link, PREFIX, queue),
            300.0,  # the loop's first look is at open(); the scenario drives the rest
            uuid.uuid4().hex[:16],
            engine_closing=lambda: self.closed,
        )
        self.shelving.open(spider(), self.crawl)

    def crawl(self, request: Any) -> None:
        assert not self.closed, "crawl() after close"
        self.crawled.append(request.url)

    def stat(self, name: str) -> int:
        return int(self.ctx.stats.get_value(f"captcha/{name}", 0))

    async def close(self) -> None:
        self.closed = True
        await self.shelving.close()
        await self.link.close()


def dead_shelf(redis: Any, worker: str, *paths: str) -> None:
    from scrapy_captcha._shelf import _encode

    for path in paths:
        blob = _encode(request(path), spider())
        redis.command("HSET", f"{PREFIX}parked:{QUEUE}:{worker}", uuid.uuid4().hex, blob)
    redis.command("SADD", f"{PREFIX}parkers:{QUEUE}", worker)


def shelved(redis: Any) -> dict[str, int]:
    return {
        key.rsplit(":", 1)[1]: int(redis.command("HLEN", key))
        for key in redis.command("KEYS", f"{PREFIX}parked:*")
    }


# -- scenarios ---------------------------------------------------------------------------


async def claim_blip() -> dict[str, Any]:
    """Two dead shelves; the second claim fails before Redis runs it: the first shelf's
    request is scheduled, the second shelf stays for the next look, which takes it."""
    from scrapy_captcha._shelf import _CLAIM
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        dead_shelf(redis, "dead1", "a")
        dead_shelf(redis, "dead2", "b")
        w = Worker(redis.url, link=flaky_link(redis.url, _CLAIM, 2))
        await w.shelving.look()  # the first look, at open()
        first = sorted(w.crawled)
        left = sorted(k for k in shelved(redis) if k.startswith("dead"))  # not yet claimed
        await w.shelving.look()
        assert sorted(w.crawled) == ["http://x/a", "http://x/b"], w.crawled
        assert await until(lambda: shelved(redis) == {})  # (taken off after scheduling)
        await w.close()
        return {"first_look": first, "left_after_first_look": left}


async def claim_reply_lost() -> dict[str, Any]:
    """Redis moved a dead shelf onto this worker's, but the reply was lost: the requests
    are on this worker's shelf, so when it stops the next worker sends them. Never lost."""
    from scrapy_captcha._shelf import _CLAIM
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        dead_shelf(redis, "dead", "a", "b")
        w = Worker(
            redis.url, link=flaky_link(redis.url, _CLAIM, 1, after=True), SCHEDULER_PERSIST=True
        )
        await w.shelving.look()
        assert w.crawled == []
        assert list(shelved(redis).values()) == [2]
        assert w.shelving.worker in shelved(redis)
        await w.close()  # SCHEDULER_PERSIST: left for the next worker
        nxt = Worker(redis.url, SCHEDULER_PERSIST=True)
        await nxt.shelving.look()
        assert sorted(nxt.crawled) == ["http://x/a", "http://x/b"]
        assert nxt.stat("parked/recovered") == 2
        assert await until(lambda: shelved(redis) == {})
        await nxt.close()
        return {"recovered": nxt.crawled}


async def close_while_looking() -> dict[str, Any]:
    """A look still waiting on Redis when the worker closes: nothing is scheduled after
    close, and what it claimed stays on a shelf for the next worker: sent exactly once."""
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        w = Worker(redis.url, SCHEDULER_PERSIST=True)
        await w.shelving.look()  # (the one at open(), before the dead shelf exists)
        dead_shelf(redis, "dead", "r")
        from scrapy.utils.defer import deferred_from_coro

        looking = deferred_from_coro(w.shelving.tick())
        await w.close()
        from scrapy.utils.defer import maybe_deferred_to_future

        await maybe_deferred_to_future(looking)
        assert w.crawled == []
        nxt = Worker(redis.url)
        await nxt.shelving.look()
        assert nxt.crawled == ["http://x/r"], nxt.crawled
        await nxt.close()
        return {"first": w.crawled, "next": nxt.crawled}


async def take_blip() -> dict[str, Any]:
    """A take that fails is retried at the next look: no stale entry keeps another
    worker open, and nothing already sent is sent again."""
    from scrapy_captcha._shelf import _TAKE
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        a = Worker(redis.url, link=flaky_link(redis.url, _TAKE, 1))
        b = Worker(redis.url)
        req = request("page")
        a.shelving.put(req)
        assert await until(lambda: a.shelving.worker in shelved(redis))
        a.shelving.taken([req])  # (scheduled again: delivered)
        assert await until(lambda: a.stat("parked/redis_unavailable") == 1)  # the blip
        stale = dict(shelved(redis))
        await b.shelving.tick()
        others_before = b.shelving.others
        await a.shelving.tick()  # retries the take
        await b.shelving.tick()
        assert b.shelving.others == 0
        await a.close()
        await b.shelving.tick()
        assert b.crawled == []
        assert shelved(redis) == {}
        await b.close()
        return {"stale": stale, "others_before": others_before}


async def not_persisted() -> dict[str, Any]:
    """scrapy-redis flushes its queue at close unless SCHEDULER_PERSIST (off by default):
    the shelf goes with it, and a request waiting at close is dropped, not kept."""
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        w = Worker(redis.url)
        req = request("p")
        w.shelving.put(req)
        assert await until(lambda: w.shelving.worker in shelved(redis))
        assert w.shelving.persist is False
        assert w.shelving.keep(req) is False
        await w.close()
        assert shelved(redis) == {}
        assert redis.command("SMEMBERS", f"{PREFIX}parkers:{QUEUE}") in ([], set())
        return {"persist": w.shelving.persist}


async def queues_apart() -> dict[str, Any]:
    """Two crawls sharing one Redis (different queues): neither takes the other's
    shelves, nor stays open for them."""
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        dead_shelf(redis, "dead", "theirs")
        w = Worker(redis.url, queue="other:requests")
        await w.shelving.look()
        assert w.crawled == [] and w.shelving.others == 0
        assert "dead" in shelved(redis)
        await w.close()
        return {"crawled": w.crawled}


async def big_shelf() -> dict[str, Any]:
    """A dead worker left 1 200 requests: each look moves at most CLAIM_BATCH of them (the
    work per look, and Redis's script, stay bounded); three looks send them all, once."""
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        dead_shelf(redis, "dead", *(f"p{i}" for i in range(1200)))
        w = Worker(redis.url)
        await w.shelving.look()  # the first look
        per_look = [len(w.crawled)]
        for _ in range(2):
            await w.shelving.look()
            per_look.append(len(w.crawled))
        assert len(set(w.crawled)) == len(w.crawled) == 1200
        assert await until(lambda: shelved(redis) == {})
        await w.close()
        return {"per_look": per_look}


SCENARIOS: dict[str, Any] = {
    f.__name__: f
    for f in (
        claim_blip,
        claim_reply_lost,
        close_while_looking,
        take_blip,
        not_persisted,
        queues_apart,
        big_shelf,
    )
}


async def every() -> dict[str, Any]:
    """Every scenario in turn, in this one process (one interpreter start for all): what
    each returned, or the assertion it failed."""
    import traceback

    out: dict[str, Any] = {}
    for name, scenario in list(SCENARIOS.items()):
        if scenario is every:
            continue
        try:
            out[name] = await scenario()
        except Exception:
            out[name] = {"failed": traceback.format_exc()[-3000:]}
    return out


SCENARIOS["every"] = every


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], SCENARIOS)
