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
    from scrapy_captcha.routes._redis_link import RedisAddress, RedisLink, RedisUnavailable

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

    def __init__(
        self,
        url: str,
        link: Any = None,
        queue: str = QUEUE,
        keep_requests: bool = False,
        **settings: Any,
    ) -> None:
        from scrapy.utils.test import get_crawler

        from scrapy_captcha._context import Context
        from scrapy_captcha.routes._redis_link import RedisAddress, RedisLink
        from scrapy_captcha.routes._shelf import RedisShelf, Shelving
        from scrapy_captcha.settings import CaptchaSettings

        crawler = get_crawler(type(spider()), settings_dict=settings)
        self.ctx = Context(crawler, CaptchaSettings.from_settings(crawler.settings))
        self.link = link or RedisLink(RedisAddress.parse(url))
        self.crawled: list[str] = []
        self.requests: list[Any] = []
        self.keep_requests = keep_requests
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
        if self.keep_requests:
            self.requests.append(request)

    def stat(self, name: str) -> int:
        return int(self.ctx.stats.get_value(f"captcha/{name}", 0))

    async def close(self) -> None:
        self.closed = True
        await self.shelving.close()
        await self.link.close()


def keys(queue: str = QUEUE) -> Any:
    """The entry keys of this crawl's workers (the default settings: no API key)."""
    from scrapy_captcha.routes._routes import route_secret
    from scrapy_captcha.routes._shelf_entries import ShelfKeys

    return ShelfKeys(route_secret("", {}), queue)


def dead_shelf(redis: Any, worker: str, *paths: str, body: bytes | None = None) -> None:
    from scrapy_captcha.routes._shelf_entries import encode

    for path in paths:
        park_id = uuid.uuid4().hex
        req = request(path) if body is None else request(path).replace(body=body)
        blob = encode(req, spider(), keys(), park_id, pickle_ok=True)
        redis.command("HSET", f"{PREFIX}parked:{QUEUE}:{worker}", park_id, blob)
    redis.command("SADD", f"{PREFIX}parkers:{QUEUE}", worker)


def readable(blobs: list[Any]) -> str:
    """Shelf entries as a reader of Redis sees them: each as stored, and every base64 run
    in it decoded (a secret base64-encoded, or pickled then base64-encoded, is as good as
    in the clear)."""
    import base64
    import binascii
    import contextlib
    import re

    out = []
    for blob in map(str, blobs):
        out.append(blob)
        for run in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", blob):
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    out.append(decode(run + "=" * (-len(run) % 4)).decode("latin-1"))
    return "\n".join(out)


def shelved(redis: Any) -> dict[str, int]:
    return {
        key.rsplit(":", 1)[1]: int(redis.command("HLEN", key))
        for key in redis.command("KEYS", f"{PREFIX}parked:*")
    }


# -- scenarios ---------------------------------------------------------------------------


async def claim_blip() -> dict[str, Any]:
    """Two dead shelves; the second claim fails before Redis runs it: the first shelf's
    request is scheduled, the second shelf stays for the next look, which takes it."""
    from scrapy_captcha.routes._shelf import _CLAIM
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
    from scrapy_captcha.routes._shelf import _CLAIM
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
    from scrapy_captcha.routes._shelf import _TAKE
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


class _Payload:
    """Unpickling it runs a command: writes the file named."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        import os

        return (os.system, (f"touch {self.path}",))


async def poisoned() -> dict[str, Any]:
    """Whoever can write to Redis wrote pickles onto a dead worker's shelf: in the old
    format (base64 pickle), with a forged or missing MAC, an entry moved from another
    queue or id, junk. None is decoded, none runs, each is skipped and counted; the one
    genuine entry beside them is sent."""
    import base64
    import pickle
    import tempfile
    from pathlib import Path

    from scrapy_captcha.routes._shelf_entries import encode
    from scrapy_captcha.testing import RedisServer

    ran = Path(tempfile.mkdtemp()) / "ran"
    evil = pickle.dumps({"url": "http://x/", "meta": {"x": _Payload(str(ran))}})
    b64 = base64.b64encode(evil).decode()
    other_queue = encode(request("q"), spider(), keys("other:requests"), "id1", pickle_ok=True)
    genuine = encode(request("ok"), spider(), keys(), "id2", pickle_ok=True)
    forged = "scs1." + "A" * 44 + '.{"p":"' + b64 + '"}'
    entries = {
        "old": b64,
        "forged": forged,
        "unsigned": '{"p":"' + b64 + '"}',
        "moved": genuine,  # (signed for id2, found under another id)
        "id1": other_queue,
        "id2": genuine,
        "junk": "!!not an entry!!",
    }
    with RedisServer() as redis:
        shelf = f"{PREFIX}parked:{QUEUE}:dead"
        for park_id, blob in entries.items():
            redis.command("HSET", shelf, park_id, blob)
        redis.command("SADD", f"{PREFIX}parkers:{QUEUE}", "dead")
        w = Worker(redis.url)
        await w.shelving.look()
        assert not ran.exists(), "a pickle from Redis ran"
        assert w.crawled == ["http://x/ok"], w.crawled
        assert await until(lambda: shelved(redis) == {})  # (skipped ones are taken off too)
        await w.close()
        return {"unauthenticated": w.stat("parked/unauthenticated"), "sent": w.crawled}


async def no_secrets_at_rest() -> dict[str, Any]:
    """A parked request carries the proxy password (Proxy-Authorization, moved there by
    HttpProxyMiddleware), the site's Authorization, a session Cookie and a gate
    submission's page session: none is in Redis in the clear. The worker that takes it
    over sends the same credentials (the proxy ones: through the same proxy identity); the
    Cookie is rebuilt from its own jar."""
    from scrapy_captcha._state import RequestState
    from scrapy_captcha.testing import RedisServer

    proxy_auth = "Basic dXNlcjpwcm94eS1QQVNTV09SRA=="  # user:proxy-PASSWORD
    site_auth = "Bearer SITE-TOKEN"
    req = request("p").replace(
        headers={
            "Proxy-Authorization": proxy_auth,
            "Authorization": site_auth,
            "Cookie": "session=COOKIE-SESSION",
            "Accept": "application/json",
        },
        meta={"proxy": "http://127.0.0.1:3128", "_auth_proxy": "http://127.0.0.1:3128"},
    )
    RequestState.of(req).session = {"origin": "http://x:80", "cookies": {"s": "PAGE-SESSION"}}
    with RedisServer() as redis:
        a = Worker(redis.url, SCHEDULER_PERSIST=True)
        a.shelving.put(req)
        assert await until(lambda: a.shelving.worker in shelved(redis))
        raw = readable(redis.command("HVALS", f"{PREFIX}parked:{QUEUE}:{a.shelving.worker}"))
        for secret in ("PASSWORD", "dXNlcjpwcm94eS1QQVNTV09SRA", "SITE-TOKEN", "SESSION"):
            assert secret not in raw, secret
        assert "application/json" in raw  # (what is no secret is there: the check reads)
        await a.close()  # (left for the next worker)
        b = Worker(redis.url, keep_requests=True)
        await b.shelving.look()
        (got,) = b.requests
        state = RequestState.peek(got)
        await b.close()
        return {
            "proxy_auth": got.headers.get("Proxy-Authorization").decode(),
            "auth": got.headers.get("Authorization").decode(),
            "cookie": got.headers.get("Cookie"),
            "accept": got.headers.get("Accept").decode(),
            "proxy": got.meta["proxy"],
            "session": state.session if state else None,
            "ok": (proxy_auth, site_auth),
        }


async def claims_bounded_by_bytes() -> dict[str, Any]:
    """A dead shelf of big entries (forged to 3 MiB, or honest ones near the 1 MiB limit):
    a look moves at most CLAIM_BYTES (4 MiB) of them; the forged ones are deleted in Redis,
    never sent to the worker. Before: 40 entries of 8 MiB in one reply (441 MB RSS, Redis
    timeouts, the store fell back to memory)."""
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as redis:
        dead_shelf(redis, "dead", *(f"big{i}" for i in range(6)), body=b"b" * 700_000)
        shelf = f"{PREFIX}parked:{QUEUE}:dead"
        for i in range(3):
            redis.command("HSET", shelf, f"huge{i}", "x" * (3 << 20))
        w = Worker(redis.url)
        per_look = []
        for _ in range(4):
            await w.shelving.look()
            per_look.append(len(w.crawled))
        assert sorted(w.crawled) == sorted(f"http://x/big{i}" for i in range(6))
        assert await until(lambda: shelved(redis) == {})
        await w.close()
        return {"per_look": per_look, "oversized": w.stat("parked/oversized")}


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
        poisoned,
        no_secrets_at_rest,
        claims_bounded_by_bytes,
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
