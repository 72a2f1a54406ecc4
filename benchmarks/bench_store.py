"""Clearance store cost per call at 10^3 ... 10^6 (domain, proxy) pairs, printed as a table.

Run from the repository root:  python benchmarks/bench_store.py [--max 1000000]

The store is filled to each size (entries expiring at spread-out times, a tenth already
expired), then ``set`` and ``get`` are timed on random keys. Target: the same µs per call
whatever the size (expiries come off a heap; the least recently used entry is evicted at
the cap), where the old store scanned every entry on each set past 1 024 entries.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scrapy_captcha.clearance import Clearance
from scrapy_captcha.store import MemoryStore


def clearance(expires_at: float) -> Clearance:
    return Clearance(
        cookies={"cf_clearance": "x" * 400, "__cf_bm": "y" * 150},
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0",
        headers={"accept-language": "en-US,en;q=0.9"},
        expires_at=expires_at,
    )


async def measure(size: int, calls: int) -> tuple[float, float]:
    store = MemoryStore(max_entries=size)
    now = time.time()
    for i in range(size):
        await store.set(
            f"d{i % 997}.example|{i:032x}",
            clearance(now + (-1 if i % 10 == 0 else 3600 + i % 600)),
        )
    keys = [f"d{i % 997}.example|{i:032x}" for i in random.sample(range(size), min(calls, size))]
    started = time.perf_counter()
    for key in keys:
        await store.set(key, clearance(now + 3600))
    set_us = (time.perf_counter() - started) / len(keys) * 1e6
    started = time.perf_counter()
    for key in keys:
        await store.get(key)
    get_us = (time.perf_counter() - started) / len(keys) * 1e6
    return set_us, get_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = []
    size = 1000
    while size <= args.max:
        set_us, get_us = asyncio.run(measure(size, 20_000))
        rows.append((f"{size:,}", f"{set_us:.2f}", f"{get_us:.2f}"))
        size *= 10
    header = ("pairs", "memory set µs", "memory get µs")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
