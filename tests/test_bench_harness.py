"""The benchmarks' shared harness (benchmarks/harness.py): its pieces broke silently when
the add-on changed (a root built without the add-on, a crawl that never started read as
an empty crawl), so the pieces every benchmark leans on are checked here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import harness

from scrapy_captcha import CaptchaExtension


def test_addon_middlewares_builds_the_root_through_the_addon() -> None:
    root, solve, clear, guard = harness.addon_middlewares(CAPTCHA_MAX_SOLVES=1)
    assert isinstance(root, CaptchaExtension)
    assert solve.root is clear.root is guard.root is root
    assert root.settings.max_solves == 1
    assert root.settings.api_url == "http://127.0.0.1:9"  # (never a real service)


def test_a_crawl_that_never_started_stops_the_benchmark() -> None:
    spec = {
        "settings": {"CAPTCHA_API_KEY": "k"},  # (a key without CAPTCHA_PROVIDER)
        "requests": [{"url": "http://127.0.0.1:9/p"}],
    }
    with pytest.raises(RuntimeError, match="CAPTCHA_PROVIDER"):
        harness.run_crawl(spec, timeout=60)


def test_table_aligns_columns_without_trailing_blanks() -> None:
    assert harness.table(("a", "bb"), [(1, 2.5), ("long", "")]).splitlines() == [
        "a     bb",
        "----  ---",
        "1     2.5",
        "long",
    ]
