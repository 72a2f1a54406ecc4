"""Benchmarks: throughput, per-request overhead and fairness, printed as a table.

Run from the repository root:  python benchmarks/bench.py [--pages N]

Each scenario is a real crawl (tests/crawl_runner.py in a subprocess) against the loopback
emulators, so absolute numbers include the emulators' own cost; compare rows, not
machines. Targets (not asserted by the test-suite, which must not flake on a noisy
machine): the add-on adds well under 1 ms per request once a clearance is cached; one
solve per (domain, proxy); unchallenged pages keep flowing while solves are pending.
"""

from __future__ import annotations

import argparse
import statistics
import time

from harness import addon_middlewares, page_span, run_crawl, table

from scrapy_captcha.testing import EmulatorStack


def throughput(pages: int, repeat: int) -> list[tuple[str, ...]]:
    rows = []
    spans: dict[str, list[float]] = {}
    with EmulatorStack(solve_latency=0.5) as stack:
        stack.site.add_host("shop.example")
        proxy = {"proxy": stack.proxy_a.url}
        cases = {
            "open site, add-on off": ("open.example", {"CAPTCHA_ENABLED": False}),
            "open site, add-on on": ("open.example", {}),
            "protected site, 1 solve": ("shop.example", {}),
        }
        for name, (host, extra) in cases.items():
            for _ in range(repeat):
                reqs = [{"url": f"http://{host}/p/{i}", "meta": proxy} for i in range(pages)]
                before = stack.solver.create_task_count
                out, _wall = run_crawl(
                    {"requests": reqs, "settings": {**stack.scrapy_settings(), **extra}}
                )
                assert len(out["pages"]) == pages, (len(out["pages"]), out["errors"][:3])
                # Time after the solve landed, so rows compare the per-request cost.
                spans.setdefault(name, []).append(page_span(out))
                solves = stack.solver.create_task_count - before
            span = statistics.median(spans[name])
            rows.append(
                (
                    name,
                    str(pages),
                    str(solves),
                    f"{span:.2f}",
                    f"{pages / span:.0f}" if span else "-",
                    f"{span / pages * 1000:.3f}",
                    f"{out['stats'].get('memusage/max', 0) / 2**20:.0f}",
                )
            )
    base = statistics.median(spans["open site, add-on off"]) / pages * 1000
    on = statistics.median(spans["open site, add-on on"]) / pages * 1000
    cached = statistics.median(spans["protected site, 1 solve"]) / pages * 1000
    rows.append(("add-on overhead / request (open)", "", "", "", "", f"{on - base:+.3f}", ""))
    rows.append(("... with a cached clearance", "", "", "", "", f"{cached - base:+.3f}", ""))
    return rows


def fairness() -> list[tuple[str, ...]]:
    with EmulatorStack(solve_latency=3.0) as stack:
        hosts = [f"shop{i}.example" for i in range(6)]
        for host in hosts:
            stack.site.add_host(host)
        meta = {"proxy": stack.proxy_a.url}
        reqs = [
            {"url": f"http://{h}/p/{j}", "tag": "challenged", "meta": meta}
            for h in hosts
            for j in range(5)
        ]
        reqs += [
            {"url": f"http://open.example/p/{j}", "tag": "open", "meta": meta} for j in range(40)
        ]
        out, wall = run_crawl(
            {"requests": reqs, "settings": {**stack.scrapy_settings(), "CONCURRENT_REQUESTS": 16}}
        )
        last_open = max(p["t"] for p in out["pages"] if p["tag"] == "open")
        first_challenged = min(p["t"] for p in out["pages"] if p["tag"] == "challenged")
        return [
            ("40 open pages done (s)", f"{last_open:.2f}"),
            ("first challenged page (s)", f"{first_challenged:.2f}"),
            ("solves (6 domains, 30 waiting requests)", str(stack.solver.create_task_count)),
            ("crawl wall time incl. start-up (s)", f"{wall:.2f}"),
        ]


def hot_path(n: int) -> list[tuple[str, ...]]:
    """The add-on's own cost per request, in-process: no network, no reactor."""
    import asyncio

    from scrapy import Request
    from scrapy.http import HtmlResponse

    from scrapy_captcha.detect._detection import detect
    from scrapy_captcha.routes._routes import route_for
    from scrapy_captcha.routes.clearance import Clearance
    from scrapy_captcha.services._solutions import CloudflareSolution

    root, solve, clear, guard = addon_middlewares()
    proxy = {"proxy": "http://127.0.0.1:8080"}
    ordinary = HtmlResponse(
        "http://shop.example/p",
        status=200,
        headers={"Server": "cloudflare", "CF-RAY": "1"},
        body=b"<html><head><title>p</title></head><body>" + b"<p>text</p>" * 5000 + b"</body>",
    )
    challenge = HtmlResponse(
        "http://shop.example/p",
        status=403,
        headers={"Server": "cloudflare", "cf-mitigated": "challenge"},
        body=b"<html><title>Just a moment...</title><script>window._cf_chl_opt={}</script>",
    )
    solution = CloudflareSolution(
        cookies={"cf_clearance": "x" * 200, "__cf_bm": "y" * 100},
        user_agent="UA",
        request_headers={"user-agent": "UA", "accept-language": "en", "sec-ch-ua": "x"},
        headers={},
        content=None,
    )
    key = route_for(Request("http://shop.example/p", meta=proxy), root.routes.secret).key
    asyncio.run(root.routes.store.set(key, Clearance.from_solution(solution, ttl=3600)))

    async def cycle() -> None:
        request = Request("http://shop.example/p", meta=dict(proxy))
        await clear.process_request(request)
        await guard.process_response(request, ordinary)
        await solve.process_response(request, ordinary)

    def timed(fn, *args) -> float:
        started = time.perf_counter()
        for _ in range(n):
            fn(*args)
        return (time.perf_counter() - started) / n * 1e6

    def run_cycles() -> float:
        async def many() -> None:
            for _ in range(n):
                await cycle()

        started = time.perf_counter()
        asyncio.run(many())
        return (time.perf_counter() - started) / n * 1e6

    from scrapy_captcha.detect._widgets import find_widgets

    gate_page = HtmlResponse(
        "http://shop.example/gate",
        body=b"<html><head><title>Verify</title><script src='https://challenges.cloudflare.com"
        b"/turnstile/v0/api.js'></script></head><body><form method='post'><input type="
        b"'hidden' name='csrf' value='x'><div class='cf-turnstile' data-sitekey="
        b"'0x4AAAAAAABkMYinukE8nzYS' data-action='go'></div><button>Go</button></form>"
        + b"<p>text</p>" * 500
        + b"</body></html>",
    )
    return [
        ("find_widgets(): ordinary 55 KB page", f"{timed(find_widgets, ordinary):.1f}"),
        (
            "find_widgets(): 6 KB Turnstile gate page (parsed)",
            f"{timed(find_widgets, gate_page):.1f}",
        ),
        ("detect(): ordinary 55 KB Cloudflare-hosted page", f"{timed(detect, ordinary):.1f}"),
        ("detect(): challenge page", f"{timed(detect, challenge):.1f}"),
        ("request+response with a cached clearance", f"{run_cycles():.1f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hot", type=int, default=20000)
    args = parser.parse_args()
    print(f"Throughput (median of {args.repeat} runs, after any solve)")
    print(
        table(
            ("scenario", "pages", "solves", "span s", "pages/s", "ms/page", "RSS MiB"),
            throughput(args.pages, args.repeat),
        )
    )
    print()
    print(f"Hot path, in-process (mean of {args.hot} calls)")
    print(table(("operation", "µs/call"), hot_path(args.hot)))
    print()
    print("Fairness: CONCURRENT_REQUESTS=16, solves take 3 s")
    print(table(("measure", "value"), fairness()))


if __name__ == "__main__":
    main()
