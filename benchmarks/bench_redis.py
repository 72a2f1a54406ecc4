"""Benchmarks of the Redis clearance store: solves shared across processes, and the
latency Redis adds per request. Prints tables.

Run from the repository root (needs the [test] extra for redis-server):
``python benchmarks/bench_redis.py [--procs 3] [--pages 40]``

Goals: exactly one solve per (domain, proxy) whatever the number of processes; Redis adds
under 1 ms per request (median) on loopback.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import Crawl, child_json, on_reactor, page_span, run_crawl, table

from scrapy_captcha.testing import EmulatorStack, RedisServer

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "twisted": "twisted.internet.selectreactor.SelectReactor",
}


def shared_solves(procs: int, pages: int) -> list[tuple[str, ...]]:
    """``procs`` crawls at once, ``pages`` pages each, one (domain, proxy), one Redis."""
    rows = []
    for reactor in REACTORS:
        with EmulatorStack(solve_latency=1.5) as stack, RedisServer() as redis:
            stack.site.add_host("shop.example")
            settings = {**stack.scrapy_settings(), "CAPTCHA_CACHE_URL": redis.url}
            meta = {"proxy": stack.proxy_a.url}
            with tempfile.TemporaryDirectory() as tmp:
                started = time.monotonic()
                running = [
                    Crawl(
                        {
                            "reactor": reactor,
                            "settings": settings,
                            "requests": [
                                {"url": f"http://shop.example/p/{i}-{j}", "meta": meta}
                                for j in range(pages)
                            ],
                        },
                        Path(tmp, f"crawl{i}"),
                    )
                    for i in range(procs)
                ]
                outs = [crawl.result(300) for crawl in running]
                wall = time.monotonic() - started
            ok = sum(1 for o in outs for p in o["pages"] if p["status"] == 200)
            waited = sum(o["stats"].get("captcha/shared/waited", 0) for o in outs)
            rows.append(
                (
                    reactor,
                    f"{procs} x {pages}",
                    str(ok),
                    str(stack.solver.create_task_count),
                    str(waited),
                    f"{wall:.1f}",
                )
            )
    return rows


async def _store_latency(url: str, n: int) -> dict[str, list[float]]:
    from scrapy_captcha.routes._redis_link import RedisAddress
    from scrapy_captcha.routes._store_redis import RedisStore
    from scrapy_captcha.routes.clearance import Clearance
    from scrapy_captcha.routes.store import MemoryStore

    clearance = Clearance(
        cookies={"cf_clearance": "x" * 200, "__cf_bm": "y" * 100},
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120",
        headers={"accept-language": "en", "sec-ch-ua": "x" * 60},
        expires_at=time.time() + 3600,
        task_id=123,
    )
    key = "shop.example|" + "a" * 32
    result: dict[str, list[float]] = {}
    redis_store = RedisStore(RedisAddress.parse(url))
    for name, store in (("memory", MemoryStore()), ("redis", redis_store)):
        await store.set(key, clearance)
        for _ in range(100):  # warm up (connection, imports)
            await store.get(key)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            got = await store.get(key)
            times.append((time.perf_counter() - t0) * 1e6)
            assert got is not None
        result[name] = times
    await redis_store.close()
    return result


def latency_child(reactor_name: str, url: str, n: int) -> None:
    """Runs in a subprocess: times ``get`` hits under a real reactor, prints JSON."""
    print(json.dumps(on_reactor(lambda: _store_latency(url, n), REACTORS[reactor_name])))


def store_latency(n: int) -> list[tuple[str, ...]]:
    rows = []
    with RedisServer() as redis:
        for reactor in REACTORS:
            data = child_json(__file__, "--latency-child", reactor, redis.url, str(n), timeout=300)
            med = {}
            for name in ("memory", "redis"):
                times = sorted(data[name])
                med[name] = statistics.median(times)
                p95 = times[int(len(times) * 0.95)]
                rows.append((reactor, f"get hit, {name}", f"{med[name]:.1f}", f"{p95:.1f}"))
            extra = med["redis"] - med["memory"]
            rows.append((reactor, "Redis adds (median)", f"{extra:.1f}", ""))
    return rows


def crawl_overhead(pages: int) -> list[tuple[str, ...]]:
    """One process, a cached clearance: ms per page with the memory vs the Redis store."""
    rows = []
    with EmulatorStack(solve_latency=0.3) as stack, RedisServer() as redis:
        stack.site.add_host("shop.example")
        meta = {"proxy": stack.proxy_a.url}
        spans: dict[str, float] = {}
        for name, url in (("memory://", "memory://"), ("redis://", redis.url)):
            runs = []
            for _ in range(3):
                reqs = [{"url": f"http://shop.example/p/{i}", "meta": meta} for i in range(pages)]
                settings = {**stack.scrapy_settings(), "CAPTCHA_CACHE_URL": url}
                out, _ = run_crawl({"requests": reqs, "settings": settings})
                assert all(p["status"] == 200 for p in out["pages"])
                runs.append(page_span(out) / pages * 1000)
            spans[name] = statistics.median(runs)
            rows.append((name, str(pages), f"{spans[name]:.3f}"))
        rows.append(("Redis adds / page", "", f"{spans['redis://'] - spans['memory://']:+.3f}"))
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--latency-child":
        latency_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--gets", type=int, default=5000)
    parser.add_argument("--crawl-pages", type=int, default=300)
    args = parser.parse_args()
    print("Processes sharing one (domain, proxy) through one Redis; solves take 1.5 s")
    print(
        table(
            ("reactor", "procs x pages", "pages 200", "solves", "waited", "wall s"),
            shared_solves(args.procs, args.pages),
        )
    )
    print()
    print(f"store.get of a cached clearance, loopback Redis ({args.gets} calls)")
    print(table(("reactor", "operation", "median µs", "p95 µs"), store_latency(args.gets)))
    print()
    print("A crawl with a cached clearance (median of 3, after the solve)")
    print(table(("store", "pages", "ms/page"), crawl_overhead(args.crawl_pages)))


if __name__ == "__main__":
    main()
