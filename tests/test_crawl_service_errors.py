"""Errors as each service means them (issue 18, items 13-16), in real crawls against the
emulated solver speaking that service's dialect: CapMonster's ERROR_TOO_MUCH_REQUESTS
(poll the same task slower), capsolver's ERROR_RATE_LIMIT (back off, not a failure),
CapMonster's ERROR_DOMAIN_NOT_ALLOWED and ERROR_NO_SUCH_METHOD (a bad task, never resent;
the kind moves to the next service), and the hint when a service has no task for a kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import assert_clean_log
from scrapy_captcha.testing import EmulatorStack

GATES = "gates.example"
SHOP = "shop.example"


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host(GATES, "open")
        s.site.add_host(SHOP, "managed")
        yield s


def chain(stack: EmulatorStack, *names: str, **extra: Any) -> dict[str, Any]:
    return {
        "CAPTCHA_PROVIDERS": list(names),
        "CAPTCHA_API_KEYS": dict.fromkeys(names, "test-key"),
        "CAPTCHA_API_URLS": {name: stack.solver.url_for(name) for name in names},
        "CAPTCHA_POLL_INTERVAL": 0.05,
        **extra,
    }


def gate(stack: EmulatorStack, kindpath: str, name: str) -> dict[str, Any]:
    return {
        "url": f"http://{GATES}/gate/{kindpath}/{name}",
        "meta": {"proxy": stack.proxy_a.url, "cookiejar": name, "handle_captcha_unsolved": True},
    }


def failures(result: Any) -> dict[str, Any]:
    return {k: v for k, v in result.stats.items() if k.startswith("captcha/failed/")}


def test_too_much_requests_polls_the_same_task_slower(stack: EmulatorStack, crawl) -> None:
    """CapMonster allows one getTaskResult per task every 2 s (here 0.3 s): a client
    polling faster is answered ERROR_TOO_MUCH_REQUESTS, and keeps polling the same paid
    task at half the pace, instead of buying another."""
    stack.solver.latency = 1.0
    stack.solver.poll_spacing = 0.3
    result = crawl(
        requests=[gate(stack, "recaptcha-v2", "a")], settings=chain(stack, "capmonster")
    )
    (page,) = result.pages
    assert page["content"] == "Content behind gate a", page
    assert len(stack.solver.tasks) == 1 and stack.solver.create_task_count == 1
    assert result.stat("captcha/solver/getTaskResult/slowed_down") >= 1
    assert failures(result) == {}
    assert_clean_log(result, "test-key")


def test_rate_limit_backs_off_and_is_no_failure(stack: EmulatorStack, crawl) -> None:
    """capsolver's ERROR_RATE_LIMIT at createTask: no task was made; ask again after a
    back-off, as for no slot. Nothing failed, one task in all."""
    stack.solver.set_fault("rate_limit", times=1)
    result = crawl(requests=[gate(stack, "recaptcha-v2", "b")], settings=chain(stack, "capsolver"))
    (page,) = result.pages
    assert page["content"] == "Content behind gate b", page
    assert stack.solver.create_task_calls("capsolver") == 2 and len(stack.solver.tasks) == 1
    times = stack.solver.create_task_times
    assert times[1] - times[0] >= 5.0  # (providers ask for >= 5 s)
    assert result.stat("captcha/solver/createTask/backed_off") == 1
    assert failures(result) == {}


def test_domain_not_allowed_moves_the_kind_to_the_next_service(
    stack: EmulatorStack, crawl
) -> None:
    """CapMonster refuses the site: the task is not sent to it again (anti-captcha warns
    repeated identical erroneous requests draw bans); this solve and the next ones of
    the kind go to the next service of the chain."""
    stack.solver.forbidden_domains.add(GATES)
    result = crawl(
        batches=[
            {"requests": [gate(stack, "recaptcha-v2", "c1")]},
            {"requests": [gate(stack, "recaptcha-v2", "c2")]},
        ],
        settings=chain(stack, "capmonster", "anti-captcha"),
    )
    assert sorted(p["content"] for p in result.pages) == [
        "Content behind gate c1",
        "Content behind gate c2",
    ]
    assert stack.solver.create_task_calls("capmonster") == 1  # never the same task twice
    assert [t.dialect for t in stack.solver.tasks] == ["anti-captcha"] * 2
    assert result.stat("captcha/failed/domain_not_allowed") == 1
    assert result.stat("captcha/refused_kind/capmonster") == 1
    assert result.stat("captcha/failover") == 1
    assert "capmonster refuses recaptcha_v2 tasks (ERROR_DOMAIN_NOT_ALLOWED)" in result.log


def test_no_such_method_alone_gives_up_as_a_bad_task(stack: EmulatorStack, crawl) -> None:
    """A service that no longer takes a task type (ERROR_NO_SUCH_METHOD) and nothing else
    in the chain: given up as a bad task, never resent, later pages not sent either."""
    stack.solver.withdrawn_types.add("HCaptchaTask")
    result = crawl(
        batches=[
            {"requests": [gate(stack, "hcaptcha", "d1")]},
            {"requests": [gate(stack, "hcaptcha", "d2")]},
        ],
        settings=chain(stack, "capmonster"),
    )
    assert [p["result"]["reason"] for p in result.pages] == ["bad_task", "bad_task"]
    assert stack.solver.create_task_calls("capmonster") == 1
    assert result.stat("captcha/failed/bad_task") == 1


def test_no_such_method_moves_the_kind(stack: EmulatorStack, crawl) -> None:
    stack.solver.withdrawn_types.add("HCaptchaTask")
    result = crawl(
        requests=[gate(stack, "hcaptcha", "e1")],
        settings=chain(stack, "capmonster", "anti-captcha"),
    )
    assert [p["content"] for p in result.pages] == ["Content behind gate e1"]
    assert [t.dialect for t in stack.solver.tasks] == ["anti-captcha"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ("2captcha",),
            "Services that can: anti-captcha, capmonster, capsolver, 1captcha and ez-captcha",
        ),
        (("2captcha", "capsolver"), "In CAPTCHA_PROVIDERS, capsolver can"),
    ],
    ids=["alone", "in-chain"],
)
def test_the_hint_says_what_a_service_cannot_do_and_who_can(
    stack: EmulatorStack, crawl, names: tuple[str, ...], expected: str
) -> None:
    """2captcha has no clearance task: the hint says so (no task type would help: it
    once led users to buy useless Turnstile tasks) and names the services that can."""
    result = crawl(
        requests=[{"url": f"http://{SHOP}/p/1", "meta": {"proxy": stack.proxy_a.url}}],
        settings=chain(stack, *names),
    )
    assert "2captcha cannot solve cloudflare captchas (2captcha has no clearance task" in (
        result.log
    )
    assert expected in result.log
    assert "CAPTCHA_TASK_TYPES = {" not in result.log
    assert stack.solver.create_task_calls("2captcha") == 0
    if len(names) > 1:
        assert [p["status"] for p in result.pages] == [200]
        assert [t.dialect for t in stack.solver.tasks] == ["capsolver"]
