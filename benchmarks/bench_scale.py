"""Scale benchmarks: many solves at high concurrency, and memory over a long crawl.

Run from the repository root:  python benchmarks/bench_scale.py [--soak 100000]

1. Concurrency: 16 Cloudflare-protected domains x 16 pages at CONCURRENT_REQUESTS=256,
   each solve taking 3 s at the (emulated) solver. The add-on's crawl is set beside the
   ideal (solver latency + the same crawl with no challenge at all) and beside a blocking
   baseline: a naive downloader middleware, written below the way older plugins do it, that
   solves inside ``process_response`` with ``urllib.request`` and ``time.sleep`` polling,
   so the whole reactor stalls for every solve.
2. Soak: N requests through the add-on (pages of protected domains once their clearance is
   cached, widget gates the add-on solves and submits, plain pages), with the VmRSS of the
   crawl process sampled every second from this (parent) process. The emulators run here, in
   the parent, so their memory is not in the number.

Every crawl is a real Scrapy crawl in a subprocess against the loopback emulators
(``scrapy_captcha.testing``); absolute numbers include the emulators' own CPU on the same
machine, so compare rows, not machines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from harness import ASYNCIO_REACTOR, run_crawl, table, vm_rss_mib

from scrapy_captcha.testing import EmulatorStack
from scrapy_captcha.testing.solver._emulator import SolverEmulator

SOLVE_LATENCY = 3.0
DOMAINS = 16
PAGES = 16
CONCURRENCY = 256

# The blocking baseline: what a "requests"-style plugin does, kept naive on purpose. One
# solve per domain (later challenges of a solved domain reuse its cookies), but each solve
# blocks the Twisted reactor for its whole duration.
NAIVE_MIDDLEWARE = '''
"""A naive, blocking Cloudflare middleware (the pattern of older plugins)."""

import json
import time
import urllib.request
from urllib.parse import urlsplit


class BlockingCloudflareMiddleware:
    def __init__(self, api_url, api_key, poll):
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.poll = poll
        self.solved = {}  # domain -> (cookies, user agent)
        self.solves = 0

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        return cls(s.get("NAIVE_API_URL"), s.get("NAIVE_API_KEY"), s.getfloat("NAIVE_POLL"))

    def _call(self, method, payload):
        req = urllib.request.Request(
            f"{self.api_url}/{method}",
            data=json.dumps({"clientKey": self.api_key, **payload}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def _solve(self, url, proxy):
        created = self._call(
            "createTask",
            {"task": {"type": "CloudFlareTaskS3", "websiteURL": url, "proxy": proxy}},
        )
        if created.get("errorId"):
            raise RuntimeError(created)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(self.poll)  # the reactor is stalled here
            result = self._call("getTaskResult", {"taskId": created["taskId"]})
            if result.get("errorId"):
                raise RuntimeError(result)
            if result.get("status") == "ready":
                self.solves += 1
                solution = result["solution"]
                return dict(solution["cookies"]), solution["user_agent"]
        raise TimeoutError(url)

    def _apply(self, request, domain):
        cookies, ua = self.solved[domain]
        headers = dict(request.headers)
        headers[b"User-Agent"] = ua
        return request.replace(cookies={**cookies}, headers=headers, dont_filter=True)

    def process_request(self, request, spider=None):
        domain = urlsplit(request.url).hostname
        if domain in self.solved and not request.meta.get("naive_applied"):
            request.meta["naive_applied"] = True
            cookies, ua = self.solved[domain]
            request.headers[b"User-Agent"] = ua
            request.cookies = {**(request.cookies or {}), **cookies}
        return None

    def process_response(self, request, response, spider=None):
        challenged = response.headers.get(b"cf-mitigated", b"").lower() == b"challenge" or (
            response.status in (403, 503) and b'id="challenge-form"' in response.body
        )
        if not challenged:
            return response
        domain = urlsplit(request.url).hostname
        if request.meta.get("naive_retry"):
            return response  # solved already and still challenged: give up
        if domain not in self.solved:
            self.solved[domain] = self._solve(request.url, request.meta.get("proxy"))
        new = self._apply(request, domain)
        new.meta["naive_retry"] = True
        new.meta["naive_applied"] = True
        return new
'''

# The soak crawl: requests made lazily by the spider's start(), a counter per kind, no
# per-page record (the crawl process must not grow with the spider's own bookkeeping), and
# the dupefilter out of the way (dont_filter) so Scrapy's fingerprint set does not either.
SOAK_RUNNER = '''
"""Soak crawl: N requests through the add-on, progress written to a file every 0.5 s."""

import json
import sys
import time

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from twisted.internet import task

from scrapy_captcha.testing import offline_public_suffixes

GATE_KINDS = ("turnstile", "recaptcha-v2", "recaptcha-v3")


class SoakSpider(scrapy.Spider):
    name = "soak"

    def __init__(self, cfg, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.counts = {"done": 0, "errors": 0}
        self.t0 = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        return spider

    def opened(self, spider):
        self.loop = task.LoopingCall(self.progress)
        self.loop.start(0.5)

    def progress(self):
        with open(self.cfg["progress"], "w") as f:
            json.dump({**self.counts, "t": time.monotonic() - self.t0}, f)

    def closed(self, reason):
        self.counts["reason"] = reason
        self.progress()

    async def start(self):
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor

        cfg = self.cfg
        meta = {"proxy": cfg["proxy"]}
        protected, n_gate = cfg["protected"], 0
        for i in range(cfg["n"]):
            # A bounded window of requests in flight: gates take longer than pages, and
            # without the window Scrapy's scheduler would queue a growing backlog of them,
            # which is the scheduler's memory, not the add-on's.
            while i - self.counts["done"] >= cfg["window"]:
                await maybe_deferred_to_future(task.deferLater(reactor, 0.01, lambda: None))
            k = i % 3
            if k == 0:
                host = protected[(i // 3) % len(protected)]
                url, kind, m = f"http://{host}/p/{i}", "protected", meta
            elif k == 1:
                gate = GATE_KINDS[n_gate % len(GATE_KINDS)]
                # One cookie jar per in-flight gate session, reused far apart (bounded).
                m = {**meta, "cookiejar": f"g{n_gate % 2048}"}
                url, kind = f"http://{cfg['gate_host']}/gate/{gate}/g{i}", "gate"
                n_gate += 1
            else:
                url, kind, m = f"http://{cfg['open_host']}/p/{i}", "plain", meta
            yield scrapy.Request(
                url,
                meta=dict(m),
                callback=self.parse,
                errback=self.failed,
                cb_kwargs={"kind": kind},
                dont_filter=True,
            )

    def parse(self, response, kind):
        self.counts["done"] += 1
        ok = response.status == 200 and b"cf-mitigated" not in response.headers
        if kind == "gate":
            ok = ok and b"Content behind gate" in response.body
        key = f"{kind}_{'ok' if ok else 'bad'}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def failed(self, failure):
        self.counts["done"] += 1
        self.counts["errors"] += 1


def main(cfg_path):
    offline_public_suffixes()
    with open(cfg_path) as f:
        cfg = json.load(f)
    process = CrawlerProcess(cfg["settings"])
    crawler = process.create_crawler(SoakSpider)
    process.crawl(crawler, cfg=cfg)
    process.start()
    stats = {k: str(v) for k, v in crawler.stats.get_stats().items()}
    with open(cfg["out"], "w") as f:
        json.dump(stats, f)


if __name__ == "__main__":
    main(sys.argv[1])
'''

BASE_SETTINGS = {
    "TWISTED_REACTOR": ASYNCIO_REACTOR,
    "ROBOTSTXT_OBEY": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "CAPTCHA_POLL_INTERVAL": 0.1,
    "CAPTCHA_SOLVE_TIMEOUT": 60,
    "RETRY_ENABLED": False,
    "HTTPERROR_ALLOW_ALL": True,
}


def new_stack(latency: float, workers: int, lifetime: float = 900.0) -> EmulatorStack:
    """An EmulatorStack whose solver has enough workers for every solve at once (as a real
    service does), a balance for every task, and servers taking CONCURRENCY connections."""
    stack = EmulatorStack(solve_latency=latency)
    stack.solver = SolverEmulator(
        latency=latency,
        max_workers=workers,
        keys={"test-key": 1e9},
        authority=stack.authority,
        max_lifetime=lifetime,
    )
    for server in (stack.site, stack.proxy_a, stack.proxy_b):
        server.max_connections = 4 * CONCURRENCY
        server.max_lifetime = lifetime
    return stack


def concurrency(repeat: int) -> list[tuple[str, ...]]:
    settings = {
        **BASE_SETTINGS,
        "CONCURRENT_REQUESTS": CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": PAGES,
        "CLOSESPIDER_TIMEOUT": 300,
    }
    rows = []
    with tempfile.TemporaryDirectory() as mods, new_stack(SOLVE_LATENCY, 64) as stack:
        Path(mods, "naive_cf.py").write_text(NAIVE_MIDDLEWARE)
        protected = [f"shop{i}.example" for i in range(DOMAINS)]
        for host in protected:
            stack.site.add_host(host)  # managed challenge
        opened = [f"open{i}.example" for i in range(DOMAINS)]
        for host in opened:
            stack.site.add_host(host, "open")
        meta = {"proxy": stack.proxy_a.url}

        def spec(hosts: list[str], extra: dict[str, Any]) -> dict[str, Any]:
            reqs = [
                {"url": f"http://{h}/p/{j}", "meta": meta} for h in hosts for j in range(PAGES)
            ]
            return {"settings": {**settings, **extra}, "batches": [{"requests": reqs}]}

        addon = {**stack.scrapy_settings(), "ADDONS": {"scrapy_captcha.Addon": 500}}
        naive = {
            "ADDONS": {},
            "CAPTCHA_ENABLED": False,
            "DOWNLOADER_MIDDLEWARES": {"naive_cf.BlockingCloudflareMiddleware": 650},
            "NAIVE_API_URL": stack.solver.url_for("1captcha"),
            "NAIVE_API_KEY": "test-key",
            "NAIVE_POLL": 0.1,
        }
        cases = [
            ("unprotected (16 open domains, add-on on)", opened, addon),
            ("add-on (async solves)", protected, addon),
            ("blocking middleware, add-on off", protected, naive),
        ]
        results: dict[str, list[tuple[float, float, int, int, int]]] = {}
        for _ in range(repeat):
            for name, hosts, extra in cases:
                before = stack.solver.create_task_count
                out, wall = run_crawl(spec(hosts, extra), mods)
                solves = stack.solver.create_task_count - before
                good = sum(
                    1
                    for p in out["pages"]
                    if p["status"] == 200 and not p["cf_mitigated"] and p["content"] is not None
                )
                crawl_s = max((p["t"] for p in out["pages"]), default=0.0)
                results.setdefault(name, []).append(
                    (crawl_s, wall, solves, good, len(out["errors"]))
                )
        ideal = SOLVE_LATENCY + median([r[0] for r in results[cases[0][0]]])
        for name, _hosts, _extra in cases:
            runs = results[name]
            crawl_s = median([r[0] for r in runs])
            wall = median([r[1] for r in runs])
            solves = "/".join(sorted({str(r[2]) for r in runs}))
            good = "/".join(sorted({str(r[3]) for r in runs}))
            errors = sum(r[4] for r in runs)
            protected_row = name != cases[0][0]
            rows.append(
                (
                    name,
                    solves,
                    f"{good}/{DOMAINS * PAGES}",
                    str(errors),
                    f"{crawl_s:.2f}",
                    f"{wall:.2f}",
                    f"{ideal:.2f}" if protected_row else "-",
                    f"x{crawl_s / ideal:.2f}" if protected_row else "-",
                )
            )
    return rows


def soak(n: int, marks: list[int], budget: float) -> tuple[list[tuple[str, ...]], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp, new_stack(0.05, 32, budget + 120) as stack:
        runner = Path(tmp, "soak_runner.py")
        runner.write_text(SOAK_RUNNER)
        protected = [f"shop{i}.example" for i in range(16)]
        for host in protected:
            stack.site.add_host(host)
        stack.site.add_host("gates.example", "open")
        progress, out = Path(tmp, "progress.json"), Path(tmp, "stats.json")
        cfg = {
            "n": n,
            "window": 128,
            "proxy": stack.proxy_a.url,
            "protected": protected,
            "gate_host": "gates.example",
            "open_host": "open.example",
            "progress": str(progress),
            "out": str(out),
            "settings": {
                **BASE_SETTINGS,
                **stack.scrapy_settings(),
                "ADDONS": {"scrapy_captcha.Addon": 500},
                "CONCURRENT_REQUESTS": 64,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
                "CLOSESPIDER_TIMEOUT": budget,
                "MEMUSAGE_ENABLED": False,
                "LOGSTATS_INTERVAL": 3600,
            },
        }
        cfg_path = Path(tmp, "cfg.json")
        cfg_path.write_text(json.dumps(cfg))
        proc = subprocess.Popen(
            [sys.executable, str(runner), str(cfg_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        samples: list[tuple[float, int, float]] = []  # (t, requests done, RSS MiB)
        started = time.monotonic()
        try:
            while proc.poll() is None and time.monotonic() - started < budget + 60:
                rss = vm_rss_mib(proc.pid)
                try:
                    done = json.loads(progress.read_text())["done"]
                except (OSError, ValueError, KeyError):
                    done = 0
                if rss is not None:
                    samples.append((time.monotonic() - started, done, rss))
                time.sleep(1.0)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=60)
        final = json.loads(progress.read_text())
        stats = json.loads(out.read_text()) if out.exists() else {}
        info = {
            "final": final,
            "stats": stats,
            "wall": time.monotonic() - started,
            "solves": stack.solver.create_task_count,
            "stderr_tail": err.decode(errors="replace")[-2000:] if proc.returncode else "",
            "samples": samples,
        }
    rows = []
    for mark in marks:
        hit = [s for s in samples if s[1] >= mark]
        if hit:
            t, done, rss = hit[0]
            peak = max(s[2] for s in samples if s[0] <= t)
            rows.append((f"{mark:,}", f"{done:,}", f"{t:.0f}", f"{rss:.1f}", f"{peak:.1f}"))
        else:
            rows.append((f"{mark:,}", "not reached", "-", "-", "-"))
    if samples:
        t, done, rss = samples[-1]
        peak = max(s[2] for s in samples)
        rows.append(("last sample", f"{done:,}", f"{t:.0f}", f"{rss:.1f}", f"{peak:.1f}"))
    return rows, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each concurrency row")
    parser.add_argument("--soak", type=int, default=100_000, help="requests in the soak crawl")
    parser.add_argument("--soak-budget", type=float, default=1200, help="soak time limit, s")
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--skip-soak", action="store_true")
    args = parser.parse_args()
    if not args.skip_concurrency:
        print(
            f"Concurrency: {DOMAINS} protected domains x {PAGES} pages, "
            f"CONCURRENT_REQUESTS={CONCURRENCY}, solves take {SOLVE_LATENCY:.0f} s, one proxy"
        )
        print(
            table(
                (
                    "crawl",
                    "solves",
                    "pages ok",
                    "errors",
                    "crawl s",
                    "wall s",
                    "ideal s",
                    "vs ideal",
                ),
                concurrency(args.repeat),
            ),
            flush=True,
        )
        print()
    if not args.skip_soak:
        marks = [
            m
            for m in (1_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 750_000, 1_000_000)
            if m <= args.soak
        ]
        rows, info = soak(args.soak, marks, args.soak_budget)
        final = info["final"]
        print(
            f"Soak: {args.soak:,} requests (1/3 protected pages with a cached clearance, "
            "1/3 widget gates solved and submitted, 1/3 plain pages), "
            "CONCURRENT_REQUESTS=64, at most 128 requests outstanding; "
            "VmRSS of the crawl process sampled every second"
        )
        print(table(("requests", "done at sample", "t s", "RSS MiB", "peak so far"), rows))
        counts = {k: v for k, v in final.items() if k not in ("t",)}
        print(
            f"outcome: {json.dumps(counts)}; solver tasks {info['solves']}; "
            f"crawl {final.get('t', 0):.0f} s "
            f"({final.get('done', 0) / max(final.get('t', 1), 1):.0f} requests/s)"
        )
        if info["stderr_tail"]:
            print("crawl stderr tail:", info["stderr_tail"])


if __name__ == "__main__":
    main()
