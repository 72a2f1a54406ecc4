"""Spot anti-bot challenge and block pages in Scrapy responses.

Everything here is a pure function of one response: no I/O, no decoding of the whole body.
Cheap checks (status, headers) run first; the body is only scanned as bytes, and only its first
:data:`MAX_SCAN_BYTES`, so a huge download costs a bounded amount of work.

Detection is split per provider (``_detect_cloudflare`` today); :func:`detect` asks each
detector in :data:`_DETECTORS` in turn, so Turnstile or reCAPTCHA detectors can be added later
without touching the Cloudflare rules. Marker lists are module-level tuples for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from scrapy.http import Headers, Response

from scrapy_captcha._encoding import scan_bytes
from scrapy_captcha._kinds import CLOUDFLARE, CLOUDFLARE_BLOCK

__all__ = [
    "CLOUDFLARE",
    "CLOUDFLARE_BLOCK",
    "MAX_SCAN_BYTES",
    "Challenge",
    "detect",
    "is_challenge_candidate",
]


#: Only this many leading body bytes are ever scanned: challenge and block pages are small
#: and put their markers early, while a real page may be many megabytes.
MAX_SCAN_BYTES: Final = 256 * 1024

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


@dataclass(frozen=True, slots=True)
class Challenge:
    """What :func:`detect` found.

    ``kind`` names the protection (:data:`CLOUDFLARE` for a solvable challenge,
    :data:`CLOUDFLARE_BLOCK` for a block page); ``variant`` refines it (``managed``,
    ``interactive``, ``legacy``; for blocks the Cloudflare error code such as ``"1020"``, or
    ``"block"``); ``solvable`` says whether a solver can help at all: blocks are only reported.
    """

    kind: str
    variant: str
    solvable: bool


# --- Cloudflare markers (lower-case bytes; the scanned slice is lower-cased) ----------------

#: Challenge-only markers: any one is unmistakable evidence of a Cloudflare challenge page.
#: ``/cdn-cgi/challenge-platform/.../scripts/jsd/`` is deliberately absent: Cloudflare injects
#: it (JavaScript detections) into ordinary pages.
CF_CHALLENGE_MARKERS: Final[tuple[bytes, ...]] = (
    b"window._cf_chl_opt",
    b"/cdn-cgi/challenge-platform/h/b/orchestrate/",
    b"/cdn-cgi/challenge-platform/h/g/orchestrate/",
    b"cf-browser-verification",
    b"cf_chl_prog",
    b"cf-challenge-running",
    b"cf_captcha_kind",
    b"__cf_chl_captcha_tk__",
    b"__cf_chl_managed_tk__",
    b"__cf_chl_f_tk=",
)

#: Markers of the legacy "I'm Under Attack" JavaScript (jschl) challenge.
CF_LEGACY_MARKERS: Final[tuple[bytes, ...]] = (
    b"jschl_vc",
    b"jschl-answer",
    b"jschl_answer",
    b"__cf_chl_jschl_tk__",
)

#: On a 503 these mean the legacy IUAM page even without jschl fields.
CF_LEGACY_503_MARKERS: Final[tuple[bytes, ...]] = (b"cf-browser-verification",)

#: The challenge form id: a challenge only when a Cloudflare signal accompanies it, since any
#: site may name a form that way.
CF_CHALLENGE_FORM_MARKERS: Final[tuple[bytes, ...]] = (
    b'id="challenge-form"',
    b"id='challenge-form'",
)

#: Markers of a challenge that needs a human-style interaction (captcha kind, captcha token).
CF_INTERACTIVE_MARKERS: Final[tuple[bytes, ...]] = (
    b"cf_captcha_kind",
    b"__cf_chl_captcha_tk__",
)

#: ``cType: 'interactive'`` in ``window._cf_chl_opt`` (quotes and spacing vary). Anchored on the
#: quote so that ``'non-interactive'`` (the JS challenge) does not match.
_CF_INTERACTIVE_CTYPE: Final = re.compile(rb"""ctype['"]?\s*:\s*['"]interactive['"]""")

#: Leading words of the localised challenge title ("Just a moment..." and its translations).
#: Only ASCII is lower-cased in bytes, so non-ASCII stems are kept as Cloudflare writes them.
CF_CHALLENGE_TITLES: Final[tuple[bytes, ...]] = tuple(
    title.encode("utf-8").lower()
    for title in (
        "Just a moment",
        "Un instant",
        "Un moment",
        "Einen Moment",
        "Un momento",
        "Solo un momento",
        "Um momento",
        "Só um momento",
        "Bir dakika",
        "Один момент",
        "Одну минуту",
        "Chwileczkę",
        "Even geduld",
        "请稍候",
        "請稍候",
        "しばらくお待ちください",
        "잠시만 기다리",
    )
)

#: Structure of Cloudflare's own error pages (old ``cf.errors.css`` and newer templates).
CF_ERROR_PAGE_MARKERS: Final[tuple[bytes, ...]] = (
    b"cf-error-details",
    b"cf-error-code",
    b'id="cf-wrapper"',
    b"cloudflare ray id",
    b"used cloudflare to restrict access",
    b"/cdn-cgi/styles/cf.errors.css",
)

#: Cloudflare's terse body for non-browser clients, e.g. ``error code: 1020``.
CF_PLAIN_ERROR_PREFIX: Final = b"error code:"
_CF_PLAIN_ERROR_CODE: Final = re.compile(rb"error code:\s{0,8}(1\d{3})\b")

#: Where the 1xxx error code sits on a block page, most specific first. Every pattern is
#: anchored on a literal and has no nested or adjacent unbounded repeats (no backtracking
#: blow-up on hostile bodies).
CF_ERROR_CODE_PATTERNS: Final[tuple[re.Pattern[bytes], ...]] = (
    # <span class="cf-error-code">1020</span>
    re.compile(rb"cf-error-code[^>]{0,40}>\s*(1\d{3})\s*<"),
    # <span data-translate="error">Error</span> <span>1015</span>
    re.compile(rb'data-translate="error">\s*error\s*</span>\s*<span[^>]{0,80}>\s*(1\d{3})\s*<'),
    # feedback script: properties:{errorCode:1015,...}
    re.compile(rb"errorcode['\"]?\s*:\s*['\"]?(1\d{3})\b"),
    # "error code: 1020"
    re.compile(rb"error\s*code[\s:]*(1\d{3})\b"),
    # "Error 1020"
    re.compile(rb"error\s+(1\d{3})\b"),
)

#: Block-page phrases, with the error code each implies (``"block"`` when it implies none).
CF_BLOCK_PHRASES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"has banned your access based on your", "1010"),
    (b"you are being rate limited", "1015"),
    (b"sorry, you have been blocked", BLOCK),
    (b"you have been banned", BLOCK),
    (b"used cloudflare to restrict access", BLOCK),
)

_TITLE_SCAN_BYTES: Final = 512


# --- shared response view ----------------------------------------------------------------


class _Page:
    """Response facts computed at most once and shared by every detector."""

    __slots__ = ("_text", "body", "headers", "response", "status")

    def __init__(self, response: Response) -> None:
        self.response = response
        self.status: int = response.status
        self.headers: Headers = response.headers
        self.body: bytes = response.body
        self._text: bytes | None = None

    @property
    def text(self) -> bytes:
        """Lower-cased copy of the first :data:`MAX_SCAN_BYTES` of the body (a UTF-16/32
        page re-encoded, so its markers can be found)."""
        if self._text is None:
            self._text = scan_bytes(self.response, MAX_SCAN_BYTES).lower()
        return self._text

    def is_scannable(self) -> bool:
        """True for bodies that may hold a page: not empty, and text/HTML-like (or untyped).

        Images, JSON and other binary or API payloads are never challenge pages of their own.
        """
        if not self.body:
            return False
        content_type = self.headers.get(b"Content-Type")
        if not content_type:
            return True
        media = bytes(content_type).split(b";", 1)[0].strip().lower()
        if not media:
            return True
        return media.startswith(b"text/") or b"html" in media or media.endswith(b"/xml")


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
    """Header-only test: might this response be a Cloudflare challenge or block page?

    Used to keep such pages out of the HTTP cache, where the body may still be compressed,
    so it never looks at the body. It errs on the side of True for Cloudflare 403/429/503.
    """
    if _is_cf_mitigated(headers):
        return True
    return status in CHALLENGE_STATUSES and _is_from_cloudflare(headers)


def _is_cf_interactive(text: bytes) -> bool:
    return _has_any(text, CF_INTERACTIVE_MARKERS) or bool(_CF_INTERACTIVE_CTYPE.search(text))


def _cf_challenge_variant(page: _Page) -> str:
    text = page.text
    if _is_cf_interactive(text):
        return INTERACTIVE
    if _has_any(text, CF_LEGACY_MARKERS) or (
        page.status == 503 and _has_any(text, CF_LEGACY_503_MARKERS)
    ):
        return LEGACY
    return MANAGED


def _is_cf_challenge_page(page: _Page, from_cf: bool) -> bool:
    text = page.text
    if _has_any(text, CF_CHALLENGE_MARKERS) or _has_any(text, CF_LEGACY_MARKERS):
        return True
    if _has_any(text, CF_CHALLENGE_FORM_MARKERS) and (from_cf or b"/cdn-cgi/" in text):
        return True
    # Weak signal: a localised "Just a moment..." title on a Cloudflare 403/503.
    if from_cf and page.status in TITLE_ONLY_STATUSES:
        title = _title(text)
        return bool(title) and title.startswith(CF_CHALLENGE_TITLES)
    return False


def _cf_block_code(page: _Page) -> str | None:
    """The block's error code, ``"block"`` for an uncoded block page, None if not a block."""
    text = page.text
    stripped = text.lstrip()
    if stripped.startswith(CF_PLAIN_ERROR_PREFIX):
        match = _CF_PLAIN_ERROR_CODE.search(stripped, 0, 64)
        return match.group(1).decode("ascii") if match else BLOCK
    if not _has_any(text, CF_ERROR_PAGE_MARKERS):
        return None
    for pattern in CF_ERROR_CODE_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).decode("ascii")
    for phrase, code in CF_BLOCK_PHRASES:
        if phrase in text:
            return code
    return None


def _detect_cloudflare(page: _Page) -> Challenge | None:
    """Cloudflare challenge (solvable) or block page (reported only), else None."""
    if _is_cf_mitigated(page.headers):
        # Cloudflare marks every challenge response, whatever its status or content type.
        variant = INTERACTIVE if _is_cf_interactive(page.text) else MANAGED
        return Challenge(CLOUDFLARE, variant, True)
    if page.status not in CHALLENGE_STATUSES or not page.is_scannable():
        return None
    from_cf = _is_from_cloudflare(page.headers)
    if _is_cf_challenge_page(page, from_cf):
        return Challenge(CLOUDFLARE, _cf_challenge_variant(page), True)
    if from_cf:
        code = _cf_block_code(page)
        if code is not None:
            return Challenge(CLOUDFLARE_BLOCK, code, False)
    return None


# --- entry point ---------------------------------------------------------------------------

#: Detectors asked in order; the first finding wins. Add new providers here.
_DETECTORS: Final[tuple[Callable[[_Page], Challenge | None], ...]] = (_detect_cloudflare,)


def detect(response: Response) -> Challenge | None:
    """Return the challenge or block page ``response`` is, or None for an ordinary response."""
    page = _Page(response)
    for detector in _DETECTORS:
        found = detector(page)
        if found is not None:
            return found
    return None
