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
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scrapy_captcha.testing import EmulatorStack  # noqa: E402

RUNNER = ROOT / "tests" / "crawl_runner.py"


def crawl(spec: dict[str, Any]) -> tuple[dict[str, Any], float]:
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec.setdefault("settings", {})["LOG_LEVEL"] = "WARNING"
        spec["batches"] = [{"requests": spec.pop("requests")}]
        spec_path.write_text(json.dumps(spec))
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(RUNNER), str(spec_path), str(out_path)],
            check=True,
            timeout=600,
            capture_output=True,
        )
        return json.loads(out_path.read_text()), time.monotonic() - started


def page_span(out: dict[str, Any], tag: str | None = None) -> float:
    """Seconds between the first and last page of the crawl (or of one tag)."""
    times = [p["t"] for p in out["pages"] if tag is None or p["tag"] == tag]
    return max(times) - min(times) if len(times) > 1 else 0.0


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
                out, _wall = crawl(
                    {"requests": reqs, "settings": {**stack.scrapy_settings(), **extra}}
                )
                assert len(out["pages"]) == pages, (len(out["pages"]), out["errors"][:3])
                # Time after the solve landed, so rows compare the per-request cost.
                solved_pages = sorted(p["t"] for p in out["pages"])
                spans.setdefault(name, []).append(solved_pages[-1] - solved_pages[0])
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
        out, wall = crawl(
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


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(headers), line, *map(fmt, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"Throughput (median of {args.repeat} runs, after any solve)")
    print(
        table(
            ("scenario", "pages", "solves", "span s", "pages/s", "ms/page", "RSS MiB"),
            throughput(args.pages, args.repeat),
        )
    )
    print()
    print("Fairness: CONCURRENT_REQUESTS=16, solves take 3 s")
    print(table(("measure", "value"), fairness()))


if __name__ == "__main__":
    main()
