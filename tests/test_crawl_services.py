"""Several solver services in one crawl: failover, cost, the money budget and balances,
in real crawls against the emulated solver (which speaks every dialect at its own URL)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import assert_clean_log
from scrapy_captcha.testing import EmulatorStack

HOST = "shop.example"


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host(HOST)
        yield s


def services(stack: EmulatorStack, keys: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "CAPTCHA_PROVIDERS": list(keys),
        "CAPTCHA_API_KEYS": keys,
        "CAPTCHA_API_URLS": {name: stack.solver.url_for(name) for name in keys},
        "CAPTCHA_POLL_INTERVAL": 0.05,
        **extra,
    }


def pages(
    stack: EmulatorStack, n: int, proxy: str | None = None, path: str = "p"
) -> list[dict[str, Any]]:
    return [
        {"url": f"http://{HOST}/{path}/{i}", "meta": {"proxy": proxy or stack.proxy_a.url}}
        for i in range(n)
    ]


def test_a_dead_account_fails_over_to_the_next_service(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=pages(stack, 3),
        settings=services(
            stack,
            {"1captcha": "revoked-key", "ez-captcha": "test-key"},
            CAPTCHA_CHECK_BALANCE=False,  # (found mid-solve, not at start)
        ),
    )
    assert [p["status"] for p in result.pages] == [200] * 3
    assert {p["result"]["provider"] for p in result.pages} == {"ez-captcha"}
    assert result.stat("captcha/disabled/bad_key") == 1
    assert result.stat("captcha/failover") == 1
    assert result.stat("captcha/solved_by/ez-captcha") == 1
    assert [t.dialect for t in stack.solver.tasks] == ["ez-captcha"]  # none paid at 1captcha
    assert_clean_log(result, "revoked-key", "test-key")


def test_repeated_failures_rest_a_service(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("unsolvable", times=1)
    result = crawl(
        requests=pages(stack, 2),
        settings=services(
            stack, {"1captcha": "test-key", "ez-captcha": "test-key"}, CAPTCHA_FAILOVER_AFTER=1
        ),
    )
    assert [p["status"] for p in result.pages] == [200] * 2
    assert [t.dialect for t in stack.solver.tasks] == ["1captcha", "ez-captcha"]
    assert {p["result"]["provider"] for p in result.pages} == {"ez-captcha"}
    assert "1captcha failed 1 solves in a row" in result.log


def test_cost_is_counted_per_service_and_the_money_budget_holds(
    stack: EmulatorStack, crawl
) -> None:
    user2 = stack.proxy_b.url_with("alice", "s3cret")
    result = crawl(
        batches=[{"requests": pages(stack, 2)}, {"requests": pages(stack, 1, user2, "q")}],
        settings=services(
            stack,
            {"1captcha": "test-key"},
            CAPTCHA_PRICES={"1captcha": {"cloudflare": 0.002}},
            CAPTCHA_MAX_COST=0.003,
        ),
    )
    assert stack.solver.create_task_count == 1  # the second route would exceed 0.003 USD
    assert result.stat("captcha/cost/1captcha") == pytest.approx(0.002)
    first = [p for p in result.pages if p["status"] == 200]
    assert len(first) == 2 and all(p["result"]["provider"] == "1captcha" for p in first)
    assert result.reason == "finished"  # (a spent budget stops spending, not crawling)
    assert result.stat("captcha/unsolved/budget") == 1


def test_low_balance_is_logged_once(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_balance("poor-key", 0.5)
    result = crawl(
        requests=pages(stack, 1),
        settings=services(stack, {"1captcha": "poor-key"}, CAPTCHA_BALANCE_WARN=1.0),
    )
    assert result.log.count("1captcha balance is low: 0.5000") == 1
    assert result.stat("captcha/balance/1captcha") == 0.5


def test_a_refused_token_is_reported_once_per_task(stack: EmulatorStack, crawl) -> None:
    """The gate answers each submission with the gate again (wrong v3 action): every
    token it refused is reported through the service's report endpoint."""
    stack.site.add_host("gates.example", "open")
    result = crawl(
        requests=[
            {
                "url": "http://gates.example/gate/recaptcha-v3/r1",
                "meta": {"proxy": stack.proxy_a.url, "captcha": {"task": {"pageAction": "no"}}},
            }
        ],
        settings=services(stack, {"2captcha": "test-key"}, CAPTCHA_MAX_ATTEMPTS=2),
    )
    task_ids = [t.id for t in stack.solver.tasks]
    assert len(task_ids) == 2
    assert sorted(stack.solver.reports(), key=str) == sorted(
        [("2captcha", "reportIncorrect", tid) for tid in task_ids], key=str
    )
    assert result.stat("captcha/reported/2captcha") == 2
    assert_clean_log(result, "test-key")


def test_a_clearance_challenged_at_once_is_reported(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("bad_clearance", times=1)
    result = crawl(
        requests=pages(stack, 1),
        settings=services(
            stack,
            {"capmonster": "test-key"},
        ),
    )
    assert [p["status"] for p in result.pages] == [200]
    first = stack.solver.tasks[0].id
    assert stack.solver.reports() == [("capmonster", "reportIncorrectTokenCaptcha", first)]
    assert result.stat("captcha/reported/capmonster") == 1


def test_reports_can_be_turned_off(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("bad_clearance", times=1)
    crawl(
        requests=pages(stack, 1),
        settings=services(stack, {"2captcha": "test-key"}, CAPTCHA_REPORT_INCORRECT=False),
    )
    assert stack.solver.reports() == []
