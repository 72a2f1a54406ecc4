"""The solver services, exactly (issue 18): what each service is sent and what the add-on
does with its answer, in real crawls against the emulated solver speaking that service's
dialect: balances in each service's unit, every account checked at start, CapMonster's
published User-Agent, capsolver's clearance fields, proxies in each service's form,
proxy-bound token tasks and the token's User-Agent, and the documented task fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import assert_clean_log
from hostile import HostileSite, html
from scrapy_captcha.testing import EmulatorStack
from scrapy_captcha.testing.site._forms import ACCOUNT
from scrapy_captcha.testing.solver._tables import CURRENT_WINDOWS_UA, POINTS_PER_USD

GATES = "gates.example"
SHOP = "shop.example"
ACCOUNTS = "accounts.example"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36"
)


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host(GATES, "open")
        s.site.add_host(SHOP, "managed")
        s.site.add_host(ACCOUNTS, "open")
        yield s


def service(stack: EmulatorStack, name: str, key: str = "test-key", **extra: Any) -> dict:
    return {
        "CAPTCHA_PROVIDER": name,
        "CAPTCHA_API_KEY": key,
        "CAPTCHA_API_URL": stack.solver.url_for(name),
        "CAPTCHA_POLL_INTERVAL": 0.05,
        **extra,
    }


def shop(
    stack: EmulatorStack, n: int, proxy: str | None = None, tag: str = "p", **meta: Any
) -> list[dict]:
    return [
        {"url": f"http://{SHOP}/{tag}/{i}", "meta": {"proxy": proxy or stack.proxy_a.url, **meta}}
        for i in range(n)
    ]


def gate(stack: EmulatorStack, kindpath: str, name: str, proxy: str | None = None, **meta: Any):
    return {
        "url": f"http://{GATES}/gate/{kindpath}/{name}",
        "meta": {"proxy": proxy or stack.proxy_a.url, "cookiejar": name, **meta},
    }


def login(stack: EmulatorStack, name: str) -> dict[str, Any]:
    """A login written as if there were no captcha (Turnstile): filled on submit."""
    return {
        "url": f"http://{ACCOUNTS}/account/turnstile/{name}",
        "meta": {"proxy": stack.proxy_a.url, "cookiejar": name},
        "api": {
            "what": "none",
            "form": "//form[@id='login']",
            "formdata": dict(ACCOUNT),
            "captcha": {},
        },
    }


def only_task(stack: EmulatorStack) -> dict[str, Any]:
    (task,) = stack.solver.tasks
    return task.task


# -- money: balances ------------------------------------------------------------------


def test_yescaptcha_balance_is_points_kept_in_usd(stack: EmulatorStack, crawl) -> None:
    """yescaptcha answers getBalance in points (1 yuan = 1000 points): 0.5 USD is ~3571
    points, not 3571 USD; the stat, the log and the low-balance warning are in USD."""
    stack.solver.set_balance("poor-key", 0.5)
    result = crawl(
        requests=[gate(stack, "recaptcha-v2", "y")],
        settings=service(stack, "yescaptcha", "poor-key", CAPTCHA_BALANCE_WARN=1.0),
    )
    assert result.stat("captcha/balance/yescaptcha") == pytest.approx(0.5, abs=1e-4)
    assert f"yescaptcha balance: {0.5 * POINTS_PER_USD:g} points (0.5000 USD)" in result.log
    assert result.log.count("yescaptcha balance is low: 0.5000") == 1


def test_every_account_of_the_chain_is_checked_at_start(stack: EmulatorStack, crawl) -> None:
    """A bad key further down the chain is found before any challenge needs it."""
    result = crawl(
        requests=[gate(stack, "recaptcha-v2", "z")],
        settings={
            "CAPTCHA_PROVIDERS": ["1captcha", "ez-captcha", "capsolver"],
            "CAPTCHA_API_KEYS": {
                "1captcha": "test-key",
                "ez-captcha": "revoked-key",
                "capsolver": "empty-key",
            },
            "CAPTCHA_API_URLS": {
                n: stack.solver.url_for(n) for n in ("1captcha", "ez-captcha", "capsolver")
            },
            "CAPTCHA_POLL_INTERVAL": 0.05,
        },
    )
    assert result.stat("captcha/solver/getBalance") == 3
    assert "balance/1captcha" in str(result.stats)
    assert "Captcha solving with ez-captcha disabled for the rest of the crawl: bad_key" in (
        result.log
    )
    assert (
        "Captcha solving with capsolver disabled for the rest of the crawl: zero_balance"
        " (balance 0.0000 USD)" in result.log
    )
    assert result.reason == "finished"  # (1captcha, the first account, works)
    assert_clean_log(result, "test-key", "revoked-key")


# -- clearances that hold: User-Agents -------------------------------------------------


def test_capmonster_names_its_published_user_agent_and_replays_it(
    stack: EmulatorStack, crawl
) -> None:
    """CapMonster requires the current Windows UA it publishes: read once (cached), sent
    in the task, and the clearance (bound to it by the site) replayed with it."""
    result = crawl(
        batches=[
            {"requests": shop(stack, 2)},
            {"requests": shop(stack, 1, stack.proxy_b.url_with("alice", "s3cret"), "q")},
        ],
        settings=service(stack, "capmonster"),
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert [t.task["userAgent"] for t in stack.solver.tasks] == [CURRENT_WINDOWS_UA] * 2
    assert stack.solver.user_agent_reads == 1
    assert result.stat("captcha/user_agent/read") == 1
    assert_clean_log(result, "test-key", "s3cret")


def test_a_user_agent_given_in_meta_is_sent_and_replayed(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=shop(stack, 2, captcha={"task": {"userAgent": CHROME}}),
        settings=service(stack, "capmonster"),
    )
    assert [p["status"] for p in result.pages] == [200] * 2  # (bound to that UA)
    assert only_task(stack)["userAgent"] == CHROME


def test_a_stale_user_agent_is_refreshed_and_the_task_sent_once_more(
    stack: EmulatorStack, crawl
) -> None:
    """getUserAgent is down at first: the profile's fallback (an old Chrome) is named,
    CapMonster answers ERROR_WRONG_USERAGENT, the UA is read again, the task resent."""
    stack.solver.set_fault("user_agent_down", times=1)
    result = crawl(requests=shop(stack, 1), settings=service(stack, "capmonster"))
    assert [p["status"] for p in result.pages] == [200]
    assert stack.solver.create_task_calls("capmonster") == 2
    assert only_task(stack)["userAgent"] == CURRENT_WINDOWS_UA
    assert result.stat("captcha/user_agent/fallback") == 1
    assert result.stat("captcha/user_agent/refreshed") == 1
    assert result.stat("captcha/failed/wrong_user_agent") == 0


@pytest.mark.parametrize(("agent", "sent"), [(CHROME, True), ("Scrapy/2.13", False)])
def test_capsolver_clearance_task_has_the_page_and_a_chrome_user_agent(
    stack: EmulatorStack, crawl, agent: str, sent: bool
) -> None:
    result = crawl(requests=shop(stack, 1), settings=service(stack, "capsolver", USER_AGENT=agent))
    assert [p["status"] for p in result.pages] == [200]
    task = only_task(stack)
    assert "challenge-form" in task["html"]  # the challenge page as served
    assert task.get("userAgent") == (agent if sent else None)


# -- proxies in each service's form ------------------------------------------------------


@pytest.mark.parametrize("name", ["anti-captcha", "capmonster"])
def test_a_proxy_host_name_is_resolved_where_an_ip_is_required(
    stack: EmulatorStack, crawl, name: str
) -> None:
    proxy = stack.proxy_a.url.replace("127.0.0.1", "localhost")
    result = crawl(requests=shop(stack, 1, proxy), settings=service(stack, name))
    assert [p["status"] for p in result.pages] == [200]
    task = only_task(stack)
    assert task["proxyAddress"] == "127.0.0.1"
    assert result.stat("captcha/proxy/resolved") == 1
    # AntiBotCookieTask: no proxyType (its SDK sends none); CapMonster: "http"
    assert task.get("proxyType") == (None if name == "anti-captcha" else "http")


# -- proxy-bound token tasks and the token's User-Agent --------------------------------

PROXY_BOUND = {
    "anti-captcha": ("RecaptchaV2Task", {"proxyType": "http", "proxyLogin": "alice"}),
    "2captcha": ("RecaptchaV2Task", {"proxyType": "http", "proxyLogin": "alice"}),
    "capmonster": ("RecaptchaV2Task", {"proxyType": "http", "proxyLogin": "alice"}),
    "capsolver": ("ReCaptchaV2Task", {}),
}


@pytest.mark.parametrize("name", list(PROXY_BOUND))
def test_token_tasks_go_through_the_request_proxy_when_asked(
    stack: EmulatorStack, crawl, name: str
) -> None:
    proxy = stack.proxy_b.url_with("alice", "s3cret")
    result = crawl(
        requests=[gate(stack, "recaptcha-v2", "t1", proxy)],
        settings=service(stack, name, CAPTCHA_TOKEN_PROXY=True),
    )
    (page,) = result.pages
    assert page["content"] == "Content behind gate t1", page
    (task,) = stack.solver.tasks
    task_type, fields = PROXY_BOUND[name]
    assert task.type == task_type
    assert {k: task.task.get(k) for k in fields} == fields
    if name == "capsolver":
        assert task.task["proxy"].endswith(":alice:s3cret")
    else:
        assert task.task["proxyPassword"] == "s3cret"
    assert result.stat("captcha/token/proxy_bound") == 1
    assert_clean_log(result, "test-key", "s3cret")


def test_meta_turns_proxy_bound_token_tasks_off(stack: EmulatorStack, crawl) -> None:
    request = gate(stack, "recaptcha-v2", "t2", captcha={"token_proxy": False})
    crawl(requests=[request], settings=service(stack, "anti-captcha", CAPTCHA_TOKEN_PROXY=True))
    assert [t.type for t in stack.solver.tasks] == ["RecaptchaV2TaskProxyless"]


def test_a_proxy_bound_type_forced_by_task_types_carries_the_proxy(
    stack: EmulatorStack, crawl
) -> None:
    """CAPTCHA_TASK_TYPES naming anti-captcha's proxy-bound type once sent it without
    proxy fields (refused): the request's proxy goes with it."""
    result = crawl(
        requests=[gate(stack, "recaptcha-v2", "t3")],
        settings=service(
            stack, "anti-captcha", CAPTCHA_TASK_TYPES={"recaptcha_v2": "RecaptchaV2Task"}
        ),
    )
    assert [p["content"] for p in result.pages] == ["Content behind gate t3"]
    assert only_task(stack)["proxyAddress"] == "127.0.0.1"


def test_the_token_user_agent_goes_with_the_submission(stack: EmulatorStack, crawl) -> None:
    """The service solved the widget in its browser: the gate submission (and a form
    filled on submit) carry that browser's User-Agent."""
    result = crawl(
        requests=[gate(stack, "turnstile", "u1"), login(stack, "me")],
        settings=service(stack, "1captcha"),
    )
    assert len(result.pages) == 2 and not result.errors
    posts = [e for e in stack.site.events if e["method"] == "POST"]
    assert {e["path"].split("/")[1] for e in posts} == {"gate", "account"}
    assert all("EmuBrowser/" in e["ua"] for e in posts), posts


# -- task fields, as each service documents them ---------------------------------------


def _page(stack: EmulatorStack, script: str, widget: str) -> bytes:
    return (
        f'<html><head><title>Sign in</title><script src="{script}"></script></head><body>'
        f'<form method="post" action="/done">{widget}<button>Go</button></form></body></html>'
    ).encode()


@pytest.mark.parametrize(
    ("name", "api_domain", "action"),
    [
        ("anti-captcha", "www.recaptcha.net", None),
        ("capmonster", "www.recaptcha.net", None),
        ("2captcha", None, None),
        ("capsolver", None, "login"),
        ("yescaptcha", None, None),
    ],
)
def test_v2_enterprise_fields_as_documented(
    stack: EmulatorStack, crawl, name: str, api_domain: str | None, action: str | None
) -> None:
    """apiDomain for a widget loaded from recaptcha.net where the service documents it;
    pageAction on a v2 Enterprise task only where documented (most: for v3 only)."""
    key = stack.authority.register("recaptcha_v2", enterprise=True)
    widget = f'<div class="g-recaptcha" data-sitekey="{key}" data-action="login"></div>'
    page = _page(stack, "https://www.recaptcha.net/recaptcha/enterprise.js", widget)
    with HostileSite({"/signin": html(page.decode())}) as site:
        crawl(
            requests=[{"url": f"{site.url}/signin", "meta": {"captcha": {"widgets": "token"}}}],
            settings=service(stack, name),
        )
    task = only_task(stack)
    assert task.get("apiDomain") == api_domain
    assert task.get("pageAction") == action


@pytest.mark.parametrize(
    ("name", "field"), [("anti-captcha", "recaptchaDataSValue"), ("capsolver", None)]
)
def test_data_s_is_sent_where_documented_and_said_once_where_not(
    stack: EmulatorStack, crawl, name: str, field: str | None
) -> None:
    key = stack.authority.register("recaptcha_v2")
    widget = f'<div class="g-recaptcha" data-sitekey="{key}" data-s="S-VALUE"></div>'
    page = _page(stack, "https://www.google.com/recaptcha/api.js", widget).decode()
    with HostileSite({"/a": html(page), "/b": html(page)}) as site:
        result = crawl(
            requests=[
                {"url": f"{site.url}/{p}", "meta": {"captcha": {"widgets": "token"}}}
                for p in ("a", "b")
            ],
            settings=service(stack, name),
        )
    tasks = [t.task for t in stack.solver.tasks]
    assert len(tasks) == 2
    if field:
        assert all(t[field] == "S-VALUE" for t in tasks)
    else:
        assert not any("S-VALUE" in str(t) for t in tasks)
        assert result.log.count("capsolver documents no task field for the reCAPTCHA data-s") == 1


def test_turnstile_fields_only_where_documented(stack: EmulatorStack, crawl) -> None:
    """yescaptcha documents no Turnstile action: not sent (its worker solves the page's
    own widget), said once."""
    result = crawl(
        requests=[gate(stack, "turnstile", f"w{i}") for i in range(2)],
        settings=service(stack, "yescaptcha"),
    )
    assert sorted(p["content"] for p in result.pages) == [
        "Content behind gate w0",
        "Content behind gate w1",
    ]
    assert all("action" not in t.task and "cData" not in t.task for t in stack.solver.tasks)
    assert result.log.count("yescaptcha documents no task field for the Turnstile action") == 1


@pytest.mark.parametrize(
    ("name", "default"),
    [("anti-captcha", 0.9), ("2captcha", None), ("capmonster", None), ("yescaptcha", 0.3)],
)
def test_min_score_default_per_service_and_per_request(
    stack: EmulatorStack, crawl, name: str, default: float | None
) -> None:
    requests = [
        gate(stack, "recaptcha-v3", "m1"),
        gate(stack, "recaptcha-v3", "m2", captcha={"task": {"minScore": 0.7}}),
    ]
    crawl(requests=requests, settings=service(stack, name))
    scores = {
        t.task["websiteURL"].rsplit("/", 1)[1]: t.task.get("minScore") for t in stack.solver.tasks
    }
    assert scores == {"m1": default, "m2": 0.7}
