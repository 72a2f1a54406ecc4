"""Crawls meeting the walls beyond Cloudflare: each is recognised, reported with its
vendor and reason, and never paid for -- not as a Cloudflare solve, and not as the widget
a block page may embed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REACTORS
from hostile import HostileSite
from scrapy_captcha.testing import EmulatorStack, ForwardProxy

CORPUS = Path(__file__).parent / "corpus" / "walls"
MANIFEST = {e["file"]: e for e in json.loads((CORPUS / "manifest.json").read_text())}


class Walls:
    def __init__(self, stack: EmulatorStack, site: HostileSite) -> None:
        self.stack, self.site = stack, site
        self.proxy = ForwardProxy("W", upstream=("127.0.0.1", site.port))

    def serve(self, path: str, file: str) -> None:
        entry = MANIFEST[file]
        self.site.routes[path] = (
            entry["status"],
            {k: v for k, v in entry["headers"].items() if k.lower() != "set-cookie"},
            (CORPUS / file).read_bytes(),
        )

    def request(self, path: str) -> dict[str, Any]:
        return {
            "url": f"http://shop.example{path}",
            "tag": path,
            "meta": {"proxy": self.proxy.url, "handle_captcha_unsolved": True},
        }


@pytest.fixture
def walls() -> Iterator[Walls]:
    with EmulatorStack(solve_latency=0.05) as stack, HostileSite() as site:
        w = Walls(stack, site)
        w.proxy.start()
        try:
            yield w
        finally:
            w.proxy.stop()


@pytest.mark.parametrize("reactor", REACTORS)
def test_walls_are_reported_per_vendor_and_never_paid_for(
    walls: Walls, crawl, reactor: str
) -> None:
    cases = {
        "/dd": ("datadome_captcha.html", "datadome", "captcha", "no_task"),
        "/px": ("perimeterx_block_with_recaptcha.html", "perimeterx", "captcha", "blocked"),
        "/aws": ("aws_waf_challenge.html", "aws_waf", "challenge", "no_task"),
        "/akamai": ("akamai_access_denied.html", "akamai", "block", "blocked"),
    }
    for path, (file, *_) in cases.items():
        walls.serve(path, file)
    result = crawl(
        requests=[walls.request(path) for path in cases],
        settings=walls.stack.scrapy_settings(),
        reactor=reactor,
    )
    assert result.outcomes == len(cases), (result.pages, result.errors, result.dropped)
    by_tag = {p["tag"]: p for p in result.pages}
    for path, (_, kind, variant, reason) in cases.items():
        got = by_tag[path]["result"]
        assert (got["kind"], got["variant"], got["solved"], got["reason"]) == (
            kind,
            variant,
            False,
            reason,
        )
        assert result.stat(f"captcha/wall/{kind}") == 1
        assert len(walls.site.hits(path)) == 1  # (given up: not retried, not refetched)
    assert result.stat("captcha/unsolved/blocked") == 2
    assert result.stat("captcha/unsolved/no_task") == 2
    # Nothing paid: no Cloudflare solve, no task for the reCAPTCHA the block page embeds.
    assert walls.stack.solver.create_task_count == 0
    assert result.stat("captcha/detected/recaptcha_v2") == 0
