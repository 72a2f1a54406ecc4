"""The CapMonster Cloud profile: its cf_clearance task names the User-Agent the
service publishes (getUserAgent), and its documented errors say when a kind must move
to another service."""

from __future__ import annotations

import base64
from typing import Any

from scrapy_captcha._kinds import (
    AWS_WAF,
    CLOUDFLARE,
    DATADOME,
    FRIENDLY_CAPTCHA,
    GEETEST_V4,
    INCAPSULA,
    MTCAPTCHA,
)
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._profiles_base import (
    COMMON_ERRORS,
    PROXY_ERRORS,
    TOKENS,
    Provider,
    TaskContext,
)


class CapMonster(Provider):
    """CapMonster Cloud (api.capmonster.cloud), as its documents, its official client
    (``capmonstercloudclient``) and ``capmonster_python`` send it."""

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
        # docs.capmonster.cloud/docs/captchas/amazon-task: websiteKey, iv, context,
        # challengeScript and captchaScript required, cookieSolution true; answers
        # ``solution.cookies["aws-waf-token"]`` and ``userAgent``. AmazonTask with the
        # proxy optional (the service's own proxies by default), as its documents and
        # capmonster_python's AmazonTask send it; AmazonTaskProxyless is the older name
        AWS_WAF: "AmazonTask",
        # docs.capmonster.cloud/docs/captchas/datadome: CustomTask of class DataDome,
        # metadata.captchaUrl and metadata.datadomeCookie, userAgent, the proxy
        # (capmonstercloudclient's DataDomeCustomTaskRequest, capmonster_python's
        # DataDomeTask); answers
        # ``solution.domains[site].cookies.datadome``
        DATADOME: "CustomTask",
        # docs.capmonster.cloud/docs/captchas/geetest-task: gt (v4: captcha_id), version
        # 4; answers the five v4 fields. GeeTestTask with the proxy optional, as its
        # documents, capmonstercloudclient's GeetestRequest and capmonster_python's
        # GeeTestV4Task send it; GeeTestTaskProxyless is the older name
        GEETEST_V4: "GeeTestTask",
        # docs.capmonster.cloud/docs/captchas/mtcaptcha-task: websiteKey; answers ``token``
        MTCAPTCHA: "MTCaptchaTask",
    }
    aws_waf_fields = {
        "key": "websiteKey",
        "iv": "iv",
        "context": "context",
        "challenge_script": "challengeScript",
        "captcha_script": "captchaScript",
    }
    aws_waf_extra = {"cookieSolution": True}
    aws_waf_required = ("key", "iv", "context", "challenge_script", "captcha_script")
    datadome_style = "custom"
    cannot = {
        INCAPSULA: "CapMonster offers its Imperva task for testing one's own sites only "
        "(docs.capmonster.cloud/docs/captchas/incapsula)",
        FRIENDLY_CAPTCHA: "CapMonster's Friendly Captcha task needs the widget script's "
        "URL (metadata.apiGetLib), which the add-on does not read",
    }
    turnstile_action = "pageAction"
    turnstile_cdata = "data"
    v2_data_s_field = "recaptchaDataSValue"
    # RecaptchaV2EnterpriseTask: apiDomain www.google.com or www.recaptcha.net
    # (docs.capmonster.cloud/docs/captchas/recaptcha-v2-enterprise-task)
    api_domain_kinds = frozenset({"recaptcha_v2_enterprise"})
    envelope_fields = ("softId", "callbackUrl")
    # The same task types take split proxy fields ("IPv4/IPv6 proxy IP address. Not
    # allowed: using of hostnames"); proxyType http, https, socks4, socks5
    proxy_format = "split"
    proxy_needs_ip = True
    proxy_task_types = {
        "turnstile": "TurnstileTask",
        "recaptcha_v2": "RecaptchaV2Task",
        "recaptcha_v2_enterprise": "RecaptchaV2EnterpriseTask",
        "hcaptcha": "HCaptchaTask",
        AWS_WAF: "AmazonTask",  # (the same type, with the proxy's fields)
        GEETEST_V4: "GeeTestTask",
        MTCAPTCHA: "MTCaptchaTask",
    }
    #: getUserAgent: "pass only the actual UA from Windows OS"; a stale one is answered
    #: ERROR_WRONG_USERAGENT (docs.capmonster.cloud/docs/api/methods/get-user-agent,
    #: a plain-text GET)
    user_agent_url = "https://capmonster.cloud/api/useragent/actual"
    #: named when getUserAgent cannot be read (CapMonster's reply does not repeat the UA:
    #: the clearance is bound to the one the task named)
    fallback_user_agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    #: the site key CapMonster's docs put in a cf_clearance task (the page has none)
    cloudflare_website_key = "xxxxxxxxxx"
    # docs.capmonster.cloud/docs/api/api-errors
    error_codes = (
        *COMMON_ERRORS,
        "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
        "ERROR_ZERO_CAPTCHA_FILESIZE",
        "ERROR_IP_BANNED",
        "ERROR_NO_SUCH_METHOD",
        "ERROR_TOO_MUCH_REQUESTS",
        "ERROR_DOMAIN_NOT_ALLOWED",
        "ERROR_RECAPTCHA_INVALID_SITEKEY",
        "ERROR_RECAPTCHA_INVALID_DOMAIN",
        "ERROR_IP_BLOCKED",
        "ERROR_TASK_ABSENT",
        "ERROR_WRONG_USERAGENT",
        *PROXY_ERRORS,
    )
    #: "captchas from some domains cannot be solved" / "incorrect captcha type": this
    #: service will not do that kind; the next service of the chain takes it
    kind_refusals = frozenset({"ERROR_DOMAIN_NOT_ALLOWED", "ERROR_NO_SUCH_METHOD"})
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
        # estimates (not checked against the current list): AmazonTask $1.8/1000,
        # DataDome $2/1000, GeeTest $1.2/1000, MTCaptcha $1.2/1000
        AWS_WAF: 0.0018,
        DATADOME: 0.002,
        GEETEST_V4: 0.0012,
        MTCAPTCHA: 0.0012,
    }
    report_methods = {
        **dict.fromkeys((*TOKENS, GEETEST_V4, MTCAPTCHA), "reportIncorrectTokenCaptcha"),
        # (its Cloudflare task is a TurnstileTask: a token task, reported as one)
        "cloudflare": "reportIncorrectTokenCaptcha",
        "image": "reportIncorrectImageCaptcha",
    }

    @property
    def cloudflare_user_agent(self) -> str:
        """(The fallback, under its former name.)"""
        return str(self.fallback_user_agent)

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        """``TurnstileTask`` in ``cf_clearance`` mode: the challenge page, the service's
        current User-Agent (one the clearance will be replayed with) and a proxy."""
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
            "userAgent": ctx.service_user_agent or self.fallback_user_agent,
            "htmlPageBase64": html,
            **self.proxy_fields(ctx.proxy),
        }
        task.update(ctx.extra)
        return task
