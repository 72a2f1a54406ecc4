"""The Cloudflare decision table, branch by branch, without a crawl."""

from __future__ import annotations

import pytest

from scrapy_captcha.policy._decide import Action, Decision, Facts, decide, decide_after_store

GIVE_UP = Action.GIVE_UP

CASES: list[tuple[str, Facts, Decision]] = [
    ("no challenge", Facts(challenged=False), Decision(Action.PASS)),
    (
        "no challenge wins over everything",
        Facts(challenged=False, solvable=False, from_cache=True, attempts=9),
        Decision(Action.PASS),
    ),
    ("block page", Facts(challenged=True, solvable=False), Decision(GIVE_UP, "blocked")),
    (
        "block page even from the cache",
        Facts(challenged=True, solvable=False, from_cache=True),
        Decision(GIVE_UP, "blocked"),
    ),
    (
        "challenge from HttpCache",
        Facts(challenged=True, from_cache=True),
        Decision(Action.REFETCH),
    ),
    (
        "cache bypass before the attempts bound",
        Facts(challenged=True, from_cache=True, attempts=3),
        Decision(Action.REFETCH),
    ),
    (
        "attempts spent",
        Facts(challenged=True, attempts=3, max_attempts=3),
        Decision(GIVE_UP, "max_attempts"),
    ),
    (
        "attempts bound before a dead account",
        Facts(challenged=True, attempts=3, unavailable="bad_key"),
        Decision(GIVE_UP, "max_attempts"),
    ),
    (
        "dead account",
        Facts(challenged=True, unavailable="zero_balance"),
        Decision(GIVE_UP, "zero_balance"),
    ),
    (
        "unknown provider",
        Facts(challenged=True, unavailable="bad_provider", has_proxy=False),
        Decision(GIVE_UP, "bad_provider"),
    ),
    (
        "no proxy, no fallback",
        Facts(challenged=True, has_proxy=False),
        Decision(GIVE_UP, "no_proxy"),
    ),
    (
        "no proxy, CAPTCHA_PROXY can take it",
        Facts(challenged=True, has_proxy=False, can_reroute=True),
        Decision(Action.REROUTE),
    ),
    (
        "no proxy wins over a rejected task",
        Facts(challenged=True, has_proxy=False, rejected="bad_task"),
        Decision(GIVE_UP, "no_proxy"),
    ),
    (
        "task rejected before",
        Facts(challenged=True, rejected="bad_task", flight_pending=True),
        Decision(GIVE_UP, "bad_task"),
    ),
    ("a solve is pending", Facts(challenged=True, flight_pending=True), Decision(Action.JOIN)),
    ("nothing pending", Facts(challenged=True), Decision(Action.CHECK_STORE)),
    (
        "last attempt still solves",
        Facts(challenged=True, attempts=2, max_attempts=3),
        Decision(Action.CHECK_STORE),
    ),
]


@pytest.mark.parametrize(("name", "facts", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(name: str, facts: Facts, expected: Decision) -> None:
    assert decide(facts) == expected


@pytest.mark.parametrize(
    ("fresher", "pending", "expected"),
    [
        (False, False, Action.SOLVE),
        (False, True, Action.JOIN),
        (True, False, Action.REISSUE),
        # A fresher clearance is used even if another response started a flight since.
        (True, True, Action.REISSUE),
    ],
)
def test_decide_after_store(fresher: bool, pending: bool, expected: Action) -> None:
    decision = decide_after_store(fresher_clearance=fresher, flight_pending=pending)
    assert decision == Decision(expected)
