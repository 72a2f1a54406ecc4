"""The captcha-widget side of the emulators, without Scrapy: the WidgetAuthority, the solver's
token and image task types, and the site's gates, checked over real HTTP.

Each gate test does what a spider must: read the page, ask the solver for a token, post the
form back. If the site, the solver or the authority stopped agreeing, these fail."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from scrapy_captcha.testing import (
    EmulatorStack,
    Minted,
    SolverEmulator,
    Verdict,
    WidgetAuthority,
    WidgetError,
)

HOST = "gate.example"
UA = "Mozilla/5.0 (X11; Linux x86_64) TestAgent/1.0"


# Helpers ------------------------------------------------------------------------------------


class Page:
    """One HTTP response, body decoded (gzip undone)."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw

    @property
    def text(self) -> str:
        return self.raw.decode()

    def json(self) -> Any:
        return json.loads(self.raw)


class Browser:
    """A minimal browser through the emulated proxy: keeps cookies, sends forms."""

    def __init__(self, proxy_url: str, host: str = HOST) -> None:
        self.proxy = urlsplit(proxy_url)
        self.host = host
        self.cookies: dict[str, str] = {}

    def send(
        self,
        method: str,
        path: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        extra_cookies: dict[str, str] | None = None,
    ) -> Page:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=10)
        hdrs = {"Host": self.host, "User-Agent": UA, **(headers or {})}
        jar = {**self.cookies, **(extra_cookies or {})}
        if jar:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if fields is not None:
            body = urlencode(fields).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, f"http://{self.host}{path}", body=body, headers=hdrs)
            resp = conn.getresponse()
            page = Page(resp.status, resp.headers, resp.read())
        finally:
            conn.close()
        for value in page.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return page

    def get(self, path: str, **kw: Any) -> Page:
        return self.send("GET", path, **kw)

    def post(self, path: str, fields: dict[str, str], **kw: Any) -> Page:
        return self.send("POST", path, fields=fields, **kw)


def api(solver: SolverEmulator, dialect: str, endpoint: str, payload: Any) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", solver.port, timeout=10)
    try:
        conn.request("POST", f"/{dialect}/{endpoint}", body=json.dumps(payload).encode())
        resp = conn.getresponse()
        reply = json.loads(resp.read())
        assert resp.status == 200, reply
        return dict(reply)
    finally:
        conn.close()


def create(solver: SolverEmulator, dialect: str, task: dict[str, Any]) -> dict[str, Any]:
    return api(solver, dialect, "createTask", {"clientKey": "test-key", "task": task})


def solve(solver: SolverEmulator, dialect: str, task: dict[str, Any]) -> dict[str, Any]:
    """createTask then poll until the task is no longer processing (bounded)."""
    created = create(solver, dialect, task)
    assert created["errorId"] == 0, created
    deadline = time.monotonic() + 5.0
    while True:
        reply = api(
            solver,
            dialect,
            "getTaskResult",
            {"clientKey": "test-key", "taskId": created["taskId"]},
        )
        if reply.get("status") != "processing" or time.monotonic() > deadline:
            return reply
        time.sleep(0.02)


def solution(solver: SolverEmulator, dialect: str, task: dict[str, Any]) -> dict[str, Any]:
    reply = solve(solver, dialect, task)
    assert reply.get("status") == "ready", reply
    return dict(reply["solution"])


def attr(page: str, pattern: str) -> str:
    found = re.search(pattern, page)
    assert found is not None, pattern
    return found.group(1)


def gate_fields(page: str) -> dict[str, str]:
    """The hidden fields and the Continue button a browser would submit."""
    return {
        "csrf": attr(page, r'name="csrf" value="([^"]+)"'),
        "next": attr(page, r'name="next" value="([^"]+)"'),
        "continue": "1",
    }


def token_of(sol: dict[str, Any]) -> str:
    return str(sol.get("token") or sol["gRecaptchaResponse"])


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.02) as s:
        s.site.add_host(HOST, "open")
        yield s


@pytest.fixture
def browser(stack: EmulatorStack) -> Browser:
    return Browser(stack.proxy_a.url)


# WidgetAuthority ----------------------------------------------------------------------------


def test_sitekey_formats_and_kinds() -> None:
    """Site keys look like the real ones, so add-on detection regexes meet real shapes."""
    auth = WidgetAuthority()
    turnstile = auth.register("turnstile")
    assert re.fullmatch(r"0x4AAAAAAA[A-Za-z0-9_-]{14}", turnstile)
    for kind in ("recaptcha_v2", "recaptcha_v3"):
        assert re.fullmatch(r"6L[A-Za-z0-9_-]{38}", auth.register(kind))
    hkey = auth.register("hcaptcha")
    assert uuid.UUID(hkey).version == 4 and str(uuid.UUID(hkey)) == hkey
    assert auth.kind_of(turnstile) == "turnstile" and auth.kind_of("nope") is None
    assert len({auth.register("turnstile") for _ in range(50)}) == 50
    with pytest.raises(ValueError):
        auth.register("funcaptcha")


def test_mint_refuses_unknown_or_foreign_keys() -> None:
    """reCAPTCHA kinds say ERROR_WRONG_GOOGLEKEY, others ERROR_WRONG_SITEKEY (provider codes)."""
    auth = WidgetAuthority()
    v3 = auth.register("recaptcha_v3")
    turnstile = auth.register("turnstile")
    cases = [
        ("recaptcha_v2", v3, "ERROR_WRONG_GOOGLEKEY"),
        ("recaptcha_v2", "6L" + "x" * 38, "ERROR_WRONG_GOOGLEKEY"),
        ("turnstile", v3, "ERROR_WRONG_SITEKEY"),
        ("hcaptcha", turnstile, "ERROR_WRONG_SITEKEY"),
    ]
    for kind, key, code in cases:
        with pytest.raises(WidgetError) as err:
            auth.mint(kind, key, page_url="http://a/")
        assert err.value.code == code and err.value.description


def test_tokens_are_single_use_opaque_and_checked() -> None:
    """Every verify consumes the token (siteverify's timeout-or-duplicate), pass or fail."""
    auth = WidgetAuthority()
    v3 = auth.register("recaptcha_v3")
    other = auth.register("recaptcha_v3")
    minted = auth.mint("recaptcha_v3", v3, page_url="http://a/", action="login")
    assert isinstance(minted, Minted) and minted.resp_key is None and minted.cookies == {}
    assert minted.token.startswith("03A") and len(minted.token) > 400
    assert auth.verify(minted.token, v3, action="login") == Verdict(True, "ok", "login", None)
    assert auth.verify(minted.token, v3, action="login").reason == "reused"

    failed_first = auth.mint("recaptcha_v3", v3, page_url="http://a/", action="login")
    assert auth.verify(failed_first.token, other).reason == "wrong_sitekey"
    assert auth.verify(failed_first.token, v3, action="login").reason == "reused"

    default = auth.mint("recaptcha_v3", v3, page_url="http://a/")
    assert auth.verify(default.token, v3, action="homepage") == Verdict(
        False, "wrong_action", "verify", None
    )
    assert auth.verify("", v3).reason == "missing"
    assert auth.verify("03A" + "A" * 400, v3).reason == "unknown"
    turnstile = auth.register("turnstile")
    ts = auth.mint("turnstile", turnstile, page_url="http://a/", action="go", cdata="c1")
    assert ts.token.startswith("0.")
    assert auth.verify(ts.token, turnstile) == Verdict(True, "ok", "go", "c1")
    hkey = auth.register("hcaptcha")
    assert auth.mint("hcaptcha", hkey, page_url="http://a/").token.startswith("P1_")


def test_token_flags_resp_key_and_cookie() -> None:
    """Invisible/Enterprise flags must match the key; respKey and _GRECAPTCHA must travel."""
    auth = WidgetAuthority()
    invisible = auth.register("recaptcha_v2", invisible=True)
    visible_token = auth.mint("recaptcha_v2", invisible, page_url="http://a/").token
    assert auth.verify(visible_token, invisible).reason == "wrong_type"
    ok = auth.mint("recaptcha_v2", invisible, page_url="http://a/", invisible=True).token
    assert auth.verify(ok, invisible).ok
    ent = auth.register("recaptcha_v3", enterprise=True)
    plain = auth.mint("recaptcha_v3", ent, page_url="http://a/", action="x").token
    assert auth.verify(plain, ent, action="x").reason == "wrong_type"

    rk = auth.register("recaptcha_v2", resp_key=True)
    minted = auth.mint("recaptcha_v2", rk, page_url="http://a/")
    assert minted.resp_key
    assert auth.verify(minted.token, rk).reason == "wrong_resp_key"
    minted = auth.mint("recaptcha_v2", rk, page_url="http://a/")
    assert auth.verify(minted.token, rk, resp_key=minted.resp_key).ok

    ck = auth.register("recaptcha_v3", v3_cookie=True)
    minted = auth.mint("recaptcha_v3", ck, page_url="http://a/")
    assert set(minted.cookies) == {"_GRECAPTCHA"}
    assert auth.verify(minted.token, ck, cookie="other").reason == "missing_cookie"
    minted = auth.mint("recaptcha_v3", ck, page_url="http://a/")
    assert auth.verify(minted.token, ck, cookie=minted.cookies["_GRECAPTCHA"]).ok


def test_token_expiry_with_short_lifetimes() -> None:
    """Lifetimes are attributes (120 s / 300 s by default) and expired tokens fail."""
    auth = WidgetAuthority()
    assert (auth.recaptcha_lifetime, auth.hcaptcha_lifetime) == (120.0, 120.0)
    assert auth.turnstile_lifetime == 300.0
    key = auth.register("turnstile")
    auth.turnstile_lifetime = 0.05
    token = auth.mint("turnstile", key, page_url="http://a/").token
    fresh = auth.mint("turnstile", key, page_url="http://a/").token
    assert auth.verify(fresh, key).ok
    time.sleep(0.1)
    assert auth.verify(token, key).reason == "expired"
    auth.recaptcha_lifetime = 0.0
    v2 = auth.register("recaptcha_v2")
    assert auth.verify(auth.mint("recaptcha_v2", v2, page_url="x").token, v2).reason == "expired"


def test_token_table_is_bounded() -> None:
    """Past ``max_tokens`` the oldest tokens are forgotten (unknown), the newest still pass."""
    auth = WidgetAuthority()
    auth.max_tokens = 5
    key = auth.register("recaptcha_v2")
    tokens = [auth.mint("recaptcha_v2", key, page_url="x").token for _ in range(8)]
    assert auth.verify(tokens[0], key).reason == "unknown"
    assert auth.verify(tokens[-1], key).ok


def test_images_are_pngs_with_session_bound_single_use_answers() -> None:
    """A new image replaces the session's answer; checks are case-insensitive, single use."""
    auth = WidgetAuthority()
    png = auth.new_image("s1")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height, depth, color = struct.unpack(">IIBB", png[16:26])
    assert (width, height, depth, color) == (120, 40, 8, 0)
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    rows = zlib.decompress(png[41 : 41 + idat_len])
    assert len(rows) == height * (width + 1)
    assert png.endswith(b"IEND\xaeB`\x82")

    answer = auth.read_image(png)
    assert answer is not None and re.fullmatch(r"[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{5}", answer)
    assert auth.check_image("s1", answer.lower())
    assert not auth.check_image("s1", answer)  # consumed

    first = auth.read_image(auth.new_image("s2"))
    second = auth.read_image(auth.new_image("s2"))
    assert first is not None and second is not None and first != second
    assert not auth.check_image("s2", first)  # replaced by the second image's answer
    assert not auth.check_image("s2", second)  # and the failed check consumed that one
    assert auth.check_image("s2", auth.read_image(auth.new_image("s2")) or "")
    assert auth.read_image(b"\x89PNG not ours") is None
    assert not auth.check_image("never-seen", "ABCDE")
    third = auth.read_image(auth.new_image("s3"))
    assert third is not None
    assert not auth.check_image("s3", "")
    assert not auth.check_image("s3", third)  # the failed check consumed it


# Solver: widget task types ------------------------------------------------------------------


def test_solver_task_types_are_per_dialect(stack: EmulatorStack) -> None:
    """Each dialect takes only its own spelling; Cloudflare types keep working."""
    key = stack.site.sitekey(HOST, "recaptcha-v2")
    url = f"http://{HOST}/gate/recaptcha-v2/a"
    for dialect, wrong in (
        ("1captcha", "ReCaptchaV2TaskProxyless"),
        ("1captcha", "CloudFlareTurnstileTask"),
        ("ez-captcha", "NoCaptchaTaskProxyless"),
        ("ez-captcha", "TurnstileTaskProxyless"),
    ):
        reply = create(
            stack.solver, dialect, {"type": wrong, "websiteURL": url, "websiteKey": key}
        )
        assert reply["errorCode"] == "ERROR_TASK_NOT_SUPPORTED", (dialect, wrong)
    for dialect, good in (
        ("1captcha", "RecaptchaV2TaskProxyless"),
        ("1captcha", "NoCaptchaTaskProxyless"),
        ("ez-captcha", "ReCaptchaV2TaskProxyless"),
        ("ez-captcha", "RecaptchaV2TaskProxyless"),  # (its SDK's spelling)
    ):
        sol = solution(stack.solver, dialect, {"type": good, "websiteURL": url, "websiteKey": key})
        assert sol["gRecaptchaResponse"].startswith("03A") and "EmuBrowser" in sol["userAgent"]
    cf = solve(
        stack.solver,
        "1captcha",
        {"type": "CloudFlareTaskS3", "websiteURL": f"http://{HOST}/x", "proxy": stack.proxy_a.url},
    )
    assert cf["status"] == "ready" and "cookies" in cf["solution"]


def test_solver_validates_widget_tasks_at_create(stack: EmulatorStack) -> None:
    """Bad input and bad site keys are refused at createTask and never queued."""
    v2 = stack.site.sitekey(HOST, "recaptcha-v2")
    v3 = stack.site.sitekey(HOST, "recaptcha-v3")
    ts = stack.site.sitekey(HOST, "turnstile")
    url = f"http://{HOST}/gate/x/a"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("1captcha", {"type": "RecaptchaV2TaskProxyless", "websiteKey": v2}, "BAD_PARAMETERS"),
        (
            "1captcha",
            {"type": "RecaptchaV2TaskProxyless", "websiteURL": "ftp://a/", "websiteKey": v2},
            "BAD_PARAMETERS",
        ),
        ("1captcha", {"type": "RecaptchaV2TaskProxyless", "websiteURL": url}, "BAD_PARAMETERS"),
        (
            "1captcha",
            {"type": "RecaptchaV2TaskProxyless", "websiteURL": url, "websiteKey": 5},
            "BAD_PARAMETERS",
        ),
        (
            "1captcha",
            {
                "type": "RecaptchaV2TaskProxyless",
                "websiteURL": url,
                "websiteKey": v2,
                "isInvisible": "true",
            },
            "BAD_PARAMETERS",
        ),
        (
            "1captcha",
            {"type": "RecaptchaV2TaskProxyless", "websiteURL": url, "websiteKey": "6Lnope"},
            "WRONG_GOOGLEKEY",
        ),
        (
            "1captcha",
            {"type": "RecaptchaV2TaskProxyless", "websiteURL": url, "websiteKey": ts},
            "WRONG_GOOGLEKEY",
        ),
        (
            "ez-captcha",
            {"type": "ReCaptchaV2TaskProxyless", "websiteURL": url, "websiteKey": v3},
            "WRONG_GOOGLEKEY",
        ),
        (
            "1captcha",
            {"type": "TurnstileTaskProxyless", "websiteURL": url, "websiteKey": v2},
            "WRONG_SITEKEY",
        ),
        (
            "ez-captcha",
            {"type": "CloudFlareTurnstileTask", "websiteURL": url, "websiteKey": "0x4AAAAAAAzz"},
            "WRONG_SITEKEY",
        ),
        (
            "ez-captcha",
            {"type": "HCaptchaTaskProxyless", "websiteURL": url, "websiteKey": str(uuid.uuid4())},
            "WRONG_SITEKEY",
        ),
    ]
    for dialect, task, code in cases:
        reply = create(stack.solver, dialect, task)
        assert reply["errorId"] == 1 and reply["errorCode"] == f"ERROR_{code}", (task, reply)
        desc = "errorDescription" if dialect == "1captcha" else "errorDesc"
        assert reply[desc]
    assert stack.solver.tasks == []


def test_solver_widget_faults_shapes_records_and_balance(stack: EmulatorStack) -> None:
    """Widget tasks share the Cloudflare machinery: faults, shapes, records, charging."""
    solver = stack.solver
    key = stack.site.sitekey(HOST, "recaptcha-v3")
    task = {
        "type": "RecaptchaV3TaskProxyless",
        "websiteURL": f"http://{HOST}/gate/recaptcha-v3/a",
        "websiteKey": key,
        "pageAction": "submit_gate",
        "websiteTitle": "Verify you are human",
        "isInvisible": True,
    }
    solver.set_fault("unsolvable", times=1)
    failed = solve(solver, "1captcha", task)
    assert failed["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    solver.set_fault("no_slot", times=1)
    assert create(solver, "1captcha", task)["errorCode"] == "ERROR_NO_SLOT_AVAILABLE"
    solver.set_fault("bad_clearance", times=1)  # a Cloudflare-only fault: no effect here
    assert stack.authority.verify(
        solution(solver, "1captcha", task)["gRecaptchaResponse"], key, action="submit_gate"
    ).ok
    balance = solver.balance("test-key")

    solver.solution_shape = "top_level"
    reply = solve(solver, "1captcha", task)
    assert "solution" not in reply and reply["gRecaptchaResponse"].startswith("03A")
    assert solver.balance("test-key") == pytest.approx(balance - 0.002)
    solver.solution_shape = "both"
    solver.ready_on_create = True
    reply = create(solver, "1captcha", task)
    assert (
        reply["status"] == "ready"
        and reply["solution"]["gRecaptchaResponse"] == reply["gRecaptchaResponse"]
    )
    solver.ready_on_create = False

    solver.hold()
    created = create(solver, "1captcha", task)
    time.sleep(0.1)
    held = api(
        solver, "1captcha", "getTaskResult", {"clientKey": "test-key", "taskId": created["taskId"]}
    )
    assert held == {"errorId": 0, "status": "processing"}
    solver.release()

    records = [t for t in solver.tasks if t.type == "RecaptchaV3TaskProxyless"]
    assert records and records[-1].task["pageAction"] == "submit_gate"
    assert records[-1].task["websiteTitle"] == "Verify you are human"
    assert records[-1].task["isInvisible"] is True
    assert stack.authority.verify(reply["gRecaptchaResponse"], key, action="submit_gate").ok


def test_solver_hcaptcha_and_turnstile_reply_fields(stack: EmulatorStack) -> None:
    """hCaptcha answers in gRecaptchaResponse (no userAgent), Turnstile in token+userAgent."""
    url = f"http://{HOST}/gate/x/a"
    hkey = stack.site.sitekey(HOST, "hcaptcha")
    for dialect in ("1captcha", "ez-captcha"):
        sol = solution(
            stack.solver,
            dialect,
            {"type": "HCaptchaTaskProxyless", "websiteURL": url, "websiteKey": hkey},
        )
        assert set(sol) == {"gRecaptchaResponse"} and sol["gRecaptchaResponse"].startswith("P1_")
    tkey = stack.site.sitekey(HOST, "turnstile")
    sol = solution(
        stack.solver,
        "ez-captcha",
        {
            "type": "CloudFlareTurnstileTask",
            "websiteURL": url,
            "websiteKey": tkey,
            "rqData": {"metadataAction": "continue", "metadataCdata": "cd-1"},
        },
    )
    assert set(sol) == {"token", "userAgent"}
    verdict = stack.authority.verify(sol["token"], tkey, action="continue")
    assert verdict.ok and verdict.cdata == "cd-1"


# Site: gates --------------------------------------------------------------------------------

_V2 = "RecaptchaV2TaskProxyless"
# (kindpath, dialect, task type, extra task fields)
GATE_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("turnstile", "1captcha", "TurnstileTaskProxyless", {"action": "continue"}),
    ("turnstile", "ez-captcha", "CloudFlareTurnstileTask", {"rqData": "CDATA"}),
    ("turnstile-field", "1captcha", "TurnstileTaskProxyless", {"action": "continue"}),
    ("turnstile-field", "ez-captcha", "CloudFlareTurnstileTask", {"rqData": "CDATA"}),
    ("recaptcha-v2", "1captcha", _V2, {}),
    ("recaptcha-v2", "1captcha", "NoCaptchaTaskProxyless", {}),
    ("recaptcha-v2", "ez-captcha", "ReCaptchaV2TaskProxyless", {}),
    ("recaptcha-v2-invisible", "1captcha", _V2, {"isInvisible": True}),
    ("recaptcha-v2-invisible", "ez-captcha", "ReCaptchaV2TaskProxyless", {"isInvisible": True}),
    ("recaptcha-v3", "1captcha", "RecaptchaV3TaskProxyless", {"pageAction": "submit_gate"}),
    ("recaptcha-v3", "ez-captcha", "ReCaptchaV3TaskProxyless", {"pageAction": "submit_gate"}),
    ("recaptcha-v2-enterprise", "1captcha", "RecaptchaV2EnterpriseTaskProxyless", {}),
    ("recaptcha-v2-enterprise", "ez-captcha", "ReCaptchaV2EnterpriseTaskProxyless", {}),
    (
        "recaptcha-v3-enterprise",
        "1captcha",
        "RecaptchaV3EnterpriseTaskProxyless",
        {"pageAction": "login"},
    ),
    (
        "recaptcha-v3-enterprise",
        "ez-captcha",
        "ReCaptchaV3EnterpriseTaskProxyless",
        {"pageAction": "login"},
    ),
    ("hcaptcha", "1captcha", "HCaptchaTaskProxyless", {}),
    ("hcaptcha", "ez-captcha", "HCaptchaTaskProxyless", {}),
    ("recaptcha-v2-respkey", "1captcha", _V2, {}),
    ("recaptcha-v2-respkey", "ez-captcha", "ReCaptchaV2TaskProxyless", {}),
    ("recaptcha-v3-cookie", "1captcha", "RecaptchaV3TaskProxyless", {"pageAction": "submit_gate"}),
    (
        "recaptcha-v3-cookie",
        "ez-captcha",
        "ReCaptchaV3TaskProxyless",
        {"pageAction": "submit_gate"},
    ),
]
SITEKEY_IN_PAGE = r'data-sitekey="([^"]+)"|render=([^"&]+)"'
TOKEN_FIELD = {
    "turnstile": "cf-turnstile-response",
    "turnstile-field": "ts-answer",
    "hcaptcha": "h-captcha-response",
}


def page_sitekey(page: str) -> str:
    found = re.search(SITEKEY_IN_PAGE, page)
    assert found is not None
    return found.group(1) or found.group(2)


def submit(
    browser: Browser, kindpath: str, page: str, sol: dict[str, Any], token: str | None = None
) -> Page:
    """Post the gate form as a browser would after the widget filled it in."""
    fields = gate_fields(page)
    fields[TOKEN_FIELD.get(kindpath, "g-recaptcha-response")] = token or token_of(sol)
    if "respKey" in sol:
        fields["respKey"] = sol["respKey"]
    name = attr(page, r'id="gate-form" method="post" action="([^"]+)"')
    return browser.post(name, fields, extra_cookies=sol.get("cookies"))


@pytest.mark.parametrize(("kindpath", "dialect", "task_type", "extra"), GATE_CASES)
def test_gate_solved_through_the_solver_then_token_reused(
    stack: EmulatorStack,
    browser: Browser,
    kindpath: str,
    dialect: str,
    task_type: str,
    extra: dict[str, Any],
) -> None:
    """GET gate, solve on the solver, POST the token: content; the same token again: reused."""
    path = f"/gate/{kindpath}/item-1"
    first = browser.get(path)
    page = first.text
    assert first.status == 200 and "<title>Verify you are human</title>" in page
    assert "gate_sid" in browser.cookies
    assert page.index('action="/search"') < page.index('id="gate-form"')
    key = page_sitekey(page)
    assert key == stack.site.sitekey(HOST, kindpath)
    task: dict[str, Any] = {"type": task_type, "websiteURL": f"http://{HOST}{path}"}
    task.update({"websiteKey": key, **extra})
    if extra.get("rqData") == "CDATA":
        cdata = attr(page, r'data-cdata="([^"]+)"')
        action = attr(page, r'data-action="([^"]+)"')
        task["rqData"] = {"metadataAction": action, "metadataCdata": cdata}
    sol = solution(stack.solver, dialect, task)

    done = submit(browser, kindpath, page, sol)
    assert done.status == 200
    assert '<h1 id="content">Content behind gate item-1</h1>' in done.text, done.text[:2000]
    assert f'<p id="gate-kind">{kindpath}</p>' in done.text
    assert "<title>Content item-1</title>" in done.text
    assert stack.site.count("gate_ok", host=HOST) == 1

    again = browser.get(path).text
    replay = submit(browser, kindpath, again, sol)
    assert '<p class="error" id="gate-error">reused</p>' in replay.text
    assert "<title>Verify you are human</title>" in replay.text
    assert stack.site.gate_failures(HOST) == ["reused"]


GATE_MARKUP = {
    "turnstile": [
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer>'
        "</script></head>",
        '<div class="cf-turnstile" data-sitekey="KEY" data-action="continue" data-cdata="',
    ],
    "turnstile-field": ['data-action="continue"', 'data-response-field-name="ts-answer"'],
    "recaptcha-v2": [
        '<script src="https://www.google.com/recaptcha/api.js" async defer></script>',
        '<div class="g-recaptcha" data-sitekey="KEY"></div><button type="submit" '
        'name="continue" value="1">Continue</button></form>',
    ],
    "recaptcha-v2-invisible": [
        '<button class="g-recaptcha" data-sitekey="KEY" data-callback="onSubmit" '
        'data-size="invisible" type="submit" name="continue" value="1">Continue</button></form>'
    ],
    "recaptcha-v3": [
        '<script src="https://www.google.com/recaptcha/api.js?render=KEY"></script>',
        '<input type="hidden" name="g-recaptcha-response" id="g-recaptcha-response">',
        "grecaptcha.ready(function() { grecaptcha.execute('KEY', {action: 'submit_gate'})"
        ".then(function(token) { document.getElementById('g-recaptcha-response').value = "
        "token; }); });",
    ],
    "recaptcha-v2-enterprise": [
        '<script src="https://www.google.com/recaptcha/enterprise.js" async defer></script>',
        '<div class="g-recaptcha" data-sitekey="KEY"></div>',
    ],
    "recaptcha-v3-enterprise": [
        '<script src="https://www.google.com/recaptcha/enterprise.js?render=KEY"></script>',
        "grecaptcha.enterprise.ready(function() { grecaptcha.enterprise.execute('KEY', "
        "{action: 'login'})",
    ],
    "hcaptcha": [
        '<script src="https://js.hcaptcha.com/1/api.js" async defer></script>',
        '<div class="h-captcha" data-sitekey="KEY"></div>',
    ],
}


@pytest.mark.parametrize("kindpath", sorted(GATE_MARKUP))
def test_gate_markup_is_what_real_sites_write(
    stack: EmulatorStack, browser: Browser, kindpath: str
) -> None:
    """The add-on's detection is written against this markup: pin it."""
    page = browser.get(f"/gate/{kindpath}/p").text
    key = stack.site.sitekey(HOST, kindpath)
    for snippet in GATE_MARKUP[kindpath]:
        assert snippet.replace("KEY", key) in page, snippet
    assert '<form id="gate-form" method="post" action="/gate/' + kindpath + '/p">' in page
    assert '<input type="hidden" name="next" value="/content/p">' in page
    assert (
        '<form action="/search" method="get"><input type="text" name="q">'
        "<button>Search</button></form>"
    ) in page
    if kindpath == "turnstile":  # cdata changes per page view
        again = browser.get(f"/gate/{kindpath}/p").text
        assert attr(page, r'data-cdata="([^"]+)"') != attr(again, r'data-cdata="([^"]+)"')


def test_gate_sitekeys_are_per_host_and_kept(stack: EmulatorStack) -> None:
    """Lazily registered per (host, kind path), then stable, with the right options."""
    site, auth = stack.site, stack.authority
    key = site.sitekey(HOST, "recaptcha-v2-invisible")
    assert site.sitekey(HOST.upper(), "recaptcha-v2-invisible") == key
    assert site.sitekey("other.example", "recaptcha-v2-invisible") != key
    assert auth.kind_of(key) == "recaptcha_v2"
    assert auth.kind_of(site.sitekey(HOST, "recaptcha-v3-cookie")) == "recaptcha_v3"
    with pytest.raises(ValueError):
        site.sitekey(HOST, "funcaptcha")


def _v3_task(stack: EmulatorStack, kindpath: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "RecaptchaV3TaskProxyless",
        "websiteURL": f"http://{HOST}/gate/{kindpath}/a",
        "websiteKey": stack.site.sitekey(HOST, kindpath),
        **extra,
    }


def test_v3_token_with_wrong_page_action_is_rejected(
    stack: EmulatorStack, browser: Browser
) -> None:
    """The site checks the action it executed with; a default-action token fails too."""
    for extra in ({"pageAction": "homepage"}, {}):
        page = browser.get("/gate/recaptcha-v3/a").text
        sol = solution(stack.solver, "1captcha", _v3_task(stack, "recaptcha-v3", **extra))
        assert '<p class="error" id="gate-error">wrong_action</p>' in (
            submit(browser, "recaptcha-v3", page, sol).text
        )
    assert stack.site.gate_failures(HOST) == ["wrong_action", "wrong_action"]
    assert stack.site.count("gate_ok") == 0


@pytest.mark.parametrize(
    ("dialect", "task"),
    [
        ("capmonster", {"type": "TurnstileTask", "action": "continue"}),
        ("ez-captcha", {"type": "CloudFlareTurnstileTask", "action": "continue"}),
    ],
    ids=["capmonster-action", "ez-captcha-action"],
)
def test_turnstile_action_in_the_other_dialects_field_is_ignored(
    stack: EmulatorStack, browser: Browser, dialect: str, task: dict[str, Any]
) -> None:
    """Each provider reads the action from its own field only, so a profile mix-up fails."""
    page = browser.get("/gate/turnstile/a").text
    key = stack.site.sitekey(HOST, "turnstile")
    sol = solution(
        stack.solver, dialect, {**task, "websiteURL": f"http://{HOST}/", "websiteKey": key}
    )
    result = submit(browser, "turnstile", page, sol)
    assert '<p class="error" id="gate-error">wrong_action</p>' in result.text
    assert 'class="cf-turnstile"' in result.text  # the gate again, with a fresh widget


def test_invisible_and_enterprise_gates_need_the_matching_task(
    stack: EmulatorStack, browser: Browser
) -> None:
    """A v2 task without isInvisible, or a non-Enterprise task, gives the wrong token type."""
    page = browser.get("/gate/recaptcha-v2-invisible/a").text
    key = stack.site.sitekey(HOST, "recaptcha-v2-invisible")
    task = {"type": _V2, "websiteURL": f"http://{HOST}/", "websiteKey": key}
    sol = solution(stack.solver, "1captcha", task)
    assert "wrong_type" in submit(browser, "recaptcha-v2-invisible", page, sol).text

    page = browser.get("/gate/recaptcha-v3-enterprise/a").text
    task = _v3_task(stack, "recaptcha-v3-enterprise", pageAction="login")
    sol = solution(stack.solver, "1captcha", task)
    assert "wrong_type" in submit(browser, "recaptcha-v3-enterprise", page, sol).text
    assert stack.site.gate_failures(HOST) == ["wrong_type", "wrong_type"]


def test_respkey_and_grecaptcha_cookie_are_required(
    stack: EmulatorStack, browser: Browser
) -> None:
    """Sites that check respKey or the _GRECAPTCHA cookie refuse a bare token."""
    page = browser.get("/gate/recaptcha-v2-respkey/a").text
    key = stack.site.sitekey(HOST, "recaptcha-v2-respkey")
    sol = solution(
        stack.solver, "1captcha", {"type": _V2, "websiteURL": f"http://{HOST}/", "websiteKey": key}
    )
    assert sol["respKey"]
    bare = {k: v for k, v in sol.items() if k != "respKey"}
    assert "wrong_resp_key" in submit(browser, "recaptcha-v2-respkey", page, bare).text

    page = browser.get("/gate/recaptcha-v3-cookie/a").text
    sol = solution(
        stack.solver,
        "1captcha",
        _v3_task(stack, "recaptcha-v3-cookie", pageAction="submit_gate"),
    )
    assert set(sol["cookies"]) == {"_GRECAPTCHA"}
    no_cookie = {k: v for k, v in sol.items() if k != "cookies"}
    assert "missing_cookie" in submit(browser, "recaptcha-v3-cookie", page, no_cookie).text
    assert stack.site.gate_failures(HOST) == ["wrong_resp_key", "missing_cookie"]


def test_gate_post_checks_session_csrf_and_fields_before_the_token(
    stack: EmulatorStack, browser: Browser
) -> None:
    """A form missing its session, csrf, next or button fails without burning the token."""
    page = browser.get("/gate/recaptcha-v2/a").text
    key = stack.site.sitekey(HOST, "recaptcha-v2")
    sol = solution(
        stack.solver, "1captcha", {"type": _V2, "websiteURL": f"http://{HOST}/", "websiteKey": key}
    )
    fields = {**gate_fields(page), "g-recaptcha-response": token_of(sol)}
    stranger = Browser(stack.proxy_a.url)
    assert "no_session" in stranger.post("/gate/recaptcha-v2/a", fields).text
    assert "bad_csrf" in browser.post("/gate/recaptcha-v2/a", {**fields, "csrf": "x" * 32}).text
    other_session = Browser(stack.proxy_a.url)
    other_session.get("/gate/recaptcha-v2/a")
    assert "bad_csrf" in other_session.post("/gate/recaptcha-v2/a", fields).text
    no_button = {k: v for k, v in fields.items() if k != "continue"}
    assert "missing_fields" in browser.post("/gate/recaptcha-v2/a", no_button).text
    assert "missing_fields" in browser.post("/gate/recaptcha-v2/a", {**fields, "next": "/"}).text
    missing = {k: v for k, v in fields.items() if k != "g-recaptcha-response"}
    assert 'id="gate-error">missing</p>' in browser.post("/gate/recaptcha-v2/a", missing).text
    forged = {**fields, "g-recaptcha-response": "03A" + "x" * 400}
    assert 'id="gate-error">unknown</p>' in browser.post("/gate/recaptcha-v2/a", forged).text
    ok = browser.post("/gate/recaptcha-v2/a", fields)
    assert '<h1 id="content">Content behind gate a</h1>' in ok.text
    assert stack.site.gate_failures() == [
        "no_session",
        "bad_csrf",
        "bad_csrf",
        "missing_fields",
        "missing_fields",
        "missing",
        "unknown",
    ]
    fail = [e for e in stack.site.events if e["outcome"] == "gate_fail"]
    assert all(e["gate"] == "recaptcha-v2" and e["name"] == "a" for e in fail)


def test_turnstile_field_gate_reads_only_its_named_field(
    stack: EmulatorStack, browser: Browser
) -> None:
    """data-response-field-name moves the token: the default field name is ignored."""
    page = browser.get("/gate/turnstile-field/a").text
    key = stack.site.sitekey(HOST, "turnstile-field")
    sol = solution(
        stack.solver,
        "1captcha",
        {
            "type": "TurnstileTaskProxyless",
            "websiteURL": f"http://{HOST}/",
            "websiteKey": key,
            "action": "continue",
        },
    )
    fields = {**gate_fields(page), "cf-turnstile-response": sol["token"]}
    assert 'id="gate-error">missing</p>' in browser.post("/gate/turnstile-field/a", fields).text


def test_gates_pass_through_cloudflare_and_respond(stack: EmulatorStack) -> None:
    """Gate pages are ordinary pages to the Cloudflare layer: challenged, gzipped, __cf_bm."""
    stack.site.add_host("guarded.example", "managed")
    guarded = Browser(stack.proxy_a.url, "guarded.example")
    challenged = guarded.get("/gate/turnstile/a")
    assert challenged.status == 403 and challenged.headers.get("cf-mitigated") == "challenge"
    assert "gate_sid" not in guarded.cookies

    browser = Browser(stack.proxy_a.url)
    page = browser.get("/gate/hcaptcha/a", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("Content-Encoding") == "gzip" and 'class="h-captcha"' in page.text
    assert {"gate_sid", "__cf_bm"} <= set(browser.cookies)
    assert "Path=/" in (page.headers.get_all("Set-Cookie") or [""])[0]
    assert stack.site.count("gate", host=HOST, exit="A") == 1
    assert stack.site.count("challenge", host="guarded.example") == 1
    again = browser.get("/gate/hcaptcha/a")
    assert not any(c.startswith("gate_sid=") for c in again.headers.get_all("Set-Cookie") or [])
    assert stack.site.count("gate", host=HOST) == 2


# Site: widget outside any form --------------------------------------------------------------


def test_widget_outside_a_form_and_single_use_verify(
    stack: EmulatorStack, browser: Browser
) -> None:
    """The spider gets a token for a loose widget; /widget/verify proves it genuine, once."""
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("turnstile", "ez-captcha", {"type": "CloudFlareTurnstileTask"}),
        ("recaptcha-v2", "1captcha", {"type": _V2}),
    ]
    for kindpath, dialect, task in cases:
        page = browser.get(f"/widget/{kindpath}/shop-7").text
        assert '<h1 id="content">Listing shop-7</h1>' in page
        key = page_sitekey(page)
        assert key == stack.site.sitekey(HOST, kindpath)
        widget_at = page.index(f'data-sitekey="{key}"')
        # Outside every form: the last <form before the widget is closed before it.
        before = page[:widget_at]
        assert before.rfind("</form>") > before.rfind("<form")
        assert 'id="gate-form"' not in page
        if kindpath == "turnstile":
            action = attr(page, r'data-action="([^"]+)"')
            task = {**task, "rqData": {"metadataAction": action}}
        sol = solution(
            stack.solver, dialect, {**task, "websiteURL": f"http://{HOST}/", "websiteKey": key}
        )
        fields = {"token": token_of(sol), "kindpath": kindpath}
        first = browser.post("/widget/verify", fields)
        assert first.headers.get("Content-Type") == "application/json"
        assert first.json() == {"ok": True, "reason": "ok"}
        assert browser.post("/widget/verify", fields).json() == {"ok": False, "reason": "reused"}
    forged = {"token": "0." + "a" * 250, "kindpath": "turnstile"}
    assert browser.post("/widget/verify", forged).json() == {"ok": False, "reason": "unknown"}
    assert stack.site.count("widget_ok") == 2 and stack.site.count("widget_fail") == 3


def test_article_about_captchas_has_no_widget(stack: EmulatorStack, browser: Browser) -> None:
    """Prose, escaped code samples and a config script: nothing to solve."""
    page = browser.get("/article/recaptcha")
    text = page.text
    assert page.status == 200
    assert '&lt;div class="g-recaptcha" data-sitekey="6Lc..."&gt;' in text
    assert "grecaptcha.execute('6Lc...', {action: 'homepage'})" in text
    assert '"hint": "grecaptcha.execute"' in text
    assert "Turnstile" in text and "hCaptcha" in text
    assert '<div class="g-recaptcha"' not in text and '<div class="cf-turnstile"' not in text
    assert '<script src="https://www.google.com/recaptcha' not in text
    assert "challenges.cloudflare.com/turnstile" not in text
    assert 'id="gate-form"' not in text and "<form" in text  # only the search form


# Site: image captchas -----------------------------------------------------------------------


def solve_image(stack: EmulatorStack, png: bytes, dialect: str = "1captcha") -> str:
    sol = solution(
        stack.solver, dialect, {"type": "ImageToTextTask", "body": base64.b64encode(png).decode()}
    )
    return str(sol["gRecaptchaResponse"] if dialect == "1captcha" else sol["text"])


def image_fields(page: str, code: str) -> dict[str, str]:
    return {"csrf": attr(page, r'name="csrf" value="([^"]+)"'), "code": code, "go": "1"}


def test_image_captcha_form_flow(stack: EmulatorStack, browser: Browser) -> None:
    """Page sets login_sid; the image is fetched with it; the solver reads it; POST passes."""
    page = browser.get("/captcha-form/inbox").text
    assert "login_sid" in browser.cookies
    assert '<form id="captcha-form" method="post" action="/captcha-form/inbox">' in page
    src = attr(page, r'<img id="captcha" src="([^"]+)" alt="captcha">')
    assert src == "/captcha/inbox.png"
    assert '<input type="text" name="code" autocomplete="off">' in page
    image = browser.get(src, headers={"Accept-Encoding": "gzip"})
    assert image.status == 200 and image.headers.get("Content-Type") == "image/png"
    assert image.headers.get("Cache-Control") == "private, no-store"
    text = solve_image(stack, image.raw)
    assert re.fullmatch(r"[A-Z2-9]{5}", text)
    (record,) = [t for t in stack.solver.tasks if t.type == "ImageToTextTask"]
    assert base64.b64decode(record.task["body"]) == image.raw

    done = browser.post("/captcha-form/inbox", image_fields(page, text.lower()))
    assert '<h1 id="content">Content behind image captcha inbox</h1>' in done.text
    assert stack.site.count("captcha_image") == 1 and stack.site.count("gate_ok") == 1


def test_image_needs_session_and_stale_image_is_rejected(
    stack: EmulatorStack, browser: Browser
) -> None:
    """Each fetch draws a new image and answer, so the first image's answer goes stale."""
    stranger = Browser(stack.proxy_a.url)
    assert stranger.get("/captcha/inbox.png").status == 403
    page = browser.get("/captcha-form/inbox").text
    answer = stack.authority.read_image(browser.get("/captcha/inbox.png").raw) or ""
    no_session = stranger.post("/captcha-form/inbox", image_fields(page, answer))
    assert 'id="captcha-error">no_session</p>' in no_session.text
    forged = {**image_fields(page, answer), "csrf": "0" * 32}
    assert 'id="captcha-error">bad_csrf</p>' in browser.post("/captcha-form/inbox", forged).text
    first = browser.get("/captcha/inbox.png").raw
    second = browser.get("/captcha/inbox.png").raw
    assert first != second
    stale = solve_image(stack, first, "ez-captcha")
    assert stale != stack.authority.read_image(second)
    failed = browser.post("/captcha-form/inbox", image_fields(page, stale))
    assert '<p class="error" id="captcha-error">wrong_code</p>' in failed.text
    assert 'src="/captcha/inbox.png"' in failed.text
    assert stack.site.gate_failures(HOST) == ["no_session", "bad_csrf", "wrong_code"]
    # The failed check used up the session's answer: only a newly fetched image passes.
    third = browser.get("/captcha/inbox.png").raw
    ok = browser.post("/captcha-form/inbox", image_fields(page, solve_image(stack, third)))
    assert "Content behind image captcha inbox" in ok.text


def test_image_body_with_line_breaks_or_unknown_image(stack: EmulatorStack) -> None:
    """MIME-style base64 is refused at createTask; an image nobody drew is unsolvable."""
    png = stack.authority.new_image("s")
    wrapped = base64.encodebytes(png).decode()
    assert "\n" in wrapped
    for body in (wrapped, "", "not base64!", "===="):
        reply = create(stack.solver, "1captcha", {"type": "ImageToTextTask", "body": body})
        assert reply["errorCode"] == "ERROR_BAD_PARAMETERS", body
    reply = create(stack.solver, "1captcha", {"type": "ImageToTextTask"})
    assert reply["errorCode"] == "ERROR_BAD_PARAMETERS"
    foreign = base64.b64encode(b"\x89PNG\r\n\x1a\nnot drawn here").decode()
    failed = solve(stack.solver, "ez-captcha", {"type": "ImageToTextTask", "body": foreign})
    assert failed["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE" and "errorDesc" in failed
    assert stack.solver.balance("test-key") == pytest.approx(10.0)


def test_inline_data_url_image_captcha(stack: EmulatorStack, browser: Browser) -> None:
    """The image comes inside the page as a data: URL drawn for this session."""
    page = browser.get("/captcha-inline/c1").text
    src = attr(page, r'<img id="captcha" src="(data:image/png;base64,[^"]+)"')
    png = base64.b64decode(src.split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert '<form id="captcha-form" method="post" action="/captcha-inline/c1">' in page
    wrong = browser.post("/captcha-inline/c1", image_fields(page, "AAAAA"))
    assert 'id="captcha-error">wrong_code</p>' in wrong.text
    again = attr(wrong.text, r'src="data:image/png;base64,([^"]+)"')
    assert base64.b64decode(again) != png  # a fresh image with the error
    done = browser.post(
        "/captcha-inline/c1", image_fields(wrong.text, solve_image(stack, base64.b64decode(again)))
    )
    assert '<h1 id="content">Content behind image captcha c1</h1>' in done.text


def test_login_form_with_image_captcha_needs_credentials(
    stack: EmulatorStack, browser: Browser
) -> None:
    """The captcha alone is not enough on the login form: username/password demo/demo."""
    page = browser.get("/login/acct").text
    assert '<input type="text" name="username">' in page
    assert '<input type="password" name="password">' in page
    code = solve_image(stack, browser.get("/captcha/acct.png").raw)
    bad = {**image_fields(page, code), "username": "demo", "password": "nope"}
    assert 'id="captcha-error">wrong_credentials</p>' in browser.post("/login/acct", bad).text
    code = solve_image(stack, browser.get("/captcha/acct.png").raw)
    good = {**image_fields(page, code), "username": "demo", "password": "demo"}
    assert "Content behind image captcha acct" in browser.post("/login/acct", good).text
    assert stack.site.gate_failures(HOST, kindpath="login") == ["wrong_credentials"]
