"""The registry of every ``CAPTCHA_*`` setting: name, default, type and meaning, one
source for the defaults the add-on registers, the validation in ``settings`` and the
settings reference in the docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One ``CAPTCHA_*`` setting, as the docs' settings reference shows it."""

    name: str
    default: Any
    type: str
    doc: str
    #: holds a secret: its value is never echoed in an error
    secret: bool = False


def _s(name: str, default: Any, type_: str, doc: str, *, secret: bool = False) -> Setting:
    return Setting(name, default, type_, " ".join(doc.split()), secret)


#: Every setting the add-on reads, in the order the settings reference lists them.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _s("CAPTCHA_ENABLED", True, "bool", "Switch the add-on off without removing it."),
        _s(
            "CAPTCHA_PROVIDER",
            None,
            "str",
            """The solver service (a built-in name such as ``"capsolver"``, or the import
            path of a ``Provider`` subclass). Required: an API key is never sent to a
            service you did not name.""",
        ),
        _s(
            "CAPTCHA_PROVIDERS",
            [],
            "list",
            """Several services in failover order (a list, or a comma-separated string);
            replaces ``CAPTCHA_PROVIDER``. Each needs its key in ``CAPTCHA_API_KEYS``
            (the first may use ``CAPTCHA_API_KEY``).""",
        ),
        _s(
            "CAPTCHA_API_KEY",
            "",
            "str",
            "The API key of ``CAPTCHA_PROVIDER`` (the first service of the chain).",
            secret=True,
        ),
        _s(
            "CAPTCHA_API_KEYS",
            {},
            "dict",
            "``{service: key}`` for the services of ``CAPTCHA_PROVIDERS``.",
            secret=True,
        ),
        _s(
            "CAPTCHA_API_URL",
            None,
            "url",
            "Another base URL for ``CAPTCHA_PROVIDER`` (a mirror, a local emulator).",
            secret=True,
        ),
        _s(
            "CAPTCHA_API_URLS",
            {},
            "dict",
            "``{service: base URL}`` for the services of the chain.",
            secret=True,
        ),
        _s(
            "CAPTCHA_TASK_TYPES",
            {},
            "dict",
            """``{task kind: task type name}``: overrides the profiles' task types (kinds:
            ``cloudflare``, ``turnstile``, ``recaptcha_v2``, ``recaptcha_v2_enterprise``,
            ``recaptcha_v3``, ``recaptcha_v3_enterprise``, ``hcaptcha``, ``image``,
            ``aws_waf``, ``datadome``, ``incapsula``, ``geetest_v4``, ``mtcaptcha``,
            ``friendly_captcha``).""",
        ),
        _s(
            "CAPTCHA_ENVELOPES",
            {},
            "dict",
            """``{service: {field: value}}``: createTask fields a service documents
            (``softId``, ``appId``, ``callbackUrl``).""",
        ),
        _s(
            "CAPTCHA_PROXY",
            None,
            "url",
            """Proxy for domains that answer a request without a proxy with a Cloudflare
            challenge (a clearance is bound to the exit IP, so it needs one).""",
            secret=True,
        ),
        _s(
            "CAPTCHA_DOMAIN_PROXIES",
            {},
            "dict",
            """``{domain: proxy URL}``: requests to a domain (and its subdomains) without a
            proxy of their own go through it, ``dont_solve_captcha`` ones included.""",
            secret=True,
        ),
        _s(
            "CAPTCHA_CLEARANCE_TTL",
            1800.0,
            "float",
            "Seconds a clearance is reused at most (its cookie's own expiry may be sooner).",
        ),
        _s("CAPTCHA_SOLVE_TIMEOUT", 180.0, "float", "Seconds one solve may take in all."),
        _s(
            "CAPTCHA_POLL_INTERVAL",
            3.0,
            "float",
            "Seconds between ``getTaskResult`` polls (services ban faster than every 2 s).",
        ),
        _s(
            "CAPTCHA_REQUEST_TIMEOUT",
            30.0,
            "float",
            "Seconds one call to a solver service may take.",
        ),
        _s(
            "CAPTCHA_MAX_REPLY_SIZE",
            8 * 1024 * 1024,
            "int",
            "Bytes of a solver reply read at most.",
        ),
        _s(
            "CAPTCHA_MAX_ATTEMPTS",
            3,
            "int",
            "Solves one request may wait for before it gives up with ``max_attempts``.",
        ),
        _s(
            "CAPTCHA_MAX_SOLVES",
            0,
            "int",
            """Solver tasks the crawl may create (0: no limit). Reached: later challenges
            give up with ``budget``; solves in flight land; other pages keep flowing.""",
        ),
        _s(
            "CAPTCHA_MAX_COST",
            0.0,
            "float",
            """USD the crawl may spend on solves (0: no limit); a task's price is reserved
            when it is sent. Reached: as ``CAPTCHA_MAX_SOLVES``.""",
        ),
        _s(
            "CAPTCHA_CLOSE_ON_BUDGET",
            False,
            "bool",
            """Close the spider (reason ``captcha_budget_exhausted``) once the budget is
            spent and the solves in flight have landed.""",
        ),
        _s(
            "CAPTCHA_PRICES",
            {},
            "dict",
            "``{service: {task kind: USD per task}}``: your contract's prices.",
        ),
        _s(
            "CAPTCHA_HANDLE_UNSOLVED",
            False,
            "bool|list",
            """Pages the add-on could not get past go to the request's errback as
            ``CaptchaUnsolved``; True (or a list of reasons) hands them to the callback
            instead, like ``HTTPERROR_ALLOW_ALL``. Per request: meta
            ``handle_captcha_unsolved``.""",
        ),
        _s(
            "CAPTCHA_CLOSE_ON_UNAVAILABLE",
            True,
            "bool",
            """Close the spider (reason ``captcha_solver_unavailable``) when every account
            of the chain is unusable (bad key, no balance, unreachable).""",
        ),
        _s(
            "CAPTCHA_UNREACHABLE_AFTER",
            3,
            "int",
            """Calls in a row that cannot reach a service (connection refused, timeouts,
            5xx pages) before its account counts as unusable.""",
        ),
        _s(
            "CAPTCHA_FAILOVER_AFTER",
            3,
            "int",
            """Failed solves in a row after which a service rests and the next service of
            the chain takes its solves.""",
        ),
        _s(
            "CAPTCHA_TOKEN_PROXY",
            False,
            "bool",
            """Token tasks (Turnstile, reCAPTCHA, hCaptcha) bound to the request's proxy,
            where the service has a proxy variant (the token's User-Agent is then used for
            the submission that carries it); per request: meta
            ``captcha["token_proxy"]``.""",
        ),
        _s(
            "CAPTCHA_CHECK_BALANCE",
            True,
            "bool",
            "Read every account's balance at start (a bad key is found before a page).",
        ),
        _s(
            "CAPTCHA_BALANCE_INTERVAL",
            600.0,
            "float",
            "Seconds between balance reads (0: only at start).",
        ),
        _s(
            "CAPTCHA_BALANCE_WARN",
            1.0,
            "float",
            "A balance under this many USD is logged as a warning.",
        ),
        _s(
            "CAPTCHA_REPORT_INCORRECT",
            True,
            "bool",
            "Report results a site refused to the service (a refund, where documented).",
        ),
        _s(
            "CAPTCHA_WIDGETS",
            {},
            "str|dict",
            """What to do with captcha widgets on pages: ``"submit"`` (the default: a gate
            form is solved and submitted), ``"token"`` (solve, hand the token over, also for
            a widget outside any form) or ``"ignore"``; one mode, or ``{kind: mode}``.""",
        ),
        _s(
            "CAPTCHA_WALLS",
            ["cloudflare", "aws_waf", "amazon", "datadome", "incapsula"],
            "list",
            """The walls to solve (a list, or a comma-separated string): ``cloudflare``,
            ``aws_waf``, ``amazon`` (Amazon's robot check), ``datadome``, ``incapsula``.
            A wall left out is given up as ``disabled`` and never paid for; walls no
            service opens (PerimeterX, Akamai...) are always reported only.""",
        ),
        _s(
            "CAPTCHA_IMAGE_TIMEOUT",
            300.0,
            "float",
            "Seconds an image captcha solve may take.",
        ),
        _s(
            "CAPTCHA_ALLOW_OFFSITE",
            False,
            "bool",
            """Let the add-on fetch captcha images and submit gate forms on another site
            than the page's own (never to internal addresses).""",
        ),
        _s(
            "CAPTCHA_PUBLIC_ADDRESSES",
            [],
            "list",
            """``["address:port", ...]``: exact endpoints the outbound policy treats as
            public although their address is loopback or private (a staging site on a
            private network, the emulators in tests). Nothing else internal is ever sent
            to by the add-on's own requests.""",
        ),
        _s(
            "CAPTCHA_FILL_ON_SUBMIT",
            True,
            "bool",
            "Fill the token into the spider's own submissions of forms with a widget.",
        ),
        _s(
            "CAPTCHA_CACHE_URL",
            "file://",
            "url",
            """Where clearances are kept: ``file://`` (the default: a file under the
            project's ``.scrapy/captcha`` directory, so a re-run or a JOBDIR resume reuses
            clearances that are still valid; ``file:///some/dir`` elsewhere),
            ``memory://`` (this process only), ``redis://...`` (shared by processes), or
            the import path of a ``ClearanceStore``.""",
            secret=True,
        ),
        _s(
            "CAPTCHA_CACHE_PREFIX",
            "scrapy-captcha:",
            "str",
            "Prefix of the add-on's Redis keys.",
        ),
        _s(
            "CAPTCHA_CACHE_TIMEOUT",
            1.0,
            "float",
            "Seconds a Redis call may take before the store falls back to memory.",
        ),
        _s(
            "CAPTCHA_CACHE_RETRY",
            5.0,
            "float",
            """Longest pause (seconds) between reconnection attempts while Redis is down
            (from 0.5 s, doubling).""",
        ),
        _s(
            "CAPTCHA_CACHE_MAX_ENTRIES",
            1_000_000,
            "int",
            "Clearances a memory or file store keeps (least recently used dropped first).",
        ),
        _s(
            "CAPTCHA_LEASE_TTL",
            30.0,
            "float",
            "Seconds a process's solve lease lives unless renewed (shared stores).",
        ),
        _s(
            "CAPTCHA_SHARED_QUEUE",
            None,
            "bool|None",
            """Keep requests waiting for a solve in the shared store too (None: on when
            ``SCHEDULER`` is scrapy-redis's and the store is Redis).""",
        ),
        _s(
            "CAPTCHA_CLOSE_ON_FATAL",
            None,
            "bool|None",
            "Deprecated: use ``CAPTCHA_CLOSE_ON_UNAVAILABLE``.",
        ),
    )
}


#: name -> default, as the add-on registers them
DEFAULTS: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
