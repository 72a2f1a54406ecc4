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
IMAGE: Final = "image"

#: Widget kinds CAPTCHA_WIDGETS accepts (``image`` captchas are solved on request only).
WIDGET_KINDS: Final = (
    TURNSTILE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    RECAPTCHA_ENTERPRISE,
    HCAPTCHA,
)
#: Every captcha kind, as used in stats and ``captcha_result["kind"]``.
KINDS: Final = (*WIDGET_KINDS, IMAGE)
#: The kinds of solver task a profile can map to a task type (``Provider.task_types``,
#: CAPTCHA_TASK_TYPES, CAPTCHA_PRICES): the widget kinds as the services split them.
TASK_KINDS: Final = (
    CLOUDFLARE,
    TURNSTILE,
    RECAPTCHA_V2,
    "recaptcha_v2_enterprise",
    RECAPTCHA_V3,
    "recaptcha_v3_enterprise",
    HCAPTCHA,
    IMAGE,
)
