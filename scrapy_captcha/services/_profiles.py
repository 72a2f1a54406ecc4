"""The built-in solver profiles, each spoken as the service's own SDK speaks it (checked by
``tests/test_sdk_conformance.py``; ``providers.service_matrix()`` makes the table).

Prices are USD per solved task from each service's public price list as known when this
was written (the per-1000 figure is in the comment): a default for cost accounting, to be
overridden by configuration when a contract says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scrapy_captcha._kinds import (
    AWS_WAF,
    CLOUDFLARE,
    DATADOME,
    FRIENDLY_CAPTCHA,
    GEETEST_V4,
    INCAPSULA,
    MTCAPTCHA,
)
from scrapy_captcha.services._profiles_base import (
    COMMON_ERRORS,
    PROXY_ERRORS,
    TOKENS,
    Provider,
    TaskContext,
    logger,
)
from scrapy_captcha.services._task_fields import (
    USD_PER_CNY,
    build_rq_data,
)

if TYPE_CHECKING:
    from scrapy_captcha.detect._widgets import Widget


_RECAPTCHA = TOKENS[1:5]


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
    # its TurnstileTaskProxyless documents neither an action nor a cData field
    turnstile_action = None
    turnstile_cdata = None
    always_send_invisible = True
    v3_title_field = "websiteTitle"
    image_type_field = "imageType"
    error_codes = (*COMMON_ERRORS, "ERROR_BAD_PARAMETERS", *PROXY_ERRORS)
    # estimates (no public list): Cloudflare $2/1000, tokens $1/1000, image $0.5/1000
    prices = {CLOUDFLARE: 0.002, **dict.fromkeys(TOKENS[:-1], 0.001), "image": 0.0005}


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
    error_codes = (*COMMON_ERRORS, "ERROR_INVALID_TASK_DATA", *PROXY_ERRORS)
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
        self,
        widget: Widget,
        extra: Mapping[str, Any] | None = None,
        proxy: str | None = None,
    ) -> dict[str, Any]:
        """A v2 widget with ``data-s`` goes to the ``...V2S...`` types with an ``s`` field."""
        task = super().widget_task(widget, extra, proxy)
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
        # anti-captcha.com/apidoc/task-types/AmazonTaskProxyless: websiteKey, iv, context
        # (required), captchaScript, challengeScript, jsapiScript; answers ``token``, the
        # aws-waf-token (anticaptchaofficial's amazonproxyless returns solution.token)
        AWS_WAF: "AmazonTaskProxyless",
        # anti-captcha.com/apidoc/task-types/GeeTestTaskProxyless: gt (v4: captcha_id),
        # version 4; answers the five v4 fields
        GEETEST_V4: "GeeTestTaskProxyless",
        # anti-captcha.com/apidoc/task-types/FriendlyCaptchaTaskProxyless: websiteKey;
        # answers ``token``
        FRIENDLY_CAPTCHA: "FriendlyCaptchaTaskProxyless",
    }
    aws_waf_fields = {
        "key": "websiteKey",
        "iv": "iv",
        "context": "context",
        "captcha_script": "captchaScript",
        "challenge_script": "challengeScript",
        "jsapi_script": "jsapiScript",
    }
    aws_waf_required = ("key", "iv", "context")
    cannot = {
        DATADOME: "anti-captcha documents no DataDome task",
        INCAPSULA: "anti-captcha documents no Imperva task",
    }
    # minScore: 0.3, 0.7 or 0.9 (API docs); anticaptchaofficial sends 0.9 unless told
    v3_min_score = 0.9
    v3_scores = (0.3, 0.7, 0.9)
    v3_enterprise_flag = True
    v2_data_s_field = "recaptchaDataSValue"
    # RecaptchaV2EnterpriseTask(Proxyless): apiDomain "www.google.com" or
    # "www.recaptcha.net" (https://anti-captcha.com/apidoc/task-types/RecaptchaV2EnterpriseTask)
    api_domain_kinds = frozenset({"recaptcha_v2_enterprise"})
    envelope_fields = ("softId", "callbackUrl")
    # proxyType http / socks4 / socks5, proxyAddress an IP address ("host names are not
    # allowed"), proxyPort an integer; the ...Task types are the proxy variants
    proxy_format = "split"
    proxy_needs_ip = True
    proxy_task_types = {
        "turnstile": "TurnstileTask",
        "recaptcha_v2": "RecaptchaV2Task",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTask",
        "hcaptcha": "HCaptchaTask",
        AWS_WAF: "AmazonTask",
        GEETEST_V4: "GeeTestTask",
        FRIENDLY_CAPTCHA: "FriendlyCaptchaTask",
    }
    error_codes = (
        *COMMON_ERRORS,
        "ERROR_ZERO_CAPTCHA_FILESIZE",
        "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
        "ERROR_IP_BLOCKED",
        "ERROR_TASK_ABSENT",
        "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "ERROR_RECAPTCHA_INVALID_DOMAIN",
        "ERROR_ACCOUNT_SUSPENDED",
        *PROXY_ERRORS,
    )
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
        # estimates (not checked against the current list): AmazonTask $2/1000, GeeTest
        # $1.8/1000, Friendly Captcha $2/1000
        AWS_WAF: 0.002,
        GEETEST_V4: 0.0018,
        FRIENDLY_CAPTCHA: 0.002,
    }
    report_methods = {
        **dict.fromkeys(_RECAPTCHA, "reportIncorrectRecaptcha"),
        "hcaptcha": "reportIncorrectHcaptcha",
        "image": "reportIncorrectImageCaptcha",
    }

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        """``AntiBotCookieTask``: split proxy fields, ``proxyPort`` an int, no
        ``proxyType`` (anticaptchaofficial's antibotcookieTask sends none)."""
        task = {"type": self.task_type(CLOUDFLARE), "websiteURL": ctx.url}
        task.update(self.proxy_fields(ctx.proxy, with_type=False))
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
        # 2captcha.com/api-docs/datadome-slider-captcha: captchaUrl, userAgent and split
        # proxy fields (required); answers ``solution.cookie``, "datadome=...; ..."
        DATADOME: "DataDomeSliderTask",
        # 2captcha.com/api-docs/geetest: version 4, initParameters.captcha_id; answers
        # the five v4 fields
        GEETEST_V4: "GeeTestTaskProxyless",
        # 2captcha.com/api-docs/mtcaptcha: websiteKey; answers ``token``
        MTCAPTCHA: "MtCaptchaTaskProxyless",
        # 2captcha.com/api-docs/friendly-captcha: websiteKey; answers ``token``
        FRIENDLY_CAPTCHA: "FriendlyCaptchaTaskProxyless",
    }
    geetest_style = "init"
    turnstile_cdata = "data"
    # minScore is optional (0.3 to 0.9): sent only when a request asks for one
    v3_scores = (0.3, 0.7, 0.9)
    v3_enterprise_flag = True
    v2_data_s_field = "recaptchaDataSValue"
    envelope_fields = ("softId", "callbackUrl")
    cannot = {
        CLOUDFLARE: "2captcha has no clearance task: it solves a challenge page's Turnstile "
        "widget as a token only, which no Cloudflare challenge accepts from a scraper",
        "hcaptcha": "2captcha withdrew hCaptcha",
        AWS_WAF: "2captcha's AmazonTask (2captcha.com/api-docs/amazon-aws-waf-captcha) "
        "answers a captcha_voucher and existing_token for the page's own captcha.js to "
        "exchange, not the aws-waf-token cookie a crawler replays",
        INCAPSULA: "the add-on found no Imperva task in 2captcha's JSON API documents",
    }
    # proxy-bound types take proxyType (http, socks4, socks5) and split fields
    proxy_format = "split"
    proxy_task_types = {
        "turnstile": "TurnstileTask",
        "recaptcha_v2": "RecaptchaV2Task",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTask",
        GEETEST_V4: "GeeTestTask",
        MTCAPTCHA: "MtCaptchaTask",
        FRIENDLY_CAPTCHA: "FriendlyCaptchaTask",
    }
    error_codes = (
        *COMMON_ERRORS,
        "ERROR_WRONG_USER_KEY",
        "ERROR_IP_BANNED",
        "ERROR_PAGEURL",
        "ERROR_BAD_PARAMETERS",
        *PROXY_ERRORS,
    )
    # list: image $1/1000, reCAPTCHA v2/v3/Enterprise $2.99/1000, Turnstile $1.45/1000
    prices = {
        "turnstile": 0.00145,
        **dict.fromkeys(_RECAPTCHA, 0.00299),
        "image": 0.001,
        # estimates (not checked against the current list): DataDome, GeeTest, MTCaptcha
        # and Friendly Captcha $2.99/1000
        **dict.fromkeys((DATADOME, GEETEST_V4, MTCAPTCHA, FRIENDLY_CAPTCHA), 0.00299),
    }
    # (2captcha.com/api-docs/report-incorrect: any task's result)
    report_methods = dict.fromkeys(
        (*TOKENS, "image", DATADOME, GEETEST_V4, MTCAPTCHA, FRIENDLY_CAPTCHA), "reportIncorrect"
    )


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
    # its TurnstileTaskProxyless documents neither an action nor a cData field
    turnstile_action = None
    turnstile_cdata = None
    v3_min_score = 0.3  # the yescaptcha SDK's default (its RecaptchaV3EnterpriseTask takes none)
    envelope_fields = ("softId", "callbackUrl")
    cannot = {CLOUDFLARE: "yescaptcha has no Cloudflare clearance task"}
    #: getBalance answers in points: 1 yuan = 1000 points
    balance_unit = "points"
    usd_per_unit = USD_PER_CNY / 1000
    error_codes = (*COMMON_ERRORS, "ERROR_TASKID_INVALID")
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
        self,
        widget: Widget,
        extra: Mapping[str, Any] | None = None,
        proxy: str | None = None,
    ) -> dict[str, Any]:
        task = super().widget_task(widget, extra, proxy)
        if widget.version == "v3" and widget.enterprise and "minScore" not in (extra or {}):
            task.pop("minScore", None)
        return task
