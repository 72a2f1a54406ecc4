"""Fill on submit, end to end: the spider logs in as if there were no captcha; the add-on
solves the login form's widget when the submission leaves and fills the token in. The
emulated site checks the token (single use, bound to the site key and action) and the
credentials."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import assert_clean_log
from scrapy_captcha.testing import EmulatorStack
from scrapy_captcha.testing.site._forms import ACCOUNT

HOST = "accounts.example"


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.1) as s:
        s.site.add_host(HOST, "open")
        yield s


def login(stack: EmulatorStack, kind: str, name: str, **api: Any) -> dict[str, Any]:
    return {
        "url": f"http://{HOST}/account/{kind}/{name}",
        "tag": kind,
        "meta": {"proxy": stack.proxy_a.url, "cookiejar": name},
        "api": {
            "what": "none",
            "form": "//form[@id='login']",
            "formdata": dict(ACCOUNT),
            "captcha": {},
            **api,
        },
    }


@pytest.mark.parametrize(
    ("kind", "task_type"),
    [("turnstile", "TurnstileTaskProxyless"), ("recaptcha-v2", "RecaptchaV2TaskProxyless")],
)
def test_login_written_without_captcha_is_filled_on_submit(
    stack: EmulatorStack, crawl, kind: str, task_type: str
) -> None:
    result = crawl(requests=[login(stack, kind, "me")], settings=stack.scrapy_settings())
    (page,) = result.tagged(f"{kind}#0")
    assert page["content"] == "Welcome me", (page, result.errors)
    assert page["method"] == "POST"
    assert page["result"]["filled"] is True and page["result"]["solved"] is True
    [task] = stack.solver.tasks
    assert task.type == task_type
    assert task.task["websiteURL"] == f"http://{HOST}/account/{kind}/me"
    if kind == "turnstile":  # (1captcha documents no Turnstile action: solved on the page)
        assert "action" not in task.task
    assert result.stat("captcha/skipped/needs_input") == 1  # not paid for when it arrived
    assert (
        result.stat(f"captcha/filled/{'turnstile' if kind == 'turnstile' else 'recaptcha_v2'}")
        == 1
    )
    assert_clean_log(result, "test-key", ACCOUNT["password"])


def test_wrong_credentials_still_cost_one_solve_and_reach_the_spider(
    stack: EmulatorStack, crawl
) -> None:
    request = login(stack, "turnstile", "bad")
    request["api"]["formdata"] = {**ACCOUNT, "password": "nope"}
    result = crawl(requests=[request], settings=stack.scrapy_settings())
    (page,) = result.tagged("turnstile#0")
    assert page["gate_error"] == "bad_credentials"  # the token was good
    assert stack.solver.create_task_count == 1  # one solve per submission, no retry


@pytest.mark.parametrize(
    ("settings", "meta"),
    [({"CAPTCHA_FILL_ON_SUBMIT": False}, {}), ({}, {"fill": False})],
    ids=["setting", "meta"],
)
def test_fill_on_submit_can_be_turned_off(
    stack: EmulatorStack, crawl, settings: dict[str, Any], meta: dict[str, Any]
) -> None:
    result = crawl(
        requests=[login(stack, "turnstile", "off", captcha=meta)],
        settings={**stack.scrapy_settings(), **settings},
    )
    (page,) = result.tagged("turnstile#0")
    assert page["gate_error"] and page["content"] is None
    assert stack.solver.create_task_count == 0


def test_a_token_the_spider_filled_itself_is_left_alone(stack: EmulatorStack, crawl) -> None:
    request = login(stack, "turnstile", "own")
    request["api"]["formdata"] = {**ACCOUNT, "cf-turnstile-response": "spiders-own-token"}
    result = crawl(requests=[request], settings=stack.scrapy_settings())
    (page,) = result.tagged("turnstile#0")
    assert page["gate_error"]  # the site refused the spider's token: not our business
    assert stack.solver.create_task_count == 0
