"""The solver's tables: the provider dialects it speaks, the task types each accepts, the
fault switches, and the records it keeps of every task (shared by the other solver modules)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..widgets import WidgetError

COST_PER_TASK = 0.002
FAULTS = (
    "unsolvable",
    "no_slot",
    "garbage",
    "malformed",
    "http_502",
    "poll_502",
    "http_400_json",
    "never_ready",
    "hang",
    "bad_clearance",
    # a token the site refuses (a real service's worker sometimes returns one): refunds
    "bad_token",
    # capsolver's ERROR_RATE_LIMIT at createTask (the account's plan rate)
    "rate_limit",
    # the service's getUserAgent endpoint answers 502
    "user_agent_down",
)
SOLUTION_SHAPES = ("nested", "top_level", "both")
COOKIE_FORMATS = ("object", "list", "string")
MAX_TASKS = 10_000
MAX_QUEUE = 1_000
STALE_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36"
)
_ERROR_TEXT = {
    "ERROR_KEY_DOES_NOT_EXIST": "Account authorization key not found in the system",
    "ERROR_ZERO_BALANCE": "Account has zero or negative balance",
    "ERROR_NO_SLOT_AVAILABLE": "No idle workers are available at the moment, try again later",
    "ERROR_TASK_NOT_SUPPORTED": "Task type is not supported or is misspelled",
    "ERROR_NO_SUCH_CAPCHA_ID": "The task does not exist or has expired",
    "ERROR_CAPTCHA_UNSOLVABLE": "The challenge could not be solved",
    "ERROR_PROXY_CONNECT_REFUSED": "Could not connect to the task's proxy",
    "ERROR_BAD_PARAMETERS": "Required parameters are missing or have an incorrect format",
    "ERROR_TOO_MUCH_REQUESTS": "Too many requests for one task's result: at most one per 2 s",
    "ERROR_RATE_LIMIT": "Request frequency/rate limit",
    "ERROR_DOMAIN_NOT_ALLOWED": "Captchas from this domain cannot be solved",
    "ERROR_NO_SUCH_METHOD": "Incorrect captcha type (the type parameter)",
    "ERROR_WRONG_USERAGENT": "The User-Agent is not the current one: see getUserAgent",
}
#: the User-Agent the emulated CapMonster publishes (its getUserAgent) and requires in
#: cf_clearance tasks; ``SolverEmulator.service_user_agent`` changes it
CURRENT_WINDOWS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
#: what one USD is in yescaptcha's points (1 yuan = 1000 points), at the add-on's rate
POINTS_PER_USD = 1000 / 0.14


@dataclass(frozen=True)
class _WidgetType:
    """A token or image task type: the widget kind it solves and how it is described."""

    kind: str  # turnstile | recaptcha_v2 | recaptcha_v3 | hcaptcha | image
    enterprise: bool = False
    # Where a Turnstile task carries action/cdata (see ``TURNSTILE_FIELDS``).
    turnstile_fields: str = "action"
    #: proxy fields: "" (none read), "required" (a proxy-bound type), "optional"
    proxy: str = ""


#: Turnstile layouts: name -> (container, action field, cdata field), as the SDKs send them
TURNSTILE_FIELDS: dict[str, tuple[str | None, str, str | None]] = {
    "action": (None, "action", None),
    "cdata": (None, "action", "cData"),  # anti-captcha, 1captcha
    "data": (None, "action", "data"),  # 2captcha
    "pagedata": (None, "pageAction", "data"),  # CapMonster
    "metadata": ("metadata", "action", "cdata"),  # capsolver
    "rqdata": ("rqData", "metadataAction", "metadataCdata"),  # ez-captcha
}
#: Turnstile layout of services that document no action/cData field: their workers
#: solve the widget on the page itself (tokens carry the page's own action)
ON_PAGE = "page"


@dataclass(frozen=True)
class _Dialect:
    task_types: tuple[str, ...]
    description_field: str
    uuid_ids: bool
    rqdata: bool
    widget_types: dict[str, _WidgetType] = field(default_factory=dict)
    image_field: str = "text"  # where an image task's answer goes in the solution
    #: how a Cloudflare task names its proxy: "url", "split" (proxyAddress/proxyPort/...)
    #: or "colon" (``[type:]host:port[:user:pass]``)
    proxy_style: str = "url"
    #: Cloudflare answer: "full" (cookies, UA, headers, content), "antibot" (anti-captcha:
    #: cookies + fingerprint), "cf_clearance" (CapMonster) or "capsolver"
    cloudflare_reply: str = "full"
    #: (field, value) that turns a token task type into a Cloudflare task (CapMonster)
    cloudflare_mode: tuple[str, str] | None = None
    #: fields a Cloudflare task must carry besides websiteURL and the proxy
    cloudflare_required: tuple[str, ...] = ()
    #: a Cloudflare task's ``userAgent`` is the browser the worker uses
    takes_user_agent: bool = False
    #: the task's ``userAgent`` must be a current Windows one (CapMonster: the one its
    #: getUserAgent publishes, or a newer Chrome on Windows)
    checks_user_agent: bool = False
    #: answers ERROR_DOMAIN_NOT_ALLOWED for the emulator's ``forbidden_domains``
    forbids_domains: bool = False
    #: split proxies: accepted ``proxyType`` values ("" when it may be left out), and
    #: whether ``proxyAddress`` must be an IP address
    proxy_types: tuple[str, ...] = ("http", "https")
    proxy_ip_only: bool = False
    #: the error code of an unknown task type
    unknown_type_code: str = "ERROR_TASK_NOT_SUPPORTED"
    #: getBalance answers in this many units per USD (yescaptcha: points)
    balance_per_usd: float = 1.0


DIALECTS: dict[str, _Dialect] = {
    "1captcha": _Dialect(
        ("CloudFlareTaskS3", "CloudFlareTask"),
        "errorDescription",
        False,
        False,
        {
            # (its documents name no Turnstile action or cData field)
            "TurnstileTaskProxyless": _WidgetType("turnstile", turnstile_fields=ON_PAGE),
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "NoCaptchaTaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "RecaptchaV3EnterpriseTaskProxyless": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
        },
        # 1captcha's own ImageToTextTask example answers in gRecaptchaResponse.
        image_field="gRecaptchaResponse",
    ),
    "ez-captcha": _Dialect(
        ("CloudFlare5STask",),
        "errorDesc",
        True,
        True,
        {
            "CloudFlareTurnstileTask": _WidgetType("turnstile", turnstile_fields="rqdata"),
            "ReCaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "ReCaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "ReCaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "ReCaptchaV3EnterpriseTaskProxyless": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
            # The SDK's spellings (``ezcaptcha`` on PyPI), incl. the data-s task types.
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2STaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV2SEnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "RecaptchaV3EnterpriseTaskProxyless": _WidgetType("recaptcha_v3", enterprise=True),
            "HcaptchaTaskProxyless": _WidgetType("hcaptcha"),
        },
        image_field="text",
    ),
    "anti-captcha": _Dialect(
        ("AntiBotCookieTask",),
        "errorDescription",
        False,
        False,
        {
            "TurnstileTaskProxyless": _WidgetType("turnstile", turnstile_fields="cdata"),
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),  # isEnterprise: flag
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
            # proxy-bound variants
            "TurnstileTask": _WidgetType("turnstile", turnstile_fields="cdata", proxy="required"),
            "RecaptchaV2Task": _WidgetType("recaptcha_v2", proxy="required"),
            "RecaptchaV2EnterpriseTask": _WidgetType(
                "recaptcha_v2", enterprise=True, proxy="required"
            ),
            "HCaptchaTask": _WidgetType("hcaptcha", proxy="required"),
        },
        proxy_style="split",
        cloudflare_reply="antibot",
        # http (any http/https proxy), socks4, socks5; AntiBotCookieTask's SDK sends none;
        # "IP address only, host names are not allowed"
        proxy_types=("", "http", "socks4", "socks5"),
        proxy_ip_only=True,
    ),
    "2captcha": _Dialect(
        (),
        "errorDescription",
        False,
        False,
        {
            "TurnstileTaskProxyless": _WidgetType("turnstile", turnstile_fields="data"),
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),  # isEnterprise: flag
            "ImageToTextTask": _WidgetType("image"),
            "TurnstileTask": _WidgetType("turnstile", turnstile_fields="data", proxy="required"),
            "RecaptchaV2Task": _WidgetType("recaptcha_v2", proxy="required"),
            "RecaptchaV2EnterpriseTask": _WidgetType(
                "recaptcha_v2", enterprise=True, proxy="required"
            ),
        },
        proxy_style="split",
        proxy_types=("http", "socks4", "socks5"),
    ),
    "capmonster": _Dialect(
        ("TurnstileTask",),
        "errorDescription",
        False,
        False,
        {
            # (the same types take a proxy or none)
            "TurnstileTask": _WidgetType(
                "turnstile", turnstile_fields="pagedata", proxy="optional"
            ),
            "RecaptchaV2Task": _WidgetType("recaptcha_v2", proxy="optional"),
            "RecaptchaV2EnterpriseTask": _WidgetType(
                "recaptcha_v2", enterprise=True, proxy="optional"
            ),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "RecaptchaV3EnterpriseTask": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTask": _WidgetType("hcaptcha", proxy="optional"),
            "ImageToTextTask": _WidgetType("image"),
        },
        proxy_style="split",
        cloudflare_reply="cf_clearance",
        cloudflare_mode=("cloudflareTaskType", "cf_clearance"),
        cloudflare_required=("websiteKey", "userAgent", "htmlPageBase64"),
        takes_user_agent=True,
        checks_user_agent=True,
        forbids_domains=True,
        proxy_types=("http", "https", "socks4", "socks5"),
        proxy_ip_only=True,
        unknown_type_code="ERROR_NO_SUCH_METHOD",
    ),
    "capsolver": _Dialect(
        ("AntiCloudflareTask",),
        "errorDescription",
        True,
        False,
        {
            "AntiTurnstileTaskProxyLess": _WidgetType("turnstile", turnstile_fields="metadata"),
            "ReCaptchaV2TaskProxyLess": _WidgetType("recaptcha_v2"),
            "ReCaptchaV2EnterpriseTaskProxyLess": _WidgetType("recaptcha_v2", enterprise=True),
            "ReCaptchaV3TaskProxyLess": _WidgetType("recaptcha_v3"),
            "ReCaptchaV3EnterpriseTaskProxyLess": _WidgetType("recaptcha_v3", enterprise=True),
            "ImageToTextTask": _WidgetType("image"),
            "ReCaptchaV2Task": _WidgetType("recaptcha_v2", proxy="required"),
            "ReCaptchaV2EnterpriseTask": _WidgetType(
                "recaptcha_v2", enterprise=True, proxy="required"
            ),
            "ReCaptchaV3Task": _WidgetType("recaptcha_v3", proxy="required"),
            "ReCaptchaV3EnterpriseTask": _WidgetType(
                "recaptcha_v3", enterprise=True, proxy="required"
            ),
        },
        proxy_style="colon",
        cloudflare_reply="capsolver",
        takes_user_agent=True,
    ),
    "yescaptcha": _Dialect(
        (),
        "errorDescription",
        True,
        False,
        {
            # (its documents name no Turnstile action or cData field)
            "TurnstileTaskProxyless": _WidgetType("turnstile", turnstile_fields=ON_PAGE),
            "NoCaptchaTaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "RecaptchaV3EnterpriseTask": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
        },
        balance_per_usd=POINTS_PER_USD,
    ),
}


@dataclass(frozen=True)
class _WidgetJob:
    """A widget or image task's validated parameters (checked at createTask)."""

    kind: str
    sitekey: str = ""
    page_url: str = ""
    action: str | None = None
    cdata: str | None = None
    invisible: bool = False
    enterprise: bool = False
    image: bytes = b""
    #: solved on the page itself (a Turnstile task of a service naming no action field)
    on_page: bool = False
    #: the proxy a proxy-bound task is solved through (a ``_solver_browser._Proxy``)
    proxy: Any = None


@dataclass
class TaskRecord:
    """What the solver knows about one task (the client key is never kept here)."""

    id: int | str
    dialect: str
    type: str
    task: dict[str, Any]
    status: str = "processing"  # processing | ready | failed
    error_code: str | None = None
    created_at: float = field(default_factory=time.time)
    solved_at: float | None = None
    error_description: str | None = None
    solution: dict[str, Any] | None = field(default=None, repr=False)
    fault: str | None = field(default=None, repr=False)
    widget: _WidgetJob | None = field(default=None, repr=False)
    #: a wall task's checked parameters (``_solver_walls._WallJob``)
    wall: Any = field(default=None, repr=False)
    #: monotonic time of its last getTaskResult (``poll_spacing``)
    last_poll: float | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view for ``/_control/stats``."""
        return {
            "id": self.id,
            "dialect": self.dialect,
            "type": self.type,
            "task": self.task,
            "status": self.status,
            "error_code": self.error_code,
            "created_at": self.created_at,
            "solved_at": self.solved_at,
        }


class _SolveError(WidgetError):
    """A task refused at createTask or failed by a worker: an error code and its description,
    the same pair as the token service's refusals (hence the shared base)."""


def _browser_ua(seq: int) -> str:
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"EmuBrowser/1.{seq} Safari/537.36"
    )


def _optional(obj: dict[str, Any], name: str, kind: type, prefix: str = "") -> Any:
    """``obj[name]`` if present (None otherwise); ERROR_BAD_PARAMETERS if of another type."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _SolveError("ERROR_BAD_PARAMETERS", f"{prefix}{name} must be a {kind.__name__}")
    return value
