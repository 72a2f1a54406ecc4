"""Widget detection over a corpus of pages written for it, one per class real pages show
(tests/corpus/widgets/manifest.json lists each page's expected widgets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse

from scrapy_captcha._widgets import Widget, find_widgets

CORPUS = Path(__file__).parent / "corpus" / "widgets"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())


def widgets_of(entry: dict[str, Any]) -> list[Widget]:
    ctype = entry.get("content_type", "text/html; charset=utf-8")
    response = HtmlResponse(
        f"https://site.example/{entry['file']}",
        body=(CORPUS / entry["file"]).read_bytes(),
        headers={"Content-Type": ctype},
    )
    return find_widgets(response)


def described(widget: Widget) -> dict[str, Any]:
    return {
        "kind": widget.kind,
        "sitekey": widget.sitekey,
        "action": widget.action,
        "form": widget.form.index if widget.form else None,
        "invisible": widget.invisible,
    }


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_page(entry: dict[str, Any]) -> None:
    assert [described(w) for w in widgets_of(entry)] == entry["expect"]


def test_precision_and_recall_by_kind_and_site_key() -> None:
    expected = {(e["file"], w["kind"], w["sitekey"]) for e in MANIFEST for w in e["expect"]}
    found = {(e["file"], w.kind, w.sitekey) for e in MANIFEST for w in widgets_of(e)}
    true = len(expected & found)
    assert (true / len(found) if found else 1.0) == 1.0  # precision
    assert (true / len(expected) if expected else 1.0) == 1.0  # recall
