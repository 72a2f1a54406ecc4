"""What the add-on costs on clean pages that merely talk about captchas and Cloudflare.

Run from the repository root:  python benchmarks/bench_clean.py [--pairs N]

Two measures per page size (10 KB, 200 KB, 2 MB; prose that mentions "captcha",
"reCAPTCHA", "Turnstile" and "Cloudflare", no widget markup):
- the add-on's own work per response, in-process (its three middlewares' methods);
- a real crawl of those pages from a loopback server, add-on on vs off, in paired runs
  that alternate which goes first; the median of the on/off ratios of the crawl spans.
Target: a ratio within 2 % (1.02).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUNNER = ROOT / "tests" / "crawl_runner.py"

from bench import addon_middlewares  # noqa: E402

PROSE = (
    "<p>Why do some sites show a captcha? Cloudflare may answer with a challenge page; "
    "Google's reCAPTCHA and Cloudflare Turnstile ask you to prove you are human, and an "
    "hCaptcha pays the site owner. This article explains each of them in turn.</p>\n"
)
SIZES = {"10 KB": 10_000, "200 KB": 200_000, "2 MB": 2_000_000}
PAGES = {"10 KB": 400, "200 KB": 200, "2 MB": 40}


def page(size: int) -> bytes:
    body = "<html><head><title>Captchas explained</title></head><body><article>"
    body += PROSE * (size // len(PROSE) + 1)
    return (body[:size] + "</article></body></html>").encode()


class Server:
    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Server", "cloudflare")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def crawl_span(url: str, pages: int, enabled: bool) -> float:
    spec = {
        "settings": {
            "CAPTCHA_ENABLED": enabled,
            "CAPTCHA_API_KEY": "k",
            "CAPTCHA_CHECK_BALANCE": False,
            "LOG_LEVEL": "WARNING",
            "CONCURRENT_REQUESTS": 16,
        },
        "batches": [{"requests": [{"url": f"{url}/p/{i}"} for i in range(pages)]}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(spec))
        subprocess.run(
            [sys.executable, str(RUNNER), str(spec_path), str(out_path)],
            check=True,
            timeout=600,
            capture_output=True,
        )
        out = json.loads(out_path.read_text())
    times = sorted(p["t"] for p in out["pages"])
    assert len(times) == pages, (len(times), out["errors"][:2])
    return times[-1] - times[0]


def per_response_us(body: bytes, n: int) -> float:
    from scrapy import Request
    from scrapy.http import HtmlResponse

    _, solve, clear, guard = addon_middlewares()

    async def many() -> float:
        started = time.perf_counter()
        for _ in range(n):
            request = Request("http://127.0.0.1/p")
            response = HtmlResponse(request.url, body=body, request=request)
            await clear.process_request(request)
            await guard.process_response(request, response)
            await clear.process_response(request, response)
            await solve.process_response(request, response)
        return (time.perf_counter() - started) / n * 1e6

    async def baseline() -> float:
        started = time.perf_counter()
        for _ in range(n):
            request = Request("http://127.0.0.1/p")
            HtmlResponse(request.url, body=body, request=request)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(many()) - asyncio.run(baseline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, size in SIZES.items():
        body = page(size)
        cost = per_response_us(body, 200 if size < 1_000_000 else 40)
        server = Server(body)
        ratios = []
        try:
            for i in range(args.pairs):
                order = (True, False) if i % 2 == 0 else (False, True)
                spans = {on: crawl_span(server.url, PAGES[name], on) for on in order}
                ratios.append(spans[True] / spans[False])
        finally:
            server.close()
        rows.append((name, str(PAGES[name]), f"{cost:.1f}", f"{statistics.median(ratios):.3f}"))
    header = ("page", "pages/crawl", "add-on µs/response", "crawl time on/off (median)")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
