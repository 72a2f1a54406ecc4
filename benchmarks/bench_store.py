"""Clearance store cost per call at 10^3 ... 10^6 (domain, proxy) pairs, printed as a table:
the in-memory store and the Redis store side by side.

Run from the repository root:  python benchmarks/bench_store.py [--max 1000000] [--skip-redis]

Memory: the store is filled to each size (entries expiring at spread-out times, a tenth
already expired), then ``set`` and ``get`` are timed on random keys. Target: the same µs per
call whatever the size (expiries come off a heap; the least recently used entry is evicted
at the cap), where the old store scanned every entry on each set past 1 024 entries.

Redis (needs redis-py and the [test] extra's redis-server): one throw-away redis-server is
filled directly, in pipelined chunks (redis-py, no transaction), with keys written exactly as
``RedisStore._write`` writes them: ``{prefix}clearance:{route}`` holding the clearance's JSON
(``Clearance.to_dict``) with a PX TTL. The clearance is the same one as in the memory rows
(about 0.8 KB of JSON); none is already expired, as RedisStore never writes an expired one.
Then ``set`` and ``get`` are timed through a real ``RedisStore`` on a running Twisted
(asyncio) reactor, on random keys, each call awaited before the next: the number is one
loopback round trip through ``RedisLink.call`` plus the store's own work (``set`` also writes
the in-memory mirror; ``get`` decodes, validates and mirrors the clearance). A crawl's calls
overlap, so this is per-call latency, not throughput. A fresh RedisStore per size keeps its
mirror to what the timed calls touched. "redis MiB" is the server's ``used_memory`` (INFO
memory) once filled to that size. The fill time goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

from harness import on_reactor, table

from scrapy_captcha.routes.clearance import Clearance
from scrapy_captcha.routes.store import MemoryStore

MEMORY_CALLS = 20_000
REDIS_CALLS = 2_000
REDIS_CHUNK = 10_000
REDIS_PREFIX = "bench-store:"


def clearance(expires_at: float) -> Clearance:
    return Clearance(
        cookies={"cf_clearance": "x" * 400, "__cf_bm": "y" * 150},
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0",
        headers={"accept-language": "en-US,en;q=0.9"},
        expires_at=expires_at,
    )


def route(i: int) -> str:
    return f"d{i % 997}.example|{i:032x}"


def sizes(largest: int) -> list[int]:
    out, size = [], 1000
    while size <= largest:
        out.append(size)
        size *= 10
    return out


# -- memory ------------------------------------------------------------------------------


async def measure(size: int, calls: int) -> tuple[float, float]:
    store = MemoryStore(max_entries=size)
    now = time.time()
    for i in range(size):
        await store.set(route(i), clearance(now + (-1 if i % 10 == 0 else 3600 + i % 600)))
    keys = [route(i) for i in random.sample(range(size), min(calls, size))]
    started = time.perf_counter()
    for key in keys:
        await store.set(key, clearance(now + 3600))
    set_us = (time.perf_counter() - started) / len(keys) * 1e6
    started = time.perf_counter()
    for key in keys:
        await store.get(key)
    get_us = (time.perf_counter() - started) / len(keys) * 1e6
    return set_us, get_us


# -- redis -------------------------------------------------------------------------------


def fill_redis(client: Any, start: int, stop: int) -> None:
    """Write routes ``start`` .. ``stop - 1`` as RedisStore._write would: the clearance's
    JSON (compact separators) under ``{prefix}clearance:{route}``, PX = time left."""
    now = time.time()
    base = clearance(now).to_dict()
    for lo in range(start, stop, REDIS_CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(lo, min(lo + REDIS_CHUNK, stop)):
            ttl = 3600 + i % 600
            entry = {**base, "id": f"{random.getrandbits(128):032x}", "expires_at": now + ttl}
            value = json.dumps(entry, separators=(",", ":"))
            pipe.set(f"{REDIS_PREFIX}clearance:{route(i)}", value, px=ttl * 1000)
        pipe.execute()


async def measure_redis(url: str, size: int, calls: int) -> tuple[float, float]:
    from scrapy_captcha.routes._redis_link import RedisAddress
    from scrapy_captcha.routes._store_redis import RedisStore

    store = RedisStore(RedisAddress.parse(url), prefix=REDIS_PREFIX)
    try:
        # Connects, and checks that the bulk fill reads back as a valid clearance.
        if await store.get(route(size - 1)) is None:
            raise RuntimeError("a bulk-filled key did not read back through RedisStore")
        n = min(calls, size)
        set_keys = [route(i) for i in random.sample(range(size), n)]
        get_keys = [route(i) for i in random.sample(range(size), n)]
        now = time.time()
        started = time.perf_counter()
        for key in set_keys:
            await store.set(key, clearance(now + 3600))
        set_us = (time.perf_counter() - started) / n * 1e6
        started = time.perf_counter()
        for key in get_keys:
            await store.get(key)
        get_us = (time.perf_counter() - started) / n * 1e6
        if store.link.down or len(store.memory) > 2 * n + 1:
            raise RuntimeError(f"unexpected state after timing: {store!r}, {store.memory!r}")
        return set_us, get_us
    finally:
        await store.close()


def redis_rows(all_sizes: list[int], calls: int) -> list[tuple[float, float, float]]:
    """(set µs, get µs, used_memory MiB) per size, on one redis-server filled step by step."""
    import redis

    from scrapy_captcha.testing import RedisServer

    rows: list[tuple[float, float, float]] = []
    with RedisServer() as server:
        client = redis.Redis(host="127.0.0.1", port=server.port)

        async def run() -> None:
            filled = 0
            for size in all_sizes:
                started = time.perf_counter()
                fill_redis(client, filled, size)  # blocking: nothing else on the reactor
                filled = size
                used = client.info("memory")["used_memory"] / 2**20
                print(
                    f"redis fill to {size:,} keys: {time.perf_counter() - started:.1f} s "
                    f"(used_memory {used:.0f} MiB)",
                    file=sys.stderr,
                    flush=True,
                )
                set_us, get_us = await measure_redis(server.url, size, calls)
                rows.append((set_us, get_us, used))

        try:
            on_reactor(run)
        finally:
            client.close()
    return rows


# -- table -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1_000_000, help="largest size (pairs)")
    parser.add_argument("--skip-redis", action="store_true", help="memory store only")
    args = parser.parse_args()
    all_sizes = sizes(args.max)
    rows = []
    for size in all_sizes:
        set_us, get_us = asyncio.run(measure(size, MEMORY_CALLS))
        rows.append([f"{size:,}", f"{set_us:.2f}", f"{get_us:.2f}"])
    header = ["pairs", "memory set µs", "memory get µs"]
    if not args.skip_redis:
        for row, (set_us, get_us, used) in zip(
            rows, redis_rows(all_sizes, REDIS_CALLS), strict=True
        ):
            row += [f"{set_us:.1f}", f"{get_us:.1f}", f"{used:,.0f}"]
        header += ["redis set µs", "redis get µs", "redis MiB"]
    print(table(header, rows))
    print(f"\nmemory: {MEMORY_CALLS:,} calls of each per size (one per pair below that).")
    if not args.skip_redis:
        print(
            f"redis: {REDIS_CALLS:,} calls of each per size through RedisStore on a loopback\n"
            "  redis-server, each awaited before the next: one round trip per call (set\n"
            "  includes the memory mirror, get the decode and mirror). Calls from a crawl\n"
            "  overlap, so this is latency per call, not throughput.\n"
            "  redis MiB: the server's used_memory (INFO memory) once filled to that size."
        )


if __name__ == "__main__":
    main()
