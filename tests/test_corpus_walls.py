"""detect() over the walls beyond Cloudflare (tests/corpus/walls/, pages of our own making).

Each entry of ``manifest.json`` names a page, the status, headers (and URL) it is served
with, and what :func:`detect` must answer: the wall's kind, variant, whether a service can
open it and the task parameters read from the page; ``null`` for the negatives (pages that
mention a vendor, carry its headers or load its scripts without a wall).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Response, TextResponse

from scrapy_captcha.detect._detection import WALLS, Challenge, detect
from scrapy_captcha.detect._widgets import find_widgets

CORPUS = Path(__file__).parent / "corpus" / "walls"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())
URL = "https://shop.walls.test/catalog?page=2"


def response_of(entry: dict[str, Any]) -> Response:
    headers = entry["headers"]
    cls = TextResponse if "Content-Type" in headers else Response
    body = (CORPUS / entry["file"]).read_bytes()
    return cls(entry.get("url", URL), status=entry["status"], headers=headers, body=body)


def expected_of(entry: dict[str, Any]) -> Challenge | None:
    expect = entry["expect"]
    return None if expect is None else Challenge(**expect)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_wall_page(entry: dict[str, Any]) -> None:
    found = detect(response_of(entry))
    assert found == expected_of(entry), entry["note"]
    if found is not None:
        assert dict(found.params) == entry["expect"]["params"]
        assert found.vendor in WALLS


def test_every_wall_has_pages_and_no_false_alarm() -> None:
    positives = {e["expect"]["kind"] for e in MANIFEST if e["expect"]}
    assert set(WALLS) - {"cloudflare"} <= positives
    negatives = [e for e in MANIFEST if e["expect"] is None]
    assert len(negatives) >= 10
    assert [e["file"] for e in negatives if detect(response_of(e)) is not None] == []
    on_disk = {p.name for p in CORPUS.iterdir()} - {"manifest.json"}
    assert on_disk == {e["file"] for e in MANIFEST}


def test_a_block_page_embedding_recaptcha_is_a_block_first() -> None:
    """The widget finder alone would see the reCAPTCHA a PerimeterX block page embeds:
    detect() answers first, and says it is a block (nothing to pay for)."""
    (entry,) = [e for e in MANIFEST if e["file"] == "perimeterx_block_with_recaptcha.html"]
    response = response_of(entry)
    assert [w.kind for w in find_widgets(response)] == ["recaptcha_v2"]
    wall = detect(response)
    assert wall is not None and wall.kind == "perimeterx" and not wall.solvable
