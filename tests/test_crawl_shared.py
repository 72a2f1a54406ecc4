"""Several crawler processes sharing clearances through one real Redis.

Each crawl is a real ``CrawlerProcess`` in its own subprocess (``tests/crawl_runner.py``),
several at once, against one EmulatorStack and one throw-away redis-server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conftest import REACTORS, CrawlResult, assert_clean_log
from processes import CrawlProcess, wait_until
from scrapy_captcha.testing import EmulatorStack, RedisServer

PREFIX = "scrapy-captcha:"


def pages(n: int, tag: str, proxy: str) -> list[dict[str, Any]]:
    return [
        {"url": f"http://shop.example/p/{tag}{i}", "tag": tag, "meta": {"proxy": proxy}}
        for i in range(n)
    ]


def keys(redis: RedisServer, kind: str) -> list[str]:
    return sorted(redis.command("KEYS", f"{PREFIX}{kind}:*"))


def settings(stack: EmulatorStack, redis: RedisServer, **extra: Any) -> dict[str, Any]:
    # (DEBUG: the tests wait for lines such as "Another process is solving")
    return {
        **stack.scrapy_settings(),
        "CAPTCHA_CACHE_URL": redis.url,
        "LOG_LEVEL": "DEBUG",
        **extra,
    }


def test_processes_share_one_solve(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Three processes, on both reactors, meet the same challenge while the first solve is
    held: one solver task in all, the other two wait for it through Redis."""
    with EmulatorStack(solve_latency=1.0) as stack:
        stack.site.add_host("shop.example")
        stack.solver.hold()
        for i in range(3):
            procs.append(
                CrawlProcess(
                    tmp_path / f"p{i}",
                    reactor=REACTORS[i % 2],
                    requests=pages(4, f"p{i}-", stack.proxy_a.url),
                    settings=settings(stack, redis, USER_AGENT=f"proc-{i}"),
                )
            )
        # Every process has started its flight (logged before the lease is tried) while
        # no clearance can exist yet: each but one must wait.
        wait_until(lambda: all("solving with" in p.log_text() for p in procs))
        time.sleep(0.5)  # a second task, if any, would be created now
        stack.solver.release()
        results = [p.result() for p in procs]
        assert stack.solver.create_task_count == 1
        for r in results:
            assert len(r.pages) == 4 and not r.errors, r.log[-3000:]
            assert {p["status"] for p in r.pages} == {200}
            assert r.reason == "finished"
            assert_clean_log(r, "test-key")
        assert sum(r.stat("captcha/solved/cloudflare") for r in results) == 1
        assert sum(r.stat("captcha/shared/waited") for r in results) == 2
        assert sum(r.stat("captcha/solver/createTask") for r in results) == 1
        assert keys(redis, "lease") == []  # released when the solve landed
        assert len(keys(redis, "clearance")) == 1


def test_dead_solver_process_lease_expires_and_another_takes_over(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Process 1 (asyncio reactor) takes the lease and is SIGKILLed mid-solve; process 2
    (plain Twisted reactor) waits no longer than the lease's TTL, takes it over and
    finishes the solve by polling the task process 1 had created: one task in all."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        conf = settings(stack, redis, CAPTCHA_LEASE_TTL=2)
        stack.solver.hold()
        first = CrawlProcess(
            tmp_path / "p1",
            reactor="asyncio",
            requests=pages(3, "a", stack.proxy_a.url),
            settings=conf,
        )
        procs.append(first)
        wait_until(lambda: stack.solver.create_task_count == 1 and bool(keys(redis, "lease")))
        # The second process meets the challenge while the lease is held (its flight is
        # logged before it tries the lease), however long its start-up takes.
        second = CrawlProcess(
            tmp_path / "p2",
            reactor="twisted",
            requests=pages(3, "b", stack.proxy_a.url),
            settings=conf,
        )
        procs.append(second)
        wait_until(lambda: "solving with" in second.log_text())
        first.kill()
        stack.solver.release()
        assert keys(redis, "lease")  # the dead process's lease is still there
        r = second.result()
        assert [p["status"] for p in r.pages] == [200] * 3, r.log[-3000:]
        assert r.stat("captcha/shared/lease_taken_over") == 1
        assert r.stat("captcha/solved/cloudflare") == 1
        # It polled the task the dead process had created instead of paying for another.
        assert r.stat("captcha/shared/task_resumed") == 1
        assert r.stat("captcha/solver/createTask") == 0
        assert stack.solver.create_task_count == 1
        assert keys(redis, "task") == []  # the note went with the lease
        assert_clean_log(r, "test-key")


def test_challenged_clearance_is_dropped_for_everyone(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Process A stores a clearance; the site revokes it; process B meets the challenge
    with it and drops it from Redis (its own solve fails, so nothing replaces it); process
    C then solves afresh instead of presenting the revoked clearance."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        proxy = stack.proxy_a.url

        def run(name: str, **extra: Any) -> CrawlResult:
            p = CrawlProcess(
                tmp_path / name,
                reactor="twisted" if name == "b" else "asyncio",
                requests=pages(3, name, proxy),
                settings=settings(stack, redis, **extra),
            )
            procs.append(p)
            return p.result()

        a = run("a")
        assert [p["status"] for p in a.pages] == [200] * 3
        [key] = keys(redis, "clearance")
        first_id = json.loads(redis.command("GET", key))["id"]
        stack.site.revoke_all()
        stack.solver.set_fault("unsolvable")
        b = run("b", CAPTCHA_MAX_ATTEMPTS=1)
        assert b.stat("captcha/cache/invalidated") >= 1
        assert b.stat("captcha/cache/hit") >= 1  # it did use A's clearance first
        assert keys(redis, "clearance") == []  # dropped from Redis, for everyone
        assert_clean_log(b, "test-key")
        stack.solver.set_fault(None)
        c = run("c")
        assert [p["status"] for p in c.pages] == [200] * 3
        assert c.stat("captcha/cache/invalidated") == 0
        assert c.stat("captcha/solved/cloudflare") == 1
        assert json.loads(redis.command("GET", key))["id"] != first_id
        assert stack.solver.create_task_count == 3


def test_redis_killed_mid_crawl_falls_back(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        proxy = stack.proxy_a.url
        p = CrawlProcess(
            tmp_path / "p",
            reactor="twisted",
            batches=[
                {"requests": pages(3, "a", proxy)},
                {"delay": 2, "requests": pages(3, "b", proxy)},
            ],
            settings=settings(stack, redis, CAPTCHA_CACHE_RETRY=0.5),
        )
        procs.append(p)
        wait_until(lambda: stack.site.count("page") >= 3)
        redis.kill()
        r = p.result()
        assert [p["status"] for p in r.pages] == [200] * 6, r.log[-3000:]
        assert stack.solver.create_task_count == 1  # the clearance was kept in memory too
        assert r.stat("captcha/store/fallback") == 1
        assert r.stat("captcha/store/recovered") == 0
        assert r.log.count("unavailable (") == 1
        assert_clean_log(r, "test-key")


def test_redis_down_at_start_then_back(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Nothing listens at first: the crawl solves with its memory store; when Redis
    starts (same port), the process reconnects, writes what it learned meanwhile and uses
    Redis again."""
    redis.stop()
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        proxy = stack.proxy_a.url
        p = CrawlProcess(
            tmp_path / "p",
            reactor="asyncio",
            batches=[
                {"requests": pages(3, "a", proxy)},
                {"delay": 4, "requests": pages(3, "b", proxy)},
            ],
            settings=settings(stack, redis, CAPTCHA_CACHE_RETRY=0.5),
        )
        procs.append(p)
        wait_until(lambda: stack.site.count("page") >= 3)
        redis.start()
        wait_until(lambda: bool(keys(redis, "clearance")), limit=30)
        r = p.result()
        assert [p["status"] for p in r.pages] == [200] * 6, r.log[-3000:]
        assert stack.solver.create_task_count == 1
        assert r.stat("captcha/store/fallback") == 1
        assert r.stat("captcha/store/recovered") == 1
        assert r.log.count("unavailable (") == 1 and r.log.count("is back: shared again") == 1
        assert_clean_log(r, "test-key")
        # A second process finds the clearance in Redis: no challenge, no solve.
        q = CrawlProcess(
            tmp_path / "q",
            reactor="twisted",
            requests=pages(3, "c", proxy),
            settings=settings(stack, redis),
        )
        procs.append(q)
        r2 = q.result()
        assert [p["status"] for p in r2.pages] == [200] * 3
        assert r2.stat("captcha/cache/hit") == 3 and r2.stat("captcha/detected/cloudflare") == 0
        assert stack.solver.create_task_count == 1


def test_task_notes_that_cannot_be_resumed_lead_to_a_fresh_solve(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """A dead holder's task note naming a task the service does not know: polled once,
    then solved afresh. A note naming a service outside the crawl's chain (an import path
    from Redis) is never loaded or polled; nor is a note nested 100 000 deep (it cannot be
    read), and the lease taken with it is released, not leaked."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        proxy = stack.proxy_a.url
        conf = settings(stack, redis, CAPTCHA_LEASE_TTL=1)

        def start(name: str) -> CrawlProcess:
            p = CrawlProcess(tmp_path / name, requests=pages(2, name, proxy), settings=conf)
            procs.append(p)
            return p

        assert start("first").result().stat("captcha/solved/cloudflare") == 1
        [clearance_key] = keys(redis, "clearance")
        route = clearance_key.split("clearance:", 1)[1]
        notes = [
            json.dumps(
                {"provider": "1captcha", "task_id": "no-such-task", "created": time.time()}
            ),
            json.dumps({"provider": "os.system", "task_id": 7, "created": time.time()}),
            "[" * 100_000 + "]" * 100_000,
        ]
        for n, note in enumerate(notes):
            redis.command("DEL", clearance_key)
            redis.command("SET", f"{PREFIX}lease:{route}", "dead-process", "PX", "60000")
            redis.command("SET", f"{PREFIX}task:{route}", note, "PX", "60000")
            p = start(f"after{n}")
            wait_until(lambda p=p: "Another process is solving" in p.log_text())
            redis.command("DEL", f"{PREFIX}lease:{route}")  # its holder is gone
            r = p.result()
            assert [p["status"] for p in r.pages] == [200] * 2, r.log[-3000:]
            assert r.stat("captcha/shared/lease_taken_over") == 1
            assert r.stat("captcha/shared/task_resumed") == 0
            assert r.stat("captcha/solver/createTask") == 1
            assert r.stat("captcha/shared/resume_failed") == (1 if n == 0 else 0)
            assert ("Resuming task" in r.log) == (n == 0)
            assert keys(redis, "task") == [] and keys(redis, "lease") == []
            assert_clean_log(r, "test-key")
        assert stack.solver.create_task_count == 4


def test_a_task_left_by_a_dead_holder_is_resumed_by_the_next_process_to_meet_the_route(
    redis: RedisServer, procs: list[CrawlProcess], tmp_path: Path
) -> None:
    """Nobody waits when the solving process dies; its lease expires. The next process to
    meet the challenge gets the lease at once, finds the dead holder's task noted, and
    polls it instead of paying for another."""
    with EmulatorStack(solve_latency=0.3) as stack:
        stack.site.add_host("shop.example")
        conf = settings(stack, redis, CAPTCHA_LEASE_TTL=1)
        stack.solver.hold()
        first = CrawlProcess(
            tmp_path / "p1", requests=pages(2, "a", stack.proxy_a.url), settings=conf
        )
        procs.append(first)
        wait_until(lambda: stack.solver.create_task_count == 1 and bool(keys(redis, "task")))
        first.kill()
        wait_until(lambda: keys(redis, "lease") == [])  # expired: nobody holds it
        stack.solver.release()
        second = CrawlProcess(
            tmp_path / "p2", requests=pages(2, "b", stack.proxy_a.url), settings=conf
        )
        procs.append(second)
        r = second.result()
        assert [p["status"] for p in r.pages] == [200] * 2, r.log[-3000:]
        assert r.stat("captcha/shared/lease_taken_over") == 0
        assert r.stat("captcha/shared/task_resumed") == 1
        assert stack.solver.create_task_count == 1
        assert keys(redis, "task") == [] and keys(redis, "lease") == []
        assert_clean_log(r, "test-key")
