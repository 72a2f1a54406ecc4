"""The solver emulator's wall tasks (AWS WAF, DataDome, Imperva) and widget tasks (GeeTest
v4, MTCaptcha, Friendly Captcha), in each service's own task types, fields and answer
shapes (the documents ``_profiles*.py`` cite): checked at createTask as the services do,
and solved as their workers would.

A DataDome worker really goes through the task's proxy, with the task's User-Agent, to the
captcha the page pointed at, and earns the cookie there (bound to that exit and browser);
an AWS WAF token and an Imperva ``___utmvc`` come from the shared ``WallAuthority`` (the
walls' own token service and script), for the values the page gave.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._wall_authority import WallAuthority, site_of
from ..site._cloudflare import solve_answer
from ..site._walls import DD_HOST
from ..widgets import WidgetError
from ._browser import _fetch, _Proxy, post_form, task_proxy
from ._tables import _browser_ua, _SolveError, _WidgetType


@dataclass(frozen=True)
class _WallType:
    """A wall task type: the wall, whether it takes a proxy ("", "optional",
    "required") and the field names it reads."""

    kind: str
    proxy: str = ""
    #: AWS WAF: the fields carrying key, iv, context (in this order)
    aws_fields: tuple[str, str, str] = ("websiteKey", "iv", "context")
    #: CustomTask class (CapMonster)
    custom: str | None = None


_CAPSOLVER_AWS = ("awsKey", "awsIv", "awsContext")
WALL_TYPES: dict[str, dict[str, _WallType]] = {
    "capsolver": {
        "AntiAwsWafTaskProxyLess": _WallType("aws_waf", aws_fields=_CAPSOLVER_AWS),
        "AntiAwsWafTask": _WallType("aws_waf", "required", aws_fields=_CAPSOLVER_AWS),
        "DatadomeSliderTask": _WallType("datadome", "required"),
        "AntiImpervaTaskProxyless": _WallType("incapsula"),
    },
    "capmonster": {
        # (AmazonTaskProxyless: the older name; AmazonTask takes a proxy or not)
        "AmazonTaskProxyless": _WallType("aws_waf"),
        "AmazonTask": _WallType("aws_waf", "optional"),
        "CustomTask": _WallType("datadome", "required", custom="DataDome"),
    },
    "anti-captcha": {
        "AmazonTaskProxyless": _WallType("aws_waf"),
        "AmazonTask": _WallType("aws_waf", "required"),
    },
    "2captcha": {"DataDomeSliderTask": _WallType("datadome", "required")},
}
#: the widget task types added with the walls, by dialect (``_WidgetType.turnstile_fields``
#: carries GeeTest's captcha-id layout: "captchaId", "gt" or "init")
WIDGET_TYPES: dict[str, dict[str, _WidgetType]] = {
    "capsolver": {
        "GeeTestTaskProxyLess": _WidgetType("geetest_v4", turnstile_fields="captchaId"),
        "MtCaptchaTaskProxyLess": _WidgetType("mtcaptcha"),
        "MtCaptchaTask": _WidgetType("mtcaptcha", proxy="required"),
    },
    "capmonster": {
        # (GeeTestTaskProxyless: the older name; GeeTestTask takes a proxy or not)
        "GeeTestTaskProxyless": _WidgetType("geetest_v4", turnstile_fields="gt"),
        "GeeTestTask": _WidgetType("geetest_v4", turnstile_fields="gt", proxy="optional"),
        "MTCaptchaTask": _WidgetType("mtcaptcha", proxy="optional"),
    },
    "anti-captcha": {
        "GeeTestTaskProxyless": _WidgetType("geetest_v4", turnstile_fields="gt"),
        "GeeTestTask": _WidgetType("geetest_v4", turnstile_fields="gt", proxy="required"),
        "FriendlyCaptchaTaskProxyless": _WidgetType("friendly_captcha"),
        "FriendlyCaptchaTask": _WidgetType("friendly_captcha", proxy="required"),
    },
    "2captcha": {
        "GeeTestTaskProxyless": _WidgetType("geetest_v4", turnstile_fields="init"),
        "GeeTestTask": _WidgetType("geetest_v4", turnstile_fields="init", proxy="required"),
        "MtCaptchaTaskProxyless": _WidgetType("mtcaptcha"),
        "MtCaptchaTask": _WidgetType("mtcaptcha", proxy="required"),
        "FriendlyCaptchaTaskProxyless": _WidgetType("friendly_captcha"),
        "FriendlyCaptchaTask": _WidgetType("friendly_captcha", proxy="required"),
    },
}


@dataclass(frozen=True)
class _WallJob:
    """A wall task's checked parameters."""

    kind: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    proxy: _Proxy | None = None
    user_agent: str | None = None


def _text(task: dict[str, Any], name: str, required: bool = True) -> str:
    value = task.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _SolveError("ERROR_BAD_PARAMETERS", f"{name} must be a non-empty string")
    return value


def wall_type(dialect: str, task: dict[str, Any]) -> _WallType | None:
    spec = WALL_TYPES.get(dialect, {}).get(str(task.get("type")))
    if spec is not None and spec.custom is not None and task.get("class") != spec.custom:
        return None
    return spec


def wall_job(dialect: str, spec: _WallType, task: dict[str, Any]) -> _WallJob:
    """Check a wall task as the service does at createTask."""
    url = _text(task, "websiteURL")
    if urlsplit(url).scheme not in ("http", "https"):
        raise _SolveError("ERROR_BAD_PARAMETERS", "websiteURL must be an http(s) URL")
    proxied = spec.proxy == "required" or (
        spec.proxy == "optional" and ("proxyAddress" in task or "proxy" in task)
    )
    proxy = task_proxy(dialect, task) if proxied else None
    agent = task.get("userAgent")
    if agent is not None and not isinstance(agent, str):
        raise _SolveError("ERROR_BAD_PARAMETERS", "userAgent must be a string")
    params: dict[str, Any] = {}
    if spec.kind == "aws_waf":
        values = (_text(task, name) for name in spec.aws_fields)
        params = dict(zip(("key", "iv", "context"), values, strict=True))
        if dialect == "capmonster":
            params["cookieSolution"] = task.get("cookieSolution") is True
    elif spec.kind == "datadome":
        meta = task.get("metadata") if spec.custom else task
        if not isinstance(meta, dict):
            raise _SolveError("ERROR_BAD_PARAMETERS", "metadata must be an object")
        params["captchaUrl"] = _text(meta, "captchaUrl")
        if spec.custom:
            _text(meta, "datadomeCookie", required=False)
        elif not agent:
            raise _SolveError("ERROR_BAD_PARAMETERS", "userAgent is required")
    else:  # incapsula (capsolver utmvc)
        if task.get("isUtmvc") is not True:
            raise _SolveError("ERROR_BAD_PARAMETERS", "isUtmvc must be true")
        cookies = task.get("cookies")
        if not isinstance(cookies, list) or not all(isinstance(c, dict) for c in cookies):
            raise _SolveError("ERROR_BAD_PARAMETERS", "cookies must be a list of objects")
        params = {"scriptURL": _text(task, "scriptURL"), "cookies": cookies}
    return _WallJob(spec.kind, url, params, proxy, agent or None)


def solve_wall(
    walls: WallAuthority, dialect: str, job: _WallJob, seq: int, timeout: float
) -> dict[str, Any]:
    """A worker's solve of a wall task, in the dialect's answer shape."""
    agent = job.user_agent or _browser_ua(seq)
    host = (urlsplit(job.url).hostname or "").lower()
    try:
        if job.kind == "aws_waf":
            if job.proxy is not None:  # (a proxy-bound task: the page loaded through it)
                jar: OrderedDict[str, Any] = OrderedDict()
                _fetch(
                    job.proxy, "GET", job.url, agent, jar, None, None, site="none", timeout=timeout
                )
            params = job.params
            token = walls.aws_mint(params["key"], params["iv"], params["context"], host)
            if dialect == "capsolver":
                return {"cookie": token}
            if dialect == "capmonster":
                if not job.params.get("cookieSolution"):
                    return {"captcha_voucher": "eyJ0eXAi" + token[:20], "existing_token": token}
                return {"cookies": {"aws-waf-token": token}, "userAgent": agent}
            return {"token": token, "userAgent": agent}
        if job.kind == "incapsula":
            script = parse_qs(urlsplit(job.params["scriptURL"]).query).get("SWJIYLWA", [""])[0]
            sessions = [
                str(c.get("value"))
                for c in job.params["cookies"]
                if str(c.get("name", "")).startswith("incap_ses_")
            ]
            if not sessions:
                raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "no incap_ses_ cookie given")
            return {"___utmvc": walls.utmvc(script, sessions[0]), "userAgent": agent}
    except WidgetError as exc:
        raise _SolveError(exc.code, exc.description) from None
    return _datadome(dialect, job, agent, timeout)


def _datadome(dialect: str, job: _WallJob, agent: str, timeout: float) -> dict[str, Any]:
    """Through the task's proxy, with its User-Agent: the captcha, then its check."""
    assert job.proxy is not None
    url = str(job.params["captchaUrl"])
    parts = urlsplit(url)
    if parts.hostname != DD_HOST:
        raise _SolveError("ERROR_BAD_PARAMETERS", "captchaUrl is not DataDome's")
    cid = parse_qs(parts.query).get("initialCid", [""])[0]
    jar: OrderedDict[str, Any] = OrderedDict()
    page = _fetch(
        job.proxy, "GET", url, agent, jar, None, None, site="cross-site", timeout=timeout
    )
    if page.status != 200:
        raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"captcha answered {page.status}")
    fields = {"cid": cid, "answer": solve_answer(cid, DD_HOST)}
    check = f"https://{DD_HOST}/captcha/check"
    done = post_form(job.proxy, check, agent, jar, fields, referer=url, timeout=timeout)
    try:
        cookie = str(json.loads(done.text)["cookie"]) if done.status == 200 else ""
    except (ValueError, KeyError, TypeError):
        cookie = ""
    if not cookie:
        raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"captcha check answered {done.status}")
    if dialect == "capmonster":
        value = cookie.partition("=")[2]
        site = site_of(urlsplit(job.url).hostname or "")
        return {"domains": {site: {"cookies": {"datadome": value}}}}
    return {"cookie": cookie}


def _forged(text: str) -> str:
    """``text`` (a value, or ``name=value; attributes``) with its value forged."""
    first, sep, rest = text.partition(";")
    name, eq, value = first.rpartition("=")
    return f"{name}{eq}{value[:-6]}FORGED{sep}{rest}"


def forge_wall(solution: dict[str, Any]) -> None:
    """Swap an earned wall cookie for a well-formed forgery (the ``bad_clearance`` fault):
    the site refuses it, and the add-on reports it where the service takes reports."""
    answer = solution.get("widget", {})
    for name in ("cookie", "token", "___utmvc"):
        if isinstance(answer.get(name), str):
            answer[name] = _forged(answer[name])
    jars = [answer.get("cookies")]
    jars += [entry.get("cookies") for entry in (answer.get("domains") or {}).values()]
    for jar in jars:
        if isinstance(jar, dict):
            for name in list(jar):
                jar[name] = _forged(str(jar[name]))
