"""The ``Provider`` base class: the createTask / getTaskResult layout most services share,
with a hook (a class attribute or a small method) at every place where they differ.

Why one base with attributes rather than seven hand-written task builders: the services'
own SDKs differ in a handful of field names (``cData`` / ``data`` / ``metadata.cdata``,
split or string proxies, ``isEnterprise`` flags); keeping those as data makes each profile
a short table that the conformance tests can check field by field.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from scrapy_captcha._kinds import CLOUDFLARE
from scrapy_captcha._solutions import (
    CloudflareSolution,
    TokenSolution,
    parse_cloudflare_solution,
    parse_text_solution,
    parse_token_solution,
)
from scrapy_captcha.errors import ConfigurationError

if TYPE_CHECKING:
    from scrapy_captcha._widgets import Widget

logger = logging.getLogger("scrapy_captcha")

#: sent when a reCAPTCHA v3 page names no literal action: every SDK requires
#: ``pageAction`` and Google's own examples use "verify" / "submit"
DEFAULT_V3_ACTION = "verify"
#: identifies the add-on to solver services (they ask integrators to send one)
CLIENT_USER_AGENT = "scrapy-captcha/0.1 (+https://github.com/scrapy-captcha)"
#: what each proxy scheme is called in split ``proxyType`` fields
_PROXY_TYPES = {"http": "http", "https": "https", "socks4": "socks4", "socks5": "socks5"}


@dataclass(frozen=True)
class TaskContext:
    """What a profile needs to build a Cloudflare task for one challenged request."""

    url: str
    proxy: str = field(repr=False)  # full proxy URL, credentials included
    method: str = "GET"
    body: bytes = field(default=b"", repr=False)
    content_type: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: the challenge page as served (CapMonster's cf_clearance task needs it)
    page_html: bytes = field(default=b"", repr=False)


def image_type(image: bytes) -> str | None:
    """The image format from its magic bytes (solvers want ``imageType``; the header of a
    fetched captcha is often wrong or ``application/octet-stream``)."""
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if image.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if image.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "webp"
    if image.startswith(b"BM"):
        return "bmp"
    return None


def split_proxy(proxy: str) -> dict[str, Any]:
    """``proxyType/proxyAddress/proxyPort/proxyLogin/proxyPassword`` from a proxy URL
    (anti-captcha, CapMonster); ``proxyPort`` is an int, as their SDKs send it."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = _PROXY_TYPES.get(parts.scheme.lower())
    if not parts.hostname or port is None or scheme is None:
        raise ConfigurationError("the Cloudflare proxy must be scheme://[user:pass@]host:port")
    fields: dict[str, Any] = {
        "proxyType": scheme,
        "proxyAddress": parts.hostname,
        "proxyPort": port,
    }
    if parts.username is not None:
        fields["proxyLogin"] = unquote(parts.username)
        fields["proxyPassword"] = unquote(parts.password or "")
    return fields


def colon_proxy(proxy: str) -> str:
    """``[type:]host:port[:user:pass]`` (capsolver): the scheme only when not plain HTTP."""
    split = split_proxy(proxy)
    out = f"{split['proxyAddress']}:{split['proxyPort']}"
    if "proxyLogin" in split:
        out += f":{split['proxyLogin']}:{split['proxyPassword']}"
    return out if split["proxyType"] == "http" else f"{split['proxyType']}:{out}"


class Provider:
    """A solver service speaking the createTask / getTaskResult protocol.

    Subclass it (and point CAPTCHA_PROVIDER at the subclass's import path) to add a
    service; override ``task_types``, ``base_url`` and the field attributes below.
    """

    name: ClassVar[str] = "generic"
    base_url: ClassVar[str] = ""
    task_types: ClassVar[Mapping[str, str]] = {}
    #: Turnstile: field names of the action and cData, and the object holding them (None:
    #: top level; "metadata" at capsolver, "rqData" at ez-captcha); None drops the value
    turnstile_action: ClassVar[str | None] = "action"
    turnstile_cdata: ClassVar[str | None] = "cData"
    turnstile_container: ClassVar[str | None] = None
    #: the older spelling of the three above, kept for subclasses written against it:
    #: "action" (``action`` only), "flat" (``action`` + ``data``) or "metadata" (capsolver)
    turnstile_style: ClassVar[str | None] = None
    #: reCAPTCHA v3 ``minScore`` sent by default (None: not sent), and the only values the
    #: service accepts (a requested score is rounded up to one of them)
    v3_min_score: ClassVar[float | None] = None
    v3_scores: ClassVar[tuple[float, ...]] = ()
    #: v3 Enterprise is the v3 task type plus ``isEnterprise: true`` (anti-captcha, 2captcha)
    v3_enterprise_flag: ClassVar[bool] = False
    #: field carrying a v3 page's title (1captcha and ez-captcha document ``websiteTitle``)
    v3_title_field: ClassVar[str | None] = None
    #: field carrying a plain v2 widget's ``data-s`` (None: the service documents none)
    v2_data_s_field: ClassVar[str | None] = None
    #: send ``isInvisible: false`` too (ez-captcha's SDK warns when it is missing)
    always_send_invisible: ClassVar[bool] = False
    #: field naming the image format in image tasks (None: the service documents none)
    image_type_field: ClassVar[str | None] = None
    #: seconds an image task may take (providers answer within 10-120 s, give up at 300 s)
    image_timeout: ClassVar[float] = 300.0
    #: reply field holding the error text; checked in this order
    error_text_fields: ClassVar[tuple[str, ...]] = ("errorDescription", "errorDesc", "message")
    #: HTTP headers for every solver call (services ask integrations to identify themselves)
    headers: ClassVar[Mapping[str, str]] = {"User-Agent": CLIENT_USER_AGENT}
    #: createTask envelope fields this service documents (``softId``, ``appId``, ...)
    envelope_fields: ClassVar[tuple[str, ...]] = ()
    #: USD per solved task, by task kind (see each profile for the per-1000 list price)
    prices: ClassVar[Mapping[str, float]] = {}
    #: endpoint that reports an incorrect result, by task kind (absent: none documented)
    report_methods: ClassVar[Mapping[str, str]] = {}

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

    # -- envelope, reports --------------------------------------------------------------

    def envelope(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The body of one API call besides ``clientKey``: ``createTask`` also carries the
        configured envelope fields (``softId``, ``appId``, ``callbackUrl``)."""
        if method == "createTask":
            return {**payload, **self.envelope_extra}
        return dict(payload)

    def report_method(self, kind: str) -> str | None:
        return self.report_methods.get(kind)

    def report_payload(self, task_id: str | int) -> dict[str, Any]:
        """The body of a report of an incorrect result, besides ``clientKey``."""
        return {"taskId": task_id}

    # -- tasks --------------------------------------------------------------------------

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task: dict[str, Any] = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            "proxy": ctx.proxy,
        }
        task.update(ctx.extra)
        return task

    def turnstile_fields(self, action: str | None, cdata: str | None) -> dict[str, Any]:
        layout = {
            "action": ("action", None, None),
            "flat": ("action", "data", None),
            "metadata": ("action", "cdata", "metadata"),
        }.get(self.turnstile_style or "")
        action_field, cdata_field, container = layout or (
            self.turnstile_action,
            self.turnstile_cdata,
            self.turnstile_container,
        )
        named = ((action_field, action), (cdata_field, cdata))
        fields = {name: value for name, value in named if name and value}
        return {container: fields} if container and fields else fields

    def min_score(self, requested: Any) -> float | None:
        """The ``minScore`` to send: the requested one rounded up to an accepted value."""
        score = self.v3_min_score if requested is None else requested
        if score is None or isinstance(score, bool) or not isinstance(score, (int, float)):
            return None
        if self.v3_scores:
            return next((s for s in sorted(self.v3_scores) if s >= score), max(self.v3_scores))
        return float(score)

    def widget_task(
        self, widget: Widget, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A token task for ``widget`` (proxyless: tokens are not bound to an exit IP)."""
        extra = dict(extra or {})
        task: dict[str, Any] = {
            "type": self.task_type(widget.task_key),
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
                if widget.action:
                    task["pageAction"] = widget.action  # (an Enterprise checkbox's action)
                if s_value:
                    task["enterprisePayload"] = {"s": s_value}
            elif s_value and self.v2_data_s_field:
                task[self.v2_data_s_field] = s_value
        elif widget.invisible:
            task["isInvisible"] = True
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

    def parse_text(self, reply: Mapping[str, Any]) -> str | None:
        return parse_text_solution(reply)

    def error_text(self, reply: Mapping[str, Any]) -> str:
        for name in self.error_text_fields:
            if reply.get(name):
                return str(reply[name])
        return ""

    def parse_cloudflare(self, reply: Mapping[str, Any]) -> CloudflareSolution | None:
        return parse_cloudflare_solution(reply)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _sniff_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def build_rq_data(method: str, body: bytes, content_type: str) -> dict[str, Any] | None:
    """ez-captcha's ``rqData`` for a page reached by POST: JSON or FORM fields.

    A body without a JSON Content-Type that parses as a JSON object is sent as JSON (APIs
    often post JSON as text/plain or with no type); ``mode`` always comes last, so a body
    field of that name can never replace it."""
    if method.upper() != "POST":
        return None
    ctype = content_type.lower()
    text = body.decode("utf-8", "replace")
    if "multipart" in ctype:
        return None
    sniff = not ctype.startswith("application/x-www-form") and text.lstrip()[:1] in ("{", "[")
    if "json" in ctype or sniff:
        data = _sniff_json(text or "{}")
        if isinstance(data, dict) and "mode" not in data:
            return {**data, "mode": "JSON"}
        if "json" in ctype or isinstance(data, (dict, list)):
            return None  # a JSON array, or a JSON field named ``mode``: not describable
    fields: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in fields:  # a repeated field keeps every value
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    if "mode" in fields:
        return None  # ez-captcha reads the mode from the same object: it would be lost
    return {**fields, "mode": "FORM"}
