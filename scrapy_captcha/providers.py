"""Provider profiles: everything that differs between solver services lives here.

A profile knows its base URL, its task type names (per task kind: ``cloudflare``,
``turnstile``, ``recaptcha_v2``, ``recaptcha_v3``, ``recaptcha_v2_enterprise``,
``recaptcha_v3_enterprise``, ``hcaptcha``, ``image``; CAPTCHA_TASK_TYPES overrides them),
how to put each task together, how to read its error replies and how to normalise the many
documented solution shapes. The solver client and the middleware never hard-code a
provider detail.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

from scrapy.utils.misc import load_object

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


@dataclass(frozen=True)
class TaskContext:
    """What a profile needs to build a Cloudflare task for one challenged request."""

    url: str
    proxy: str = field(repr=False)  # full proxy URL, credentials included
    method: str = "GET"
    body: bytes = field(default=b"", repr=False)
    content_type: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


class Provider:
    """A solver service speaking the createTask / getTaskResult protocol.

    Subclass it (and point CAPTCHA_PROVIDER at the subclass's import path) to add a
    service; override ``task_types``, ``base_url`` and, if needed, ``cloudflare_task``.
    """

    name: ClassVar[str] = "generic"
    base_url: ClassVar[str] = ""
    task_types: ClassVar[Mapping[str, str]] = {}
    #: where a Turnstile action and cData go: "action" (only ``action``: for providers
    #: that document nothing), "flat" (``action`` + ``data``, anti-captcha/2captcha style)
    #: or "metadata" (``metadata: {action, cdata}``, capsolver style)
    turnstile_style: ClassVar[str] = "action"
    #: seconds an image task may take (providers answer within 10-120 s, give up at 300 s)
    image_timeout: ClassVar[float] = 300.0
    #: reply field holding the error text; checked in this order
    error_text_fields: ClassVar[tuple[str, ...]] = ("errorDescription", "errorDesc", "message")

    def __init__(self, task_types: Mapping[str, str] | None = None) -> None:
        self.types = {**self.task_types, **(task_types or {})}

    def task_type(self, kind: str) -> str:
        try:
            return self.types[kind]
        except KeyError:
            raise ConfigurationError(f"provider {self.name!r} has no task for {kind!r}") from None

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task: dict[str, Any] = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            "proxy": ctx.proxy,
        }
        task.update(ctx.extra)
        return task

    def turnstile_fields(self, action: str | None, cdata: str | None) -> dict[str, Any]:
        style = self.turnstile_style
        if style == "metadata":
            meta = {k: v for k, v in (("action", action), ("cdata", cdata)) if v}
            return {"metadata": meta} if meta else {}
        fields = {"action": action} if action else {}
        if style == "flat" and cdata:
            fields["data"] = cdata
        return fields

    def widget_task(
        self, widget: Widget, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A token task for ``widget`` (proxyless: tokens are not bound to an exit IP)."""
        task: dict[str, Any] = {
            "type": self.task_type(widget.task_key),
            "websiteURL": widget.page_url,
            "websiteKey": widget.sitekey,
        }
        if widget.kind == "turnstile":
            task.update(self.turnstile_fields(widget.action, widget.cdata))
        elif widget.version == "v3":
            if widget.action:
                task["pageAction"] = widget.action
            if widget.page_title:
                task["websiteTitle"] = widget.page_title
        elif widget.kind.startswith("recaptcha"):
            task["isInvisible"] = widget.invisible
            if widget.enterprise and widget.action:
                task["pageAction"] = widget.action  # (an Enterprise checkbox's action)
        elif widget.invisible:
            task["isInvisible"] = True
        task.update(extra or {})
        return task

    def image_task(
        self, image: bytes, image_type: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``ImageToTextTask``: base64 without line breaks, plus the provider's type hint."""
        task: dict[str, Any] = {
            "type": self.task_type("image"),
            "body": base64.b64encode(image).decode("ascii"),
        }
        if image_type:
            task["imageType"] = image_type
        task.update(extra or {})
        return task

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


class OneCaptcha(Provider):
    """1captcha (api.1captcha.vip): ``CloudFlareTaskS3`` (also documented as CloudFlareTask)."""

    name = "1captcha"
    base_url = "https://api.1captcha.vip"
    task_types = {
        CLOUDFLARE: "CloudFlareTaskS3",
        "turnstile": "TurnstileTaskProxyless",
        "recaptcha_v2": "RecaptchaV2TaskProxyless",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3EnterpriseTaskProxyless",
        "image": "ImageToTextTask",
    }


class EzCaptcha(Provider):
    """ez-captcha (api.ez-captcha.com): ``CloudFlare5STask``; POST pages via ``rqData``."""

    name = "ez-captcha"
    base_url = "https://api.ez-captcha.com"
    task_types = {
        CLOUDFLARE: "CloudFlare5STask",
        "turnstile": "CloudFlareTurnstileTask",
        "recaptcha_v2": "ReCaptchaV2TaskProxyless",
        "recaptcha_v2_enterprise": "ReCaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "ReCaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "ReCaptchaV3EnterpriseTaskProxyless",
    }
    error_text_fields = ("errorDesc", "errorDescription", "message")

    def turnstile_fields(self, action: str | None, cdata: str | None) -> dict[str, Any]:
        """ez-captcha documents Turnstile's action and cData inside ``rqData``."""
        rq = {k: v for k, v in (("metadataAction", action), ("metadataCdata", cdata)) if v}
        return {"rqData": rq} if rq else {}

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task = super().cloudflare_task(ctx)
        if ctx.method.upper() == "POST" and "rqData" not in ctx.extra:
            rq_data = build_rq_data(ctx.method, ctx.body, ctx.content_type)
            if rq_data is None:
                logger.warning(
                    "POST body of %s (%s) cannot be described to %s as rqData (JSON object "
                    "or form fields); the page is solved as a GET",
                    ctx.url,
                    ctx.content_type or "no Content-Type",
                    self.name,
                )
            else:
                task["rqData"] = rq_data
        return task


def build_rq_data(method: str, body: bytes, content_type: str) -> dict[str, Any] | None:
    """ez-captcha's ``rqData`` for a page reached by POST: JSON or FORM fields."""
    if method.upper() != "POST":
        return None
    ctype = content_type.lower()
    text = body.decode("utf-8", "replace")
    if "json" in ctype:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return None
        return {"mode": "JSON", **data} if isinstance(data, dict) else None
    if "multipart" in ctype:
        return None
    fields: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in fields:  # a repeated field keeps every value
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return {"mode": "FORM", **fields}


PROVIDERS: dict[str, type[Provider]] = {
    OneCaptcha.name: OneCaptcha,
    EzCaptcha.name: EzCaptcha,
}


def load_provider(
    name_or_path: str | type[Provider], task_types: Mapping[str, str] | None = None
) -> Provider:
    """A provider by registered name ("1captcha", "ez-captcha") or import path."""
    if isinstance(name_or_path, type):
        cls = name_or_path
    elif name_or_path in PROVIDERS:
        cls = PROVIDERS[name_or_path]
    else:
        try:
            cls = load_object(name_or_path)
        except (ValueError, NameError, ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"unknown CAPTCHA_PROVIDER {name_or_path!r}: use one of {sorted(PROVIDERS)} "
                "or the import path of a Provider subclass"
            ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigurationError(f"CAPTCHA_PROVIDER {name_or_path!r} is not a Provider subclass")
    return cls(task_types)
