"""The shelf's races and edges (see ``shelf_scenarios.py``), each in its own process
against a real redis-server; the whole scrapy-redis worker is in ``test_workers.py``."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.settings import Settings
from scrapy_redis.scheduler import Scheduler as RedisScheduler
from test_store_redis import run_scenario

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.settings import CaptchaSettings


def scenario(name: str, reactor: str = "asyncio") -> dict[str, Any]:
    return run_scenario(name, reactor, "shelf_scenarios.py")


@pytest.mark.parametrize("reactor", ["asyncio", "twisted"])
def test_a_blip_between_two_claims_loses_nothing(reactor: str) -> None:
    out = scenario("claim_blip", reactor)
    # (the shelves are looked at in Redis's set order)
    assert (out["first_look"], out["left_after_first_look"]) in (
        (["http://x/a"], ["dead2"]),
        (["http://x/b"], ["dead1"]),
    )


def test_a_claim_whose_reply_is_lost_is_left_to_the_next_worker() -> None:
    assert sorted(scenario("claim_reply_lost")["recovered"]) == ["http://x/a", "http://x/b"]


def test_closing_while_looking_schedules_nothing_and_loses_nothing() -> None:
    out = scenario("close_while_looking")
    assert out == {"first": [], "next": ["http://x/r"]}


def test_a_failed_take_is_retried_and_leaves_nothing_stale() -> None:
    out = scenario("take_blip")
    assert sum(out["stale"].values()) == 1  # the blip did leave an entry behind...
    assert out["others_before"] == 1  # ...which kept the other worker open until retried


def test_the_shelf_goes_with_a_queue_that_is_not_kept() -> None:
    assert scenario("not_persisted") == {"persist": False}


def test_crawls_with_different_queues_keep_apart() -> None:
    assert scenario("queues_apart") == {"crawled": []}


def test_a_big_dead_shelf_is_claimed_in_bounded_batches() -> None:
    assert scenario("big_shelf") == {"per_look": [500, 1000, 1200]}


class _OwnScheduler(RedisScheduler):
    """A project's own subclass of scrapy-redis's scheduler."""


@pytest.mark.parametrize(
    ("settings", "shared"),
    [
        ({}, False),
        ({"SCHEDULER": "scrapy_redis.scheduler.Scheduler"}, True),
        ({"SCHEDULER": _OwnScheduler}, True),
        ({"SCHEDULER": "scrapy_redis.scheduler.Scheduler", "CAPTCHA_SHARED_QUEUE": False}, False),
        ({"CAPTCHA_SHARED_QUEUE": True}, True),
        ({"SCHEDULER": "no.such.Scheduler"}, False),
    ],
)
def test_shared_queue_setting(settings: dict[str, Any], shared: bool) -> None:
    assert CaptchaSettings.from_settings(Settings(settings)).shared_queue is shared


def test_shared_queue_setting_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="CAPTCHA_SHARED_QUEUE"):
        CaptchaSettings.from_settings(Settings({"CAPTCHA_SHARED_QUEUE": "maybe"}))
