"""The wall and widget tasks added with the walls beyond Cloudflare (AWS WAF, DataDome,
Imperva, GeeTest v4, MTCaptcha, Friendly Captcha) against the services' own SDKs where
one sends the task (anticaptchaofficial, 2captcha-python, capsolver, capmonster_python),
and against their documents where none does. ``WALL_COVERAGE`` records which, for every
task the profiles build; it is part of ``test_sdk_conformance.COVERAGE``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from test_sdk_conformance import (  # (no SDK sleeps: its autouse fixture)
    _SPLIT,
    PROXY,
    URL,
    Capture,
    _no_sleep,  # noqa: F401
    anticaptcha_to,
    capmonster_client,
    capmonster_proxy,
    compare,
    twocaptcha_solver,
)

from scrapy_captcha.detect._widgets import Widget
from scrapy_captcha.services.providers import TaskContext, load_provider

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/140.0.0.0"
PARAMS = {
    "key": "AQIDAHjcYu/GjX+QlghicBgQ",
    "iv": "CgAFRjIw2vAAABnd",
    "context": "Qm3vXz0pYt9o8aKJ7Wr1dGcS",
    "challenge_script": "https://4b6f.us-east-1.token.awswaf.com/4b6f/e8d1/challenge.js",
    "captcha_script": "https://4b6f.us-east-1.captcha.awswaf.com/4b6f/e8d1/9a8b/captcha.js",
    "captcha_url": "https://geo.captcha-delivery.com/captcha/?initialCid=AHrl&hash=A5&cid=k3&t=fe",
    "script_url": "https://shop.example/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e&ns=2",
}
COOKIES = {"datadome": "k3Yp~qM2", "incap_ses_1184_2781354": "k9Ez/7b0o2lI"}
GEETEST = Widget("geetest_v4", "e392e1d7fd421dc63325744d5a2b9c73", URL, "")
MTCAPTCHA = Widget("mtcaptcha", "MTPublic-abCDEFJAB", URL, "mtcaptcha-verifiedtoken")
FRIENDLY = Widget("friendly_captcha", "FCMGEMUD2KTDSQ5H", URL, "frc-captcha-solution")
WIDGETS = {"geetest_v4": GEETEST, "mtcaptcha": MTCAPTCHA, "friendly_captcha": FRIENDLY}


def ours(name: str, kind: str, proxied: bool = False) -> dict[str, Any]:
    provider = load_provider(name)
    if kind in WIDGETS:
        return provider.widget_task(WIDGETS[kind], None, PROXY if proxied else None)
    proxy = PROXY if proxied or kind == "datadome" else ""
    agent = UA if kind != "aws_waf" else None
    ctx = TaskContext(URL, proxy, user_agent=agent, params=PARAMS, cookies=COOKIES)
    return provider.clearance_task(kind, ctx)


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as c:
        yield c


# anti-captcha (anticaptchaofficial) ------------------------------------------------------

ANTI = {
    ("aws_waf", False): ("amazonproxyless", "amazonProxyless"),
    ("aws_waf", True): ("amazonproxyon", "amazonProxyon"),
    ("geetest_v4", False): ("geetestproxyless", "geetestProxyless"),
    ("geetest_v4", True): ("geetestproxyon", "geetestProxyon"),
    ("friendly_captcha", False): ("friendlycaptchaproxyless", "friendlyCaptchaProxyless"),
    ("friendly_captcha", True): ("friendlycaptchaproxyon", "friendlyCaptchaProxyon"),
}


@pytest.mark.parametrize(("kind", "proxied"), sorted(ANTI))
def test_anticaptcha(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str, proxied: bool
) -> None:
    anticaptcha_to(capture, monkeypatch)
    module, cls = ANTI[(kind, proxied)]
    solver = getattr(__import__(f"anticaptchaofficial.{module}", fromlist=[cls]), cls)()
    solver.set_key("k")
    solver.set_website_url(URL)
    if kind == "aws_waf":
        solver.set_website_key(PARAMS["key"])
        solver.set_iv(PARAMS["iv"])
        solver.set_context(PARAMS["context"])
        solver.set_captcha_script(PARAMS["captcha_script"])
        solver.set_challenge_script(PARAMS["challenge_script"])
    elif kind == "geetest_v4":
        solver.set_gt_key(GEETEST.sitekey)
        solver.set_version(4)
    else:
        solver.set_website_key(FRIENDLY.sitekey)
    if proxied:
        solver.set_proxy_type("http")
        solver.set_proxy_address("10.1.2.3")
        solver.set_proxy_port(8080)
        solver.set_proxy_login("user")
        solver.set_proxy_password("pa55")
    assert solver.solve_and_return_solution() not in (0, None)
    # (waf_type: the SDK sends the service's default, "default"; we leave it out)
    compare(capture.created()["task"], ours("anti-captcha", kind, proxied), defaults=("waf_type",))


# 2captcha (2captcha-python: its legacy form, through the documented field names) ----------

TWO = {
    "geetest_v4": ("geetest_v4", {"captcha_id": "initParameters.captcha_id"}),
    "mtcaptcha": ("mtcaptcha", {"sitekey": "websiteKey"}),
    "friendly_captcha": ("friendly_captcha", {"sitekey": "websiteKey"}),
    "datadome": ("datadome", {"captcha_url": "captchaUrl", "userAgent": "userAgent"}),
}


def _flat(task: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in task.items():
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


@pytest.mark.parametrize("kind", sorted(TWO))
def test_2captcha(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    solver = twocaptcha_solver(capture, monkeypatch)
    method, fields = TWO[kind]
    # (the SDK may not read the capture's answer for every method: its request matters)
    with contextlib.suppress(Exception):
        if kind == "datadome":
            proxy = {"type": "HTTP", "uri": "user:pa55@10.1.2.3:8080"}
            solver.datadome(PARAMS["captcha_url"], URL, UA, proxy)
        elif kind == "geetest_v4":
            solver.geetest_v4(GEETEST.sitekey, URL)
        else:
            getattr(solver, method)(WIDGETS[kind].sitekey, URL)
    form = dict(parse_qsl(next(b for p, _, b in capture.records if "in.php" in p).decode()))
    task = _flat(ours("2captcha", kind))
    assert form["pageurl"] == task["websiteURL"]
    for legacy, field in fields.items():
        assert form[legacy] == task[field], (legacy, field)
    if kind == "datadome":
        assert form["proxy"] == "user:pa55@10.1.2.3:8080" and form["proxytype"] == "HTTP"
        assert (task["proxyLogin"], task["proxyAddress"], task["proxyPort"]) == (
            "user",
            "10.1.2.3",
            8080,
        )


# capsolver (its SDK passes the task through: the envelope and the answer are its) --------

CAPSOLVER = [
    ("aws_waf", False),
    ("aws_waf", True),
    ("datadome", False),
    ("incapsula", False),
    ("geetest_v4", False),
    ("mtcaptcha", False),
    ("mtcaptcha", True),
]


@pytest.mark.parametrize(("kind", "proxied"), CAPSOLVER)
def test_capsolver(monkeypatch: pytest.MonkeyPatch, kind: str, proxied: bool) -> None:
    capsolver = pytest.importorskip("capsolver")
    with Capture(ready_on_create=True) as capture:
        monkeypatch.setattr(capsolver, "api_base", capture.url)
        monkeypatch.setattr(capsolver, "api_key", "k")
        task = ours("capsolver", kind, proxied)
        assert capsolver.solve(task)
        body = capture.created()
    assert body == {"clientKey": "k", "task": task}
    if kind == "datadome" or proxied:
        assert task["proxy"] == "10.1.2.3:8080:user:pa55"


# CapMonster (capmonster_python) ------------------------------------------------------------
# Its Imperva task (CustomTask class Imperva) is not compared: our profile declines Imperva
# (CapMonster offers it for testing one's own sites only); it has no Friendly Captcha task.


def _capmonster_wall_task(kind: str, proxied: bool) -> Any:
    cm = pytest.importorskip("capmonster_python")
    proxy = {"proxy": capmonster_proxy()} if proxied or kind == "datadome" else {}
    if kind == "aws_waf":
        # docs.capmonster.cloud/docs/captchas/amazon-task (cookieSolution: the
        # aws-waf-token cookie rather than a voucher)
        return cm.AmazonTask(
            websiteURL=URL,
            websiteKey=PARAMS["key"],
            iv=PARAMS["iv"],
            context=PARAMS["context"],
            challengeScript=PARAMS["challenge_script"],
            captchaScript=PARAMS["captcha_script"],
            cookieSolution=True,
            **proxy,
        )
    if kind == "datadome":
        # docs.capmonster.cloud/docs/captchas/datadome (CustomTask, class DataDome)
        return cm.DataDomeTask(
            websiteURL=URL,
            userAgent=UA,
            metadata=cm.DataDomeMetadata(
                captchaUrl=PARAMS["captcha_url"], datadomeCookie="datadome=k3Yp~qM2"
            ),
            **proxy,
        )
    if kind == "geetest_v4":
        # docs.capmonster.cloud/docs/captchas/geetest-task (GeeTestTask, version 4)
        return cm.GeeTestV4Task(websiteURL=URL, gt=GEETEST.sitekey, **proxy)
    # docs.capmonster.cloud/docs/captchas/mtcaptcha-task
    return cm.MTCaptchaTask(websiteURL=URL, websiteKey=MTCAPTCHA.sitekey, **proxy)


#: (DataDome's one task carries the proxy always)
CAPMONSTER = [
    ("aws_waf", False),
    ("aws_waf", True),
    ("datadome", False),
    ("geetest_v4", False),
    ("geetest_v4", True),
    ("mtcaptcha", False),
    ("mtcaptcha", True),
]


@pytest.mark.parametrize(("kind", "proxied"), CAPMONSTER)
def test_capmonster(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str, proxied: bool
) -> None:
    with capmonster_client(capture, monkeypatch) as client:
        assert client.solve(_capmonster_wall_task(kind, proxied))
    body = capture.created()
    compare(body["task"], ours("capmonster", kind, proxied))
    assert set(body) == {"clientKey", "task", "softId"}


# The documents (where no SDK sends the task) ----------------------------------------------

DOCUMENTED: dict[tuple[str, str, bool], tuple[str, dict[str, Any]]] = {
    ("capsolver", "aws_waf", False): (
        "https://docs.capsolver.com/guide/captcha/awsWaf (AntiAwsWafTaskProxyLess)",
        {
            "type": "AntiAwsWafTaskProxyLess",
            "websiteURL": URL,
            "awsKey": PARAMS["key"],
            "awsIv": PARAMS["iv"],
            "awsContext": PARAMS["context"],
            "awsChallengeJS": PARAMS["challenge_script"],
        },
    ),
    ("capsolver", "datadome", False): (
        "https://docs.capsolver.com/guide/antibots/datadome (DatadomeSliderTask)",
        {
            "type": "DatadomeSliderTask",
            "websiteURL": URL,
            "captchaUrl": PARAMS["captcha_url"],
            "proxy": "10.1.2.3:8080:user:pa55",
            "userAgent": UA,
        },
    ),
    ("capsolver", "incapsula", False): (
        "https://docs.capsolver.com/guide/captcha/imperva (AntiImpervaTaskProxyless, utmvc)",
        {
            "type": "AntiImpervaTaskProxyless",
            "websiteURL": URL,
            "scriptURL": PARAMS["script_url"],
            "isUtmvc": True,
            "cookies": [{"name": "incap_ses_1184_2781354", "value": "k9Ez/7b0o2lI"}],
            "userAgent": UA,
        },
    ),
    ("2captcha", "datadome", False): (
        "https://2captcha.com/api-docs/datadome-slider-captcha (DataDomeSliderTask)",
        {
            "type": "DataDomeSliderTask",
            "websiteURL": URL,
            "captchaUrl": PARAMS["captcha_url"],
            "userAgent": UA,
            **_SPLIT,
        },
    ),
    **{
        ("2captcha", kind, True): (
            f"https://2captcha.com/api-docs/{page} ({task_type}: the proxyless task's "
            "fields and the proxy's)",
            {**ours("2captcha", kind), "type": task_type, **_SPLIT},
        )
        for kind, page, task_type in (
            ("geetest_v4", "geetest", "GeeTestTask"),
            ("mtcaptcha", "mtcaptcha", "MtCaptchaTask"),
            ("friendly_captcha", "friendly-captcha", "FriendlyCaptchaTask"),
        )
    },
}


@pytest.mark.parametrize(("name", "kind", "proxied"), sorted(DOCUMENTED))
def test_against_the_documents(name: str, kind: str, proxied: bool) -> None:
    _source, example = DOCUMENTED[(name, kind, proxied)]
    compare(example, ours(name, kind, proxied))


#: how each wall or new-widget task is checked (see test_sdk_conformance.COVERAGE)
WALL_COVERAGE: dict[tuple[str, str, bool], str] = {
    **{("anti-captcha", k, p): "sdk:anticaptchaofficial" for k, p in ANTI},
    **{("2captcha", k, False): "sdk:2captcha-python (legacy form)" for k in TWO},
    **{("capsolver", k, p): "sdk:capsolver" for k, p in CAPSOLVER},
    **{("capmonster", k, p): "sdk:capmonster_python" for k, p in CAPMONSTER},
    **{key: f"docs: {source}" for key, (source, _) in DOCUMENTED.items()},
}


def test_wall_answers_as_each_service_documents_them() -> None:
    """The answer shapes the documents show, read into the wall's cookie."""
    cases = {
        ("capsolver", "aws_waf"): {"cookie": "223d1f60:EQoA:tok"},
        ("capmonster", "aws_waf"): {"cookies": {"aws-waf-token": "223d1f60:EQoA:tok"}},
        ("anti-captcha", "aws_waf"): {"token": "223d1f60:EQoA:tok"},
        ("capsolver", "datadome"): {"cookie": "datadome=v4l~ue; Max-Age=31536000; Path=/"},
        ("2captcha", "datadome"): {"cookie": "datadome=v4l~ue; Max-Age=31536000; Path=/"},
        ("capmonster", "datadome"): {
            "domains": {"site.com": {"cookies": {"datadome": "v4l~ue; Max-Age=31536000"}}}
        },
        ("capsolver", "incapsula"): {"___utmvc": "NMB+nRa4inxX"},
    }
    for (name, kind), solution in cases.items():
        reply = {"errorId": 0, "status": "ready", "solution": solution}
        parsed = load_provider(name).parse_clearance(kind, reply)
        assert parsed is not None, (name, kind)
        cookie = {"aws_waf": "aws-waf-token", "datadome": "datadome", "incapsula": "___utmvc"}
        value = parsed.cookies[cookie[kind]]
        assert value and ";" not in value and "=" not in value.partition("~")[0][:1]
