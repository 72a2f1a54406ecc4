"""Our profiles against the services' own SDKs: each SDK is driven against a loopback
capture server for the same widget, and the task it sends is compared with ours field by
field (names, value types and values; the fields the SDK sends with a value must be ours
too, and ours must be fields the SDK knows, beyond a few documented extras).

Pointing an SDK at the capture server: CapMonster (``ClientOptions.service_url``), capsolver
(``capsolver.api_base``), yescaptcha (``Client.base_url``) take a URL. anti-captcha's SDK
hard-codes ``https://api.anti-captcha.com/`` (the module-level requests session's ``post``
is patched to rewrite it), ezcaptcha keeps it in ``_api_host`` (set on the instance) and
2captcha-python builds ``https://`` + ``server`` (its module's ``requests`` is patched to
use http). Every SDK sleeps between polls: ``time.sleep`` / ``asyncio.sleep`` are patched.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from scrapy_captcha._task_prep import bound_to
from scrapy_captcha._widgets import Widget
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.providers import TaskContext, load_provider

URL = "https://shop.example/login"
TS_KEY = "0x4AAAAAAAB1cdefghijklmn"
RC_KEY = "6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf"
HC_KEY = "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PROXY = "http://user:pa55@10.1.2.3:8080"
SOLUTION = {
    "token": "TOKEN",
    "gRecaptchaResponse": "TOKEN",
    "text": "abc12",
    "userAgent": "Mozilla/5.0 SDK",
    "respKey": "RK",
    "cookies": {"cf_clearance": "CLR"},
    "cf_clearance": "CLR",
}

WIDGETS = {
    "turnstile": Widget("turnstile", TS_KEY, URL, "cf-turnstile-response", "login", "cd-1"),
    "recaptcha_v2": Widget("recaptcha_v2", RC_KEY, URL, "g-recaptcha-response", version="v2"),
    "recaptcha_v2_enterprise": Widget(
        "recaptcha_enterprise",
        RC_KEY,
        URL,
        "g-recaptcha-response",
        version="v2",
        enterprise=True,
        s="S-PAYLOAD",
    ),
    "recaptcha_v3": Widget(
        "recaptcha_v3",
        RC_KEY,
        URL,
        "g-recaptcha-response",
        "submit",
        version="v3",
        invisible=True,
    ),
    "recaptcha_v3_enterprise": Widget(
        "recaptcha_enterprise",
        RC_KEY,
        URL,
        "g-recaptcha-response",
        "login",
        version="v3",
        invisible=True,
        enterprise=True,
    ),
    "hcaptcha": Widget("hcaptcha", HC_KEY, URL, "h-captcha-response"),
}


class Capture:
    """A loopback solver look-alike recording every request; stops after ``lifetime``."""

    def __init__(self, ready_on_create: bool = False, lifetime: float = 60.0) -> None:
        self.records: list[tuple[str, dict[str, str], bytes]] = []
        self.ready_on_create = ready_on_create
        capture = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(size, 1 << 20))
                capture.records.append((self.path, dict(self.headers), body))
                reply = capture.answer(urlsplit(self.path))
                raw = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._timer = threading.Timer(lifetime, self.server.shutdown)
        self._timer.daemon = True

    def answer(self, parts: Any) -> Any:
        if parts.path.endswith("/in.php"):
            return b"OK|4242"
        if parts.path.endswith("/res.php"):
            return b"OK|TOKEN"
        ready = {"errorId": 0, "status": "ready", "solution": SOLUTION}
        if parts.path.endswith("/createTask"):
            return (
                {**ready, "taskId": 4242}
                if self.ready_on_create
                else {"errorId": 0, "taskId": 4242}
            )
        return ready

    def __enter__(self) -> Capture:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def created(self) -> dict[str, Any]:
        """The last createTask body."""
        bodies = [json.loads(b) for p, _, b in self.records if p.endswith("/createTask")]
        assert bodies, self.records
        return bodies[-1]

    def form(self) -> dict[str, str]:
        """The last in.php form (2captcha's legacy API)."""
        forms = [dict(parse_qsl(b.decode())) for p, _, b in self.records if "in.php" in p]
        assert forms, self.records
        return forms[-1]


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as c:
        yield c


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    real = asyncio.sleep

    async def short(delay: float, result: Any = None) -> Any:
        return await real(0, result)

    monkeypatch.setattr(time, "sleep", lambda s: None)
    monkeypatch.setattr(asyncio, "sleep", short)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value is False or value == 0


def compare(
    sdk: dict[str, Any],
    ours: dict[str, Any],
    extras: tuple[str, ...] = (),
    defaults: tuple[str, ...] = (),
) -> None:
    """The SDK's task and ours: the same fields with a value, the same values and types.
    ``extras``: documented fields the SDK leaves out; ``defaults``: fields the SDK fills
    with the service's own documented default (we leave them to the service)."""
    sent = {k: v for k, v in sdk.items() if not _empty(v) and k not in defaults}
    missing = set(sent) - set(ours)
    unknown = set(ours) - set(sdk) - set(extras)
    assert not missing, f"fields the SDK sends and we do not: {sorted(missing)}"
    assert not unknown, f"fields we send that the SDK does not know: {sorted(unknown)}"
    for name in set(ours) & set(sent):
        assert type(ours[name]) is type(sent[name]), (name, ours[name], sent[name])
        assert ours[name] == sent[name], (name, ours[name], sent[name])


def ours(name: str, kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    provider = load_provider(name)
    if kind == "image":
        return provider.image_task(PNG)
    if kind == "cloudflare":
        return provider.cloudflare_task(TaskContext(URL, PROXY, page_html=b"<html></html>"))
    return provider.widget_task(WIDGETS[kind], extra)


# anti-captcha (anticaptchaofficial) --------------------------------------------------------


def _anticaptcha(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str, tmp: Path) -> Any:
    ac = pytest.importorskip("anticaptchaofficial.antinetworking")
    real = ac.session.post
    monkeypatch.setattr(
        ac.session,
        "post",
        lambda url, **kw: real(url.replace("https://api.anti-captcha.com", capture.url), **kw),
    )
    mods = {
        "turnstile": ("turnstileproxyless", "turnstileProxyless"),
        "recaptcha_v2": ("recaptchav2proxyless", "recaptchaV2Proxyless"),
        "recaptcha_v2_enterprise": (
            "recaptchav2enterpriseproxyless",
            "recaptchaV2EnterpriseProxyless",
        ),
        "recaptcha_v3": ("recaptchav3proxyless", "recaptchaV3Proxyless"),
        "recaptcha_v3_enterprise": (
            "recaptchav3enterpriseproxyless",
            "recaptchaV3EnterpriseProxyless",
        ),
        "hcaptcha": ("hcaptchaproxyless", "hCaptchaProxyless"),
        "image": ("imagecaptcha", "imagecaptcha"),
        "cloudflare": ("antibotcookietask", "antibotcookieTask"),
    }
    module, cls = mods[kind]
    solver = getattr(__import__(f"anticaptchaofficial.{module}", fromlist=[cls]), cls)()
    solver.set_key("k")
    solver.set_soft_id(777)
    if kind == "image":
        path = tmp / "c.png"
        path.write_bytes(PNG)
        return solver.solve_and_return_solution(str(path))
    solver.set_website_url(URL)
    if kind == "cloudflare":
        solver.set_proxy_address("10.1.2.3")
        solver.set_proxy_port(8080)
        solver.set_proxy_login("user")
        solver.set_proxy_password("pa55")
        return solver.solve_and_return_solution()
    widget = WIDGETS[kind]
    solver.set_website_key(widget.sitekey)
    if kind == "turnstile":
        solver.set_action(widget.action)
        solver.set_cdata(widget.cdata)
    elif kind == "recaptcha_v2_enterprise":
        solver.set_enterprise_payload({"s": widget.s})
    elif kind.startswith("recaptcha_v3"):
        solver.set_page_action(widget.action)
        # The SDK takes 0.5/0.7/0.9 (anything else becomes 0.9), the API docs 0.3/0.7/0.9:
        # 0.7 is in both
        solver.set_min_score(0.7)
    return solver.solve_and_return_solution()


ANTI_KINDS = [
    "turnstile",
    "recaptcha_v2",
    "recaptcha_v2_enterprise",
    "recaptcha_v3",
    "recaptcha_v3_enterprise",
    "hcaptcha",
    "image",
    "cloudflare",
]


@pytest.mark.parametrize("kind", ANTI_KINDS)
def test_anticaptcha(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    answer = _anticaptcha(capture, monkeypatch, kind, tmp_path)
    assert answer not in (0, None)
    body = capture.created()
    # proxyType: anti-captcha documents it for every proxy task; its SDK leaves it out
    # of AntiBotCookieTask (the service then assumes http)
    extra = {"minScore": 0.7} if kind.startswith("recaptcha_v3") else None
    compare(
        body["task"],
        ours("anti-captcha", kind, extra),
        extras=("proxyType",),
        defaults=("languagePool",),  # "en", the service's default
    )
    envelope = load_provider("anti-captcha", envelope={"softId": 777}).envelope(
        "createTask", {"task": {}}
    )
    assert set(body) == {"clientKey", *envelope} and body["softId"] == envelope["softId"]


def test_anticaptcha_min_score_and_reports() -> None:
    provider = load_provider("anti-captcha")
    v3 = WIDGETS["recaptcha_v3"]
    assert provider.widget_task(v3, {"minScore": 0.5})["minScore"] == 0.7
    assert provider.widget_task(v3, {"minScore": 0.95})["minScore"] == 0.9
    ac = pytest.importorskip("anticaptchaofficial.antinetworking")
    methods = {n for n in dir(ac.antiNetworking) if n.startswith("report_incorrect")}
    assert {"report_incorrect_image_captcha", "report_incorrect_recaptcha"} <= methods
    assert provider.report_methods["recaptcha_v3"] == "reportIncorrectRecaptcha"
    assert provider.report_methods["image"] == "reportIncorrectImageCaptcha"


# CapMonster Cloud (capmonstercloudclient) ---------------------------------------------------


def _capmonster_request(kind: str) -> Any:
    req = pytest.importorskip("capmonstercloudclient.requests")
    proxy_info = pytest.importorskip("capmonstercloudclient.requests.proxy_info")
    w = WIDGETS.get(kind)
    if kind == "turnstile":
        return req.TurnstileRequest(
            websiteURL=URL, websiteKey=TS_KEY, pageAction=w.action, data=w.cdata
        )
    if kind == "cloudflare":
        profile = load_provider("capmonster")
        return req.TurnstileRequest(
            websiteURL=URL,
            websiteKey=profile.cloudflare_website_key,
            cloudflareTaskType="cf_clearance",
            userAgent=profile.cloudflare_user_agent,
            htmlPageBase64=base64.b64encode(b"<html></html>").decode(),
            proxy=proxy_info.ProxyInfo(
                proxyType="http",
                proxyAddress="10.1.2.3",
                proxyPort=8080,
                proxyLogin="user",
                proxyPassword="pa55",
            ),
        )
    if kind == "image":
        return req.ImageToTextRequest(image_bytes=PNG)
    assert w is not None
    common = {"websiteUrl": URL, "websiteKey": w.sitekey}
    return {
        "recaptcha_v2": lambda: req.RecaptchaV2Request(**common),
        "recaptcha_v2_enterprise": lambda: req.RecaptchaV2EnterpriseRequest(
            **common, enterprisePayload=w.s
        ),
        "recaptcha_v3": lambda: req.RecaptchaV3ProxylessRequest(**common, pageAction=w.action),
        "recaptcha_v3_enterprise": lambda: req.RecaptchaV3EnterpriseRequest(
            **common, pageAction=w.action
        ),
        "hcaptcha": lambda: req.HcaptchaRequest(**common),
    }[kind]()


#: what capmonstercloudclient sent for each kind, recorded with the SDK installed (its
#: exact dependency pins clash with Scrapy's, so it cannot be in the test extra): the
#: live SDK is driven when it is importable, the recording otherwise.
CAPMONSTER_RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "sdk_capmonster.json").read_text()
)["recorded"]


@pytest.mark.parametrize("kind", ANTI_KINDS)
def test_capmonster(capture: Capture, kind: str) -> None:
    try:
        cm = importlib.import_module("capmonstercloudclient")
    except ImportError:
        cm = None
    if cm is None:
        body = CAPMONSTER_RECORDED[kind]["body"]
        sdk_agent = CAPMONSTER_RECORDED[kind]["user_agent"]
    else:
        client = cm.CapMonsterClient(cm.ClientOptions(api_key="k", service_url=capture.url))
        asyncio.run(client.solve_captcha(_capmonster_request(kind)))
        body = capture.created()
        sdk_agent = next(h for p, h, _ in capture.records if p.endswith("/createTask"))[
            "User-Agent"
        ]
        assert body == CAPMONSTER_RECORDED[kind]["body"], "re-record tests/fixtures"
    compare(body["task"], ours("capmonster", kind))
    assert set(body) == {"clientKey", "task", "softId"}
    assert "softId" in load_provider("capmonster").envelope_fields
    # the SDK names itself; so does our profile (for the client's User-Agent header)
    assert sdk_agent.startswith("Zennolab.CapMonsterCloud")
    assert load_provider("capmonster").headers["User-Agent"].startswith("scrapy-captcha/")


def test_capmonster_cf_clearance_reply() -> None:
    """CapMonster answers cf_clearance alone: the cookie, bound to the UA the task named
    (the service's current one, or one given in meta["captcha"]["task"])."""
    profile = load_provider("capmonster")
    reply = {"errorId": 0, "status": "ready", "solution": {"cf_clearance": "CLR"}}
    for given in ({}, {"userAgent": "Mozilla/5.0 (Windows NT 10.0) Meta/1"}):
        ctx = TaskContext(URL, PROXY, page_html=b"<html></html>", extra=given)
        task = profile.cloudflare_task(ctx)
        solution = bound_to(profile.parse_cloudflare(reply), task)
        assert solution is not None and solution.cookies == {"cf_clearance": "CLR"}
        assert solution.user_agent == task["userAgent"]
        assert task["userAgent"] == given.get("userAgent", profile.fallback_user_agent)
    top = profile.parse_cloudflare({"errorId": 0, "status": "ready", "cf_clearance": "CLR"})
    assert top is not None and top.cookies == {"cf_clearance": "CLR"}


# capsolver -------------------------------------------------------------------------------
# The SDK passes the task dict through; what it adds is the envelope, and it must take our
# task (``Capsolver.solve``) and read capsolver's ready-at-createTask answer.


@pytest.mark.parametrize(
    "kind",
    [
        "turnstile",
        "recaptcha_v2",
        "recaptcha_v2_enterprise",
        "recaptcha_v3",
        "recaptcha_v3_enterprise",
        "image",
        "cloudflare",
    ],
)
def test_capsolver(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    capsolver = pytest.importorskip("capsolver")
    with Capture(ready_on_create=True) as capture:
        monkeypatch.setattr(capsolver, "api_base", capture.url)
        monkeypatch.setattr(capsolver, "api_key", "k")
        task = ours("capsolver", kind)
        assert capsolver.solve(task) == SOLUTION
        body = capture.created()
    assert body == {"clientKey": "k", "task": task}
    if kind == "turnstile":
        assert task["metadata"] == {"action": "login", "cdata": "cd-1"}
    if kind == "cloudflare":
        assert task["proxy"] == "10.1.2.3:8080:user:pa55"


# yescaptcha -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [k for k in ANTI_KINDS if k not in ("turnstile", "cloudflare")],
)
def test_yescaptcha(capture: Capture, kind: str) -> None:
    yc = pytest.importorskip("yescaptcha.client")
    tasks = pytest.importorskip("yescaptcha.task")
    w = WIDGETS.get(kind)
    client = yc.Client("k", soft_id=99)
    client.base_url = capture.url
    if kind == "image":
        task = tasks.ImageToTextTask(base64.b64encode(PNG).decode())
    else:
        assert w is not None
        task = {
            "recaptcha_v2": lambda: tasks.NoCaptchaTaskProxyless(URL, w.sitekey),
            "recaptcha_v2_enterprise": lambda: tasks.RecaptchaV2EnterpriseTaskProxyless(
                URL, w.sitekey, {"s": w.s}
            ),
            "recaptcha_v3": lambda: tasks.RecaptchaV3TaskProxyless(URL, w.sitekey, w.action),
            "recaptcha_v3_enterprise": lambda: tasks.RecaptchaV3EnterpriseTask(
                URL, w.sitekey, w.action
            ),
            "hcaptcha": lambda: tasks.HCaptchaTaskProxyless(URL, w.sitekey),
        }[kind]()
    client.create_task(task)
    body = capture.created()
    compare(body["task"], ours("yescaptcha", kind))
    assert set(body) == {"clientKey", "task", "softId"}


def test_yescaptcha_has_no_cloudflare_task() -> None:
    for name in ("yescaptcha", "2captcha"):
        with pytest.raises(ConfigurationError, match=f"{name} has no task for cloudflare"):
            ours(name, "cloudflare")


# ez-captcha (ezcaptcha) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [k for k in ANTI_KINDS if k not in ("turnstile", "image", "cloudflare")],
)
def test_ezcaptcha_sdk_takes_our_tasks(capture: Capture, kind: str) -> None:
    """The SDK checks task names against its list and passes the task through."""
    ez = pytest.importorskip("ezcaptcha")
    client = ez.EzCaptcha("k")
    client._api_host = capture.url  # (hard-coded in the SDK)
    task = ours("ez-captcha", kind)
    assert client._task_validator(dict(task)) is None
    assert task["type"] in {t.value for t in client.AllTaskType}
    client.create_task(dict(task), False)
    assert capture.created() == {"clientKey": "k", "task": task}
    if kind == "recaptcha_v2_enterprise":  # data-s: the ...V2S... type with an ``s`` field
        assert task["type"] == "RecaptchaV2SEnterpriseTaskProxyless"
        assert task["s"] == "S-PAYLOAD"


# 2captcha (2captcha-python) -------------------------------------------------------------
# The SDK speaks the legacy form API (in.php); our profile its JSON API. The fixture is the
# SDK's form, through 2captcha's documented legacy -> JSON field names.

LEGACY_TO_JSON = {
    "sitekey": "websiteKey",
    "googlekey": "websiteKey",
    "pageurl": "websiteURL",
    "action": "action",
    "data": "data",
    "min_score": "minScore",
    "invisible": "isInvisible",
    "data-s": "enterprisePayload.s",
    "body": "body",
}


@pytest.mark.parametrize(
    "kind",
    [k for k in ANTI_KINDS if k not in ("hcaptcha", "cloudflare")],
)
def test_2captcha(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    api = pytest.importorskip("twocaptcha.api")
    twocaptcha = pytest.importorskip("twocaptcha")
    real_post, real_get = api.requests.post, api.requests.get

    class Plain:
        """``requests`` with https:// turned into http:// (the SDK builds https URLs)."""

        post = staticmethod(lambda url, **kw: real_post(url.replace("https:", "http:"), **kw))
        get = staticmethod(lambda url, **kw: real_get(url.replace("https:", "http:"), **kw))

    monkeypatch.setattr(api, "requests", Plain)
    solver = twocaptcha.TwoCaptcha("k", server=capture.url.split("//")[1], pollingInterval=1)
    w = WIDGETS.get(kind)
    if kind == "turnstile":
        solver.turnstile(sitekey=TS_KEY, url=URL, action=w.action, data=w.cdata)
    elif kind == "image":
        solver.normal(base64.b64encode(PNG).decode())
    elif kind == "recaptcha_v2":
        solver.recaptcha(sitekey=RC_KEY, url=URL)
    elif kind == "recaptcha_v2_enterprise":
        solver.recaptcha(sitekey=RC_KEY, url=URL, enterprise=1, datas=w.s)
    else:
        solver.recaptcha(
            sitekey=RC_KEY,
            url=URL,
            version="v3",
            action=w.action,
            score=0.3,
            enterprise=int(kind.endswith("enterprise")),
        )
    form = capture.form()
    # (minScore is sent when a request asks for one: the SDK was given 0.3)
    task = ours("2captcha", kind, {"minScore": 0.3} if kind.startswith("recaptcha_v3") else None)
    flat = {
        **{k: v for k, v in task.items() if k != "enterprisePayload"},
        **{f"enterprisePayload.{k}": v for k, v in task.get("enterprisePayload", {}).items()},
    }
    for legacy, field in LEGACY_TO_JSON.items():
        if form.get(legacy) not in (None, "", "0"):
            value = flat.get(field, flat.get("pageAction") if legacy == "action" else None)
            assert str(value) == form[legacy], (legacy, field, value, form[legacy])
    if form.get("version") == "v3":
        assert task["type"] == "RecaptchaV3TaskProxyless" and "pageAction" in task
        assert task.get("isEnterprise", False) == (form.get("enterprise") == "1")
    if kind == "recaptcha_v2_enterprise":
        assert task["type"] == "RecaptchaV2EnterpriseTaskProxyless"


def test_2captcha_reports_and_envelope() -> None:
    profile = load_provider("2captcha", envelope={"softId": 4580, "callbackUrl": "https://x/cb"})
    body = profile.envelope("createTask", {"task": {"type": "T"}})
    assert body == {"task": {"type": "T"}, "softId": 4580, "callbackUrl": "https://x/cb"}
    assert profile.envelope("getTaskResult", {"taskId": 1}) == {"taskId": 1}
    assert profile.report_methods["image"] == "reportIncorrect"
    assert profile.report_payload(7) == {"taskId": 7}
    with pytest.raises(ConfigurationError, match="appId"):
        load_provider("2captcha", envelope={"appId": "x"})
