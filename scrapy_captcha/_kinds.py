"""Names of what the add-on solves: one definition each, used in settings, stats,
provider task tables and ``captcha_result["kind"]``."""

from __future__ import annotations

from typing import Final

CLOUDFLARE: Final = "cloudflare"
CLOUDFLARE_BLOCK: Final = "cloudflare_block"

# Walls beyond Cloudflare: one kind per vendor; ``Challenge.solvable`` and ``variant`` say
# whether it is a challenge a service may open or a block.
AWS_WAF: Final = "aws_waf"
AMAZON: Final = "amazon"
DATADOME: Final = "datadome"
INCAPSULA: Final = "incapsula"
PERIMETERX: Final = "perimeterx"
AKAMAI: Final = "akamai"
KASADA: Final = "kasada"
DDOS_GUARD: Final = "ddos_guard"
SUCURI: Final = "sucuri"
RADWARE: Final = "radware"
QRATOR: Final = "qrator"
CLOUDFRONT: Final = "cloudfront"
AZURE_WAF: Final = "azure_waf"

#: Every wall detect() can report, by name: the vendors (``Challenge.vendor``), in the order
#: they are asked. What a per-wall switch (a setting to turn walls off) is keyed by.
WALLS: Final = (
    CLOUDFLARE,
    AWS_WAF,
    AMAZON,
    DATADOME,
    INCAPSULA,
    PERIMETERX,
    AKAMAI,
    KASADA,
    DDOS_GUARD,
    SUCURI,
    RADWARE,
    QRATOR,
    CLOUDFRONT,
    AZURE_WAF,
)
#: The wall each challenge kind belongs to (kinds not listed are their own wall).
WALL_OF_KIND: Final = {CLOUDFLARE_BLOCK: CLOUDFLARE}
#: Walls a service may open (CAPTCHA_WALLS names which to solve; the others are only ever
#: reported, never paid for).
SOLVABLE_WALLS: Final = (CLOUDFLARE, AWS_WAF, AMAZON, DATADOME, INCAPSULA)
#: Walls whose solve buys a cookie, stored as a clearance per (domain, proxy) with the
#: User-Agent the service used: their task kind is their own name.
CLEARANCE_WALLS: Final = (CLOUDFLARE, AWS_WAF, DATADOME, INCAPSULA)
#: Clearance walls whose cookie is bound to the exit IP that earned it: their tasks always
#: carry the request's proxy (a request without one is rerouted or given up ``no_proxy``).
PROXY_BOUND_WALLS: Final = (CLOUDFLARE, DATADOME)
#: Clearance walls whose cookie serves the whole site (its registrable domain), not only
#: the host that was challenged (DataDome sets ``Domain=.site.example``).
DOMAIN_WIDE_WALLS: Final = (DATADOME,)
#: The cookie each clearance wall sets (what its clearance carries at the least).
WALL_COOKIES: Final = {
    CLOUDFLARE: "cf_clearance",
    AWS_WAF: "aws-waf-token",
    DATADOME: "datadome",
    INCAPSULA: "___utmvc",
}

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
    AWS_WAF,
    DATADOME,
    INCAPSULA,
    GEETEST_V4,
    MTCAPTCHA,
    FRIENDLY_CAPTCHA,
)

#: The built-in solver services, by the names CAPTCHA_PROVIDER(S) take (their profiles are
#: ``scrapy_captcha.services.providers.PROVIDERS``; a test keeps the two the same).
SERVICES: Final = (
    "anti-captcha",
    "2captcha",
    "capmonster",
    "capsolver",
    "yescaptcha",
    "1captcha",
    "ez-captcha",
)
