"""Workers that share one Redis through scrapy-redis: one queue, one dupefilter, one
clearance store, and requests waiting for a solve kept in Redis so that a worker killed
with SIGKILL loses none of them.

Each worker is a real ``CrawlerProcess`` (``tests/redis_worker.py``: a ``RedisSpider`` with
scrapy-redis's scheduler and dupefilter) in its own process, against one EmulatorStack and
one throw-away redis-server. Every page a worker delivers is pushed to Redis at once, so
what a killed worker delivered is counted too.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
import signal
from pathlib import Path
from typing import Any

from shelf_scenarios import readable

from conftest import REACTORS, CrawlResult, assert_clean_log
from processes import CrawlProcess, wait_until
from scrapy_captcha.testing import EmulatorStack, RedisServer

PREFIX = "scrapy-captcha:"
SPIDER = "workers"


def seed(
    redis: RedisServer,
    urls: list[str],
    proxy: str,
    worker: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Push start URLs: to the list every worker reads, or to one ``worker``'s own (so
    the test knows who meets which page; they still go through the one shared queue)."""
    key = f"{SPIDER}:start_urls" + (f":{worker}" if worker else "")
    for url in urls:
        redis.command("RPUSH", key, json.dumps({"url": url, "proxy": proxy, "headers": headers}))


def shelved_text(redis: RedisServer) -> str:
    """Every entry on every shelf, as a reader of Redis can read them."""
    keys = redis.command("KEYS", f"{PREFIX}parked:{SPIDER}:*")
    text = readable([v for key in keys for v in redis.command("HVALS", key)])
    assert "shop.example" in text  # (the check reads what it should)
    return text


def delivered(redis: RedisServer) -> list[dict[str, Any]]:
    return [json.loads(x) for x in redis.command("LRANGE", f"{SPIDER}:delivered", "0", "-1")]


def shelves(redis: RedisServer) -> dict[str, int]:
    """Requests on each worker's shelf (worker id -> count)."""
    out = {}
    for key in redis.command("KEYS", f"{PREFIX}parked:{SPIDER}:*"):
        out[key.rsplit(":", 1)[1]] = int(redis.command("HLEN", key))
    return out


def lease_holder(redis: RedisServer) -> str | None:
    leases = redis.command("KEYS", f"{PREFIX}lease:*")
    return str(redis.command("GET", leases[0])).split(":")[0] if leases else None


def all_done(redis: RedisServer, *results: CrawlResult, secrets: tuple[str, ...] = ()) -> None:
    """Nothing left on any shelf; each worker finished normally with a clean log."""
    assert shelves(redis) == {}
    for r in results:
        assert r.reason == "finished"
        assert_clean_log(r, "test-key", *secrets)


def worker_id(proc: CrawlProcess) -> str | None:
    found = re.search(r"Worker (\w+): requests waiting", proc.log_text())
    return found.group(1) if found else None


class Workers:
    def __init__(
        self, stack: EmulatorStack, redis: RedisServer, tmp_path: Path, procs: list[Any]
    ) -> None:
        self.stack, self.redis, self.tmp_path, self.procs = stack, redis, tmp_path, procs

    def start(
        self,
        name: str,
        reactor: str = "asyncio",
        closespider_timeout: float = 90,
        own_start: bool = False,
        **settings: Any,
    ) -> CrawlProcess:
        """Start a worker; with ``own_start`` it reads start URLs from its own list."""
        proc = CrawlProcess(
            self.tmp_path / name,
            script="redis_worker.py",
            name=name,
            reactor=reactor,
            closespider_timeout=closespider_timeout,
            start_key=f"{SPIDER}:start_urls" + (f":{name}" if own_start else ""),
            settings={
                **self.stack.scrapy_settings(),
                "CAPTCHA_CACHE_URL": self.redis.url,
                "CAPTCHA_LEASE_TTL": 3,
                **settings,
            },
        )
        self.procs.append(proc)
        wait_until(lambda: worker_id(proc) is not None, limit=30)
        return proc


def urls(host: str, n: int, tag: str = "") -> list[str]:
    return [f"http://{host}/p/{tag}{i}" for i in range(n)]


def test_workers_share_one_queue_and_one_solve_per_route(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Three workers (on both reactors), two protected domains behind one proxy, one shared
    queue: every page delivered once, one solve per route in all."""
    with EmulatorStack(solve_latency=1.0) as stack:
        for host in ("shop.example", "books.example"):
            stack.site.add_host(host)
        workers = Workers(stack, redis, tmp_path, procs)
        started = [workers.start(f"w{i}", REACTORS[i % 2]) for i in range(3)]
        expected = urls("shop.example", 10) + urls("books.example", 10)
        seed(redis, expected, stack.proxy_a.url)
        results = [p.result() for p in started]
        pages = delivered(redis)
        assert sorted(p["url"] for p in pages) == sorted(expected)
        assert {p["status"] for p in pages} == {200}
        assert stack.solver.create_task_count == 2
        assert sum(r.stat("captcha/solved/cloudflare") for r in results) == 2
        all_done(redis, *results)  # (every shelf emptied as its solves landed)


def test_killed_worker_loses_no_request_waiting_for_a_solve(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Worker A takes the solve lease; B parks its pages waiting for it, on its shelf in
    Redis. B is SIGKILLed: once its heartbeat expires A claims its shelf and schedules the
    pages again; when A's solve lands every page arrives, still for one solve. The pages
    go through an authenticated proxy with the site's Authorization: neither credential is
    on a shelf in the clear, and A sends B's pages with both (sealed in the entry)."""
    password, token = "s3cret", "Bearer SITE-TOKEN-42"
    creds = base64.b64encode(f"alice:{password}".encode()).decode()
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()
        workers = Workers(stack, redis, tmp_path, procs)
        proxy = stack.proxy_b.url_with("alice", password)
        auth = {"Authorization": token}
        a = workers.start("a", own_start=True)
        first = urls("shop.example", 4, "a")
        seed(redis, first, proxy, "a", headers=auth)
        wait_until(lambda: shelves(redis).get(worker_id(a) or "") == 4)
        assert lease_holder(redis) == worker_id(a)
        b = workers.start("b", own_start=True)
        rest = urls("shop.example", 4, "b")
        seed(redis, rest, proxy, "b", headers=auth)
        wait_until(lambda: bool(shelves(redis).get(worker_id(b) or "")))
        wait_until(lambda: sum(shelves(redis).values()) == 8)
        at_rest = shelved_text(redis)
        for secret in (password, creds, creds.rstrip("="), "SITE-TOKEN-42"):
            assert secret not in at_rest, secret
        on_b = shelves(redis)[worker_id(b) or ""]
        b.kill()
        # Claimed by A once B's heartbeat (TTL 3 s) has expired.
        wait_until(lambda: worker_id(b) not in shelves(redis), limit=30)
        stack.solver.release()
        r = a.result()
        pages = delivered(redis)
        assert sorted(p["url"] for p in pages) == sorted(first + rest)
        assert {p["status"] for p in pages} == {200}  # (a 407 without the proxy's password)
        assert {p["worker"] for p in pages} == {"a"}
        assert stack.solver.create_task_count == 1  # (the same proxy identity: one exit)
        assert r.stat("captcha/parked/recovered") == on_b
        assert all(r["exit"] == "B-1" for r in stack.proxy_b.requests)  # (never a 407)
        all_done(redis, r, secrets=(password, creds))


def test_killed_solving_worker_is_taken_over_and_loses_nothing(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """The worker holding the solve lease dies mid-solve with its own pages parked: its
    lease expires, the other worker takes the solve over (polling the task the dead worker
    had created: still one task) and delivers every page, the dead worker's included."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()
        workers = Workers(stack, redis, tmp_path, procs)
        a = workers.start("a", "twisted", own_start=True)
        first = urls("shop.example", 4, "a")
        seed(redis, first, stack.proxy_a.url, "a")
        wait_until(lambda: shelves(redis).get(worker_id(a) or "") == 4)
        b = workers.start("b", own_start=True)
        rest = urls("shop.example", 4, "b")
        seed(redis, rest, stack.proxy_a.url, "b")
        # B waits for A's lease with pages of its own parked.
        wait_until(lambda: bool(shelves(redis).get(worker_id(b) or "")))
        wait_until(lambda: sum(shelves(redis).values()) == 8)
        assert lease_holder(redis) == worker_id(a)
        on_a = shelves(redis)[worker_id(a) or ""]
        a.kill()
        stack.solver.release()
        r = b.result()
        pages = delivered(redis)
        assert sorted(p["url"] for p in pages) == sorted(first + rest)
        assert {p["worker"] for p in pages} == {"b"}
        assert r.stat("captcha/parked/recovered") == on_a
        assert r.stat("captcha/shared/lease_taken_over") == 1
        assert r.stat("captcha/shared/task_resumed") == 1
        assert stack.solver.create_task_count == 1
        all_done(redis, r)


def test_worker_closing_mid_solve_leaves_its_pages_to_the_next_worker(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """A worker that stops (one Ctrl-C) while its pages wait for a solve leaves them on
    its shelf, as the scrapy-redis queue persists; the next worker to start takes them over
    at once and delivers them. Junk on a dead worker's shelf (not an entry; a pickle as the
    shelf used to hold them) is skipped with a stat and one warning."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()
        workers = Workers(stack, redis, tmp_path, procs)
        expected = urls("shop.example", 3)
        seed(redis, expected, stack.proxy_a.url)  # (read at the worker's first idle)
        a = workers.start("a")
        # Stopped once its three pages are parked on its shelf (not after a fixed time:
        # a loaded machine may take longer to get there).
        wait_until(lambda: sum(shelves(redis).values()) == 3, limit=60)
        a.proc.send_signal(signal.SIGINT)
        ra = a.result(timeout=60)
        assert ra.reason == "shutdown"
        assert ra.stat("captcha/parked/left_shelved") == 3
        assert ra.stat("captcha/dropped_on_close") == 0
        assert sum(shelves(redis).values()) == 3
        assert redis.command("KEYS", f"{PREFIX}alive:*") == []  # gone at close
        stack.solver.release()
        junk = f"{PREFIX}parked:{SPIDER}:requests:deadbeef"
        old = base64.b64encode(pickle.dumps({"url": "http://shop.example/x"})).decode()
        redis.command("HSET", junk, "x", "!!not an entry!!", "y", old)
        redis.command("SADD", f"{PREFIX}parkers:{SPIDER}:requests", "deadbeef")
        rb = workers.start("b").result()
        assert sorted(p["url"] for p in delivered(redis)) == sorted(expected)
        assert rb.stat("captcha/parked/recovered") == 3
        assert rb.stat("captcha/parked/unauthenticated") == 2
        assert rb.log.count("Skipped an unreadable request on a Redis shelf") == 1
        assert shelves(redis) == {}
        for r in (ra, rb):
            assert_clean_log(r, "test-key")
