"""Our profiles against the services' own SDKs, and against their documents where no SDK
sends a task (``COVERAGE`` records which, for every task the profiles build), their
refund endpoints (``REFUNDS``) and error tables (``ERRORS``).

Our profiles against the services' own SDKs: each SDK is driven against a loopback
capture server for the same widget, and the task it sends is compared with ours field by
field (names, value types and values; the fields the SDK sends with a value must be ours
too, and ours must be fields the SDK knows, beyond a few documented extras).

Pointing an SDK at the capture server: capmonstercloudclient
(``ClientOptions.service_url``; recorded when it is not installed), capsolver
(``capsolver.api_base``) and yescaptcha (``Client.base_url``) take a URL. capmonster_python
reads its address from a name-mangled class attribute (``_CapmonsterClient__BASE_URL``,
patched), anti-captcha's SDK hard-codes ``https://api.anti-captcha.com/`` (the
module-level requests session's ``post`` is patched to rewrite it), ezcaptcha keeps it in
``_api_host`` (set on the instance) and 2captcha-python builds ``https://`` + ``server``
(its module's ``requests`` is patched to use http). Every SDK sleeps between polls:
``time.sleep`` / ``asyncio.sleep`` are patched (capmonster_python is built with no delay).
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

from scrapy_captcha.detect._widgets import Widget
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.services._task_prep import bound_to
from scrapy_captcha.services.providers import TaskContext, load_provider, service_matrix

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


def anticaptcha_to(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    """anticaptchaofficial's calls, sent to ``capture`` (its API URL is hard-coded)."""
    ac = pytest.importorskip("anticaptchaofficial.antinetworking")
    real = ac.session.post
    monkeypatch.setattr(
        ac.session,
        "post",
        lambda url, **kw: real(url.replace("https://api.anti-captcha.com", capture.url), **kw),
    )


def _anticaptcha(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str, tmp: Path) -> Any:
    anticaptcha_to(capture, monkeypatch)
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


# CapMonster Cloud (capmonster_python; capmonstercloudclient recorded) -------------------------
# Two clients: capmonster_python (in the test extra), driven for every task it can express,
# and CapMonster's official capmonstercloudclient, whose exact pins (aiohttp==3.11.10
# against Scrapy's aiohttp>=3.13.3) keep it out of the test extra: its bodies are recorded
# (tests/fixtures/sdk_capmonster.json) and it is driven live only when installed by hand.


def capmonster_client(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """capmonster_python's client, pointed at ``capture``: its API address is a class
    attribute (name-mangled) that the client's httpx clients take as their base URL
    when it is built."""
    cm = pytest.importorskip("capmonster_python")
    monkeypatch.setattr(cm.CapmonsterClient, "_CapmonsterClient__BASE_URL", capture.url)
    return cm.CapmonsterClient("k", timeout=10, max_retries=3, retry_delay=0)


def capmonster_proxy() -> Any:
    """``PROXY`` as capmonster_python's split proxy fields."""
    cm = pytest.importorskip("capmonster_python")
    return cm.ProxyPayload(
        proxyType="http",
        proxyAddress="10.1.2.3",
        proxyPort=8080,
        proxyLogin="user",
        proxyPassword="pa55",
    )


def _capmonster_python_task(kind: str, proxied: bool = False) -> Any:
    cm = pytest.importorskip("capmonster_python")
    proxy = {"proxy": capmonster_proxy()} if proxied else {}
    if kind == "image":
        return cm.ImageToTextTask(body=base64.b64encode(PNG).decode())
    if kind == "cloudflare":
        profile = load_provider("capmonster")
        return cm.TurnstileCloudFlareTask(
            websiteURL=URL,
            websiteKey=profile.cloudflare_website_key,
            cloudflareTaskType="cf_clearance",
            userAgent=profile.fallback_user_agent,
            htmlPageBase64=base64.b64encode(b"<html></html>").decode(),
            proxy=capmonster_proxy(),
        )
    w = WIDGETS[kind]
    common = {"websiteURL": URL, "websiteKey": w.sitekey}
    return {
        "turnstile": lambda: cm.TurnstileTask(**common, pageAction=w.action, data=w.cdata),
        "recaptcha_v2": lambda: cm.RecaptchaV2Task(**common, **proxy),
        # (the SDK types enterprisePayload as a string: see CAPMONSTER_PYTHON_DIFFERS)
        "recaptcha_v2_enterprise": lambda: cm.RecaptchaV2EnterpriseTask(
            **common, enterprisePayload=w.s, **proxy
        ),
        "recaptcha_v3": lambda: cm.RecaptchaV3Task(**common, pageAction=w.action),
        "recaptcha_v3_enterprise": lambda: cm.RecaptchaV3EnterpriseTask(
            **common, pageAction=w.action
        ),
    }[kind]()


#: where capmonster_python's task is not ours, and why ours stands: (field, what the SDK
#: sends, what we send, the reason)
CAPMONSTER_PYTHON_DIFFERS: dict[str, tuple[str, Any, Any, str]] = {
    # The SDK's TurnstileTask (no proxy field) sends the older TurnstileTaskProxyless;
    # CapMonster's official client sends TurnstileTask with the proxy optional
    # (capmonstercloudclient TurnstileRequest; the recording below), as we do
    "turnstile": (
        "type",
        "TurnstileTaskProxyless",
        "TurnstileTask",
        "TurnstileTaskProxyless is the older name; TurnstileTask with or without a proxy",
    ),
    # docs.capmonster.cloud/docs/captchas/recaptcha-v2-enterprise-task: the examples (and
    # the official client, recorded below) send enterprisePayload as an object with "s";
    # capmonster_python types it a string and sends the bare value
    "recaptcha_v2_enterprise": (
        "enterprisePayload",
        "S-PAYLOAD",
        {"s": "S-PAYLOAD"},
        "enterprisePayload is an object {'s': ...} in CapMonster's documents",
    ),
}
#: the kinds capmonster_python can express (it has no hCaptcha task: recorded below)
CAPMONSTER_PYTHON_KINDS = [k for k in ANTI_KINDS if k != "hcaptcha"]
#: proxy-bound variants it can express (its TurnstileTask takes no proxy)
CAPMONSTER_PYTHON_PROXIED = ["recaptcha_v2", "recaptcha_v2_enterprise"]


def _capmonster_python_vs_ours(kind: str, sdk: dict[str, Any], our: dict[str, Any]) -> None:
    sdk = dict(sdk)
    if kind in CAPMONSTER_PYTHON_DIFFERS:
        field, theirs, mine, reason = CAPMONSTER_PYTHON_DIFFERS[kind]
        assert (sdk[field], our[field]) == (theirs, mine), reason
        sdk[field] = mine
    compare(sdk, our)


@pytest.mark.parametrize("kind", CAPMONSTER_PYTHON_KINDS)
def test_capmonster(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    with capmonster_client(capture, monkeypatch) as client:
        assert client.solve(_capmonster_python_task(kind)) == SOLUTION
    body = capture.created()
    _capmonster_python_vs_ours(kind, body["task"], ours("capmonster", kind))
    # (the SDK's own softId; ours is CAPTCHA_ENVELOPES')
    assert set(body) == {"clientKey", "task", "softId"}
    assert "softId" in load_provider("capmonster").envelope_fields


@pytest.mark.parametrize("kind", CAPMONSTER_PYTHON_PROXIED)
def test_capmonster_proxy_bound(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    with capmonster_client(capture, monkeypatch) as client:
        client.create_task(_capmonster_python_task(kind, proxied=True))
    our = load_provider("capmonster").widget_task(WIDGETS[kind], None, PROXY)
    assert our["proxyPort"] == 8080 and our["proxyType"] == "http"
    _capmonster_python_vs_ours(kind, capture.created()["task"], our)


def test_capmonster_report_and_user_agent_endpoints(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """capmonster_python's report_incorrect_token / report_incorrect_image: the endpoints
    and bodies our profile reports each kind with; its getUserAgent address is ours."""
    cm = pytest.importorskip("capmonster_python")
    sdk = cm.CapmonsterClient
    token_url = sdk._CapmonsterClient__REPORT_TOKEN_URL
    image_url = sdk._CapmonsterClient__REPORT_IMAGE_URL
    with capmonster_client(capture, monkeypatch) as client:
        client.report_incorrect_token(4242)
        client.report_incorrect_image(4243)
    sent = [(path, json.loads(body)) for path, _, body in capture.records]
    assert [path for path, _ in sent] == [token_url, image_url]
    # ours: every kind but the image is a token task; the body is the taskId alone (the
    # envelope's softId goes with createTask only)
    profile = load_provider("capmonster", envelope={"softId": 55})
    assert profile.report_methods
    for kind, method in profile.report_methods.items():
        assert f"/{method}" == (image_url if kind == "image" else token_url), kind
    for (path, body), task_id in zip(sent, (4242, 4243), strict=True):
        method = path.lstrip("/")
        assert body == {
            "clientKey": "k",
            **profile.envelope(method, profile.report_payload(task_id)),
        }
    # getUserAgent: the plain-text GET both read the current Windows User-Agent from
    assert profile.user_agent_url == sdk._CapmonsterClient__USER_AGENT_URL


def _capmonster_request(kind: str) -> Any:
    """The official client's request for ``kind`` (when capmonstercloudclient is
    installed by hand: ``pip install --no-deps capmonstercloudclient pydantic``)."""
    req = importlib.import_module("capmonstercloudclient.requests")
    proxy_info = importlib.import_module("capmonstercloudclient.requests.proxy_info")
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


#: what capmonstercloudclient 4.3.1 sent for each kind, recorded with it installed: the
#: live client is driven (and must still send the recorded body) when it is importable,
#: the recording is compared otherwise; never skipped
CAPMONSTER_RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "sdk_capmonster.json").read_text()
)["recorded"]


@pytest.mark.parametrize("kind", ANTI_KINDS)
def test_capmonstercloudclient(capture: Capture, kind: str) -> None:
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
    # the client names itself; so does our profile (for the client's User-Agent header)
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


def twocaptcha_solver(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """2captcha-python's solver, pointed at ``capture``."""
    api = pytest.importorskip("twocaptcha.api")
    twocaptcha = pytest.importorskip("twocaptcha")
    real_post, real_get = api.requests.post, api.requests.get

    class Plain:
        """``requests`` with https:// turned into http:// (the SDK builds https URLs)."""

        post = staticmethod(lambda url, **kw: real_post(url.replace("https:", "http:"), **kw))
        get = staticmethod(lambda url, **kw: real_get(url.replace("https:", "http:"), **kw))

    monkeypatch.setattr(api, "requests", Plain)
    return twocaptcha.TwoCaptcha("k", server=capture.url.split("//")[1], pollingInterval=1)


@pytest.mark.parametrize(
    "kind",
    [k for k in ANTI_KINDS if k not in ("hcaptcha", "cloudflare")],
)
def test_2captcha(capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    solver = twocaptcha_solver(capture, monkeypatch)
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


# Proxy-bound token tasks (CAPTCHA_TOKEN_PROXY) --------------------------------------------

ANTI_PROXYON = {
    "turnstile": ("turnstileproxyon", "turnstileProxyon"),
    "recaptcha_v2": ("recaptchav2proxyon", "recaptchaV2Proxyon"),
    "recaptcha_v2_enterprise": ("recaptchav2enterpriseproxyon", "recaptchaV2EnterpriseProxyon"),
    "hcaptcha": ("hcaptchaproxyon", "hCaptchaProxyon"),
}


@pytest.mark.parametrize("kind", list(ANTI_PROXYON))
def test_anticaptcha_proxy_bound(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Our proxy-bound tasks against anticaptchaofficial's ``...proxyon`` solvers: the
    same type, split proxy fields with ``proxyType`` and an int port."""
    ac = pytest.importorskip("anticaptchaofficial.antinetworking")
    real = ac.session.post
    monkeypatch.setattr(
        ac.session,
        "post",
        lambda url, **kw: real(url.replace("https://api.anti-captcha.com", capture.url), **kw),
    )
    module, cls = ANTI_PROXYON[kind]
    solver = getattr(__import__(f"anticaptchaofficial.{module}", fromlist=[cls]), cls)()
    solver.set_key("k")
    widget = WIDGETS[kind]
    solver.set_website_url(URL)
    solver.set_website_key(widget.sitekey)
    solver.set_proxy_type("http")
    solver.set_proxy_address("10.1.2.3")
    solver.set_proxy_port(8080)
    solver.set_proxy_login("user")
    solver.set_proxy_password("pa55")
    if kind == "turnstile":
        solver.set_action(widget.action)
        solver.set_cdata(widget.cdata)
    elif kind == "recaptcha_v2_enterprise":
        solver.set_enterprise_payload({"s": widget.s})
    assert solver.solve_and_return_solution() not in (0, None)
    ours_task = load_provider("anti-captcha").widget_task(widget, None, PROXY)
    compare(capture.created()["task"], ours_task)


@pytest.mark.parametrize("kind", ["recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3"])
def test_capsolver_proxy_bound(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    capsolver = pytest.importorskip("capsolver")
    with Capture(ready_on_create=True) as capture:
        monkeypatch.setattr(capsolver, "api_base", capture.url)
        monkeypatch.setattr(capsolver, "api_key", "k")
        task = load_provider("capsolver").widget_task(WIDGETS[kind], None, PROXY)
        assert capsolver.solve(task) == SOLUTION
    assert task["type"].endswith("Task") and task["proxy"] == "10.1.2.3:8080:user:pa55"
    assert capture.created() == {"clientKey": "k", "task": task}


# Where no SDK speaks the task: the services' documents ---------------------------------
# Each example as the service's documentation shows it (values replaced by the test
# widget's); ours must send the same fields (and only documented ones).

_SPLIT = {
    "proxyType": "http",
    "proxyAddress": "10.1.2.3",
    "proxyPort": 8080,
    "proxyLogin": "user",
    "proxyPassword": "pa55",
}
DOCUMENTED: dict[tuple[str, str, bool], tuple[str, dict[str, Any]]] = {
    # api.1captcha.vip (anti-captcha-style examples; no Turnstile action/cData field)
    ("1captcha", "turnstile", False): (
        "https://1captcha.vip/docs (TurnstileTaskProxyless)",
        {"type": "TurnstileTaskProxyless", "websiteURL": URL, "websiteKey": TS_KEY},
    ),
    ("1captcha", "recaptcha_v2", False): (
        "https://1captcha.vip/docs (RecaptchaV2TaskProxyless)",
        {
            "type": "RecaptchaV2TaskProxyless",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "isInvisible": False,
        },
    ),
    ("1captcha", "recaptcha_v2_enterprise", False): (
        "https://1captcha.vip/docs (RecaptchaV2EnterpriseTaskProxyless)",
        {
            "type": "RecaptchaV2EnterpriseTaskProxyless",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "isInvisible": False,
            "enterprisePayload": {"s": "S-PAYLOAD"},
        },
    ),
    ("1captcha", "recaptcha_v3", False): (
        "https://1captcha.vip/docs (RecaptchaV3TaskProxyless)",
        {
            "type": "RecaptchaV3TaskProxyless",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "pageAction": "submit",
        },
    ),
    ("1captcha", "recaptcha_v3_enterprise", False): (
        "https://1captcha.vip/docs (RecaptchaV3EnterpriseTaskProxyless)",
        {
            "type": "RecaptchaV3EnterpriseTaskProxyless",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "pageAction": "login",
        },
    ),
    ("1captcha", "image", False): (
        "https://1captcha.vip/docs (ImageToTextTask)",
        {"type": "ImageToTextTask", "body": base64.b64encode(PNG).decode(), "imageType": "png"},
    ),
    ("1captcha", "cloudflare", False): (
        "https://1captcha.vip/docs (CloudFlareTaskS3)",
        {"type": "CloudFlareTaskS3", "websiteURL": URL, "proxy": PROXY},
    ),
    # ez-captcha: its SDK has no Turnstile or Cloudflare helper (ez-captcha.com docs)
    ("ez-captcha", "turnstile", False): (
        "https://ez-captcha.gitbook.io (CloudFlareTurnstileTask)",
        {
            "type": "CloudFlareTurnstileTask",
            "websiteURL": URL,
            "websiteKey": TS_KEY,
            "rqData": {"metadataAction": "login", "metadataCdata": "cd-1"},
        },
    ),
    ("ez-captcha", "cloudflare", False): (
        "https://ez-captcha.gitbook.io (CloudFlare5STask)",
        {"type": "CloudFlare5STask", "websiteURL": URL, "proxy": PROXY},
    ),
    # yescaptcha: TurnstileTaskProxyless documents no action or cData
    ("yescaptcha", "turnstile", False): (
        "https://yescaptcha.atlassian.net/wiki (TurnstileTaskProxyless)",
        {"type": "TurnstileTaskProxyless", "websiteURL": URL, "websiteKey": TS_KEY},
    ),
    # proxy-bound variants no installable SDK sends
    ("2captcha", "turnstile", True): (
        "https://2captcha.com/api-docs/cloudflare-turnstile (TurnstileTask)",
        {
            "type": "TurnstileTask",
            "websiteURL": URL,
            "websiteKey": TS_KEY,
            "action": "login",
            "data": "cd-1",
            **_SPLIT,
        },
    ),
    ("2captcha", "recaptcha_v2", True): (
        "https://2captcha.com/api-docs/recaptcha-v2 (RecaptchaV2Task)",
        {"type": "RecaptchaV2Task", "websiteURL": URL, "websiteKey": RC_KEY, **_SPLIT},
    ),
    ("2captcha", "recaptcha_v2_enterprise", True): (
        "https://2captcha.com/api-docs/recaptcha-v2-enterprise (RecaptchaV2EnterpriseTask)",
        {
            "type": "RecaptchaV2EnterpriseTask",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "enterprisePayload": {"s": "S-PAYLOAD"},
            **_SPLIT,
        },
    ),
    # (also driven through capmonster_python, whose enterprisePayload is a string: this
    # is the document our object follows)
    ("capmonster", "recaptcha_v2_enterprise", True): (
        "https://docs.capmonster.cloud/docs/captchas/recaptcha-v2-enterprise-task",
        {
            "type": "RecaptchaV2EnterpriseTask",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "enterprisePayload": {"s": "S-PAYLOAD"},
            **_SPLIT,
        },
    ),
    ("capmonster", "turnstile", True): (
        "https://docs.capmonster.cloud/docs/captchas/tunrstile-task",
        {
            "type": "TurnstileTask",
            "websiteURL": URL,
            "websiteKey": TS_KEY,
            "pageAction": "login",
            "data": "cd-1",
            **_SPLIT,
        },
    ),
    ("capmonster", "hcaptcha", True): (
        "https://docs.capmonster.cloud/docs/captchas/hcaptcha-task",
        {"type": "HCaptchaTask", "websiteURL": URL, "websiteKey": HC_KEY, **_SPLIT},
    ),
    ("capsolver", "recaptcha_v3_enterprise", True): (
        "https://docs.capsolver.com/guide/captcha/ReCaptchaV3 (ReCaptchaV3EnterpriseTask)",
        {
            "type": "ReCaptchaV3EnterpriseTask",
            "websiteURL": URL,
            "websiteKey": RC_KEY,
            "pageAction": "login",
            "proxy": "10.1.2.3:8080:user:pa55",
        },
    ),
}


def _ours(name: str, kind: str, proxied: bool) -> dict[str, Any]:
    if proxied:
        return load_provider(name).widget_task(WIDGETS[kind], None, PROXY)
    return ours(name, kind)


@pytest.mark.parametrize(("name", "kind", "proxied"), sorted(DOCUMENTED))
def test_against_the_documents(name: str, kind: str, proxied: bool) -> None:
    _source, example = DOCUMENTED[(name, kind, proxied)]
    compare(example, _ours(name, kind, proxied))


#: how each (service, kind, proxy-bound) task the profiles build is checked: against
#: the service's SDK (``sdk:<package>``, driven above) or its documents (``docs``,
#: DOCUMENTED). Every task the profiles build is in here (see the test below).
_SDK_KINDS = {
    "anti-captcha": ("sdk:anticaptchaofficial", ANTI_KINDS),
    "capmonster": ("sdk:capmonster_python", CAPMONSTER_PYTHON_KINDS),
    "capsolver": (
        "sdk:capsolver",
        [
            "turnstile",
            "recaptcha_v2",
            "recaptcha_v2_enterprise",
            "recaptcha_v3",
            "recaptcha_v3_enterprise",
            "image",
            "cloudflare",
        ],
    ),
    "yescaptcha": (
        "sdk:yescaptcha",
        [k for k in ANTI_KINDS if k not in ("turnstile", "cloudflare")],
    ),
    "ez-captcha": (
        "sdk:ezcaptcha",
        [k for k in ANTI_KINDS if k not in ("turnstile", "image", "cloudflare")],
    ),
    "2captcha": (
        "sdk:2captcha-python",
        [k for k in ANTI_KINDS if k not in ("hcaptcha", "cloudflare")],
    ),
}
COVERAGE: dict[tuple[str, str, bool], str] = {
    **{(n, k, False): src for n, (src, kinds) in _SDK_KINDS.items() for k in kinds},
    **{("anti-captcha", k, True): "sdk:anticaptchaofficial (proxyon)" for k in ANTI_PROXYON},
    **{
        ("capsolver", k, True): "sdk:capsolver"
        for k in ("recaptcha_v2", "recaptcha_v2_enterprise", "recaptcha_v3")
    },
    **{key: f"docs: {source}" for key, (source, _) in DOCUMENTED.items()},
    # (its hCaptcha task: capmonster_python has none; the official client's, recorded)
    ("capmonster", "hcaptcha", False): "sdk:capmonstercloudclient (recorded)",
    **{("capmonster", k, True): "sdk:capmonster_python" for k in CAPMONSTER_PYTHON_PROXIED},
}


def test_every_task_the_profiles_build_is_checked() -> None:
    from test_sdk_walls import WALL_COVERAGE  # (it imports this module's helpers)

    coverage = {**COVERAGE, **WALL_COVERAGE}
    built = {(r.service, r.kind, False) for r in service_matrix() if r.task_type}
    built |= {
        (r.service, r.kind, True)
        for r in service_matrix()
        # (Cloudflare's and DataDome's tasks carry the proxy always: one task each)
        if r.proxy_task_type and r.kind not in ("cloudflare", "datadome")
    }
    assert set(coverage) >= built, sorted(built - set(coverage))
    assert set(coverage) <= built, sorted(set(coverage) - built)


# Refunds and the error table -------------------------------------------------------------

#: each service's report endpoints and where they are documented (the crawl tests in
#: test_crawl_refunds.py check each is reached for every kind)
REFUNDS = {
    "anti-captcha": (
        "sdk:anticaptchaofficial report_incorrect_* + anti-captcha.com/apidoc/methods",
        {
            **dict.fromkeys(
                (
                    "recaptcha_v2",
                    "recaptcha_v2_enterprise",
                    "recaptcha_v3",
                    "recaptcha_v3_enterprise",
                ),
                "reportIncorrectRecaptcha",
            ),
            "hcaptcha": "reportIncorrectHcaptcha",
            "image": "reportIncorrectImageCaptcha",
        },
    ),
    "2captcha": (
        "docs: 2captcha.com/api-docs/report-incorrect (any task's result)",
        dict.fromkeys(
            (
                "turnstile",
                "recaptcha_v2",
                "recaptcha_v2_enterprise",
                "recaptcha_v3",
                "recaptcha_v3_enterprise",
                "image",
                "datadome",
                "geetest_v4",
                "mtcaptcha",
                "friendly_captcha",
            ),
            "reportIncorrect",
        ),
    ),
    "capmonster": (
        "sdk:capmonster_python report_incorrect_token / report_incorrect_image (driven)",
        {
            **dict.fromkeys(
                (
                    "cloudflare",
                    "turnstile",
                    "recaptcha_v2",
                    "recaptcha_v2_enterprise",
                    "recaptcha_v3",
                    "recaptcha_v3_enterprise",
                    "hcaptcha",
                    "geetest_v4",
                    "mtcaptcha",
                ),
                "reportIncorrectTokenCaptcha",
            ),
            "image": "reportIncorrectImageCaptcha",
        },
    ),
    "capsolver": (
        "docs: docs.capsolver.com/guide/api-feedback (feedbackTask)",
        dict.fromkeys(
            (
                "turnstile",
                "recaptcha_v2",
                "recaptcha_v2_enterprise",
                "recaptcha_v3",
                "recaptcha_v3_enterprise",
                "image",
            ),
            "feedbackTask",
        ),
    ),
    "yescaptcha": ("docs: none documented", {}),
    "1captcha": ("docs: none documented", {}),
    "ez-captcha": ("docs: none documented", {}),
}


@pytest.mark.parametrize("name", sorted(REFUNDS))
def test_refund_endpoints(name: str) -> None:
    _source, methods = REFUNDS[name]
    got = {r.kind: r.report for r in service_matrix() if r.service == name and r.report}
    assert got == methods


#: every error code each service documents (its errors page) and the family the add-on
#: puts it in; test_service_matrix.py checks the action, the crawl tests the behaviour
ERRORS = {
    "capmonster": (
        "docs.capmonster.cloud/docs/api/api-errors",
        {
            "ERROR_TOO_MUCH_REQUESTS": "retry",
            "ERROR_DOMAIN_NOT_ALLOWED": "input",
            "ERROR_NO_SUCH_METHOD": "input",
            "ERROR_WRONG_USERAGENT": "retry",
            "ERROR_KEY_DOES_NOT_EXIST": "fatal",
            "ERROR_ZERO_BALANCE": "fatal",
            "ERROR_IP_NOT_ALLOWED": "fatal",
            "ERROR_NO_SLOT_AVAILABLE": "retry",
            "ERROR_PROXY_CONNECT_REFUSED": "proxy",
        },
    ),
    "capsolver": (
        "docs.capsolver.com/guide/api-error",
        {
            "ERROR_RATE_LIMIT": "retry",
            "ERROR_SETTLEMENT_FAILED": "fatal",
            "ERROR_KEY_DENIED_ACCESS": "fatal",
            "ERROR_TASKID_INVALID": "retry",
            "ERROR_INVALID_TASK_DATA": "input",
        },
    ),
    "anti-captcha": (
        "anti-captcha.com/apidoc/errors",
        {
            "ERROR_ACCOUNT_SUSPENDED": "fatal",
            "ERROR_IP_BLOCKED": "retry",
            "ERROR_TASK_ABSENT": "input",
            "ERROR_RECAPTCHA_INVALID_SITEKEY": "input",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_table(name: str) -> None:
    _source, families = ERRORS[name]
    provider = load_provider(name)
    for code, family in families.items():
        assert code in provider.error_codes, code
        assert provider.classify(code)[1] == family, code
