"""What Cloudflare's challenge, block and Access pages carry, as lower-case byte strings.

Kept apart from the detection logic in :mod:`scrapy_captcha.detect._detection` so that
the lists can grow with the web (they are plain tuples: extend them, never turn them into
regexes) without the logic growing past one readable module. Every entry is looked for
with ``bytes.find`` in a lower-cased slice of the body, so a marker must be lower-case
ASCII or UTF-8.
"""

from __future__ import annotations

from typing import Final

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

#: Markers of the legacy "I'm Under Attack" JavaScript (jschl) challenge, at any status.
CF_LEGACY_MARKERS: Final[tuple[bytes, ...]] = (
    b"jschl_vc",
    b"jschl-answer",
    b"jschl_answer",
    b"cf_chl_jschl_tk",
    b"/cdn-cgi/l/chk_jschl",
)

#: On a 503 these mean the old "Checking your browser" page even without jschl fields. On a
#: 403 the same wording was used by the 2021 challenge platform, which is solved as managed.
CF_LEGACY_503_MARKERS: Final[tuple[bytes, ...]] = (
    b"cf-browser-verification",
    b"cf-im-under-attack",
    b"checking your browser before accessing",
)

#: The challenge form id: a challenge only when a Cloudflare signal accompanies it, since any
#: site may name a form that way.
CF_CHALLENGE_FORM_MARKERS: Final[tuple[bytes, ...]] = (
    b'id="challenge-form"',
    b"id='challenge-form'",
)

#: Markers of a challenge that needs a human-style interaction: the Turnstile widget a
#: challenge page embeds (its widget id in ``_cf_chl_opt`` and its container). Only read once
#: the page is known to be a challenge: an ordinary page may carry a Turnstile widget of its
#: own.
CF_INTERACTIVE_MARKERS: Final[tuple[bytes, ...]] = (
    b"chlapiwidget",
    b"cf-chl-widget-",
)
#: The captcha kind and token of the 2019-2021 pages: interactive unless the page's
#: ``cType`` says otherwise (later managed pages kept ``cf_captcha_kind`` in their form).
CF_CAPTCHA_FORM_MARKERS: Final[tuple[bytes, ...]] = (
    b"cf_captcha_kind",
    b"__cf_chl_captcha_tk__",
)

#: Keys in ``_cf_chl_opt`` whose value ``'interactive'`` marks an interactive challenge.
CF_CHALLENGE_TYPE_KEYS: Final[tuple[bytes, ...]] = (b"ctype",)

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

#: Structure of Cloudflare's own error pages (old ``cf.errors.css``, newer templates, and the
#: ``cf-error-details`` box that custom error pages keep).
CF_ERROR_PAGE_MARKERS: Final[tuple[bytes, ...]] = (
    b"cf-error-details",
    b"cf-error-code",
    b'id="cf-wrapper"',
    b"cloudflare ray id",
    b"used cloudflare to restrict access",
    b"/cdn-cgi/styles/cf.errors.css",
)

#: The box that holds the code on standard and custom error pages: a code inside it beats a
#: code quoted elsewhere on the page.
CF_ERROR_BOX: Final = b"cf-error-details"
#: How far past the start of the box its code is looked for first.
CF_ERROR_BOX_SPAN: Final = 8 * 1024

#: Cloudflare's terse body for non-browser clients, e.g. ``error code: 1020``.
CF_PLAIN_ERROR_PREFIX: Final = b"error code:"

#: Text right before a 1xxx error code, most specific first. ``True`` means the marker sits
#: inside a tag whose end comes before the code (``class="cf-error-code">1020``).
CF_ERROR_CODE_MARKERS: Final[tuple[tuple[bytes, bool], ...]] = (
    (b"cf-error-code", True),
    (b'data-translate="error">error</span>', False),
    (b"errorcode", False),
    (b"error reference number", False),
    (b"error code", False),
    (b"error", False),
)

#: Cloudflare's own error codes are 1000-1299: a larger "error 1403" is a site's own number.
CF_ERROR_CODE_RANGE: Final = range(1000, 1300)

#: Block-page phrases, with the error code each implies (``"block"`` when it implies none).
CF_BLOCK_PHRASES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"has banned your access based on your", "1010"),
    (b"you are being rate limited", "1015"),
    (b"sorry, you have been blocked", "block"),
    (b"you have been banned", "block"),
    (b"used cloudflare to restrict access", "block"),
)

#: Cloudflare Access (Zero Trust) pages: one of these, plus a refusal phrase, on a 403.
CF_ACCESS_MARKERS: Final[tuple[bytes, ...]] = (
    b"cloudflareaccess.com",
    b"/cdn-cgi/access/",
    b"cloudflare access",
)
CF_ACCESS_REFUSALS: Final[tuple[bytes, ...]] = (
    b"you do not have permission",
    b"you don't have permission",
    b"you don&#39;t have permission",
    b"you don&#x27;t have permission",
    b"you don\xe2\x80\x99t have permission",
)

#: Leading bytes of compressed payloads: such a body was never decoded and holds no page
#: (gzip, zstd, xz).
COMPRESSED_MAGIC: Final[tuple[bytes, ...]] = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00")
