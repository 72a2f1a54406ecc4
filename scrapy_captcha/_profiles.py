"""The built-in solver profiles, each spoken as the service's own SDK speaks it (checked by
``tests/test_sdk_conformance.py``; ``docs/providers.md`` has the table).

Prices are USD per solved task from each service's public price list as known when this
was written (the per-1000 figure is in the comment): a default for cost accounting, to be
overridden by configuration when a contract says otherwise.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scrapy_captcha._kinds import CLOUDFLARE
from scrapy_captcha._profiles_base import (
    Provider,
    TaskContext,
    build_rq_data,
    colon_proxy,
    logger,
    split_proxy,
)
from scrapy_captcha._solutions import CloudflareSolution
from scrapy_captcha.errors import ConfigurationError

if TYPE_CHECKING:
    from scrapy_captcha._widgets import Widget

_RECAPTCHA = ("recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3", "recaptcha_v3_enterprise")
_TOKENS = ("turnstile", *_RECAPTCHA, "hcaptcha")


class OneCaptcha(Provider):
    """1captcha (api.1captcha.vip): an anti-captcha-style API, ``CloudFlareTaskS3`` (also
    documented as CloudFlareTask); no SDK on the package index, its examples are the
    fixture."""

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
    always_send_invisible = True
    v3_title_field = "websiteTitle"
    image_type_field = "imageType"
    # estimates (no public list): Cloudflare $2/1000, tokens $1/1000, image $0.5/1000
    prices = {CLOUDFLARE: 0.002, **dict.fromkeys(_TOKENS[:-1], 0.001), "image": 0.0005}


class EzCaptcha(Provider):
    """ez-captcha (api.ez-captcha.com): ``CloudFlare5STask``; POST pages via ``rqData``;
    task names as its SDK (``ezcaptcha`` on PyPI) spells them."""

    name = "ez-captcha"
    base_url = "https://api.ez-captcha.com"
    task_types = {
        CLOUDFLARE: "CloudFlare5STask",
        "turnstile": "CloudFlareTurnstileTask",
        "recaptcha_v2": "RecaptchaV2TaskProxyless",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3EnterpriseTaskProxyless",
        "hcaptcha": "HcaptchaTaskProxyless",
    }
    # ez-captcha documents Turnstile's action and cData inside ``rqData``
    turnstile_action = "metadataAction"
    turnstile_cdata = "metadataCdata"
    turnstile_container = "rqData"
    always_send_invisible = True
    v3_title_field = "websiteTitle"
    error_text_fields = ("errorDesc", "errorDescription", "message")
    envelope_fields = ("appId",)
    # ez-captcha list: reCAPTCHA v2 $0.6/1000, v3 $0.8/1000, Enterprise $1.2/1000,
    # Turnstile $1/1000, hCaptcha $1/1000, Cloudflare 5s $2/1000
    prices = {
        CLOUDFLARE: 0.002,
        "turnstile": 0.001,
        "recaptcha_v2": 0.0006,
        "recaptcha_v3": 0.0008,
        "recaptcha_v2_enterprise": 0.0012,
        "recaptcha_v3_enterprise": 0.0012,
        "hcaptcha": 0.001,
    }

    def widget_task(
        self, widget: Widget, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A v2 widget with ``data-s`` goes to the ``...V2S...`` types with an ``s`` field."""
        task = super().widget_task(widget, extra)
        payload = task.pop("enterprisePayload", None)
        s_value = getattr(widget, "s", None)
        if widget.version != "v3" and widget.kind.startswith("recaptcha") and s_value:
            if task["type"] == self.types.get("recaptcha_v2"):
                task["type"] = "RecaptchaV2STaskProxyless"
            elif task["type"] == self.types.get("recaptcha_v2_enterprise"):
                task["type"] = "RecaptchaV2SEnterpriseTaskProxyless"
            task["s"] = s_value
        elif payload is not None:
            task["enterprisePayload"] = payload
        return task

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task = super().cloudflare_task(ctx)
        if ctx.method.upper() == "POST" and "rqData" not in ctx.extra:
            rq_data = build_rq_data(ctx.method, ctx.body, ctx.content_type)
            if rq_data is None:
                logger.warning(
                    "POST body of %s (%s) cannot be described to %s as rqData (JSON object "
                    "or form fields without a 'mode' field); the page is solved as a GET",
                    ctx.url,
                    ctx.content_type or "no Content-Type",
                    self.name,
                )
            else:
                task["rqData"] = rq_data
        return task


class AntiCaptcha(Provider):
    """anti-captcha (api.anti-captcha.com), as ``anticaptchaofficial`` sends it."""

    name = "anti-captcha"
    base_url = "https://api.anti-captcha.com"
    task_types = {
        CLOUDFLARE: "AntiBotCookieTask",
        "turnstile": "TurnstileTaskProxyless",
        "recaptcha_v2": "RecaptchaV2TaskProxyless",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3TaskProxyless",  # + isEnterprise
        "hcaptcha": "HCaptchaTaskProxyless",
        "image": "ImageToTextTask",
    }
    v3_min_score = 0.3
    v3_scores = (0.3, 0.7, 0.9)
    v3_enterprise_flag = True
    v2_data_s_field = "recaptchaDataSValue"
    envelope_fields = ("softId", "callbackUrl")
    # list: image $0.7/1000, reCAPTCHA v2 $1.5/1000, v3 $2/1000, Enterprise $5/1000,
    # Turnstile $2/1000, hCaptcha $2/1000, AntiBotCookieTask $5/1000 (credits)
    prices = {
        CLOUDFLARE: 0.005,
        "turnstile": 0.002,
        "recaptcha_v2": 0.0015,
        "recaptcha_v3": 0.002,
        "recaptcha_v2_enterprise": 0.005,
        "recaptcha_v3_enterprise": 0.005,
        "hcaptcha": 0.002,
        "image": 0.0007,
    }
    report_methods = {
        **dict.fromkeys(_RECAPTCHA, "reportIncorrectRecaptcha"),
        "hcaptcha": "reportIncorrectHcaptcha",
        "image": "reportIncorrectImageCaptcha",
    }

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        """``AntiBotCookieTask``: split proxy fields, ``proxyPort`` an int."""
        task = {"type": self.task_type(CLOUDFLARE), "websiteURL": ctx.url}
        task.update(split_proxy(ctx.proxy))
        task.update(ctx.extra)
        return task


class TwoCaptcha(Provider):
    """2captcha's JSON API (api.2captcha.com). No Cloudflare clearance task (2captcha
    solves challenge pages as Turnstile tokens only) and no hCaptcha (withdrawn)."""

    name = "2captcha"
    base_url = "https://api.2captcha.com"
    task_types = {
        "turnstile": "TurnstileTaskProxyless",
        "recaptcha_v2": "RecaptchaV2TaskProxyless",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3TaskProxyless",  # + isEnterprise
        "image": "ImageToTextTask",
    }
    turnstile_cdata = "data"
    v3_min_score = 0.3
    v3_scores = (0.3, 0.7, 0.9)
    v3_enterprise_flag = True
    v2_data_s_field = "recaptchaDataSValue"
    envelope_fields = ("softId", "callbackUrl")
    # list: image $1/1000, reCAPTCHA v2/v3/Enterprise $2.99/1000, Turnstile $1.45/1000
    prices = {
        "turnstile": 0.00145,
        **dict.fromkeys(_RECAPTCHA, 0.00299),
        "image": 0.001,
    }
    report_methods = dict.fromkeys((*_TOKENS, "image"), "reportIncorrect")


class CapMonster(Provider):
    """CapMonster Cloud (api.capmonster.cloud), as ``capmonstercloudclient`` sends it."""

    name = "capmonster"
    base_url = "https://api.capmonster.cloud"
    task_types = {
        CLOUDFLARE: "TurnstileTask",  # + cloudflareTaskType: "cf_clearance"
        "turnstile": "TurnstileTask",
        "recaptcha_v2": "RecaptchaV2Task",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTask",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3EnterpriseTask",
        "hcaptcha": "HCaptchaTask",
        "image": "ImageToTextTask",
    }
    turnstile_action = "pageAction"
    turnstile_cdata = "data"
    v2_data_s_field = "recaptchaDataSValue"
    envelope_fields = ("softId", "callbackUrl")
    #: the browser the cf_clearance task emulates (required; the clearance is bound to it,
    #: and CapMonster's reply does not repeat it)
    cloudflare_user_agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    #: the site key CapMonster's docs put in a cf_clearance task (the page has none)
    cloudflare_website_key = "xxxxxxxxxx"
    # list: image $0.3/1000, reCAPTCHA v2 $0.6/1000, v3 $0.9/1000, Enterprise $1/1000,
    # Turnstile and cf_clearance $1.3/1000, hCaptcha $0.8/1000
    prices = {
        CLOUDFLARE: 0.0013,
        "turnstile": 0.0013,
        "recaptcha_v2": 0.0006,
        "recaptcha_v3": 0.0009,
        "recaptcha_v2_enterprise": 0.001,
        "recaptcha_v3_enterprise": 0.001,
        "hcaptcha": 0.0008,
        "image": 0.0003,
    }
    report_methods = {
        **dict.fromkeys(_TOKENS, "reportIncorrectTokenCaptcha"),
        # (its Cloudflare task is a TurnstileTask: a token task, reported as one)
        "cloudflare": "reportIncorrectTokenCaptcha",
        "image": "reportIncorrectImageCaptcha",
    }

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        """``TurnstileTask`` in ``cf_clearance`` mode: the challenge page, a UA and a proxy."""
        html = ctx.page_html or ctx.extra.get("htmlPageBase64")
        if not html:
            raise ConfigurationError(
                "capmonster's cf_clearance task needs the challenge page (htmlPageBase64)"
            )
        if isinstance(html, bytes):
            html = base64.b64encode(html).decode("ascii")
        task = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            "websiteKey": self.cloudflare_website_key,
            "cloudflareTaskType": "cf_clearance",
            "userAgent": self.cloudflare_user_agent,
            "htmlPageBase64": html,
            **split_proxy(ctx.proxy),
        }
        task.update(ctx.extra)
        return task

    def parse_cloudflare(self, reply: Mapping[str, Any]) -> CloudflareSolution | None:
        """A bare ``cf_clearance`` answer is bound to the UA the task named."""
        solution = super().parse_cloudflare(reply)
        if solution is not None and solution.user_agent is None:
            solution = dataclasses.replace(solution, user_agent=self.cloudflare_user_agent)
        return solution


class CapSolver(Provider):
    """capsolver (api.capsolver.com); its SDK passes task dicts through, so the field
    layout is its documentation's (``metadata`` for Turnstile, ``ip:port:user:pass``)."""

    name = "capsolver"
    base_url = "https://api.capsolver.com"
    task_types = {
        CLOUDFLARE: "AntiCloudflareTask",
        "turnstile": "AntiTurnstileTaskProxyLess",
        "recaptcha_v2": "ReCaptchaV2TaskProxyLess",
        "recaptcha_v2_enterprise": "ReCaptchaV2EnterpriseTaskProxyLess",
        "recaptcha_v3": "ReCaptchaV3TaskProxyLess",
        "recaptcha_v3_enterprise": "ReCaptchaV3EnterpriseTaskProxyLess",
        "image": "ImageToTextTask",
    }
    turnstile_cdata = "cdata"
    turnstile_container = "metadata"
    envelope_fields = ("appId", "callbackUrl")
    # list: image $0.4/1000, reCAPTCHA v2 $0.8/1000, v3 $1/1000, v2 Enterprise $1/1000,
    # v3 Enterprise $3/1000, Turnstile and AntiCloudflare $1.2/1000
    prices = {
        CLOUDFLARE: 0.0012,
        "turnstile": 0.0012,
        "recaptcha_v2": 0.0008,
        "recaptcha_v3": 0.001,
        "recaptcha_v2_enterprise": 0.001,
        "recaptcha_v3_enterprise": 0.003,
        "image": 0.0004,
    }
    report_methods = dict.fromkeys((*_TOKENS, "image"), "feedbackTask")

    def report_payload(self, task_id: str | int) -> dict[str, Any]:
        return {"taskId": task_id, "result": {"invalid": True}}

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        task = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            "proxy": colon_proxy(ctx.proxy),
        }
        task.update(ctx.extra)
        return task


class YesCaptcha(Provider):
    """yescaptcha (api.yescaptcha.com), as its ``yescaptcha`` SDK sends it; no Cloudflare
    clearance task."""

    name = "yescaptcha"
    base_url = "https://api.yescaptcha.com"
    task_types = {
        "turnstile": "TurnstileTaskProxyless",
        "recaptcha_v2": "NoCaptchaTaskProxyless",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTaskProxyless",
        "recaptcha_v3": "RecaptchaV3TaskProxyless",
        "recaptcha_v3_enterprise": "RecaptchaV3EnterpriseTask",
        "hcaptcha": "HCaptchaTaskProxyless",
        "image": "ImageToTextTask",
    }
    turnstile_cdata = None  # yescaptcha documents no cData field
    v3_min_score = 0.3  # (its RecaptchaV3EnterpriseTask takes none)
    envelope_fields = ("softId", "callbackUrl")
    # estimates from the points price list: reCAPTCHA v2 $1/1000, v3 $1.5/1000,
    # Enterprise $2/1000, Turnstile $1.5/1000, hCaptcha $1/1000, image $0.5/1000
    prices = {
        "turnstile": 0.0015,
        "recaptcha_v2": 0.001,
        "recaptcha_v3": 0.0015,
        "recaptcha_v2_enterprise": 0.002,
        "recaptcha_v3_enterprise": 0.002,
        "hcaptcha": 0.001,
        "image": 0.0005,
    }

    def widget_task(
        self, widget: Widget, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        task = super().widget_task(widget, extra)
        if widget.version == "v3" and widget.enterprise and "minScore" not in (extra or {}):
            task.pop("minScore", None)
        return task
