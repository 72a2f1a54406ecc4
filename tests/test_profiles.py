"""Every built-in profile against the emulated solver's dialect of the same name: the task
the profile builds is accepted, solved (Cloudflare through the proxy, tokens minted by the
authority, images read by it) and the reply parses; plus the profiles' own contracts
(prices, reports, defects fixed in task building)."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from scrapy_captcha.detect._widgets import Widget
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._task_prep import bound_to
from scrapy_captcha.services.providers import (
    PROVIDERS,
    Provider,
    TaskContext,
    build_rq_data,
    colon_proxy,
    image_type,
    load_provider,
    split_proxy,
)
from scrapy_captcha.testing import EmulatorStack

HOST = "shop.example"
NAMES = ["anti-captcha", "2captcha", "capmonster", "capsolver", "yescaptcha", "1captcha"]
NAMES.append("ez-captcha")
KINDS = (
    "cloudflare",
    "turnstile",
    "recaptcha_v2",
    "recaptcha_v2_enterprise",
    "recaptcha_v3",
    "recaptcha_v3_enterprise",
    "hcaptcha",
    "image",
    "aws_waf",
    "datadome",
    "incapsula",
    "geetest_v4",
    "mtcaptcha",
    "friendly_captcha",
)
# task kind -> (site kind path, widget kind, version, enterprise)
WIDGET_CASES = {
    "turnstile": ("turnstile", "turnstile", "", False),
    "recaptcha_v2": ("recaptcha-v2", "recaptcha_v2", "v2", False),
    "recaptcha_v2_enterprise": ("recaptcha-v2-enterprise", "recaptcha_enterprise", "v2", True),
    "recaptcha_v3": ("recaptcha-v3", "recaptcha_v3", "v3", False),
    "recaptcha_v3_enterprise": ("recaptcha-v3-enterprise", "recaptcha_enterprise", "v3", True),
    "hcaptcha": ("hcaptcha", "hcaptcha", "", False),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.02) as s:
        s.site.add_host(HOST, "managed")
        yield s


def call(stack: EmulatorStack, name: str, method: str, payload: Any) -> dict[str, Any]:
    base = urlsplit(stack.solver.url_for(name))
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
    try:
        conn.request("POST", f"{base.path}/{method}", body=json.dumps(payload).encode())
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def run(stack: EmulatorStack, provider: Provider, task: dict[str, Any]) -> dict[str, Any]:
    """createTask through the profile's envelope, then poll (bounded) until settled."""
    body = provider.envelope("createTask", {"task": task})
    created = call(stack, provider.name, "createTask", {"clientKey": "test-key", **body})
    assert created["errorId"] == 0, (task, created)
    deadline = time.monotonic() + 10
    while True:
        payload = provider.envelope("getTaskResult", {"taskId": created["taskId"]})
        reply = call(stack, provider.name, "getTaskResult", {"clientKey": "test-key", **payload})
        if reply.get("status") != "processing" or time.monotonic() > deadline:
            assert reply.get("status") == "ready", reply
            return reply
        time.sleep(0.02)


def test_registry() -> None:
    assert sorted(PROVIDERS) == sorted(NAMES)
    for name, cls in PROVIDERS.items():
        assert cls.name == name and cls.base_url.startswith("https://api.")
        assert set(cls.prices) <= set(KINDS) and set(cls.report_methods) <= set(KINDS)
        assert set(cls.prices) == set(cls.task_types), name  # a price for every task
        assert all(0 < p < 0.05 for p in cls.prices.values())


@pytest.mark.parametrize("name", NAMES)
def test_cloudflare_solved_through_the_proxy_and_replayed(stack: EmulatorStack, name: str) -> None:
    provider = load_provider(name)
    proxy = stack.proxy_b.url_with("alice", "s3cret")
    url = f"http://{HOST}/item"
    ctx = TaskContext(
        url=url,
        proxy=proxy,
        page_html=b"<html>Just a moment...</html>",
        # (CapMonster wants its published UA; the add-on reads it from getUserAgent)
        service_user_agent=stack.solver.service_user_agent,
    )
    if "cloudflare" not in provider.types:
        with pytest.raises(ConfigurationError, match=f"{name} has no task for cloudflare"):
            provider.cloudflare_task(ctx)
        return
    task = provider.cloudflare_task(ctx)
    solution = bound_to(provider.parse_cloudflare(run(stack, provider, task)), task)
    assert solution is not None and "cf_clearance" in solution.cookies
    assert solution.user_agent
    # The clearance replays through the same exit with the UA it is bound to.
    target = urlsplit(proxy)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    creds = base64.b64encode(b"alice:s3cret").decode()
    cookie = "; ".join(f"{k}={v}" for k, v in solution.cookies.items())
    conn.request(
        "GET",
        f"http://{HOST}/other",
        headers={
            "User-Agent": solution.user_agent,
            "Cookie": cookie,
            "Proxy-Authorization": f"Basic {creds}",
        },
    )
    assert conn.getresponse().status == 200
    conn.close()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", list(WIDGET_CASES))
def test_token_tasks_mint(stack: EmulatorStack, name: str, kind: str) -> None:
    provider = load_provider(name)
    kindpath, wkind, version, enterprise = WIDGET_CASES[kind]
    key = stack.site.sitekey(HOST, kindpath)
    widget = Widget(
        wkind,
        key,
        f"http://{HOST}/gate/{kindpath}/a",
        "g-recaptcha-response",
        action="submit_gate" if version == "v3" else None,
        version=version,
        invisible=version == "v3",
        enterprise=enterprise,
        s="S-VALUE" if enterprise and version == "v2" else None,
    )
    if kind not in provider.types:
        with pytest.raises(ConfigurationError, match=f"{name} has no task for {kind}"):
            provider.widget_task(widget)
        return
    token = provider.parse_token(run(stack, provider, provider.widget_task(widget)))
    assert token is not None and len(token.token) > 20


@pytest.mark.parametrize("name", NAMES)
def test_image_tasks_read(stack: EmulatorStack, name: str) -> None:
    provider = load_provider(name)
    png = stack.solver.authority.new_image(f"session-{name}")
    if "image" not in provider.types:
        with pytest.raises(ConfigurationError):
            provider.image_task(png)
        return
    task = provider.image_task(png)
    if provider.image_type_field:
        assert task[provider.image_type_field] == "png"
    text = provider.parse_text(run(stack, provider, task))
    assert text and text.isalnum()


# Defects of the issue, fixed --------------------------------------------------------------


def test_rq_data_mode_is_never_overridden_and_json_is_sniffed() -> None:
    assert build_rq_data("POST", b"mode=dark&q=1", "application/x-www-form-urlencoded") is None
    assert build_rq_data("POST", b'{"mode": "dark", "q": 1}', "application/json") is None
    assert build_rq_data("POST", b'{"a": 1}', "") == {"a": 1, "mode": "JSON"}
    assert build_rq_data("POST", b'{"a": 1}', "text/plain") == {"a": 1, "mode": "JSON"}
    assert build_rq_data("POST", b"a=1&b=2", "") == {"a": "1", "b": "2", "mode": "FORM"}
    assert build_rq_data("POST", b"", "") == {"mode": "FORM"}


def _widget(kind: str, **kw: Any) -> Widget:
    return Widget(kind, "0x4AAAAAAAB1cdefghijklmn", "https://s.example/", "f", **kw)


def test_turnstile_cdata_per_service() -> None:
    ts = _widget("turnstile", action="a", cdata="c")
    fields = {
        name: {k: v for k, v in load_provider(name).widget_task(ts).items() if k != "type"}
        for name in NAMES
    }
    common = {"websiteURL": "https://s.example/", "websiteKey": "0x4AAAAAAAB1cdefghijklmn"}
    assert fields["anti-captcha"] == {**common, "action": "a", "cData": "c"}
    # documented by neither: solved on the page (with the page's own action)
    assert fields["1captcha"] == fields["yescaptcha"] == common
    assert fields["2captcha"] == {**common, "action": "a", "data": "c"}
    assert fields["capmonster"] == {**common, "pageAction": "a", "data": "c"}
    assert fields["capsolver"] == {**common, "metadata": {"action": "a", "cdata": "c"}}
    assert fields["ez-captcha"] == {
        **common,
        "rqData": {"metadataAction": "a", "metadataCdata": "c"},
    }


def test_v3_default_action_and_enterprise_flags() -> None:
    v3 = _widget("recaptcha_v3", version="v3", invisible=True)
    assert load_provider("1captcha").widget_task(v3)["pageAction"] == "verify"
    v3e = _widget("recaptcha_enterprise", version="v3", enterprise=True, action="login")
    anti = load_provider("anti-captcha").widget_task(v3e)
    assert anti["type"] == "RecaptchaV3TaskProxyless" and anti["isEnterprise"] is True
    assert load_provider("capsolver").widget_task(v3e)["type"].startswith("ReCaptchaV3Ent")
    v2e = _widget("recaptcha_enterprise", version="v2", enterprise=True, s="S")
    assert load_provider("capmonster").widget_task(v2e)["enterprisePayload"] == {"s": "S"}
    v2s = _widget("recaptcha_v2", version="v2", s="S")
    assert load_provider("anti-captcha").widget_task(v2s)["recaptchaDataSValue"] == "S"
    ez = load_provider("ez-captcha")
    names = {ez.widget_task(_widget("recaptcha_v2", version="v2"))["type"]}
    names.add(ez.widget_task(_widget("hcaptcha"))["type"])
    assert names == {"RecaptchaV2TaskProxyless", "HcaptchaTaskProxyless"}


def test_image_type_from_magic_and_proxies() -> None:
    assert image_type(b"\x89PNG\r\n\x1a\n...") == "png"
    assert image_type(b"\xff\xd8\xff\xe0") == "jpeg"
    assert image_type(b"GIF89a") == "gif"
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8") == "webp"
    assert image_type(b"text") is None
    assert load_provider("1captcha").image_task(b"GIF89a..")["imageType"] == "gif"
    assert "imageType" not in load_provider("capsolver").image_task(b"GIF89a..")
    assert split_proxy("socks5://u%40x:p@h.example:1080") == {
        "proxyType": "socks5",
        "proxyAddress": "h.example",
        "proxyPort": 1080,
        "proxyLogin": "u@x",
        "proxyPassword": "p",
    }
    assert colon_proxy("http://h:8080") == "h:8080"
    assert colon_proxy("socks5://u:p@h:1080") == "socks5:h:1080:u:p"
    with pytest.raises(ConfigurationError):
        split_proxy("ftp://h:21")


def test_reports_and_anti_captcha_fingerprint() -> None:
    capsolver = load_provider("capsolver")
    assert capsolver.report_methods["turnstile"] == "feedbackTask"
    assert capsolver.report_payload("u-1") == {"taskId": "u-1", "result": {"invalid": True}}
    assert load_provider("capmonster").report_methods["turnstile"] == "reportIncorrectTokenCaptcha"
    assert not load_provider("yescaptcha").report_methods
    reply = {
        "errorId": 0,
        "status": "ready",
        "solution": {
            "cookies": {"cf_clearance": "C"},
            "fingerprint": {"self.navigator.userAgent": "Mozilla/5.0 Anti"},
        },
    }
    solution = load_provider("anti-captcha").parse_cloudflare(reply)
    assert solution is not None and solution.user_agent == "Mozilla/5.0 Anti"
    reply["solution"]["fingerprint"] = {"self.navigator.userAgent": "bad\r\nUA"}
    assert load_provider("anti-captcha").parse_cloudflare(reply) is None
