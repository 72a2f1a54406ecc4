"""Pages written to break detection: bounded work whatever the page holds."""

from __future__ import annotations

import gzip

import pytest
from scrapy.http import HtmlResponse

from scrapy_captcha import _page
from scrapy_captcha._detection import detect
from scrapy_captcha._page import MAX_FORMS, MAX_PARSE_BYTES, html_page
from scrapy_captcha._widgets import MAX_WIDGETS, find_widgets

TS = "0x4AAAAAAABkMYinukE8nzYS"
API = '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>'


def response(body: bytes | str, encoding: str = "utf-8") -> HtmlResponse:
    raw = body.encode(encoding) if isinstance(body, str) else body
    return HtmlResponse(
        "https://shop.example/p",
        body=raw,
        headers={"Content-Type": f"text/html; charset={encoding}"},
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("forms", [2_000, 10_000])
def test_thousands_of_widget_forms_cost_linear_bounded_work(forms: int) -> None:
    """Each widget used to re-list every form and re-read the whole page's text:
    2 000 forms froze the reactor for 17 s, 10 000 for 9 minutes."""
    one = (
        '<form method="post" action="/f"><div class="cf-turnstile" '
        f'data-sitekey="{TS}"></div><button>Go</button></form>'
    )
    page = f"<html><head>{API}</head><body>{one * forms}</body></html>"
    found = find_widgets(response(page))
    assert 1 <= len(found) <= MAX_WIDGETS
    assert all(w.form is None or w.form.index < MAX_FORMS for w in found)


def test_only_the_parse_window_is_handed_to_lxml(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    original = _page.Selector

    def spy(*args: object, text: str = "", **kwargs: object) -> object:
        seen.append(len(text))
        return original(*args, text=text, **kwargs)

    monkeypatch.setattr(_page, "Selector", spy)
    head = f'<html><head>{API}</head><body><div class="cf-turnstile" data-sitekey="{TS}">'
    body = head + "</div>" + "<p>filler</p>" * (3 * MAX_PARSE_BYTES // 13)
    found = find_widgets(response(body))
    assert [w.sitekey for w in found] == [TS]
    assert seen and max(seen) <= MAX_PARSE_BYTES


def test_widget_past_the_window_is_not_seen() -> None:
    body = "<html><body>" + "<p>x</p>" * (MAX_PARSE_BYTES // 8 + 10) + API
    body += f'<div class="cf-turnstile" data-sitekey="{TS}"></div></body></html>'
    assert find_widgets(response(body)) == []


def test_prose_about_captchas_is_never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object) -> None:
        raise AssertionError("parsed a page that only mentions captchas")

    monkeypatch.setattr(_page.Page, "selector", property(boom))
    prose = "<p>Why a captcha? Turnstile, reCAPTCHA and hCaptcha explained.</p>" * 3000
    assert find_widgets(response(f"<html><body>{prose}</body></html>")) == []


def test_utf16_pages_are_scanned() -> None:
    page = f'<html><head>{API}</head><body><div class="cf-turnstile" data-sitekey="{TS}">'
    page += "</div></body></html>"
    found = find_widgets(response(page, "utf-16"))
    assert [w.sitekey for w in found] == [TS]


def test_deep_nesting_and_garbage_never_raise() -> None:
    deep = "<div>" * 100_000 + f'<div class="cf-turnstile" data-sitekey="{TS}">' + API
    assert isinstance(find_widgets(response(deep)), list)
    garbage = b"\xff\xfe\x00<" * 50_000 + b"g-recaptcha data-sitekey"
    assert isinstance(find_widgets(response(garbage)), list)
    assert detect(response(garbage)) is None


def test_gzip_bomb_after_decompression_is_bounded() -> None:
    """HttpCompression hands us the decompressed body: detection reads its window only."""
    bomb = gzip.compress(b"<p>" * (20 << 20))
    body = gzip.decompress(bomb) + f'{API}<div class="cf-turnstile" data-sitekey="{TS}">'.encode()
    page = html_page(response(body))
    assert page is not None and page.truncated
    assert find_widgets(page) == []
