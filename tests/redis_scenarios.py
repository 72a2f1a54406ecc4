"""Redis store scenarios, each run in its own process under a real reactor.

Used by ``test_store_redis.py`` through ``run_scenario``: the store's calls go through
txredisapi on the reactor the crawl would use (asyncio or plain Twisted), against a real
redis-server the scenario starts itself. A scenario asserts what it checks and returns
observations; this script prints them as JSON. Usage:
``python redis_scenarios.py REACTOR SCENARIO``.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "twisted": "twisted.internet.selectreactor.SelectReactor",
}

LOG: list[str] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG.append(f"{record.levelname} {record.getMessage()}")


def clearance(ttl: float = 60.0, **extra: Any) -> Any:
    from scrapy_captcha.routes.clearance import Clearance

    return Clearance(
        cookies={"cf_clearance": "abc"},
        user_agent="UA/1",
        headers={"accept": "*/*"},
        expires_at=time.time() + ttl,
        task_id=extra.pop("task_id", 7),
        **extra,
    )


def store(url: str, **kwargs: Any) -> Any:
    from scrapy.statscollectors import MemoryStatsCollector
    from scrapy.utils.test import get_crawler

    from scrapy_captcha.routes._redis_link import RedisAddress
    from scrapy_captcha.routes._store_redis import RedisStore

    stats = MemoryStatsCollector(get_crawler())
    return RedisStore(RedisAddress.parse(url), stats=stats, **kwargs)


async def sleep(seconds: float) -> None:
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor, task

    await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))


async def until(check: Callable[[], bool], limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        await sleep(0.05)
    return check()


# -- scenarios ---------------------------------------------------------------------------


async def basics() -> dict[str, Any]:
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        s = store(server.url)
        assert await s.get("shop.example|abc") is None
        c1 = clearance(ttl=60)
        await s.set("shop.example|abc", c1)
        got = await s.get("shop.example|abc")
        assert got is not None and got.to_dict() == c1.to_dict(), got
        raw = server.command("GET", "scrapy-captcha:clearance:shop.example|abc")
        pttl = server.command("PTTL", "scrapy-captcha:clearance:shop.example|abc")
        # compare-and-delete: a wrong id keeps it, the right one drops it
        assert await s.invalidate("shop.example|abc", "not-this-one") is False
        assert await s.get("shop.example|abc") is not None
        assert await s.invalidate("shop.example|abc", c1.id) is True
        assert await s.get("shop.example|abc") is None
        # a newer clearance is never dropped by an old id (another process stored it)
        c2, c3 = clearance(), clearance()
        await s.set("k", c2)
        other = store(server.url)
        await other.set("k", c3)
        assert await s.invalidate("k", c2.id) is False
        got = await s.get("k")
        assert got is not None and got.id == c3.id
        # an expired clearance is never written nor returned
        await s.set("old", clearance(ttl=-1))
        assert server.command("EXISTS", "scrapy-captcha:clearance:old") == 0
        assert await s.get("old") is None
        await s.close()
        await other.close()
        return {"pttl": pttl, "raw": json.loads(raw), "c1": c1.to_dict(), "stats": s.stats._stats}


async def leases() -> dict[str, Any]:
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        a, b = store(server.url), store(server.url)
        lease = "scrapy-captcha:lease:r"
        assert await a.acquire_lease("r", "A", 0.6) is True
        assert await b.acquire_lease("r", "B", 0.6) is False
        await b.release_lease("r", "B")  # not the holder: nothing happens
        assert server.command("GET", lease) == "A"
        await sleep(1.5)  # over twice the TTL: renewed while held
        renewed = server.command("GET", lease) == "A"
        await a.release_lease("r", "A")
        assert server.command("EXISTS", lease) == 0
        assert await b.acquire_lease("r", "B", 5) is True
        # A holder that died: its lease is not renewed and expires by itself.
        server.command("SET", "scrapy-captcha:lease:dead", "ghost", "PX", 500)
        t0 = time.monotonic()
        assert await b.wait_for("dead", 10) is None
        waited = time.monotonic() - t0
        assert await b.acquire_lease("dead", "B", 5) is True
        # Close releases what is still held.
        await b.close()
        assert server.command("EXISTS", "scrapy-captcha:lease:r") == 0
        await a.close()
        return {"renewed": renewed, "waited": waited}


async def wait_for_wakes() -> dict[str, Any]:
    from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future

    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        solver, waiter = store(server.url), store(server.url)
        # Nothing stored and nobody solving: no wait at all.
        t0 = time.monotonic()
        assert await waiter.wait_for("r", 10) is None
        idle = time.monotonic() - t0
        assert await solver.acquire_lease("r", "S", 30)
        waits = [deferred_from_coro(waiter.wait_for("r", 20)) for _ in range(3)]
        await sleep(0.5)
        assert not any(d.called for d in waits)
        c = clearance()
        t0 = time.monotonic()
        await solver.set("r", c)
        got = [await maybe_deferred_to_future(d) for d in waits]
        woke = time.monotonic() - t0
        assert all(g is not None and g.id == c.id for g in got), got
        await solver.release_lease("r", "S")
        # A timeout bounds the wait even while the lease is held.
        assert await solver.acquire_lease("q", "S", 30)
        t0 = time.monotonic()
        assert await waiter.wait_for("q", 0.5) is None
        timed = time.monotonic() - t0
        await solver.close()
        await waiter.close()
        return {"idle": idle, "woke": woke, "timed": timed}


async def prefixes() -> dict[str, Any]:
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        one, two = store(server.url, prefix="proj1:"), store(server.url, prefix="proj2:")
        await one.set("r", clearance())
        assert await two.get("r") is None
        assert await one.acquire_lease("r", "x", 5)
        assert await two.acquire_lease("r", "y", 5)
        keys = sorted(server.command("KEYS", "*"))
        await one.close()
        await two.close()
        return {"keys": keys}


async def password() -> dict[str, Any]:
    from scrapy_captcha.errors import ConfigurationError
    from scrapy_captcha.routes._redis_link import RedisAddress
    from scrapy_captcha.testing import RedisServer

    secret = "hunter2-Pa55"
    texts: list[str] = []
    with RedisServer(password=secret) as server:
        good = store(server.url)
        await good.set("r", clearance())
        assert (await good.get("r")) is not None
        texts += [repr(good), repr(good.link), repr(good.link.address), str(good.link.address)]
        bad = store(server.url.replace(secret, secret + "-wrong"))
        assert await bad.get("r") is None  # refused: memory fallback, no exception
        texts += [repr(bad), json.dumps(bad.stats._stats)]
        for url in (f"redis://:{secret}@/0", f"redis://:{secret}@host:notaport/0"):
            try:
                RedisAddress.parse(url)
            except ConfigurationError as exc:
                texts.append(str(exc) + repr(exc))
            else:  # pragma: no cover
                raise AssertionError("bad URL accepted")
        await good.close()
        await bad.close()
    blob = "\n".join(texts + LOG)
    assert secret not in blob, blob
    return {"texts": texts, "log": LOG, "fallback": bad.stats._stats}


async def down_then_recovered() -> dict[str, Any]:
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        server.stop()  # down at start: nothing listens on the port
        s = store(server.url, retry_max=0.5)
        t0 = time.monotonic()
        assert await s.get("r") is None
        c = clearance()
        await s.set("r", c)
        got = await s.get("r")
        assert got is not None and got.id == c.id  # from memory
        assert await s.acquire_lease("r", "me", 5)  # alone: always granted
        first = time.monotonic() - t0
        server.start()
        assert await until(lambda: s.stats.get_value("captcha/store/recovered") == 1)
        stored = json.loads(server.command("GET", "scrapy-captcha:clearance:r"))
        got = await s.get("r")
        assert got is not None and got.id == c.id
        await s.close()
        return {"first": first, "stored_id": stored["id"], "id": c.id, "stats": s.stats._stats}


async def killed_mid_use() -> dict[str, Any]:
    from scrapy_captcha.testing import RedisServer

    with RedisServer() as server:
        s = store(server.url, retry_max=0.5)
        c = clearance()
        await s.set("r", c)
        server.kill()
        for _ in range(5):
            got = await s.get("r")
            assert got is not None and got.id == c.id  # written through to memory
        assert await s.invalidate("r", c.id) is True
        assert await s.get("r") is None
        server.start()  # restarted empty; the invalidation is replayed harmlessly
        assert await until(lambda: s.stats.get_value("captcha/store/recovered") == 1)
        c2 = clearance()
        await s.set("r", c2)
        assert json.loads(server.command("GET", "scrapy-captcha:clearance:r"))["id"] == c2.id
        await s.close()
        return {"stats": s.stats._stats, "log": LOG}


async def black_hole() -> dict[str, Any]:
    """A server that accepts connections and never answers must not hang anything."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        port = hole.getsockname()[1]
        s = store(f"redis://127.0.0.1:{port}/0", timeout=0.3, retry_max=0.5)
        t0 = time.monotonic()
        assert await s.get("r") is None
        first = time.monotonic() - t0
        t0 = time.monotonic()
        for _ in range(20):
            assert await s.get("r") is None
        assert await s.acquire_lease("r", "me", 5)
        assert await s.wait_for("r", 5) is None
        later = time.monotonic() - t0
        await s.close()
        return {"first": first, "later": later, "stats": s.stats._stats}


SCENARIOS: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
    f.__name__: f
    for f in (
        basics,
        leases,
        wait_for_wakes,
        prefixes,
        password,
        down_then_recovered,
        killed_mid_use,
        black_hole,
    )
}


async def every() -> dict[str, Any]:
    """Every scenario in turn, in this one process (one interpreter start for all): what
    each returned (with the log lines it alone produced), or the error it raised."""
    import traceback

    out: dict[str, Any] = {}
    for name, scenario in list(SCENARIOS.items()):
        if scenario is every:
            continue
        LOG.clear()
        try:
            # (a snapshot: a result may hold the LOG list the next scenario clears)
            out[name] = json.loads(json.dumps(await scenario(), default=str))
        except Exception:
            out[name] = {"failed": traceback.format_exc()[-3000:]}
    return out


SCENARIOS["every"] = every


def main(reactor_name: str, name: str, scenarios: dict[str, Any] | None = None) -> None:
    """Run scenario ``name`` (of ``scenarios``, default this module's) on that reactor."""
    scenarios = SCENARIOS if scenarios is None else scenarios
    from scrapy.utils.reactor import install_reactor

    install_reactor(REACTORS[reactor_name])
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet import reactor

    handler = _Collect()
    logging.getLogger("scrapy_captcha").addHandler(handler)
    logging.getLogger("scrapy_captcha").setLevel(logging.DEBUG)
    result: dict[str, Any] = {}

    def done(value: Any) -> None:
        result["value"] = value
        reactor.stop()

    def failed(failure: Any) -> None:
        result["error"] = failure.getTraceback()
        reactor.stop()

    def start() -> None:
        deferred_from_coro(scenarios[name]()).addCallbacks(done, failed)

    reactor.callWhenRunning(start)
    reactor.callLater(60, reactor.stop)  # bounded, whatever happens
    reactor.run()
    if "error" in result:
        print(result["error"], file=sys.stderr)
        sys.exit(1)
    if "value" not in result:
        print("scenario did not finish", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result["value"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
