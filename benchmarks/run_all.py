"""Every benchmark row the project reports, in one command, each table under a heading.

Run from the repository root:

    python benchmarks/run_all.py [--soak 100000] [--quick] [--only store,hostile]

Sections, in this order (names for ``--only``):

- ``throughput``: pages/s and ms/page with the add-on off and on, the hot path in-process,
  fairness while solves are pending (bench.py);
- ``store``: clearance store µs per call, memory and Redis (bench_store.py);
- ``redis``: processes sharing solves through Redis, the latency Redis adds (bench_redis.py);
- ``concurrency``: the 16-domain concurrency row beside the blocking baseline
  (bench_scale.py --skip-soak);
- ``soak``: RSS over a long crawl (bench_scale.py --skip-concurrency --soak N);
- ``workers``: several workers sharing one crawl (bench_workers.py);
- ``shelf``: one look at a dead worker's shelf, whatever it holds (bench_shelf.py);
- ``hostile``: worst-case pages (bench_hostile.py);
- ``clean``: cost on clean pages that talk about captchas (bench_clean.py).

Each section runs as a subprocess with this interpreter, its output streamed as it comes,
and is timed. A failed section does not stop the others; the exit status is non-zero if
any section failed. ``--quick``: smaller sizes (throughput on 100 pages, one run each, 2 000
hot-path calls; store up to 10^5 pairs; Redis with 1 000 gets and 100-page crawls; soak of
20 000 requests); the other sections have no smaller size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
SECTIONS = (
    "throughput",
    "store",
    "redis",
    "concurrency",
    "soak",
    "workers",
    "shelf",
    "hostile",
    "clean",
)


def commands(soak: int, quick: bool) -> dict[str, list[str]]:
    def smaller(*args: str) -> list[str]:
        return list(args) if quick else []

    return {
        "throughput": ["bench.py", *smaller("--pages", "100", "--repeat", "1", "--hot", "2000")],
        "store": ["bench_store.py", *smaller("--max", "100000")],
        "redis": ["bench_redis.py", *smaller("--gets", "1000", "--crawl-pages", "100")],
        "concurrency": ["bench_scale.py", "--skip-soak"],
        "soak": ["bench_scale.py", "--skip-concurrency", "--soak", str(soak)],
        "workers": ["bench_workers.py"],
        "shelf": ["bench_shelf.py"],
        "hostile": ["bench_hostile.py"],
        "clean": ["bench_clean.py"],
    }


def run(name: str, args: list[str]) -> tuple[str, float]:
    """Run one section, streaming its output; (status, seconds)."""
    script = HERE / args[0]
    shown = " ".join(["python", f"benchmarks/{args[0]}", *args[1:]])
    print(f"\n=== {name}: {shown}", flush=True)
    if not script.is_file():
        print(f"{args[0]} missing", flush=True)
        return "missing", 0.0
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        code = subprocess.run(
            [sys.executable, str(script), *args[1:]], cwd=ROOT, env=env
        ).returncode
    except OSError as exc:
        print(f"could not run: {exc}", flush=True)
        code = -1
    elapsed = time.monotonic() - started
    status = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"=== {name}: {status} in {elapsed:.0f} s", flush=True)
    return status, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=int, default=None, help="soak requests (default 100000)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes where a section has them"
    )
    parser.add_argument("--only", help=f"comma-separated sections among: {', '.join(SECTIONS)}")
    args = parser.parse_args()
    chosen = list(SECTIONS)
    if args.only:
        chosen = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown or not chosen:
            parser.error(f"--only: unknown section(s) {unknown}; choose among {SECTIONS}")
    soak = args.soak if args.soak is not None else (20_000 if args.quick else 100_000)
    cmds = commands(soak, args.quick)
    results = []
    total = time.monotonic()
    for name in SECTIONS:
        if name in chosen:
            results.append((name, *run(name, cmds[name])))
    print(f"\n=== summary ({time.monotonic() - total:.0f} s in all)")
    width = max(len(name) for name, _, _ in results)
    for name, status, elapsed in results:
        print(f"{name.ljust(width)}  {elapsed:6.0f} s  {status}")
    failed = [name for name, status, _ in results if status.startswith("FAILED")]
    if failed:
        print(f"failed: {', '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
