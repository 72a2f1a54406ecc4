"""The ``Provider`` base class: the createTask / getTaskResult layout most services share,
with a hook (a class attribute or a small method) at every place where they differ.

Why one base with attributes rather than seven hand-written task builders: the services'
own SDKs differ in a handful of field names (``cData`` / ``data`` / ``metadata.cdata``,
split or string proxies, ``isEnterprise`` flags); keeping those as data makes each profile
a short table that the conformance tests can check field by field.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy_captcha._kinds import CLOUDFLARE, GEETEST_V4, TURNSTILE
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._solutions import (
    CloudflareSolution,
    TokenSolution,
    classify_error,
    parse_cloudflare_solution,
    parse_text_solution,
    parse_token_solution,
)
from scrapy_captcha.services._task_fields import (
    PROXY_TYPES,
    RECAPTCHA_TASKS,
    TaskContext,
    colon_proxy,
    image_type,
    split_proxy,
    task_kinds,
)
from scrapy_captcha.services._wall_solutions import parse_geetest_solution, parse_wall_solution
from scrapy_captcha.services._wall_tasks import WALL_WIDGETS, wall_task, widget_wall_task

if TYPE_CHECKING:
    from scrapy_captcha.detect._widgets import Widget

logger = logging.getLogger("scrapy_captcha")

#: sent when a reCAPTCHA v3 page names no literal action: every SDK requires
#: ``pageAction`` and Google's own examples use "verify" / "submit"
DEFAULT_V3_ACTION = "verify"
#: the token task kinds
TOKENS = ("turnstile", *RECAPTCHA_TASKS, "hcaptcha")
#: the codes every anti-captcha-style service documents, and its proxy errors
COMMON_ERRORS = (
    "ERROR_KEY_DOES_NOT_EXIST",
    "ERROR_ZERO_BALANCE",
    "ERROR_NO_SLOT_AVAILABLE",
    "ERROR_CAPTCHA_UNSOLVABLE",
    "ERROR_NO_SUCH_CAPCHA_ID",
    "ERROR_TASK_NOT_SUPPORTED",
    "ERROR_IP_NOT_ALLOWED",
)
PROXY_ERRORS = ("ERROR_PROXY_CONNECT_REFUSED", "ERROR_PROXY_BANNED")
#: identifies the add-on to solver services (they ask integrators to send one)
CLIENT_USER_AGENT = "scrapy-captcha/0.1 (+https://github.com/scrapy-captcha)"


class Provider:
    """A solver service speaking the createTask / getTaskResult protocol.

    Subclass it (and point CAPTCHA_PROVIDER at the subclass's import path) to add a
    service; override ``task_types``, ``base_url`` and the field attributes below.
    """

    name: ClassVar[str] = "generic"
    base_url: ClassVar[str] = ""
    task_types: ClassVar[Mapping[str, str]] = {}
    #: kinds the service documents no task for, and what it does instead (the hint given
    #: when a page needs one: adding a task type cannot help there)
    cannot: ClassVar[Mapping[str, str]] = {}
    #: Turnstile: field names of the action and cData, and the object holding them (None:
    #: top level; "metadata" at capsolver, "rqData" at ez-captcha); None drops the value
    turnstile_action: ClassVar[str | None] = "action"
    turnstile_cdata: ClassVar[str | None] = "cData"
    turnstile_container: ClassVar[str | None] = None
    #: the older spelling of the three above, kept for subclasses written against it:
    #: "action" (``action`` only), "flat" (``action`` + ``data``) or "metadata" (capsolver)
    turnstile_style: ClassVar[str | None] = None
    #: reCAPTCHA v3 ``minScore`` sent by default (None: not sent, the service's own
    #: default applies), and the only values the service accepts (a requested score is
    #: rounded up to one of them). ``meta["captcha"]["task"]["minScore"]`` sets it per
    #: request.
    v3_min_score: ClassVar[float | None] = None
    v3_scores: ClassVar[tuple[float, ...]] = ()
    #: v3 Enterprise is the v3 task type plus ``isEnterprise: true`` (anti-captcha, 2captcha)
    v3_enterprise_flag: ClassVar[bool] = False
    #: field carrying a v3 page's title (1captcha and ez-captcha document ``websiteTitle``)
    v3_title_field: ClassVar[str | None] = None
    #: field carrying a plain v2 widget's ``data-s`` (None: the service documents none)
    v2_data_s_field: ClassVar[str | None] = None
    #: the service documents ``pageAction`` on v2 Enterprise tasks (most do for v3 only)
    v2_enterprise_action: ClassVar[bool] = False
    #: task kinds whose documents name ``apiDomain`` (sent for widgets loaded from
    #: www.recaptcha.net)
    api_domain_kinds: ClassVar[frozenset[str]] = frozenset()
    #: send ``isInvisible: false`` too (ez-captcha's SDK warns when it is missing)
    always_send_invisible: ClassVar[bool] = False
    #: field naming the image format in image tasks (None: the service documents none)
    image_type_field: ClassVar[str | None] = None
    #: seconds an image task may take (providers answer within 10-120 s, give up at 300 s)
    image_timeout: ClassVar[float] = 300.0
    #: reply field holding the error text; checked in this order
    error_text_fields: ClassVar[tuple[str, ...]] = ("errorDescription", "errorDesc", "message")
    #: error codes this service documents (for the services table; any other code is
    #: classified alike, see ``classify``)
    error_codes: ClassVar[tuple[str, ...]] = (
        "ERROR_KEY_DOES_NOT_EXIST",
        "ERROR_ZERO_BALANCE",
        "ERROR_NO_SLOT_AVAILABLE",
        "ERROR_CAPTCHA_UNSOLVABLE",
        "ERROR_TASK_NOT_SUPPORTED",
        "ERROR_PROXY_CONNECT_REFUSED",
    )
    #: codes after which this service is not asked for that task kind again in the
    #: crawl (the next service of the chain takes the kind)
    kind_refusals: ClassVar[frozenset[str]] = frozenset()
    #: HTTP headers for every solver call (services ask integrations to identify themselves)
    headers: ClassVar[Mapping[str, str]] = {"User-Agent": CLIENT_USER_AGENT}
    #: createTask envelope fields this service documents (``softId``, ``appId``, ...)
    envelope_fields: ClassVar[tuple[str, ...]] = ()
    #: USD per solved task, by task kind (see each profile for the per-1000 list price)
    prices: ClassVar[Mapping[str, float]] = {}
    #: endpoint that reports an incorrect result, by task kind (absent: none documented)
    report_methods: ClassVar[Mapping[str, str]] = {}
    #: the unit getBalance answers in, and what one unit is worth in USD
    balance_unit: ClassVar[str] = "USD"
    usd_per_unit: ClassVar[float] = 1.0
    #: how tasks carry a proxy: "url" (``proxy: scheme://user:pass@host:port``), "split"
    #: (``proxyType``/``proxyAddress``/``proxyPort``/``proxyLogin``/``proxyPassword``) or
    #: "colon" (``proxy: [type:]host:port:user:pass``)
    proxy_format: ClassVar[str] = "url"
    #: ``proxyType`` names by proxy URL scheme (split format)
    proxy_types: ClassVar[Mapping[str, str]] = PROXY_TYPES
    #: ``proxyAddress`` must be an IP address (anti-captcha, CapMonster document it): a
    #: host name is resolved before the task is sent
    proxy_needs_ip: ClassVar[bool] = False
    #: proxy-bound token task types, by task kind (CAPTCHA_TOKEN_PROXY)
    proxy_task_types: ClassVar[Mapping[str, str]] = {}
    #: where the service publishes the User-Agent its clearance tasks must name (None:
    #: tasks name the request's own), and the one used when it cannot be read
    user_agent_url: ClassVar[str | None] = None
    fallback_user_agent: ClassVar[str | None] = None
    #: AWS WAF tasks (``_wall_tasks``): the page's values (key, iv, context and the
    #: challenge / captcha / jsapi script URLs) by the task field each goes in, fields
    #: always sent, and the values without which the service takes no task
    aws_waf_fields: ClassVar[Mapping[str, str]] = {}
    aws_waf_extra: ClassVar[Mapping[str, Any]] = {}
    aws_waf_required: ClassVar[tuple[str, ...]] = ()
    #: DataDome tasks: "flat" (``captchaUrl`` beside ``userAgent``) or "custom" (a
    #: CustomTask of class DataDome, the URL and cookie in ``metadata``)
    datadome_style: ClassVar[str] = "flat"
    #: GeeTest v4 tasks: the captcha id as "gt" (+ ``version: 4``), "captchaId", or
    #: "init" (``version: 4`` + ``initParameters.captcha_id``)
    geetest_style: ClassVar[str] = "gt"

    def __init__(
        self,
        task_types: Mapping[str, str] | None = None,
        envelope: Mapping[str, Any] | None = None,
    ) -> None:
        self.types = {**self.task_types, **(task_types or {})}
        unknown = set(envelope or {}) - set(self.envelope_fields)
        if unknown:
            raise ConfigurationError(
                f"{self.name} documents no createTask field {sorted(unknown)}; "
                f"it takes {list(self.envelope_fields) or 'none'}"
            )
        self.envelope_extra = dict(envelope or {})

    def task_type(self, kind: str) -> str:
        try:
            return self.types[kind]
        except KeyError:
            raise ConfigurationError(f"{self.name} has no task for {kind}") from None

    def can(self, kind: str) -> bool:
        """Whether this service has a task for ``kind`` (a task or a widget kind)."""
        return all(k in self.types for k in task_kinds(kind))

    # -- envelope, reports, balances ----------------------------------------------------

    def envelope(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The body of one API call besides ``clientKey``: ``createTask`` also carries the
        configured envelope fields (``softId``, ``appId``, ``callbackUrl``)."""
        if method == "createTask":
            return {**payload, **self.envelope_extra}
        return dict(payload)

    def report_method(self, kind: str) -> str | None:
        """The report endpoint for a task of ``kind``: a task kind, or the widget kind a
        site refused (an invisible v2 widget is a v2 task; an Enterprise widget a v2 or
        v3 Enterprise task, reported alike wherever a service documents both)."""
        for task_kind in task_kinds(kind):
            method = self.report_methods.get(task_kind)
            if method:
                return method
        return None

    def report_payload(self, task_id: str | int) -> dict[str, Any]:
        """The body of a report of an incorrect result, besides ``clientKey``."""
        return {"taskId": task_id}

    def balance_usd(self, balance: float) -> float:
        """A getBalance answer (in ``balance_unit``) in USD."""
        return balance * self.usd_per_unit

    def classify(self, code: str) -> tuple[str, str]:
        """``(reason, family)`` of an error code, as this service means it."""
        return classify_error(code)

    # -- proxies ------------------------------------------------------------------------

    def proxy_fields(self, proxy: str, *, with_type: bool = True) -> dict[str, Any]:
        """A proxy URL in the form this service's tasks take it."""
        if self.proxy_format == "split":
            return split_proxy(proxy, self.proxy_types, with_type=with_type)
        if self.proxy_format == "colon":
            return {"proxy": colon_proxy(proxy)}
        return {"proxy": proxy}

    def has_proxy_variant(self, kind: str) -> bool:
        return kind in self.proxy_task_types

    def needs_proxy(self, kind: str) -> bool:
        """The configured task type for ``kind`` is a proxy-bound one only (set through
        CAPTCHA_TASK_TYPES): it must carry the request's proxy."""
        configured = self.types.get(kind)
        return (
            configured is not None
            and configured in self.proxy_task_types.values()
            and configured not in self.task_types.values()
        )

    # -- tasks --------------------------------------------------------------------------

    def clearance_task(self, kind: str, ctx: TaskContext) -> dict[str, Any]:
        """The task that buys a ``kind`` wall's cookie: Cloudflare's clearance, or another
        wall's (``_wall_tasks``)."""
        return self.cloudflare_task(ctx) if kind == CLOUDFLARE else wall_task(self, kind, ctx)

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task: dict[str, Any] = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            **self.proxy_fields(ctx.proxy),
        }
        task.update(ctx.extra)
        return task

    def turnstile_layout(self) -> tuple[str | None, str | None, str | None]:
        """(action field, cData field, container) of this service's Turnstile tasks."""
        layout = {
            "action": ("action", None, None),
            "flat": ("action", "data", None),
            "metadata": ("action", "cdata", "metadata"),
        }.get(self.turnstile_style or "")
        return layout or (self.turnstile_action, self.turnstile_cdata, self.turnstile_container)

    def turnstile_fields(self, action: str | None, cdata: str | None) -> dict[str, Any]:
        action_field, cdata_field, container = self.turnstile_layout()
        named = ((action_field, action), (cdata_field, cdata))
        fields = {name: value for name, value in named if name and value}
        return {container: fields} if container and fields else fields

    def min_score(self, requested: Any) -> float | None:
        """The ``minScore`` to send: the requested one rounded up to an accepted value."""
        score = self.v3_min_score if requested is None else requested
        if score is None or isinstance(score, bool) or not isinstance(score, (int, float)):
            return None
        if not math.isfinite(score):
            return None
        if self.v3_scores:
            return next((s for s in sorted(self.v3_scores) if s >= score), max(self.v3_scores))
        return float(score)

    def unsent(self, widget: Widget) -> tuple[str, ...]:
        """What this widget declares that this service's task cannot carry (its documents
        name no field for it): logged once per service, never silently dropped."""
        out: list[str] = []
        if widget.kind == TURNSTILE:
            action_field, cdata_field, _ = self.turnstile_layout()
            if widget.action and not action_field:
                out.append("Turnstile action")
            if widget.cdata and not cdata_field:
                out.append("Turnstile cData")
        elif widget.kind.startswith("recaptcha") and widget.version != "v3":
            s_value = getattr(widget, "s", None)
            if s_value and not widget.enterprise and not self.v2_data_s_field:
                out.append("reCAPTCHA data-s")
            if widget.enterprise and widget.action and not self.v2_enterprise_action:
                out.append("v2 Enterprise action")
        return tuple(out)

    def widget_task(
        self,
        widget: Widget,
        extra: Mapping[str, Any] | None = None,
        proxy: str | None = None,
    ) -> dict[str, Any]:
        """A token task for ``widget``: proxyless, or bound to ``proxy`` (the request's)
        in this service's proxy variant of the task and its proxy format."""
        if widget.kind in WALL_WIDGETS:
            return widget_wall_task(self, widget, extra, proxy)
        extra = dict(extra or {})
        kind = widget.task_key
        task: dict[str, Any] = {
            "type": self.task_type(kind),
            "websiteURL": widget.page_url,
            "websiteKey": widget.sitekey,
        }
        s_value = getattr(widget, "s", None)
        if widget.kind == "turnstile":
            task.update(self.turnstile_fields(widget.action, widget.cdata))
        elif widget.version == "v3":
            task["pageAction"] = widget.action or DEFAULT_V3_ACTION
            score = self.min_score(extra.pop("minScore", None))
            if score is not None:
                task["minScore"] = score
            if widget.enterprise and self.v3_enterprise_flag:
                task["isEnterprise"] = True
            if widget.page_title and self.v3_title_field:
                task[self.v3_title_field] = widget.page_title
        elif widget.kind.startswith("recaptcha"):
            if widget.invisible or self.always_send_invisible:
                task["isInvisible"] = widget.invisible
            if widget.enterprise:
                if widget.action and self.v2_enterprise_action:
                    task["pageAction"] = widget.action  # (an Enterprise checkbox's action)
                if s_value:
                    task["enterprisePayload"] = {"s": s_value}
            elif s_value and self.v2_data_s_field:
                task[self.v2_data_s_field] = s_value
        elif widget.invisible:
            task["isInvisible"] = True
        api_domain = getattr(widget, "api_domain", None)
        if api_domain and kind in self.api_domain_kinds:
            task["apiDomain"] = api_domain
        if proxy is not None:
            if task["type"] == self.task_types.get(kind) and kind in self.proxy_task_types:
                task["type"] = self.proxy_task_types[kind]
            task.update(self.proxy_fields(proxy))
        task.update(extra)
        return task

    def image_task(
        self, image: bytes, image_type_: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``ImageToTextTask``: base64 without line breaks, plus the format where the
        service documents a field for it (detected from the bytes when not given)."""
        task: dict[str, Any] = {
            "type": self.task_type("image"),
            "body": base64.b64encode(image).decode("ascii"),
        }
        kind = image_type_ or image_type(image)
        if self.image_type_field and kind:
            task[self.image_type_field] = kind
        task.update(extra or {})
        return task

    # -- replies ------------------------------------------------------------------------

    def parse_token(self, reply: Mapping[str, Any]) -> TokenSolution | None:
        return parse_token_solution(reply)

    def parse_widget(self, kind: str, reply: Mapping[str, Any]) -> TokenSolution | None:
        """A widget task's answer: a token, or GeeTest v4's five fields."""
        return parse_geetest_solution(reply) if kind == GEETEST_V4 else self.parse_token(reply)

    def parse_text(self, reply: Mapping[str, Any]) -> str | None:
        return parse_text_solution(reply)

    def error_text(self, reply: Mapping[str, Any]) -> str:
        for name in self.error_text_fields:
            if reply.get(name):
                return str(reply[name])
        return ""

    def parse_cloudflare(self, reply: Mapping[str, Any]) -> CloudflareSolution | None:
        return parse_cloudflare_solution(reply)

    def parse_clearance(self, kind: str, reply: Mapping[str, Any]) -> CloudflareSolution | None:
        """A clearance task's answer: Cloudflare's, or another wall's cookie."""
        if kind == CLOUDFLARE:
            return self.parse_cloudflare(reply)
        return parse_wall_solution(kind, reply)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
