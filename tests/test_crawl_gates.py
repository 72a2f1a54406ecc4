"""End-to-end: captcha widgets and images, in real crawls against the emulated gates.

Every gate's verify endpoint only accepts a single-use token the emulated solver minted for
that site key (and, for v3 and Turnstile, that action), so a page behind a gate arriving in
the callback proves the whole path: detection, the task's fields, the form submission.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from conftest import REACTORS, assert_clean_log
from scrapy_captcha.testing import EmulatorStack

HOST = "gates.example"

#: kindpath -> (kind reported, task type at 1captcha)
GATES = {
    "turnstile": ("turnstile", "TurnstileTaskProxyless"),
    "turnstile-field": ("turnstile", "TurnstileTaskProxyless"),
    "recaptcha-v2": ("recaptcha_v2", "RecaptchaV2TaskProxyless"),
    "recaptcha-v2-invisible": ("recaptcha_v2_invisible", "RecaptchaV2TaskProxyless"),
    "recaptcha-v3": ("recaptcha_v3", "RecaptchaV3TaskProxyless"),
    "recaptcha-v2-enterprise": ("recaptcha_enterprise", "RecaptchaV2EnterpriseTaskProxyless"),
    "recaptcha-v3-enterprise": ("recaptcha_enterprise", "RecaptchaV3EnterpriseTaskProxyless"),
    "recaptcha-v2-respkey": ("recaptcha_v2", "RecaptchaV2TaskProxyless"),
    "recaptcha-v3-cookie": ("recaptcha_v3", "RecaptchaV3TaskProxyless"),
}


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.2) as s:
        s.site.add_host(HOST, "open")
        s.site.add_host("cf-gates.example", "managed")
        yield s


def gate(stack: EmulatorStack, kindpath: str, name: str, **meta: Any) -> dict[str, Any]:
    """A request for one gate page, in a session (cookie jar) of its own."""
    return {
        "url": f"http://{HOST}/gate/{kindpath}/{name}",
        "tag": kindpath,
        "meta": {"proxy": stack.proxy_a.url, "cookiejar": name, **meta},
    }


def tasks_by_url(stack: EmulatorStack) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for t in stack.solver.tasks:
        out.setdefault(t.task.get("websiteURL", ""), []).append(t)
    return out


@pytest.mark.parametrize("reactor", REACTORS)
def test_every_gate_kind_is_solved_and_submitted(stack, crawl, reactor: str) -> None:
    requests = [gate(stack, kp, f"g{i}") for i, kp in enumerate(GATES)]
    result = crawl(reactor=reactor, requests=requests, settings=stack.scrapy_settings())
    assert not result.errors and not result.dropped
    assert len(result.pages) == len(GATES)
    by_tag = {p["tag"]: p for p in result.pages}
    for i, (kindpath, (kind, _)) in enumerate(GATES.items()):
        page = by_tag[kindpath]
        # The callback got the page behind the gate, reached by POSTing the gate's form.
        assert page["content"] == f"Content behind gate g{i}", (kindpath, page)
        assert page["method"] == "POST"
        assert page["result"]["kind"] == kind and page["result"]["solved"] is True
        assert page["result"]["submitted"] is True and page["result"]["task_id"]
        assert result.stat(f"captcha/submitted/{kind}") >= 1
    assert stack.site.gate_failures() == []
    assert stack.solver.create_task_count == len(GATES)  # one task per gate, no retries
    tasks = tasks_by_url(stack)
    for i, (kindpath, (_, task_type)) in enumerate(GATES.items()):
        (task,) = tasks[f"http://{HOST}/gate/{kindpath}/g{i}"]
        assert task.type == task_type
        assert task.task["websiteKey"] == stack.site.sitekey(HOST, kindpath)
        assert "proxy" not in task.task  # token tasks are proxyless
    v3 = tasks[f"http://{HOST}/gate/recaptcha-v3/g4"][0].task
    assert v3["pageAction"] == "submit_gate" and v3["websiteTitle"] == "Verify you are human"
    assert tasks[f"http://{HOST}/gate/recaptcha-v2-invisible/g3"][0].task["isInvisible"] is True
    assert tasks[f"http://{HOST}/gate/recaptcha-v2/g2"][0].task["isInvisible"] is False
    # (1captcha documents no Turnstile action: its worker solves the page's own widget)
    assert "action" not in tasks[f"http://{HOST}/gate/turnstile/g0"][0].task
    assert result.stat("captcha/detected/turnstile") == 2
    assert result.reason == "finished"
    assert_clean_log(result, "test-key")


def test_ez_captcha_dialect_turnstile_action_in_rqdata(stack, crawl) -> None:
    requests = [gate(stack, kp, f"e{i}") for i, kp in enumerate(["turnstile", "recaptcha-v3"])]
    result = crawl(requests=requests, settings=stack.scrapy_settings("ez-captcha"))
    assert sorted(p["content"] for p in result.pages) == [
        "Content behind gate e0",
        "Content behind gate e1",
    ]
    types = {t.type: t.task for t in stack.solver.tasks}
    assert types["CloudFlareTurnstileTask"]["rqData"]["metadataAction"] == "continue"
    assert "action" not in types["CloudFlareTurnstileTask"]
    assert types["RecaptchaV3TaskProxyless"]["pageAction"] == "submit_gate"
    assert stack.site.gate_failures() == []


def test_hcaptcha_is_reported_without_a_task_type_and_solved_with_one(stack, crawl) -> None:
    result = crawl(requests=[gate(stack, "hcaptcha", "h1")], settings=stack.scrapy_settings())
    (page,) = result.unsolved  # the gate itself, to the errback (never as a success)
    assert page["title"] == "Verify you are human" and not result.pages
    assert page["kind"] == "hcaptcha" and page["reason"] == "no_task"
    assert page["result"]["sitekey"] == stack.site.sitekey(HOST, "hcaptcha")
    assert stack.solver.create_task_count == 0
    assert "has no task type for hcaptcha" in result.log
    assert_clean_log(result)

    result = crawl(
        requests=[gate(stack, "hcaptcha", "h2")],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_TASK_TYPES": {"hcaptcha": "HCaptchaTaskProxyless"},
        },
    )
    assert result.pages[0]["content"] == "Content behind gate h2"
    assert stack.solver.create_task_count == 1


def _verify(stack: EmulatorStack, token: str, kindpath: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": stack.proxy_a.url}))
    body = urllib.parse.urlencode({"token": token, "kindpath": kindpath}).encode()
    with opener.open(f"http://{HOST}/widget/verify", data=body, timeout=10) as reply:
        return json.loads(reply.read())


@pytest.mark.parametrize("reactor", REACTORS)
def test_widget_outside_a_form_hands_the_token_over(stack, crawl, reactor: str) -> None:
    """Asked for (mode "token"), the token of a widget outside any form is handed over."""
    requests = [
        {
            "url": f"http://{HOST}/widget/{kp}/w{i}",
            "tag": kp,
            "meta": {"proxy": stack.proxy_a.url, "captcha": {"widgets": "token"}},
        }
        for i, kp in enumerate(["turnstile", "recaptcha-v2"])
    ]
    result = crawl(reactor=reactor, requests=requests, settings=stack.scrapy_settings())
    assert len(result.pages) == 2 and not result.errors
    for page in result.pages:
        # The page itself (no request was invented), with a genuine single-use token.
        assert page["content"].startswith("Listing w") and page["method"] == "GET"
        res = page["result"]
        assert res["solved"] is True and res["token"] and "submitted" not in res
        assert res["sitekey"] == stack.site.sitekey(HOST, page["tag"])
        assert _verify(stack, res["token"], page["tag"]) == {"ok": True, "reason": "ok"}
        assert _verify(stack, res["token"], page["tag"])["reason"] == "reused"
    assert stack.solver.create_task_count == 2
    assert stack.site.count("gate_ok") == 0
    assert_clean_log(result, "test-key")


def test_widget_outside_a_form_is_not_paid_for_unless_asked(stack, crawl) -> None:
    """Issue 16 #9: five pages with a widget outside any form cost five paid solves whose
    tokens nothing used. By default such a page is an ordinary page for the callback (the
    widget reported, ``skipped``), and nothing is paid for."""
    requests = [
        {"url": f"http://{HOST}/widget/turnstile/w{i}", "meta": {"proxy": stack.proxy_a.url}}
        for i in range(5)
    ]
    result = crawl(requests=requests, settings=stack.scrapy_settings())
    assert len(result.pages) == 5 and not result.errors and not result.unsolved
    for page in result.pages:
        assert page["content"].startswith("Listing w")
        assert page["result"]["reason"] == "no_form" and page["result"]["skipped"] is True
    assert stack.solver.create_task_count == 0
    assert result.stat("captcha/skipped/no_form") == 5


def test_widget_in_a_form_to_fill_is_left_to_the_spider(stack, crawl) -> None:
    """A Turnstile in a sign-up form: the add-on must not post an empty form (nor pay for a
    token nobody uses); it reports the widget, and the spider fills the form with a token
    from the API."""
    signup = {"url": f"http://{HOST}/signup/s1", "meta": {"proxy": stack.proxy_a.url}}
    requests = [
        {**signup, "tag": "auto"},
        {
            **signup,
            "tag": "api",
            "dont_filter": True,
            "api": {"what": "widget", "form": "//form", "formdata": {"email": "a@b.example"}},
        },
    ]
    result = crawl(requests=requests, settings=stack.scrapy_settings())
    by_tag = {p["tag"]: p for p in result.pages}
    auto = by_tag["auto"]["result"]
    assert auto["reason"] == "needs_input" and auto["fields"] == ["email"]
    assert auto["solved"] is False and auto["kind"] == "turnstile"
    assert by_tag["api#0"]["content"] == "Signed up s1"
    assert stack.solver.create_task_count == 1  # the API's token only
    assert stack.site.gate_failures() == []


def test_recaptcha_v3_on_content_pages_is_not_paid_for(stack, crawl) -> None:
    """v3 as sites use it: the script on every page, and a content page's add-to-cart form
    guarded by it. Neither is a gate: no task, no form posted on the spider's behalf."""
    requests = [
        {
            "url": f"http://{HOST}/{flavour}/p{i}",
            "tag": flavour,
            "meta": {"proxy": stack.proxy_a.url},
        }
        for i, flavour in enumerate(["v3-everywhere", "v3-everywhere", "v3-shop"])
    ]
    result = crawl(requests=requests, settings=stack.scrapy_settings())
    assert sorted(p["content"] for p in result.pages) == ["Product p0", "Product p1", "Product p2"]
    reasons = sorted(p["result"]["reason"] for p in result.pages)
    assert reasons == ["no_form", "no_form", "not_a_gate"]
    assert stack.solver.create_task_count == 0 and stack.site.count("cart_add") == 0
    assert result.stat("captcha/skipped/no_form") == 2
    assert not any(k.startswith("captcha/unsolved") for k in result.stats)
    # Asked for explicitly, the token is solved and handed over.
    result = crawl(
        requests=requests[:1],
        settings={**stack.scrapy_settings(), "CAPTCHA_WIDGETS": {"recaptcha_v3": "token"}},
    )
    assert result.pages[0]["result"]["token"] and stack.solver.create_task_count == 1


def test_concurrent_gates_sharing_one_cookie_jar(stack, crawl) -> None:
    """Six gates fetched at once in one session: each page's first visit sets its own
    session cookie, so the jar ends up holding only the last. Each submission (and image
    fetch) must carry its own page's session, or the site rejects it and a solve is
    wasted."""
    image = {"image": {"selector": "img#captcha", "field": "code"}}
    requests = [
        {"url": f"http://{HOST}/gate/{kp}/j{i}", "tag": kp, "meta": {"proxy": stack.proxy_a.url}}
        for i, kp in enumerate(["turnstile", "recaptcha-v2", "recaptcha-v3", "turnstile-field"])
    ] + [
        {
            "url": f"http://{HOST}/captcha-form/j{i}",
            "tag": f"image{i}",
            "meta": {"proxy": stack.proxy_a.url, "captcha": image},
        }
        for i in range(2)
    ]
    result = crawl(requests=requests, settings=stack.scrapy_settings())
    assert all(p["content"] and "Content behind" in p["content"] for p in result.pages)
    assert len(result.pages) == 6
    assert stack.site.gate_failures() == []
    assert stack.solver.create_task_count == 6


def test_article_about_captchas_costs_nothing(stack, crawl) -> None:
    result = crawl(
        requests=[
            {"url": f"http://{HOST}/article/recaptcha", "meta": {"proxy": stack.proxy_a.url}}
        ],
        settings=stack.scrapy_settings(),
    )
    assert result.pages[0]["status"] == 200 and result.pages[0]["result"] is None
    assert stack.solver.create_task_count == 0
    assert not any(k.startswith("captcha/detected") for k in result.stats)


IMAGE = {"selector": "img#captcha", "field": "code"}


@pytest.mark.parametrize("reactor", REACTORS)
def test_image_captcha_forms(stack, crawl, reactor: str) -> None:
    def req(path: str, name: str, **image: Any) -> dict[str, Any]:
        return {
            "url": f"http://{HOST}/{path}/{name}",
            "tag": path,
            "meta": {
                "proxy": stack.proxy_a.url,
                "cookiejar": name,
                "captcha": {"image": {**IMAGE, **image}},
            },
        }

    requests = [
        req("captcha-form", "i1"),  # image fetched in the page's session
        req("captcha-inline", "i2"),  # data: URL decoded in place
        req("login", "i3", formdata={"username": "demo", "password": "demo"}, image_type="1"),
    ]
    result = crawl(reactor=reactor, requests=requests, settings=stack.scrapy_settings())
    assert not result.errors
    contents = {p["tag"]: p["content"] for p in result.pages}
    assert contents == {
        "captcha-form": "Content behind image captcha i1",
        "captcha-inline": "Content behind image captcha i2",
        "login": "Content behind image captcha i3",
    }
    assert stack.solver.create_task_count == 3
    for task in stack.solver.tasks:
        assert task.type == "ImageToTextTask" and "\n" not in task.task["body"]
    # the spider's hint, else the type read from the image's own bytes
    assert {t.task.get("imageType") for t in stack.solver.tasks} == {"png", "1"}
    assert all(p["result"]["submitted"] and p["result"]["kind"] == "image" for p in result.pages)
    # The image fetch went through the engine: the downloader saw it, the spider did not.
    assert result.stat("downloader/request_count") == 3 + 2 + 3  # pages, images, posts
    assert_clean_log(result, "test-key")


def test_gate_behind_cloudflare(stack, crawl) -> None:
    result = crawl(
        requests=[
            {
                "url": "http://cf-gates.example/gate/turnstile/c1",
                "meta": {"proxy": stack.proxy_a.url},
            }
        ],
        settings=stack.scrapy_settings(),
    )
    assert result.pages[0]["content"] == "Content behind gate c1"
    assert result.stat("captcha/solved/cloudflare") == 1
    assert result.stat("captcha/solved/turnstile") == 1


def test_modes_token_and_ignore(stack, crawl) -> None:
    requests = [
        gate(stack, "turnstile", "m1", captcha={"widgets": "ignore"}),
        gate(stack, "recaptcha-v3", "m2", captcha={"widgets": {"recaptcha_v3": "token"}}),
        gate(stack, "recaptcha-v2", "m3"),
    ]
    result = crawl(
        requests=requests,
        settings={**stack.scrapy_settings(), "CAPTCHA_WIDGETS": {"recaptcha_v2": "ignore"}},
    )
    by_tag = {p["tag"]: p for p in result.pages}
    assert by_tag["turnstile"]["result"] is None  # ignored by meta
    assert by_tag["recaptcha-v2"]["result"] is None  # ignored by the setting
    token_page = by_tag["recaptcha-v3"]
    assert token_page["title"] == "Verify you are human" and token_page["method"] == "GET"
    assert token_page["result"]["token"] and token_page["result"]["action"] == "submit_gate"
    assert stack.solver.create_task_count == 1 and stack.site.count("gate_ok") == 0


@pytest.mark.parametrize("reactor", REACTORS)
def test_spider_api_from_an_async_callback(stack, crawl, reactor: str) -> None:
    ignore = {"widgets": "ignore"}
    form = "//form[@id='gate-form']"
    requests = [
        # A token, submitted twice by the spider: once accepted, once rejected as reused.
        {
            **gate(stack, "turnstile", "a1", captcha=ignore),
            "tag": "reuse",
            "api": {"what": "widget", "form": form, "submit": 2},
        },
        # The wrong action: the site rejects the token.
        {
            **gate(stack, "recaptcha-v3", "a2", captcha=ignore),
            "tag": "wrong-action",
            "api": {"what": "widget", "form": form, "action": "homepage"},
        },
        {
            "url": f"http://{HOST}/captcha-inline/a3",
            "tag": "image",
            "meta": {"proxy": stack.proxy_a.url, "cookiejar": "a3"},
            "api": {
                "what": "image",
                "selector": "img#captcha",
                "field": "code",
                "form": "//form[@id='captcha-form']",
            },
        },
        {
            "url": f"http://{HOST}/article/recaptcha",
            "tag": "none",
            "meta": {"proxy": stack.proxy_a.url},
            "api": {"what": "widget", "form": form},
        },
    ]
    result = crawl(reactor=reactor, requests=requests, settings=stack.scrapy_settings())
    assert not result.errors
    api = {r["tag"]: r for r in result.api}
    assert api["reuse"]["kind"] == "turnstile" and api["reuse"]["fields"] == [
        "cf-turnstile-response"
    ]
    assert api["none"]["error"] == "WidgetNotFound"
    reuse = [p for p in result.pages if p["tag"].startswith("reuse#")]
    assert sorted((p["content"] or "", p["gate_error"] or "") for p in reuse) == [
        ("", "reused"),
        ("Content behind gate a1", ""),
    ]
    (wrong,) = [p for p in result.pages if p["tag"].startswith("wrong-action#")]
    assert wrong["gate_error"] == "wrong_action" and wrong["content"] is None
    (image,) = [p for p in result.pages if p["tag"].startswith("image#")]
    assert image["content"] == "Content behind image captcha a3"
    assert stack.solver.create_task_count == 3  # tokens are never cached or reused
    assert_clean_log(result, "test-key")


def test_rejected_tokens_are_bounded_by_max_attempts(stack, crawl) -> None:
    """A v3 task with the wrong action: every submission is rejected; the crawl gives up
    after CAPTCHA_MAX_ATTEMPTS solves and hands the gate to the errback."""
    result = crawl(
        requests=[gate(stack, "recaptcha-v3", "r1", captcha={"task": {"pageAction": "nope"}})],
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_ATTEMPTS": 3},
    )
    (page,) = result.unsolved
    assert page["title"] == "Verify you are human" and not result.pages
    assert page["result"]["solved"] is False and page["reason"] == "max_attempts"
    assert stack.solver.create_task_count == 3
    assert stack.site.gate_failures() == ["wrong_action"] * 3
    assert_clean_log(result)


@pytest.mark.parametrize(
    ("fault", "reason", "tasks"),
    [("unsolvable", "unsolvable", 2), ("malformed", "malformed_reply", 2)],
)
def test_solver_faults_end_with_the_gate_page(stack, crawl, fault, reason, tasks) -> None:
    stack.solver.set_fault(fault)
    result = crawl(
        requests=[gate(stack, "turnstile", "f1")],
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_ATTEMPTS": 2},
    )
    assert result.outcomes == 1 and len(result.unsolved) == 1
    (page,) = result.unsolved
    assert page["title"] == "Verify you are human"
    assert page["result"]["solved"] is False and page["reason"] == reason
    assert result.stat(f"captcha/failed/{reason}") == tasks
    assert_clean_log(result, "test-key")


def test_input_error_is_not_retried(stack, crawl) -> None:
    result = crawl(
        requests=[gate(stack, "turnstile", "x1")],
        settings={**stack.scrapy_settings(), "CAPTCHA_TASK_TYPES": {"turnstile": "NoSuchTask"}},
    )
    (page,) = result.unsolved
    assert page["reason"] == "bad_task" and page["title"] == "Verify you are human"
    assert stack.solver.create_task_count == 1
    assert_clean_log(result, "test-key")


def test_budget_counts_widget_solves(stack, crawl) -> None:
    result = crawl(
        batches=[
            {"requests": [gate(stack, "turnstile", "b1")]},
            {"requests": [gate(stack, "recaptcha-v2", "b2")]},
        ],
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_SOLVES": 1},
    )
    # A spent budget stops spending, not crawling: the second gate gives up with
    # "budget", to its errback; the crawl goes on to its end.
    assert stack.solver.create_task_count == 1
    assert result.reason == "finished"
    assert [p["content"] for p in result.pages] == ["Content behind gate b1"]
    assert result.reasons() == ["budget"]
    assert result.outcomes == 2


def test_close_while_a_widget_solve_is_pending(stack, crawl) -> None:
    stack.solver.hold()
    result = crawl(
        requests=[gate(stack, "turnstile", "c1")],
        settings={**stack.scrapy_settings(), "CLOSESPIDER_TIMEOUT": 2},
        timeout=60,
    )
    assert result.reason == "closespider_timeout"
    assert result.outcomes == 1 and result.dropped
    assert_clean_log(result)


def test_download_async_gate_waits_inline(stack, crawl) -> None:
    result = crawl(
        requests=[],
        download_async=[f"http://{HOST}/gate/turnstile/d1"],
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_PROXY": stack.proxy_a.url,
            "CAPTCHA_DOMAIN_PROXIES": {HOST: stack.proxy_a.url},
        },
    )
    (record,) = result.download_async
    assert record["status"] == 200 and "Content behind gate d1" in record["body"]
    assert_clean_log(result)
