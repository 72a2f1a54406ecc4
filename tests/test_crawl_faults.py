"""Every solver fault ends each request with exactly one outcome, and the crawl ends."""

from __future__ import annotations

import socket

import pytest

from conftest import REACTORS, assert_clean_log
from scrapy_captcha.testing import EmulatorStack

N = 5


@pytest.fixture
def stack():
    with EmulatorStack() as s:
        s.site.add_host("shop.example", "managed")
        yield s


def requests_for(stack: EmulatorStack, n: int = N) -> list[dict]:
    return [
        {"url": f"http://shop.example/p/{i}", "meta": {"proxy": stack.proxy_a.url}}
        for i in range(n)
    ]


def assert_all_unsolved(result, reason: str, n: int = N) -> None:
    """Every page went to the errback as CaptchaUnsolved (none to the callback)."""
    assert len(result.unsolved) == n and not result.errors and not result.pages
    assert {u["status"] for u in result.unsolved} == {403}
    assert {u["reason"] for u in result.unsolved} == {reason}
    assert all(u["result"]["solved"] is False for u in result.unsolved)


@pytest.mark.parametrize(
    ("key", "reason"), [("wrong-key", "bad_key"), ("empty-key", "zero_balance")]
)
@pytest.mark.parametrize("check_balance", [True, False])
def test_a_dead_account_closes_the_crawl_with_a_reason(
    stack: EmulatorStack, crawl, key: str, reason: str, check_balance: bool
) -> None:
    """Issue 16 #6: a bad key or an empty account lost every protected page and the crawl
    ended ``finished``; now one ERROR says which account and why, and the spider closes
    with ``captcha_solver_unavailable``. No page reaches a callback as a success. The
    balance read answers late: the first challenge waits for it and sends no task."""
    stack.solver.balance_latency = 0.5
    result = crawl(
        requests=requests_for(stack),
        settings={**stack.scrapy_settings(api_key=key), "CAPTCHA_CHECK_BALANCE": check_balance},
    )
    assert result.reason == "captcha_solver_unavailable"
    assert stack.solver.tasks == []
    assert not result.pages  # (closed at start by the balance read: nothing left pending)
    if check_balance:  # (found by its balance read: 0.0, or the key refused)
        assert stack.solver.create_task_calls("1captcha") == 0
    assert {u["reason"] for u in result.unsolved} <= {reason}
    assert result.log.count("disabled for the rest of the crawl") == 1
    assert result.log.count(f"No usable solver account is left (1captcha: {reason})") == 1
    assert result.stat(f"captcha/disabled/{reason}") == 1
    assert result.stat(f"captcha/failed/{reason}") == 1
    assert_clean_log(result, key)


@pytest.mark.parametrize("setting", ["CAPTCHA_CLOSE_ON_UNAVAILABLE", "CAPTCHA_CLOSE_ON_FATAL"])
def test_a_dead_account_can_leave_the_crawl_running(
    stack: EmulatorStack, crawl, setting: str
) -> None:
    """Opted out (CAPTCHA_CLOSE_ON_FATAL is the deprecated name): the crawl goes on, each
    challenge gives up to the errback."""
    result = crawl(
        requests=requests_for(stack),
        settings={
            **stack.scrapy_settings(api_key="wrong-key"),
            "CAPTCHA_CHECK_BALANCE": False,
            setting: False,
        },
    )
    assert_all_unsolved(result, "bad_key")
    assert result.reason == "finished"
    assert "every challenge gives up from now on" in result.log
    assert_clean_log(result, "wrong-key")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("unsolvable", "unsolvable"),
        ("garbage", "malformed_reply"),
        ("malformed", "malformed_reply"),
        ("http_502", "http_error"),
    ],
)
def test_transient_fault_then_success(
    stack: EmulatorStack, crawl, fault: str, reason: str
) -> None:
    stack.solver.set_fault(fault, times=1)
    result = crawl(requests=requests_for(stack), settings=stack.scrapy_settings())
    assert [p["status"] for p in result.pages] == [200] * N
    assert result.stat(f"captcha/failed/{reason}") == 1
    assert result.stat("captcha/solved/cloudflare") == 1
    assert_clean_log(result, "test-key")


def test_no_slot_waits_and_retries_within_one_solve(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("no_slot", times=1)
    result = crawl(requests=requests_for(stack, 2), settings=stack.scrapy_settings())
    assert [p["status"] for p in result.pages] == [200] * 2
    assert result.stat("captcha/solver/createTask") == 2
    assert result.stat("captcha/solved/cloudflare") == 1
    assert not any(k.startswith("captcha/failed") for k in result.stats)


def test_input_error_is_not_resent(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("http_400_json")
    result = crawl(requests=requests_for(stack), settings=stack.scrapy_settings())
    assert_all_unsolved(result, "bad_task")
    assert result.stat("captcha/solver/createTask") == 1


@pytest.mark.parametrize("reactor", REACTORS)
def test_never_ready_times_out_and_gives_up(stack: EmulatorStack, crawl, reactor: str) -> None:
    stack.solver.set_fault("never_ready")
    result = crawl(
        reactor=reactor,
        requests=requests_for(stack),
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_SOLVE_TIMEOUT": 1,
            "CAPTCHA_MAX_ATTEMPTS": 2,
        },
    )
    assert_all_unsolved(result, "max_attempts")
    assert all(u["result"]["attempts"] == 2 for u in result.unsolved)
    # two solves, unless a straggler met its first challenge after one had failed
    assert 2 <= len(stack.solver.tasks) <= 2 * N
    assert result.stat("captcha/failed/timeout") == len(stack.solver.tasks)
    # The spider is told which task it waited for last.
    assert {u["result"]["task_id"] for u in result.unsolved} <= {t.id for t in stack.solver.tasks}
    assert all(u["result"]["task_id"] is not None for u in result.unsolved)
    assert_clean_log(result, "test-key")


def test_hanging_solver_call_times_out(stack: EmulatorStack, crawl) -> None:
    stack.solver.hold_timeout = 5
    stack.solver.set_fault("hang", times=1)
    result = crawl(
        requests=requests_for(stack, 2),
        settings={**stack.scrapy_settings(), "CAPTCHA_REQUEST_TIMEOUT": 1},
    )
    assert [p["status"] for p in result.pages] == [200] * 2
    assert result.stat("captcha/failed/timeout") == 1


@pytest.mark.parametrize("reactor", REACTORS)
def test_dead_solver(stack: EmulatorStack, crawl, reactor: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = crawl(
        reactor=reactor,
        requests=requests_for(stack),
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_API_URL": f"http://127.0.0.1:{port}/x",
            "CAPTCHA_MAX_ATTEMPTS": 2,
        },
    )
    # Issue 16 #6: an unreachable solver lost every page and the crawl ended "finished".
    # CAPTCHA_UNREACHABLE_AFTER (3) calls in a row that cannot reach it make the account
    # unusable: one ERROR, and the crawl closes with a reason.
    assert result.reason == "captcha_solver_unavailable"
    assert not result.pages
    assert result.stat("captcha/disabled/unreachable") == 1
    assert result.stat("captcha/failed/connection") + 1 == 3  # (+1: the balance read)
    assert "Could not read the 1captcha balance" in result.log
    assert "No usable solver account is left (1captcha: unreachable)" in result.log
    assert_clean_log(result, "test-key")


def test_clearance_that_does_not_take_is_dropped_and_bounded(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("bad_clearance")
    result = crawl(
        requests=requests_for(stack),
        settings={**stack.scrapy_settings(), "CAPTCHA_MAX_ATTEMPTS": 2},
    )
    assert_all_unsolved(result, "max_attempts")
    assert all(u["result"]["attempts"] == 2 for u in result.unsolved)
    assert 2 <= len(stack.solver.tasks) <= 2 * N
    # every forged clearance was dropped once it failed, and only once
    assert result.stat("captcha/cache/invalidated") == len(stack.solver.tasks)


def test_oversized_reply_is_a_fault_not_a_crash(stack: EmulatorStack, crawl) -> None:
    result = crawl(
        requests=requests_for(stack, 2),
        settings={
            **stack.scrapy_settings(),
            "CAPTCHA_MAX_REPLY_SIZE": 300,
            "CAPTCHA_MAX_ATTEMPTS": 1,
        },
    )
    assert_all_unsolved(result, "max_attempts", n=2)
    assert result.stat("captcha/failed/malformed_reply") == 1


@pytest.mark.parametrize(
    "options",
    [
        {"solution_shape": "top_level"},
        {"solution_shape": "both", "misspell_headers": True},
        {"cookie_format": "list"},
        {"cookie_format": "string"},
        {"ua_mismatch": True},
        {"ready_on_create": True},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
@pytest.mark.parametrize("provider", ["1captcha", "ez-captcha"])
def test_every_documented_reply_shape(
    stack: EmulatorStack, crawl, options: dict, provider: str
) -> None:
    stack.solver.configure(**options)
    result = crawl(requests=requests_for(stack, 3), settings=stack.scrapy_settings(provider))
    assert [p["status"] for p in result.pages] == [200] * 3
    assert len(stack.solver.tasks) == 1


def test_poll_faults_are_ridden_out(stack: EmulatorStack, crawl) -> None:
    stack.solver.latency = 1.0
    stack.solver.set_fault("poll_502", times=2)
    result = crawl(requests=requests_for(stack, 2), settings=stack.scrapy_settings())
    assert [p["status"] for p in result.pages] == [200] * 2
    assert len(stack.solver.tasks) == 1
    assert not any(k.startswith("captcha/failed") for k in result.stats)


def test_polling_respects_the_interval(stack: EmulatorStack, crawl) -> None:
    stack.solver.latency = 1.0
    result = crawl(
        requests=requests_for(stack, 1),
        settings={**stack.scrapy_settings(), "CAPTCHA_POLL_INTERVAL": 0.25},
    )
    assert [p["status"] for p in result.pages] == [200]
    [task] = stack.solver.tasks
    solving = task.solved_at - task.created_at  # measured: a loaded machine is slower
    # one poll per interval while the task runs, give or take the first and last one
    assert 2 <= stack.solver.poll_count <= solving / 0.25 + 3


def test_ready_from_create_task_needs_no_poll(stack: EmulatorStack, crawl) -> None:
    stack.solver.configure(ready_on_create=True)
    result = crawl(requests=requests_for(stack, 2), settings=stack.scrapy_settings())
    assert [p["status"] for p in result.pages] == [200] * 2
    assert stack.solver.poll_count == 0


def test_no_slot_backs_off_at_least_five_seconds(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("no_slot", times=1)
    result = crawl(requests=requests_for(stack, 1), settings=stack.scrapy_settings())
    assert [p["status"] for p in result.pages] == [200]
    first, second = stack.solver.create_task_times
    assert second - first >= 5.0  # a lower bound: a slow machine only makes it longer


def test_fatal_error_disables_only_that_provider(stack: EmulatorStack, crawl) -> None:
    good = requests_for(stack, 2)
    for r in good:
        r["meta"]["captcha"] = {"provider": "ez-captcha"}
        r["url"] += "-ez"
    result = crawl(
        batches=[{"requests": requests_for(stack, 1)}, {"requests": good}],
        settings={
            **stack.scrapy_settings(api_key="wrong-key"),
            "CAPTCHA_API_KEYS": {"ez-captcha": "test-key"},
            "CAPTCHA_API_URLS": {"ez-captcha": stack.solver.url_for("ez-captcha")},
        },
    )
    assert sorted(p["status"] for p in result.pages) == [200, 200]
    assert result.reasons() == ["bad_key"]
    assert result.reason == "finished"  # (ez-captcha, a configured account, still works)
    assert [t.dialect for t in stack.solver.tasks] == ["ez-captcha"]
    assert_clean_log(result, "wrong-key", "test-key")


def test_unknown_provider_in_meta_fails_that_request_before_paying(
    stack: EmulatorStack, crawl
) -> None:
    reqs = requests_for(stack, 2)
    for r in reqs:
        r["meta"]["captcha"] = {"provider": "no.such.Provider"}
    result = crawl(requests=reqs, settings=stack.scrapy_settings())
    assert {e["error"] for e in result.errors} == {"BadCaptchaOptions"}
    assert len(result.errors) == 2 and not result.pages
    assert "unknown service 'no.such.Provider'" in result.errors[0]["message"]
    assert result.log.count("unknown service 'no.such.Provider'") == 1  # (one ERROR line)
    assert stack.solver.create_task_count == 0
