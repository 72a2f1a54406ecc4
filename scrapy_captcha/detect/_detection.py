"""Spot anti-bot challenge and block pages in Scrapy responses.

Everything here is a pure function of one response: no I/O, no decoding of the whole body,
no regular expressions. Cheap checks (status, headers) run first; the body is only searched
as bytes, and only a bounded slice of it, so a huge download costs a bounded amount of work:
:data:`MAX_SCAN_BYTES` in general, :data:`MAX_CHALLENGE_SCAN_BYTES` on a response Cloudflare
marked as a challenge or sent as 403/429/503, where markers can follow hundreds of KB of
inline images or fonts.

Detection is split per vendor: :func:`detect` asks the Cloudflare rules here first, then,
unless the response is an ordinary one no other wall could be (``may_be_wall``: status,
header names, host), the other walls' detectors in ``_walls.py`` in the order of
:data:`WALLS`. Cloudflare's marker lists live in :mod:`scrapy_captcha.detect._cloudflare_markers`
as plain tuples.
"""

from __future__ import annotations

from typing import Final

from scrapy.http import Headers, Response

from scrapy_captcha._kinds import CLOUDFLARE, CLOUDFLARE_BLOCK, WALLS
from scrapy_captcha.detect._challenge import Challenge, ResponseView
from scrapy_captcha.detect._cloudflare_markers import (
    CF_ACCESS_MARKERS,
    CF_ACCESS_REFUSALS,
    CF_BLOCK_PHRASES,
    CF_CAPTCHA_FORM_MARKERS,
    CF_CHALLENGE_FORM_MARKERS,
    CF_CHALLENGE_MARKERS,
    CF_CHALLENGE_TITLES,
    CF_CHALLENGE_TYPE_KEYS,
    CF_ERROR_BOX,
    CF_ERROR_BOX_SPAN,
    CF_ERROR_CODE_MARKERS,
    CF_ERROR_CODE_RANGE,
    CF_ERROR_PAGE_MARKERS,
    CF_INTERACTIVE_MARKERS,
    CF_LEGACY_503_MARKERS,
    CF_LEGACY_MARKERS,
    CF_PLAIN_ERROR_PREFIX,
)
from scrapy_captcha.detect._walls import WALL_DETECTORS, is_wall_candidate, may_be_wall

__all__ = [
    "CF_BLOCK_PHRASES",
    "CF_CHALLENGE_MARKERS",
    "CF_CHALLENGE_TITLES",
    "CF_ERROR_PAGE_MARKERS",
    "CF_INTERACTIVE_MARKERS",
    "CF_LEGACY_MARKERS",
    "CLOUDFLARE",
    "CLOUDFLARE_BLOCK",
    "MAX_CHALLENGE_SCAN_BYTES",
    "MAX_SCAN_BYTES",
    "WALLS",
    "Challenge",
    "detect",
    "is_challenge_candidate",
]


#: Leading body bytes scanned on an ordinary response: challenge and block pages are small and
#: put their markers early, while a real page may be many megabytes.
MAX_SCAN_BYTES: Final = 256 * 1024
#: Leading body bytes scanned on a Cloudflare 403/429/503 or a ``cf-mitigated`` response:
#: custom challenge and error pages put inline images and fonts (hundreds of KB) before the
#: markers. Still a hard cap: a 100 MB body costs what a 2 MiB one does.
MAX_CHALLENGE_SCAN_BYTES: Final = 2 * 1024 * 1024

# Variants of a solvable Cloudflare challenge.
MANAGED: Final = "managed"
INTERACTIVE: Final = "interactive"
LEGACY: Final = "legacy"
#: Variant of a block page whose error code could not be found.
BLOCK: Final = "block"

#: Statuses Cloudflare uses for challenge and block pages (without ``cf-mitigated``).
CHALLENGE_STATUSES: Final = frozenset({403, 429, 503})
#: Statuses on which a localised challenge title alone counts as a (weak) challenge signal.
TITLE_ONLY_STATUSES: Final = frozenset({403, 503})

#: At most this many occurrences of one marker are examined: bounded work on pages that
#: repeat a word ("error") thousands of times.
_MAX_HITS: Final = 64
#: Bytes after a marker in which its value (a code, a challenge type) must start.
_VALUE_SPAN: Final = 96
#: Tags skipped between a marker and its value (``Error reference number: <b>1020</b>``).
_MAX_TAGS: Final = 4
_SEPARATORS: Final = b" \t\r\n:=#'\">"
_TITLE_SCAN_BYTES: Final = 512


#: the response view every detector reads (status, headers, bounded lower-cased body)
_Page = ResponseView


def _has_any(text: bytes, markers: tuple[bytes, ...]) -> bool:
    return any(marker in text for marker in markers)


def _title(text: bytes) -> bytes:
    """Content of the first ``<title>`` element, stripped ("" when there is none)."""
    start = text.find(b"<title")
    if start < 0:
        return b""
    start = text.find(b">", start, start + _TITLE_SCAN_BYTES)
    if start < 0:
        return b""
    end = text.find(b"</title", start, start + _TITLE_SCAN_BYTES)
    if end < 0:
        return b""
    return text[start + 1 : end].strip()


def _value_at(text: bytes, at: int, skip_tag: bool = False) -> bytes:
    """The bytes a marker ending at ``at`` introduces: separators, quotes and up to
    :data:`_MAX_TAGS` tags skipped, within :data:`_VALUE_SPAN` bytes (constant work)."""
    window = text[at : at + _VALUE_SPAN]
    if skip_tag:
        end = window.find(b">")
        window = window[end + 1 :] if end >= 0 else b""
    for _ in range(_MAX_TAGS):
        window = window.lstrip(_SEPARATORS)
        if not window.startswith(b"<"):
            break
        end = window.find(b">")
        window = window[end + 1 :] if end >= 0 else b""
    return window


def _code_at(text: bytes, at: int, skip_tag: bool = False) -> str | None:
    """A Cloudflare 1xxx error code right after position ``at``, if there is one."""
    value = _value_at(text, at, skip_tag)
    digits = value[:4]
    if len(digits) < 4 or not digits.isdigit() or value[4:5].isdigit():
        return None
    return digits.decode("ascii") if int(digits) in CF_ERROR_CODE_RANGE else None


def _find_code(text: bytes, start: int, end: int) -> str | None:
    """The first error code in ``text[start:end]``, asking the most specific markers first."""
    for marker, skip_tag in CF_ERROR_CODE_MARKERS:
        pos = start
        for _ in range(_MAX_HITS):
            hit = text.find(marker, pos, end)
            if hit < 0:
                break
            code = _code_at(text, hit + len(marker), skip_tag)
            if code is not None:
                return code
            pos = hit + len(marker)
    return None


# --- Cloudflare ----------------------------------------------------------------------------


def _is_cf_mitigated(headers: Headers) -> bool:
    return any(
        bytes(value).strip().lower() == b"challenge" for value in headers.getlist(b"cf-mitigated")
    )


def _is_from_cloudflare(headers: Headers) -> bool:
    """Whether the response passed through Cloudflare's edge (``Server`` or ``CF-RAY``)."""
    if any(bytes(v).strip().lower().startswith(b"cloudflare") for v in headers.getlist(b"Server")):
        return True
    return any(bytes(value).strip() for value in headers.getlist(b"CF-RAY"))


def is_challenge_candidate(status: int, headers: Headers) -> bool:
    """Header-only test: might this response be a challenge or block page?

    Used to keep such pages out of the HTTP cache, where the body may still be compressed,
    so it never looks at the body. It errs on the side of True for Cloudflare 403/429/503
    and for the other walls' own headers on a refusal (AWS WAF's action header, Kasada's,
    DataDome's, Sucuri's).
    """
    if _is_cf_mitigated(headers):
        return True
    if status in CHALLENGE_STATUSES and _is_from_cloudflare(headers):
        return True
    return is_wall_candidate(status, headers)


def _cf_challenge_type(text: bytes) -> bytes | None:
    """The value of ``cType`` in ``_cf_chl_opt`` (quotes and spacing vary), if any."""
    for key in CF_CHALLENGE_TYPE_KEYS:
        pos = 0
        for _ in range(_MAX_HITS):
            hit = text.find(key, pos)
            if hit < 0:
                break
            pos = hit + len(key)
            if hit and text[hit - 1 : hit].isalnum():
                continue  # (``<!doctype``: not the key)
            value = _value_at(text, pos)
            if value[:1].isalpha():
                return value[: len(b"non-interactive")]
    return None


def _is_cf_interactive(text: bytes) -> bool:
    """An embedded challenge widget, or ``cType: 'interactive'`` (``'non-interactive'`` is
    the JS challenge, not this); the 2019-2021 captcha kind/token only when no ``cType``
    says otherwise (managed pages kept ``cf_captcha_kind`` in their form)."""
    if _has_any(text, CF_INTERACTIVE_MARKERS):
        return True
    challenge_type = _cf_challenge_type(text)
    if challenge_type is not None:
        return challenge_type.startswith(b"interactive")
    return _has_any(text, CF_CAPTCHA_FORM_MARKERS)


def _cf_challenge_variant(text: bytes, status: int) -> str:
    """Interactive beats legacy beats managed: the page says what a solver must do."""
    if _is_cf_interactive(text):
        return INTERACTIVE
    if _has_any(text, CF_LEGACY_MARKERS) or (
        status == 503 and _has_any(text, CF_LEGACY_503_MARKERS)
    ):
        return LEGACY
    return MANAGED


def _is_cf_challenge_page(text: bytes, status: int, from_cf: bool) -> bool:
    if _has_any(text, CF_CHALLENGE_MARKERS) or _has_any(text, CF_LEGACY_MARKERS):
        return True
    if _has_any(text, CF_CHALLENGE_FORM_MARKERS) and (from_cf or b"/cdn-cgi/" in text):
        return True
    # Weak signal: a localised "Just a moment..." title on a Cloudflare 403/503.
    if from_cf and status in TITLE_ONLY_STATUSES:
        title = _title(text)
        return bool(title) and title.startswith(CF_CHALLENGE_TITLES)
    return False


def _is_cf_access_refusal(text: bytes, status: int) -> bool:
    """Cloudflare Access (Zero Trust) refusing a signed-in or anonymous visitor."""
    return (
        status == 403 and _has_any(text, CF_ACCESS_MARKERS) and _has_any(text, CF_ACCESS_REFUSALS)
    )


def _cf_block_code(text: bytes, status: int) -> str | None:
    """The block's error code, ``"block"`` for an uncoded block page, None if not a block."""
    stripped = text.lstrip()
    if stripped.startswith(CF_PLAIN_ERROR_PREFIX):
        # "error code: 1020" is a block; "error code: 502" is an edge or origin failure.
        return _code_at(stripped, len(CF_PLAIN_ERROR_PREFIX))
    if _is_cf_access_refusal(text, status):
        return BLOCK
    if not _has_any(text, CF_ERROR_PAGE_MARKERS):
        return None
    # The code inside Cloudflare's box beats one the site's own text quotes elsewhere.
    box = text.find(CF_ERROR_BOX)
    code = _find_code(text, box, box + CF_ERROR_BOX_SPAN) if box >= 0 else None
    code = code or _find_code(text, 0, len(text))
    if code is not None:
        return code
    for phrase, implied in CF_BLOCK_PHRASES:
        if phrase in text:
            return implied
    return None


def _detect_cloudflare(page: _Page) -> Challenge | None:
    """Cloudflare challenge (solvable) or block page (reported only), else None."""
    if _is_cf_mitigated(page.headers):
        # Cloudflare marks every challenge response, whatever its status or content type;
        # which challenge it is only the page can say.
        text = page.scan(MAX_CHALLENGE_SCAN_BYTES)
        return Challenge(CLOUDFLARE, _cf_challenge_variant(text, page.status), True)
    if page.status not in CHALLENGE_STATUSES or not page.is_scannable():
        return None
    from_cf = _is_from_cloudflare(page.headers)
    text = page.scan(MAX_CHALLENGE_SCAN_BYTES if from_cf else MAX_SCAN_BYTES)
    if _is_cf_challenge_page(text, page.status, from_cf):
        return Challenge(CLOUDFLARE, _cf_challenge_variant(text, page.status), True)
    if from_cf:
        code = _cf_block_code(text, page.status)
        if code is not None:
            return Challenge(CLOUDFLARE_BLOCK, code, False)
    return None


# --- entry point ---------------------------------------------------------------------------


def detect(response: Response) -> Challenge | None:
    """Return the wall (challenge or block page) ``response`` is, whatever its vendor, or
    None for an ordinary response.

    A wall comes before any widget on the page: a block page that embeds a reCAPTCHA is a
    block, never a widget to pay for. Whoever looks for widgets (the gate flow, the spider
    API) asks this first and leaves the page alone when it answers.
    """
    page = _Page(response)
    found = _detect_cloudflare(page)
    if found is not None or not may_be_wall(page):
        return found
    for detector in WALL_DETECTORS:
        found = detector(page)
        if found is not None:
            return found
    return None
