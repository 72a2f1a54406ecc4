"""The loopback emulators on their own (no Scrapy): site, solver, proxies, stack, fixtures."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from scrapy_captcha.testing import (
    EXIT_HEADER,
    CloudflareSiteEmulator,
    EmulatorStack,
    ForwardProxy,
    SolverEmulator,
)

UA = "Mozilla/5.0 (X11; Linux x86_64) TestAgent/1.0"
HOST = "shop.example"
VERIFY = "/cdn-cgi/challenge-platform/h/b/orchestrate/verify"


class Resp:
    def __init__(self, status: int, headers: http.client.HTTPMessage, raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw

    @property
    def body(self) -> str:
        data = self.raw
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data.decode()

    def cookies(self) -> dict[str, str]:
        out = {}
        for value in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            out[name] = rest.split(";", 1)[0]
        return out


def request(
    server_url: str,
    url: str,
    absolute: bool = True,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> Resp:
    """Send one request to a site (origin-form) or a proxy (absolute-form) at server_url."""
    srv = urlsplit(server_url)
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection(srv.hostname, srv.port, timeout=10)
    parts = urlsplit(url)
    target = url if absolute else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    hdrs = {"Host": parts.netloc, "User-Agent": UA, **(headers or {})}
    if srv.username is not None:
        creds = f"{srv.username}:{srv.password}".encode()
        hdrs["Proxy-Authorization"] = "Basic " + base64.b64encode(creds).decode()
    try:
        conn.request(method, target, body=body, headers=hdrs)
        resp = conn.getresponse()
        return Resp(resp.status, resp.headers, resp.read())
    finally:
        if own:
            conn.close()


def via(site: CloudflareSiteEmulator, url: str, **kw: Any) -> Resp:
    """Straight to the site (exit "direct" unless an X-Emulator-Exit header is given)."""
    return request(site.url, url, absolute=False, **kw)


def via_proxy(proxy_url: str, url: str, **kw: Any) -> Resp:
    return request(proxy_url, url, **kw)


def solve_by_hand(send: Any, url: str, ua: str = UA) -> dict[str, str]:
    """Do what a browser does: get the challenge, answer it, return the cookies."""
    first = send(url, headers={"User-Agent": ua})
    assert first.status in (403, 503)
    nonce = re.search(r'name="nonce" value="([^"]+)"', first.body).group(1)
    host = urlsplit(url).hostname
    answer = hashlib.sha256(f"{nonce}:{host}".encode()).hexdigest()
    form = urlencode({"nonce": nonce, "answer": answer}).encode()
    verify_url = f"http://{urlsplit(url).netloc}{VERIFY}"
    ok = send(
        verify_url,
        method="POST",
        body=form,
        headers={"User-Agent": ua, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ok.status == 200, ok.body
    return ok.cookies()


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def api(solver: SolverEmulator, dialect: str, endpoint: str, payload: Any) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", solver.port, timeout=10)
    try:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        conn.request(
            "POST",
            f"/{dialect}/{endpoint}",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode()
    finally:
        conn.close()


def task_type(dialect: str) -> str:
    return "CloudFlareTaskS3" if dialect == "1captcha" else "CloudFlare5STask"


def create(
    solver: SolverEmulator,
    proxy: str | None,
    url: str = f"http://{HOST}/item",
    dialect: str = "1captcha",
    key: str = "test-key",
    **extra: Any,
) -> tuple[int, Any]:
    task: dict[str, Any] = {"type": task_type(dialect), "websiteURL": url, **extra}
    if proxy is not None:
        task["proxy"] = proxy
    return api(solver, dialect, "createTask", {"clientKey": key, "task": task})


def poll(
    solver: SolverEmulator,
    task_id: Any,
    dialect: str = "1captcha",
    key: str = "test-key",
    timeout: float = 5.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, reply = api(
            solver, dialect, "getTaskResult", {"clientKey": key, "taskId": task_id}
        )
        assert status == 200, reply
        if reply.get("status") != "processing" or time.monotonic() > deadline:
            return reply
        time.sleep(0.02)


def solve(
    stack: EmulatorStack,
    proxy: str,
    dialect: str = "1captcha",
    key: str = "test-key",
    **extra: Any,
) -> dict[str, Any]:
    status, reply = create(stack.solver, proxy, dialect=dialect, key=key, **extra)
    assert status == 200 and reply["errorId"] == 0, reply
    return poll(stack.solver, reply["taskId"], dialect, key=key)


@pytest.fixture
def site() -> Iterator[CloudflareSiteEmulator]:
    with CloudflareSiteEmulator() as s:
        s.add_host(HOST, "managed")
        yield s


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.02) as s:
        s.site.add_host(HOST, "managed")
        yield s


# Site ---------------------------------------------------------------------------------------


def test_open_page_has_cloudflare_markers_but_no_challenge(site: CloudflareSiteEmulator) -> None:
    r = via(site, "http://blog.example/a/b?x=1")
    assert r.status == 200
    assert r.headers["Server"] == "cloudflare"
    assert re.fullmatch(r"[0-9a-f]{16}-[A-Z]{3}", r.headers["CF-RAY"])
    assert "__cf_bm" in r.cookies()
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "cf-mitigated" not in r.headers
    body = r.body
    assert '<h1 id="content">blog.example /a/b?x=1</h1>' in body
    assert "<title>blog.example /a/b?x=1</title>" in body
    for marker in (
        "/cdn-cgi/scripts/5c5dd728/cloudflare-static/email-decode.min.js",
        "https://static.cloudflareinsights.com/beacon.min.js",
        "/cdn-cgi/challenge-platform/scripts/jsd/main.js",
    ):
        assert marker in body
    assert "_cf_chl_opt" not in body and "Just a moment" not in body
    assert "/orchestrate/" not in body
    assert site.count("page", host="blog.example", exit="direct") == 1


def test_managed_challenge_looks_real(site: CloudflareSiteEmulator) -> None:
    r = via(site, f"http://{HOST}/item")
    assert r.status == 403
    assert r.headers["cf-mitigated"] == "challenge"
    assert r.headers["Server"] == "cloudflare"
    ray = r.headers["CF-RAY"]
    body = r.body
    assert "<title>Just a moment...</title>" in body
    nonce = re.search(r'name="nonce" value="([^"]+)"', body).group(1)
    assert f"window._cf_chl_opt={{cvId:'3',cZone:'{HOST}',cType:'managed',cRay:'{ray}'," in body
    assert f"cH:'{nonce}'" in body
    assert f"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray={ray}" in body
    assert f'<form id="challenge-form" action="{VERIFY}" method="POST">' in body
    assert site.events[-1]["outcome"] == "challenge"
    site.set_mode(HOST, "interactive")
    r = via(site, f"http://{HOST}/item")
    assert r.status == 403 and r.headers["cf-mitigated"] == "challenge"
    assert "cType:'interactive'" in r.body


def test_legacy_challenge_and_solve(site: CloudflareSiteEmulator) -> None:
    site.add_host("old.example", "legacy")
    r = via(site, "http://old.example/")
    assert r.status == 503 and "cf-mitigated" not in r.headers
    assert "Checking your browser before accessing" in r.body
    assert "<title>Just a moment...</title>" in r.body
    cookies = solve_by_hand(lambda u, **kw: via(site, u, **kw), "http://old.example/")
    r = via(site, "http://old.example/", headers={"Cookie": cookie_header(cookies)})
    assert r.status == 200 and '<h1 id="content">old.example /</h1>' in r.body


@pytest.mark.parametrize(
    ("mode", "status", "code"), [("block_1020", 403, "1020"), ("block_1015", 429, "1015")]
)
def test_block_pages(site: CloudflareSiteEmulator, mode: str, status: int, code: str) -> None:
    site.add_host("blocked.example", mode)
    r = via(site, "http://blocked.example/")
    assert r.status == status
    assert "cf-mitigated" not in r.headers
    assert r.headers["Server"] == "cloudflare"
    assert f"<span>{code}</span>" in r.body and "Just a moment" not in r.body
    assert site.count("block", host="blocked.example") == 1


def test_solve_by_hand_then_page_bound_to_exit_and_ua(site: CloudflareSiteEmulator) -> None:
    a = ForwardProxy("A", upstream=("127.0.0.1", site.port)).start()
    b = ForwardProxy("B", upstream=("127.0.0.1", site.port)).start()
    try:
        url = f"http://{HOST}/item"
        cookies = solve_by_hand(lambda u, **kw: via_proxy(a.url, u, **kw), url)
        assert set(cookies) == {"cf_clearance", "__cf_bm"}
        jar = {"Cookie": cookie_header(cookies)}
        ok = via_proxy(a.url, url, headers=jar)
        assert ok.status == 200 and f'<h1 id="content">{HOST} /item</h1>' in ok.body
        # Same cookie, other exit / other UA / no proxy: challenged again.
        assert via_proxy(b.url, url, headers=jar).status == 403
        assert via_proxy(a.url, url, headers={**jar, "User-Agent": UA + "x"}).status == 403
        assert via(site, url, headers=jar).status == 403
        # A client cannot spoof the exit through the proxy.
        spoof = {**jar, EXIT_HEADER: "B"}
        assert via_proxy(a.url, url, headers=spoof).status == 200
        assert site.count("verify_ok", exit="A") == 1
        assert site.count("page", host=HOST, exit="A") == 2
        assert site.count("challenge", host=HOST, exit="B") == 1
        assert site.count("challenge", exit="direct") == 1
        assert a.count(exit="A", host=HOST) == 5
        assert {e["ua"] for e in site.events} == {UA, UA + "x"}
    finally:
        a.stop()
        b.stop()


def test_verify_rejects_wrong_answers_and_forgeries(site: CloudflareSiteEmulator) -> None:
    url = f"http://{HOST}/"
    r = via(site, url)
    nonce = re.search(r'name="nonce" value="([^"]+)"', r.body).group(1)
    for form in (
        {"nonce": nonce, "answer": "0" * 64},
        {"nonce": "f" * 32, "answer": hashlib.sha256(f"{'f' * 32}:{HOST}".encode()).hexdigest()},
    ):
        bad = via(site, f"http://{HOST}{VERIFY}", method="POST", body=urlencode(form).encode())
        assert bad.status == 403 and "cf_clearance" not in bad.cookies()
    # Right answer but for another host.
    other = hashlib.sha256(f"{nonce}:other.example".encode()).hexdigest()
    body = urlencode({"nonce": nonce, "answer": other}).encode()
    assert via(site, f"http://other.example{VERIFY}", method="POST", body=body).status == 403
    assert site.count("verify_fail") == 3
    forged = f"{'a' * 32}-{int(time.time() * 1000) + 10**6}-1.2.1.1-{'b' * 43}"
    assert via(site, url, headers={"Cookie": f"cf_clearance={forged}"}).status == 403


def test_clearance_ttl_expiry_and_revoke(site: CloudflareSiteEmulator) -> None:
    send = lambda u, **kw: via(site, u, **kw)  # noqa: E731
    url = f"http://{HOST}/"
    site.clearance_ttl = 0.3
    r_cookies = solve_by_hand(send, url)
    assert via(site, url, headers={"Cookie": cookie_header(r_cookies)}).status == 200
    time.sleep(0.4)
    assert via(site, url, headers={"Cookie": cookie_header(r_cookies)}).status == 403

    site.clearance_ttl = 1800
    nonce_page = via(site, url)
    nonce = re.search(r'name="nonce" value="([^"]+)"', nonce_page.body).group(1)
    answer = hashlib.sha256(f"{nonce}:{HOST}".encode()).hexdigest()
    ok = via(
        site,
        f"http://{HOST}{VERIFY}",
        method="POST",
        body=urlencode({"nonce": nonce, "answer": answer}).encode(),
    )
    set_cookie = next(v for v in ok.headers.get_all("Set-Cookie") if v.startswith("cf_clear"))
    assert set_cookie.endswith("; Max-Age=1800; Path=/; HttpOnly")
    jar = {"Cookie": cookie_header(ok.cookies())}
    assert via(site, url, headers=jar).status == 200
    site.revoke_all()
    assert via(site, url, headers=jar).status == 403
    site.reset_events()
    assert site.events == []


def test_set_mode_at_runtime(site: CloudflareSiteEmulator) -> None:
    url = "http://late.example/"
    assert via(site, url).status == 200
    site.set_mode("LATE.example", "managed")
    assert via(site, url).status == 403
    site.set_mode("late.example", "open")
    assert via(site, url).status == 200
    with pytest.raises(ValueError):
        site.set_mode("late.example", "nonsense")


def test_post_page_echoes_body_and_content_type(site: CloudflareSiteEmulator) -> None:
    r = via(
        site,
        "http://open.example/form",
        method="POST",
        body=b"a=1&b=<x>",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 200
    assert '<pre id="posted">a=1&amp;b=&lt;x&gt;</pre>' in r.body
    assert '<p id="ctype">application/x-www-form-urlencoded</p>' in r.body
    assert site.events[-1]["method"] == "POST"


def test_status_paths_huge_page_head_and_gzip(site: CloudflareSiteEmulator) -> None:
    r = via(site, "http://open.example/status/503")
    assert r.status == 503 and "cf-mitigated" not in r.headers
    assert "_cf_chl_opt" not in r.body and r.headers["Server"] == "cloudflare"
    assert via(site, "http://open.example/status/404").status == 404
    assert via(site, "http://open.example/status/204").raw == b""
    huge = via(site, "http://open.example/huge")
    assert huge.status == 200 and len(huge.raw) == 5 * 1024 * 1024
    assert huge.body.endswith("</body></html>\n")
    zipped = via(site, "http://open.example/huge", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(zipped.raw) < 1024 * 1024
    assert len(zipped.body) == 5 * 1024 * 1024
    chal = via(site, f"http://{HOST}/", headers={"Accept-Encoding": "gzip"})
    assert chal.headers["Content-Encoding"] == "gzip" and "Just a moment" in chal.body
    no = via(site, "http://open.example/", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in no.headers
    head = via(site, "http://open.example/x", method="HEAD")
    assert head.status == 200 and head.raw == b"" and int(head.headers["Content-Length"]) > 0


def test_keep_alive_through_proxy_and_site(site: CloudflareSiteEmulator) -> None:
    with ForwardProxy("A", upstream=("127.0.0.1", site.port)) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        try:
            for i in range(3):
                r = request(
                    proxy.url, f"http://open.example/{i}", conn=conn, method="POST", body=b"x" * i
                )
                assert r.status == 200 and f"/{i}" in r.body
            sock = conn.sock
            assert sock is not None
            assert request(proxy.url, "http://open.example/again", conn=conn).status == 200
            assert conn.sock is sock  # the same client connection was reused
        finally:
            conn.close()
        assert proxy.count() == 4


# Proxy ---------------------------------------------------------------------------------------


def test_proxy_auth_and_sticky_exits(stack: EmulatorStack) -> None:
    url = "http://open.example/"
    p = stack.proxy_b
    r = via_proxy(p.url, url)
    assert r.status == 407 and r.headers["Proxy-Authenticate"] == 'Basic realm="emulator"'
    assert via_proxy(p.url_with("alice", "wrong"), url).status == 407
    assert via_proxy(p.url_with("alice", "s3cret"), url).status == 200
    assert via_proxy(p.url_with("alice-session-2", "s3cret"), url).status == 200
    assert [e["exit"] for e in stack.site.events] == ["B-1", "B-2"]
    assert p.count() == 2 and p.count(exit="B-2") == 1
    assert [r["exit"] for r in p.requests] == [None, None, "B-1", "B-2"]
    assert p.url_with("a b", "p@ss") == f"http://a%20b:p%40ss@127.0.0.1:{p.port}"


def test_proxy_terminates_connect_tunnels_with_its_exit(stack: EmulatorStack) -> None:
    """An https URL (a wall's own image host) reaches the plain-HTTP site through the
    proxy: the tunnel is terminated there, its requests stamped with the proxy's exit;
    a tunnel opened without the proxy's credentials is refused."""
    context = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection("127.0.0.1", stack.proxy_a.port, context=context, timeout=5)
    try:
        conn.set_tunnel("images-na.ssl-images-amazon.com", 443)
        conn.request("GET", "/status/200")
        resp = conn.getresponse()
        assert resp.status == 200 and b"images-na.ssl-images-amazon.com" in resp.read()
    finally:
        conn.close()
    assert stack.site.events[-1]["exit"] == "A"
    conn = http.client.HTTPSConnection("127.0.0.1", stack.proxy_b.port, context=context, timeout=5)
    try:
        conn.set_tunnel("images-na.ssl-images-amazon.com", 443)
        with pytest.raises(OSError, match="407"):
            conn.request("GET", "/status/200")
    finally:
        conn.close()


def test_proxy_rejects_origin_form_and_missing_upstream() -> None:
    with ForwardProxy("X") as proxy:
        r = request(proxy.url, "http://open.example/", conn=None)
        assert r.status == 502  # no upstream set
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        try:
            conn.request("GET", "/relative", headers={"Host": "open.example"})
            resp = conn.getresponse()
            assert resp.status == 400
            resp.read()
        finally:
            conn.close()


# Solver --------------------------------------------------------------------------------------


def test_onecaptcha_end_to_end_and_replay(stack: EmulatorStack) -> None:
    proxy = stack.proxy_b.url_with("alice", "s3cret")
    status, created = create(stack.solver, proxy)
    assert status == 200 and created["errorId"] == 0 and isinstance(created["taskId"], int)
    reply = poll(stack.solver, created["taskId"])
    assert reply["status"] == "ready", reply
    sol = reply["solution"]
    assert set(sol["cookies"]) == {"cf_clearance", "__cf_bm"}
    assert re.fullmatch(r".*EmuBrowser/1\.\d+ Safari/537\.36", sol["user_agent"])
    rh = sol["request_headers"]
    assert rh[":authority"] == HOST and rh[":method"] == "GET"
    assert rh[":path"] == "/item" and rh[":scheme"] == "http"
    assert rh["user-agent"] == sol["user_agent"]
    assert rh["accept-encoding"] == "gzip, deflate, br, zstd"
    assert "cf_clearance=" in rh["cookie"] and rh["sec-fetch-mode"] == "navigate"
    assert "sec-ch-ua" in rh and "accept-language" in rh and "upgrade-insecure-requests" in rh
    assert sol["headers"]["server"] == "cloudflare"
    assert f'<h1 id="content">{HOST} /item</h1>' in sol["content"]
    assert stack.site.count("verify_ok", exit="B-1") == 1

    # Replay the solution through the same exit: page. Through another session: challenge.
    replay = {"User-Agent": sol["user_agent"], "Cookie": cookie_header(sol["cookies"])}
    assert via_proxy(proxy, f"http://{HOST}/other", headers=replay).status == 200
    other = stack.proxy_b.url_with("alice-session-2", "s3cret")
    assert via_proxy(other, f"http://{HOST}/other", headers=replay).status == 403

    assert stack.solver.balance("test-key") == pytest.approx(10.0 - 0.002)
    (task,) = stack.solver.tasks
    assert task.status == "ready" and task.solved_at is not None
    assert task.task["proxy"] == proxy and "clientKey" not in task.task
    assert stack.solver.create_task_count == 1 and stack.solver.poll_count >= 1
    # Re-polling a ready task answers the same.
    assert poll(stack.solver, created["taskId"])["solution"]["cookies"] == sol["cookies"]
    status, bal = api(stack.solver, "1captcha", "getBalance", {"clientKey": "test-key"})
    assert bal == {"errorId": 0, "balance": pytest.approx(9.998)}


def test_ez_captcha_dialect_and_rqdata(stack: EmulatorStack) -> None:
    proxy = stack.proxy_a.url
    status, created = create(stack.solver, proxy, dialect="ez-captcha")
    assert status == 200 and re.fullmatch(r"[0-9a-f-]{36}", created["taskId"])
    assert poll(stack.solver, created["taskId"], "ez-captcha")["status"] == "ready"

    reply = solve(stack, proxy, "ez-captcha", rqData={"mode": "JSON", "q": "a<b", "n": 2})
    sol = reply["solution"]
    assert sol["request_headers"][":method"] == "POST"
    assert sol["request_headers"]["content-type"] == "application/json"
    assert (
        '<pre id="posted">{&quot;q&quot;: &quot;a&lt;b&quot;, &quot;n&quot;: 2}</pre>'
        in (sol["content"])
    )
    assert '<p id="ctype">application/json</p>' in sol["content"]

    reply = solve(stack, proxy, "ez-captcha", rqData={"mode": "FORM", "q": "x y", "n": "2"})
    content = reply["solution"]["content"]
    assert '<pre id="posted">q=x+y&amp;n=2</pre>' in content
    assert '<p id="ctype">application/x-www-form-urlencoded</p>' in content
    assert stack.site.count("page", exit="A") == 3
    posts = [e for e in stack.site.events if e["method"] == "POST" and e["outcome"] == "page"]
    assert len(posts) == 2

    # ez-captcha errors say errorDesc, 1captcha errorDescription.
    _, err = api(stack.solver, "ez-captcha", "getTaskResult", {"clientKey": "nope", "taskId": "x"})
    assert err["errorCode"] == "ERROR_KEY_DOES_NOT_EXIST" and "errorDesc" in err
    _, err = api(stack.solver, "1captcha", "getTaskResult", {"clientKey": "nope", "taskId": 1})
    assert "errorDescription" in err
    _, err = create(stack.solver, proxy, dialect="ez-captcha", rqData={"mode": "XML"})
    assert err["errorCode"] == "ERROR_BAD_PARAMETERS"


def test_solution_shapes_and_cookie_formats(stack: EmulatorStack) -> None:
    solver, proxy = stack.solver, stack.proxy_a.url
    solver.solution_shape = "top_level"
    reply = solve(stack, proxy)
    assert "solution" not in reply and set(reply["cookies"]) == {"cf_clearance", "__cf_bm"}
    assert "user_agent" in reply and "request_headers" in reply and "content" in reply
    solver.solution_shape = "both"
    solver.misspell_headers = True
    reply = solve(stack, proxy)
    assert reply["solution"]["heders"] == reply["heders"] and "headers" not in reply["solution"]
    solver.solution_shape, solver.misspell_headers = "nested", False

    solver.cookie_format = "list"
    cookies = solve(stack, proxy)["solution"]["cookies"]
    by_name = {c["name"]: c for c in cookies}
    assert set(by_name) == {"cf_clearance", "__cf_bm"}
    clr = by_name["cf_clearance"]
    assert clr["domain"] == HOST and clr["path"] == "/"
    assert 1700 < clr["expires"] - time.time() <= 1800
    solver.cookie_format = "string"
    text = solve(stack, proxy)["solution"]["cookies"]
    assert isinstance(text, str) and "cf_clearance=" in text and "; " in text
    solver.cookie_format = "object"

    solver.ua_mismatch = True
    sol = solve(stack, proxy)["solution"]
    real = sol["request_headers"]["user-agent"]
    assert sol["user_agent"] != real and "EmuBrowser" in real
    replay = {"Cookie": cookie_header(sol["cookies"])}
    assert (
        via_proxy(proxy, f"http://{HOST}/", headers={**replay, "User-Agent": real}).status == 200
    )
    stale = {**replay, "User-Agent": sol["user_agent"]}
    assert via_proxy(proxy, f"http://{HOST}/", headers=stale).status == 403


def test_ready_on_create_and_uas_vary(stack: EmulatorStack) -> None:
    stack.solver.ready_on_create = True
    _, first = create(stack.solver, stack.proxy_a.url)
    assert first["status"] == "ready" and "taskId" in first
    _, second = create(stack.solver, stack.proxy_a.url)
    assert first["solution"]["user_agent"] != second["solution"]["user_agent"]


def test_open_site_solution_has_no_clearance(stack: EmulatorStack) -> None:
    sol = solve(stack, stack.proxy_a.url, url="http://open.example/")["solution"]
    assert set(sol["cookies"]) == {"__cf_bm"} and "cookie" not in sol["request_headers"]
    assert stack.site.count("challenge") == 0


def test_concurrent_tasks(stack: EmulatorStack) -> None:
    ids = [create(stack.solver, stack.proxy_a.url)[1]["taskId"] for _ in range(5)]
    replies = [poll(stack.solver, i) for i in ids]
    assert all(r["status"] == "ready" for r in replies)
    assert len({r["solution"]["user_agent"] for r in replies}) == 5


@pytest.mark.parametrize(
    ("key", "code"),
    [("unknown-key", "ERROR_KEY_DOES_NOT_EXIST"), ("empty-key", "ERROR_ZERO_BALANCE")],
)
def test_bad_keys(stack: EmulatorStack, key: str, code: str) -> None:
    _, reply = create(stack.solver, stack.proxy_a.url, key=key)
    assert reply["errorId"] == 1 and reply["errorCode"] == code
    assert key not in json.dumps(reply)
    assert stack.solver.tasks == []


def test_balance_runs_dry_and_input_errors(stack: EmulatorStack) -> None:
    solver = stack.solver
    solver.set_balance("small", 0.003)
    assert solve(stack, stack.proxy_a.url, key="small")["status"] == "ready"
    _, poor = create(solver, stack.proxy_a.url, key="small")
    assert poor["errorId"] == 0  # 0.001 left: still allowed
    poll(solver, poor["taskId"], key="small")
    _, broke = create(solver, stack.proxy_a.url, key="small")
    assert broke["errorCode"] == "ERROR_ZERO_BALANCE"
    _, bal = api(solver, "1captcha", "getBalance", {"clientKey": "empty-key"})
    assert bal == {"errorId": 0, "balance": 0.0}
    _, err = create(solver, None)
    assert err["errorCode"] == "ERROR_BAD_PARAMETERS" and "proxy" in err["errorDescription"]
    _, err = api(
        solver,
        "1captcha",
        "createTask",
        {
            "clientKey": "test-key",
            "task": {
                "type": "CloudFlare5STask",
                "websiteURL": "http://x/",
                "proxy": stack.proxy_a.url,
            },
        },
    )
    assert err["errorCode"] == "ERROR_TASK_NOT_SUPPORTED"
    _, err = api(solver, "1captcha", "getTaskResult", {"clientKey": "test-key", "taskId": 1})
    assert err["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"
    # Another key cannot read someone else's task.
    _, mine = create(solver, stack.proxy_a.url)
    _, err = api(
        solver, "1captcha", "getTaskResult", {"clientKey": "empty-key", "taskId": mine["taskId"]}
    )
    assert err["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"
    _, err = api(solver, "1captcha", "createTask", b"{not json")
    assert err["errorCode"] == "ERROR_BAD_PARAMETERS"


def test_proxy_failures_and_unsolvable_sites(stack: EmulatorStack) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    reply = solve(stack, dead)
    assert reply["errorId"] == 1 and reply["errorCode"] == "ERROR_PROXY_CONNECT_REFUSED"
    reply = solve(stack, stack.proxy_b.url_with("alice", "wrong"))
    assert reply["errorCode"] == "ERROR_PROXY_CONNECT_REFUSED"
    stack.site.add_host("walled.example", "block_1020")
    reply = solve(stack, stack.proxy_a.url, url="http://walled.example/")
    assert reply["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    assert stack.solver.balance("test-key") == 10.0  # failures are free
    assert {t.status for t in stack.solver.tasks} == {"failed"}


# Solver faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["1captcha", "ez-captcha"])
def test_fault_unsolvable_and_bad_clearance(stack: EmulatorStack, dialect: str) -> None:
    solver, proxy = stack.solver, stack.proxy_a.url
    solver.set_fault("unsolvable", 1)
    reply = solve(stack, proxy, dialect)
    assert reply["errorCode"] == "ERROR_CAPTCHA_UNSOLVABLE"
    assert solver.fault is None
    assert solve(stack, proxy, dialect)["status"] == "ready"

    solver.fault = "bad_clearance"
    sol = solve(stack, proxy, dialect)["solution"]
    headers = {"User-Agent": sol["user_agent"], "Cookie": cookie_header(sol["cookies"])}
    assert via_proxy(proxy, f"http://{HOST}/", headers=headers).status == 403
    assert sol["cookies"]["cf_clearance"] in sol["request_headers"]["cookie"]
    solver.fault = None


@pytest.mark.parametrize("fault", ["no_slot", "garbage", "malformed", "http_502", "http_400_json"])
def test_create_task_faults_apply_n_times(stack: EmulatorStack, fault: str) -> None:
    solver = stack.solver
    solver.fault, solver.fault_times = fault, 2
    for _ in range(2):
        status, reply = create(solver, stack.proxy_a.url)
        if fault == "no_slot":
            assert status == 200 and reply["errorCode"] == "ERROR_NO_SLOT_AVAILABLE"
        elif fault == "garbage":
            assert status == 200 and isinstance(reply, str) and "<html>" in reply
        elif fault == "malformed":
            assert status == 200 and reply == {"errorId": 0}
        elif fault == "http_502":
            assert status == 502 and "502 Bad Gateway" in reply
        else:
            assert status == 400 and reply["errorCode"] == "ERROR_BAD_PARAMETERS"
    assert solver.fault is None and solver.fault_times is None
    status, reply = create(solver, stack.proxy_a.url)
    assert status == 200 and reply["errorId"] == 0
    assert solver.create_task_count == 3


def test_http_502_also_hits_polls(stack: EmulatorStack) -> None:
    _, created = create(stack.solver, stack.proxy_a.url)
    stack.solver.set_fault("http_502")
    status, _ = api(
        stack.solver,
        "1captcha",
        "getTaskResult",
        {"clientKey": "test-key", "taskId": created["taskId"]},
    )
    assert status == 502 and stack.solver.fault == "http_502"
    stack.solver.set_fault(None)
    assert poll(stack.solver, created["taskId"])["status"] == "ready"


def test_fault_never_ready_and_hold(stack: EmulatorStack) -> None:
    solver = stack.solver
    solver.fault = "never_ready"
    _, created = create(solver, stack.proxy_a.url)
    solver.fault = None
    assert poll(solver, created["taskId"], timeout=0.3)["status"] == "processing"

    solver.hold()
    assert solver.held
    _, created = create(solver, stack.proxy_a.url)
    time.sleep(0.2)
    assert poll(solver, created["taskId"], timeout=0.1)["status"] == "processing"
    solver.release()
    assert poll(solver, created["taskId"])["status"] == "ready"

    # HTTP control endpoints, for crawls running in another process.
    conn = http.client.HTTPConnection("127.0.0.1", solver.port, timeout=5)
    try:
        conn.request("POST", "/_control/hold", body=b"")
        assert json.loads(conn.getresponse().read())["held"] is True
        assert solver.held
        conn.request("POST", "/_control/release", body=b"")
        assert json.loads(conn.getresponse().read())["held"] is False
        conn.request("GET", "/_control/stats")
        stats = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert stats["create_task_count"] == 2 and stats["poll_count"] >= 2
    assert len(stats["tasks"]) == 2 and "test-key" not in json.dumps(stats)

    solver.hold_timeout = 0.1
    solver.hold()
    time.sleep(0.15)
    assert not solver.held  # auto-released


def test_fault_hang_then_prompt_stop() -> None:
    solver = SolverEmulator(latency=0.01, hold_timeout=0.3).start()
    try:
        solver.fault = "hang"
        started = time.monotonic()
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            create(solver, "http://127.0.0.1:9")
        assert 0.25 <= time.monotonic() - started < 3
        solver.hold_timeout = 30
        errors: list[BaseException] = []

        def hang() -> None:
            try:
                create(solver, "http://127.0.0.1:9")
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=hang, daemon=True)
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        solver.stop()
        t.join(5)
        assert time.monotonic() - started < 2 and not t.is_alive() and errors
    finally:
        solver.stop()


# Lifecycle -----------------------------------------------------------------------------------


def read_reply(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 reply with a Content-Length, however it is split into segments."""
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert length, head
    while len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        assert chunk, reply
        body += chunk
    return head + b"\r\n\r\n" + body


def test_stop_is_prompt_idempotent_and_frees_the_port() -> None:
    before = set(threading.enumerate())
    site = CloudflareSiteEmulator().start()
    assert site.start() is site and site.url == f"http://127.0.0.1:{site.port}"
    idle = socket.create_connection(("127.0.0.1", site.port), timeout=5)
    try:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        # connection now idle, kept alive (once the whole reply is read: it may come in parts)
        assert read_reply(idle).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        site.stop()
        site.stop()
        assert time.monotonic() - started < 1.0
        idle.settimeout(2)
        assert idle.recv(65536) == b""  # server closed the idle keep-alive connection
    finally:
        idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", site.port), timeout=1).close()
    with pytest.raises(RuntimeError):
        site.start()
    leaked = [t for t in set(threading.enumerate()) - before if not t.daemon]
    assert leaked == []


def test_max_lifetime_stops_the_server() -> None:
    proxy = ForwardProxy("A", max_lifetime=0.2).start()
    deadline = time.monotonic() + 3
    while proxy.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not proxy.running


def test_stack_settings_and_context() -> None:
    with EmulatorStack(solve_latency=0.01) as s:
        settings = s.scrapy_settings("ez-captcha", "k")
        assert settings == {
            "CAPTCHA_PROVIDER": "ez-captcha",
            "CAPTCHA_API_URL": f"http://127.0.0.1:{s.solver.port}/ez-captcha",
            "CAPTCHA_API_KEY": "k",
        }
        assert s.scrapy_settings()["CAPTCHA_API_URL"].endswith("/1captcha")
        assert s.proxy_a.upstream == s.proxy_b.upstream == ("127.0.0.1", s.site.port)
    assert not any(x.running for x in (s.site, s.solver, s.proxy_a, s.proxy_b))
    with pytest.raises(ValueError):
        s.solver.url_for("3captcha")


def test_pytest_fixtures(
    captcha_stack: EmulatorStack,
    captcha_proxy_factory: Any,
    captcha_site: CloudflareSiteEmulator,
    captcha_solver: SolverEmulator,
) -> None:
    captcha_site.add_host("fx.example", "managed")
    proxy = captcha_proxy_factory("Z", users={"u:p": "Z-1"})
    assert proxy.upstream == ("127.0.0.1", captcha_site.port)
    assert via_proxy(proxy.url_with("u", "p"), "http://fx.example/").status == 403
    assert captcha_site.count("challenge", exit="Z-1") == 1
    assert captcha_stack.solver.running and captcha_solver.running
    assert captcha_solver.url_for("1captcha") != captcha_stack.solver.url_for("1captcha")


def test_control_config_endpoint(stack: EmulatorStack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.solver.port, timeout=5)
    try:
        body = json.dumps({"fault": "no_slot", "fault_times": 1, "cookie_format": "string"})
        conn.request("POST", "/_control/config", body=body.encode())
        assert json.loads(conn.getresponse().read()) == {"ok": True}
        conn.request("POST", "/_control/config", body=b'{"fault": "bogus"}')
        resp = conn.getresponse()
        assert resp.status == 400 and not json.loads(resp.read())["ok"]
    finally:
        conn.close()
    assert create(stack.solver, stack.proxy_a.url)[1]["errorCode"] == "ERROR_NO_SLOT_AVAILABLE"
    assert isinstance(solve(stack, stack.proxy_a.url)["solution"]["cookies"], str)
