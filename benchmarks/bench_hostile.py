"""Worst-case pages: what one hostile response costs the add-on, printed as a table.

Run from the repository root:  python benchmarks/bench_hostile.py

Each case runs in a fresh process: the response is built first (its body is Scrapy's
memory, not ours), then handed to the add-on's response path (Cloudflare detection, then
widget detection) exactly as CaptchaMiddleware.process_response does. That work is
synchronous, so its wall time is how long it blocks the reactor. Target: no case blocks
for more than 100 ms on a 2-core machine; memory beyond the body stays bounded.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TS = "0x4AAAAAAABkMYinukE8nzYS"
API = b'<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>'


def _forms(n: int) -> bytes:
    one = (
        b'<form method="post" action="/f"><div class="cf-turnstile" data-sitekey="'
        + TS.encode()
        + b'"></div><button>Go</button></form>'
    )
    return b"<html><head>" + API + b"</head><body>" + one * n + b"</body></html>"


def _body(case: str) -> tuple[bytes, dict[str, str]]:
    html = {"Content-Type": "text/html; charset=utf-8"}
    if case == "2 000 widget forms":
        return _forms(2_000), html
    if case == "10 000 widget forms":
        return _forms(10_000), html
    if case == "100 MB page (mentions captcha)":
        return b"<html><body>" + b"<p>a captcha, a turnstile</p>" * (100 << 20 >> 5), html
    if case == "gzip bomb (254 KB -> 100 MB of <p>)":
        bomb = gzip.compress(b"<p>" * (100 * 2**20 // 3), 9)
        return gzip.decompress(bomb) + API + b'<div class="cf-turnstile">', html
    if case == "100 000-deep nesting":
        return b"<div>" * 100_000 + API + b'<div class="g-recaptcha" data-sitekey="x">', html
    if case == "10 MB data: image":
        data = base64.b64encode(b"\0" * (10 << 20))
        page = b'<form><img id="c" src="data:image/png;base64,' + data + b'"><input name="c">'
        return page + b"</form>", html
    raise SystemExit(f"unknown case {case!r}")


CASES = (
    "2 000 widget forms",
    "10 000 widget forms",
    "100 MB page (mentions captcha)",
    "gzip bomb (254 KB -> 100 MB of <p>)",
    "100 000-deep nesting",
    "10 MB data: image",
)


def run_case(case: str) -> dict[str, float]:
    from scrapy import Request
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import CaptchaExtension, CaptchaMiddleware

    body, headers = _body(case)
    request = Request("https://shop.example/p", meta={"proxy": "http://127.0.0.1:9"})
    if "image" in case:
        request.meta["captcha"] = {"image": {"selector": "img#c", "field": "c"}}
    response = HtmlResponse(request.url, body=body, headers=headers, request=request)
    crawler = get_crawler(settings_dict={"CAPTCHA_API_KEY": "k", "CAPTCHA_MAX_SOLVES": 1})
    middleware = CaptchaMiddleware(CaptchaExtension.from_crawler(crawler))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import asyncio

    started = time.perf_counter()
    with contextlib.suppress(Exception):  # (no engine here: a solve cannot start)
        asyncio.run(middleware.process_response(request, response))
    blocked = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"body_mib": len(body) / 2**20, "blocked_ms": blocked, "extra_rss_mib": after - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    rows = []
    for case in CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case], capture_output=True, text=True, timeout=600
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(
            (
                case,
                f"{data['body_mib']:.1f}",
                f"{data['blocked_ms']:.1f}",
                f"{data['extra_rss_mib']:.1f}",
            )
        )
    header = ("page", "body MiB", "reactor blocked ms", "peak RSS beyond body MiB")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
