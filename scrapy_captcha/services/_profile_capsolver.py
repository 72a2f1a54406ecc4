"""The capsolver profile: its SDK passes task dicts through, so every task is laid out as
its documents show it (``docs.capsolver.com``), each cited where it is built."""

from __future__ import annotations

from typing import Any

from scrapy_captcha._kinds import AWS_WAF, CLOUDFLARE, DATADOME, GEETEST_V4, INCAPSULA, MTCAPTCHA
from scrapy_captcha.errors import FATAL
from scrapy_captcha.services._profiles_base import TOKENS, Provider, TaskContext
from scrapy_captcha.services._solutions import classify_error
from scrapy_captcha.services._task_fields import chrome_user_agent, colon_proxy


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
        # docs.capsolver.com/guide/captcha/awsWaf: AntiAwsWafTaskProxyLess (AntiAwsWafTask
        # with a proxy); awsKey/awsIv/awsContext/awsChallengeJS/awsApiJs; answers
        # ``solution.cookie``, the aws-waf-token
        AWS_WAF: "AntiAwsWafTaskProxyLess",
        # docs.capsolver.com/guide/antibots/datadome: DatadomeSliderTask (slider and
        # interstitial alike), captchaUrl, userAgent and the proxy required; answers
        # ``solution.cookie``, "datadome=...; Max-Age=...; Domain=..."
        DATADOME: "DatadomeSliderTask",
        # docs.capsolver.com/guide/captcha/imperva (utmvc): scriptURL, isUtmvc, the
        # incap_ses_* cookies, userAgent
        INCAPSULA: "AntiImpervaTaskProxyless",
        # docs.capsolver.com/guide/captcha/Geetest: captchaId for v4; answers
        # captcha_id, lot_number, pass_token, gen_time, captcha_output
        GEETEST_V4: "GeeTestTaskProxyLess",
        # docs.capsolver.com/guide/captcha/MtCaptcha: websiteKey; answers ``token``
        MTCAPTCHA: "MtCaptchaTaskProxyLess",
    }
    aws_waf_fields = {
        "key": "awsKey",
        "iv": "awsIv",
        "context": "awsContext",
        "challenge_script": "awsChallengeJS",
        "jsapi_script": "awsApiJs",
    }
    geetest_style = "captchaId"
    turnstile_cdata = "cdata"
    turnstile_container = "metadata"
    # ReCaptchaV2(Enterprise)Task documents pageAction (the anchor's "sa" value)
    v2_enterprise_action = True
    envelope_fields = ("appId", "callbackUrl")
    cannot = {
        "hcaptcha": "capsolver no longer solves hCaptcha",
        "friendly_captcha": "capsolver documents no Friendly Captcha task",
    }
    # ``proxy: [type:]host:port[:user:pass]``; the ...Task types are the proxy variants
    # (its Turnstile task has none)
    proxy_format = "colon"
    proxy_task_types = {
        "recaptcha_v2": "ReCaptchaV2Task",
        "recaptcha_v2_enterprise": "ReCaptchaV2EnterpriseTask",
        "recaptcha_v3": "ReCaptchaV3Task",
        "recaptcha_v3_enterprise": "ReCaptchaV3EnterpriseTask",
        AWS_WAF: "AntiAwsWafTask",
        MTCAPTCHA: "MtCaptchaTask",
    }
    # docs.capsolver.com/guide/api-error
    error_codes = (
        "ERROR_SERVICE_UNAVALIABLE",
        "ERROR_RATE_LIMIT",
        "ERROR_INVALID_TASK_DATA",
        "ERROR_BAD_REQUEST",
        "ERROR_TASKID_INVALID",
        "ERROR_TASK_TIMEOUT",
        "ERROR_SETTLEMENT_FAILED",
        "ERROR_KEY_DENIED_ACCESS",
        "ERROR_ZERO_BALANCE",
        "ERROR_TASK_NOT_SUPPORTED",
        "ERROR_CAPTCHA_UNSOLVABLE",
        "ERROR_PROXY_BANNED",
    )
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
        # estimates (not checked against the current list): AWS WAF $2/1000, DataDome
        # $2.5/1000, Imperva $3/1000, GeeTest v4 $1.2/1000, MTCaptcha $1.2/1000
        AWS_WAF: 0.002,
        DATADOME: 0.0025,
        INCAPSULA: 0.003,
        GEETEST_V4: 0.0012,
        MTCAPTCHA: 0.0012,
    }
    report_methods = dict.fromkeys((*TOKENS, "image"), "feedbackTask")

    def report_payload(self, task_id: str | int) -> dict[str, Any]:
        return {"taskId": task_id, "result": {"invalid": True}}

    def classify(self, code: str) -> tuple[str, str]:
        """capsolver's own code for a failed settlement (the balance does not cover the
        task): an empty account."""
        if code.strip().upper() == "ERROR_SETTLEMENT_FAILED":
            return "zero_balance", FATAL
        return classify_error(code)

    def cloudflare_task(self, ctx: TaskContext) -> dict[str, Any]:
        """``AntiCloudflareTask``: the proxy, and the optional ``html`` (the challenge
        page, "needed for some websites") and ``userAgent`` (the one the request is sent
        and replayed with; "only Chrome's userAgent is supported")."""
        task: dict[str, Any] = {
            "type": self.task_type(CLOUDFLARE),
            "websiteURL": ctx.url,
            "proxy": colon_proxy(ctx.proxy),
        }
        if chrome_user_agent(ctx.user_agent):
            task["userAgent"] = ctx.user_agent
        if ctx.page_html:
            task["html"] = ctx.page_html.decode("utf-8", "replace")
        task.update(ctx.extra)
        return task
