"""Workers sharing one Redis: pages, solves and lost requests, with and without a worker
SIGKILLed while its pages wait for a solve.

Run from the repository root:  python benchmarks/bench_workers.py [--workers 3]

Each worker is a real Scrapy process (``tests/redis_worker.py``: a scrapy-redis
``RedisSpider`` with scrapy-redis's scheduler and dupefilter, and the add-on storing
clearances in the same Redis) against the loopback emulators and a throw-away
redis-server. D protected domains x P pages, all behind one proxy, are pushed to the shared
start-URL list; each solve takes ``--latency`` seconds at the emulated solver.

Row "killed": once every page has been popped and is waiting for a solve (all on the
workers' shelves in Redis), the solver is held, the worker with the most waiting pages that
holds no solve lease is SIGKILLed, and the solver released once its shelf was claimed.
*lost* = pages never delivered; *dup* = pages delivered twice; *solves* = solver tasks
created (the target: one per domain).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import ROOT, table, wait_until

from scrapy_captcha.testing import EmulatorStack, RedisServer

WORKER = ROOT / "tests" / "redis_worker.py"
PREFIX = "scrapy-captcha:"
SPIDER = "workers"


class Worker:
    def __init__(self, workdir: Path, name: str, settings: dict[str, Any]) -> None:
        workdir.mkdir(parents=True)
        spec = workdir / "spec.json"
        spec.write_text(
            json.dumps({"name": name, "reactor": "asyncio", "batch": 16, "settings": settings})
        )
        self.log_path = workdir / "crawl.log"
        self.log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(spec), str(workdir / "out.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT / "tests"),
            env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"},
        )

    def worker_id(self) -> str | None:
        for line in self.log_path.read_text().splitlines():
            if "requests waiting for a solve are also kept" in line:
                return line.split("Worker ", 1)[1].split(":", 1)[0]
        return None

    def stop(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None
        finally:
            self.log.close()


def shelves(redis: RedisServer) -> dict[str, int]:
    return {
        key.rsplit(":", 1)[1]: int(redis.command("HLEN", key))
        for key in redis.command("KEYS", f"{PREFIX}parked:{SPIDER}:*")
    }


def run(n_workers: int, domains: int, pages: int, latency: float, kill: bool) -> dict[str, Any]:
    with RedisServer() as redis, EmulatorStack(solve_latency=latency) as stack:
        hosts = [f"shop{d}.example" for d in range(domains)]
        for host in hosts:
            stack.site.add_host(host)
        settings = {
            **stack.scrapy_settings(),
            "CAPTCHA_CACHE_URL": redis.url,
            "CAPTCHA_LEASE_TTL": 3,
            "CAPTCHA_POLL_INTERVAL": 0.2,
            "LOG_LEVEL": "INFO",
            "CONCURRENT_REQUESTS": 64,
        }
        if kill:
            stack.solver.hold()
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            workers = [Worker(Path(tmp) / f"w{i}", f"w{i}", settings) for i in range(n_workers)]
            wait_until(lambda: all(w.worker_id() for w in workers), 60)
            started = time.monotonic()
            expected = [f"http://{h}/p/{i}" for h in hosts for i in range(pages)]
            for url in expected:
                entry = json.dumps({"url": url, "proxy": stack.proxy_a.url})
                redis.command("RPUSH", f"{SPIDER}:start_urls", entry)
            if kill:
                wait_until(lambda: sum(shelves(redis).values()) == len(expected), 120)
                holders = {
                    str(redis.command("GET", k)).split(":")[0]
                    for k in redis.command("KEYS", f"{PREFIX}lease:*")
                }
                on = shelves(redis)
                candidates = [w for w in workers if w.worker_id() not in holders]
                victim = max(candidates, key=lambda w: on.get(w.worker_id() or "", 0))
                victim.proc.kill()
                wait_until(lambda: victim.worker_id() not in shelves(redis), 60)
                stack.solver.release()
            codes = [w.stop(300) for w in workers]
            elapsed = time.monotonic() - started
        records = redis.command("LRANGE", f"{SPIDER}:delivered", "0", "-1")
        got = [json.loads(x)["url"] for x in records]
        return {
            "row": "one SIGKILLed mid-solve" if kill else "all running",
            "workers": n_workers,
            "pages": f"{len(set(got))}/{len(expected)}",
            "lost": len(set(expected) - set(got)),
            "dup": len(got) - len(set(got)),
            "solves": stack.solver.create_task_count,
            "domains": domains,
            "exit": ",".join("kill" if c is None or c < 0 else str(c) for c in codes),
            "s to last exit": round(elapsed, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--domains", type=int, default=4)
    parser.add_argument("--pages", type=int, default=25)
    parser.add_argument("--latency", type=float, default=2.0)
    args = parser.parse_args()
    rows = [
        run(args.workers, args.domains, args.pages, args.latency, kill=False),
        run(args.workers, args.domains, args.pages, args.latency, kill=True),
    ]
    print(
        f"{args.workers} scrapy-redis workers, {args.domains} protected domains x "
        f"{args.pages} pages behind one proxy, solver latency {args.latency} s"
    )
    print(table(tuple(rows[0]), [tuple(str(v) for v in r.values()) for r in rows]))


if __name__ == "__main__":
    main()
