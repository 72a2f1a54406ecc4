"""Names of what the add-on solves: one definition each, used in settings, stats,
provider task tables and ``captcha_result["kind"]``."""

from __future__ import annotations

from typing import Final

CLOUDFLARE: Final = "cloudflare"
CLOUDFLARE_BLOCK: Final = "cloudflare_block"

TURNSTILE: Final = "turnstile"
RECAPTCHA_V2: Final = "recaptcha_v2"
RECAPTCHA_V2_INVISIBLE: Final = "recaptcha_v2_invisible"
RECAPTCHA_V3: Final = "recaptcha_v3"
RECAPTCHA_ENTERPRISE: Final = "recaptcha_enterprise"
HCAPTCHA: Final = "hcaptcha"
GEETEST_V4: Final = "geetest_v4"
MTCAPTCHA: Final = "mtcaptcha"
FRIENDLY_CAPTCHA: Final = "friendly_captcha"
IMAGE: Final = "image"

#: Widget kinds CAPTCHA_WIDGETS accepts (``image`` captchas are solved on request only).
WIDGET_KINDS: Final = (
    TURNSTILE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    RECAPTCHA_ENTERPRISE,
    HCAPTCHA,
    GEETEST_V4,
    MTCAPTCHA,
    FRIENDLY_CAPTCHA,
)
#: Every captcha kind, as used in stats and ``captcha_result["kind"]``.
KINDS: Final = (*WIDGET_KINDS, IMAGE)
