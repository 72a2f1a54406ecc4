"""Widget detection over a corpus of pages written for it, one per class real pages show
(tests/corpus/widgets/manifest.json lists each page's expected widgets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse

from scrapy_captcha.detect._markers import has_widget_markers
from scrapy_captcha.detect._page import html_page
from scrapy_captcha.detect._widgets import Widget, find_widgets

CORPUS = Path(__file__).parent / "corpus" / "widgets"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())


#: The classes of widgets as the real web ships them (issue 19 §1): each has a page.
CLASSES = (
    "lazy loader: data-rocket-src",
    "lazy loader: data-src",
    "lazy loader: data-lazy-src",
    "injected by inline createElement('script')",
    "WPForms: Turnstile in div.g-recaptcha (0x4 key)",
    "WPForms: div.wpforms-turnstile",
    "older Contact Form 7: key and actions as inline function arguments",
    "key in a plugin configuration object, container rendered by script",
    "data-*-public-key attribute, container rendered by script",
    "render call: site key in a variable defined elsewhere",
    "render targets: querySelector loop over candidates, only some exist",
    "render targets: getElementsByClassName loop",
    "explicit render onto a button: invisible v2",
    "explicit render onto an input type=submit: invisible v2",
    "v3 key rendered explicitly with size invisible, then executed with an action",
    "already rendered: reCAPTCHA iframe only (k=)",
    "already rendered: Turnstile iframe only (key in the URL)",
    "already rendered: hCaptcha iframe only (sitekey=)",
    "negative: API scripts loaded, no widget",
    "GeeTest v4: initGeetest4 with captchaId",
    "MTCaptcha: mtcaptchaConfig sitekey MTPublic-",
    "Friendly Captcha: div.frc-captcha data-sitekey",
)


def response_of(entry: dict[str, Any]) -> HtmlResponse:
    ctype = entry.get("content_type", "text/html; charset=utf-8")
    return HtmlResponse(
        f"https://site.example/{entry['file']}",
        body=(CORPUS / entry["file"]).read_bytes(),
        headers={"Content-Type": ctype},
    )


def widgets_of(entry: dict[str, Any]) -> list[Widget]:
    return find_widgets(response_of(entry))


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


def test_every_class_has_a_page() -> None:
    covered = {e.get("class") for e in MANIFEST}
    assert [c for c in CLASSES if c not in covered] == []
    on_disk = {p.name for p in CORPUS.iterdir()} - {"manifest.json"}
    assert on_disk == {e["file"] for e in MANIFEST}


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_the_byte_prefilter_lets_every_widget_page_through(entry: dict[str, Any]) -> None:
    """The one pass over the bytes is a necessary condition: a page with a widget always
    carries one of its markers (else the page would never be parsed)."""
    page = html_page(response_of(entry))
    assert page is not None
    if entry["expect"]:
        assert has_widget_markers(page)
