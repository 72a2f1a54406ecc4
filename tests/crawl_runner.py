"""Run one real Scrapy crawl in its own process and write what happened as JSON.

The subprocess entry point for the crawls where a process boundary is the point (several
crawler processes sharing one Redis, a process killed mid-solve) and for the benchmarks;
most crawl tests run the same spider in the pytest process instead (``conftest.run_crawl``).
The spec is described in ``recording.py``. Usage: ``python crawl_runner.py SPEC.json
OUT.json``.
"""

from __future__ import annotations

import json
import sys

from recording import RecordingSpider, crawl_and_record, crawl_settings, new_out
from scrapy_captcha.testing import offline_public_suffixes


def main(spec_path: str, out_path: str) -> None:
    offline_public_suffixes()
    with open(spec_path) as f:
        spec = json.load(f)
    out = new_out()
    crawl_and_record(RecordingSpider, crawl_settings(spec), out, out_path, spec=spec, out=out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
