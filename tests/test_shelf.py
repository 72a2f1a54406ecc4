"""The shelf's races and edges (see ``shelf_scenarios.py``) against a real redis-server,
and the shared-queue setting; the whole scrapy-redis worker is in ``test_workers.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scrapy import Request
from scrapy.settings import Settings
from scrapy_redis.scheduler import Scheduler as RedisScheduler
from test_store_redis import run_scenario

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.routes._shelf_entries import (
    NotData,
    ShelfKeys,
    Unauthenticated,
    decode,
    encode,
    pickle_allowed,
)
from scrapy_captcha.settings import CaptchaSettings


def _check(name: str, out: dict[str, Any]) -> None:
    """What each scenario must have seen (each also asserts inside)."""
    if name == "claim_blip":
        # A blip between two claims loses nothing (shelves are looked at in set order).
        assert (out["first_look"], out["left_after_first_look"]) in (
            (["http://x/a"], ["dead2"]),
            (["http://x/b"], ["dead1"]),
        )
    elif name == "claim_reply_lost":
        # A claim whose reply is lost is left to the next worker.
        assert sorted(out["recovered"]) == ["http://x/a", "http://x/b"]
    elif name == "close_while_looking":
        # Closing mid-look schedules nothing and loses nothing.
        assert out == {"first": [], "next": ["http://x/r"]}
    elif name == "take_blip":
        # A failed take left an entry behind, which kept the other worker open until the
        # take was retried (then nothing was stale).
        assert sum(out["stale"].values()) == 1 and out["others_before"] == 1
    elif name == "not_persisted":
        # The shelf goes with a queue that is not kept.
        assert out == {"persist": False}
    elif name == "queues_apart":
        # Two crawls with different queues in one Redis keep apart.
        assert out == {"crawled": []}
    elif name == "big_shelf":
        # A big dead shelf is claimed in bounded batches.
        assert out == {"per_look": [500, 1000, 1200]}
    elif name == "poisoned":
        # Nothing from Redis runs; everything but the genuine entry is skipped, counted.
        assert out == {"unauthenticated": 6, "sent": ["http://x/ok"]}
    elif name == "no_secrets_at_rest":
        # Nothing secret in Redis; the same credentials sent by the worker taking over.
        assert (out["proxy_auth"], out["auth"]) == tuple(out["ok"])
        assert out["cookie"] is None and out["accept"] == "application/json"
        assert out["proxy"] == "http://127.0.0.1:3128"
        assert out["session"] == {"origin": "http://x:80", "cookies": {"s": "PAGE-SESSION"}}
    elif name == "claims_bounded_by_bytes":
        # 4 MiB a look (four entries of 930 KB, a fifth would pass it); 3 forged giants
        # deleted in Redis, never transferred.
        assert out == {"per_look": [4, 6, 6, 6], "oversized": 3}
    else:
        raise AssertionError(f"no check for scenario {name}")


@pytest.mark.parametrize("reactor", ["asyncio", "twisted"])
def test_shelf_scenarios(reactor: str) -> None:
    """Every scenario of ``shelf_scenarios.py``, in one process per reactor (one
    interpreter start for all of them); each failure is reported by name."""
    results = run_scenario("every", reactor, "shelf_scenarios.py")
    failed = {name: out["failed"] for name, out in results.items() if "failed" in out}
    assert not failed, "\n".join(f"{name}:\n{tb}" for name, tb in failed.items())
    for name, out in results.items():
        _check(name, out)


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


# -- entries: pure logic ----------------------------------------------------------------


def _keys(queue: str = "s:requests", secret: bytes = b"k" * 32) -> ShelfKeys:
    return ShelfKeys(secret, queue)


def _request(**kwargs: Any) -> Request:
    return Request(
        "http://x/p",
        method="POST",
        body=b"\x00\xffbody",
        headers={"Accept": "a/b", "Authorization": "Bearer T", "Cookie": "c=1"},
        **kwargs,
    )


def test_an_entry_is_data_when_the_request_is() -> None:
    req = _request(meta={"t": (1, "x"), "b": b"\x01", "odd": {b"k": 1, "$x": 2}})
    blob = encode(req, None, _keys(), "id", pickle_ok=True)
    body = json.loads(blob.split(".", 2)[2])
    assert "r" in body and "p" not in body  # no pickle
    back = decode(blob, None, _keys(), "id")
    assert (back.url, back.method, back.body) == (req.url, req.method, req.body)
    assert back.meta["t"] == (1, "x") and back.meta["odd"] == {b"k": 1, "$x": 2}
    assert back.headers["Authorization"] == b"Bearer T" and b"Cookie" not in back.headers


def test_other_objects_are_pickled_only_where_the_queue_is() -> None:
    req = _request(meta={"s": {1, 2}})  # (a set: no JSON for it)
    blob = encode(req, None, _keys(), "id", pickle_ok=True)
    assert "p" in json.loads(blob.split(".", 2)[2])
    assert decode(blob, None, _keys(), "id").meta["s"] == {1, 2}
    with pytest.raises(NotData):  # a data-only SCHEDULER_SERIALIZER: no pickle here either
        encode(req, None, _keys(), "id", pickle_ok=False)
    assert not pickle_allowed("json") and not pickle_allowed("my.project.orjson")
    assert pickle_allowed("scrapy_redis.picklecompat") and pickle_allowed(None)


def test_an_entry_is_bound_to_its_key_queue_and_id() -> None:
    blob = encode(_request(), None, _keys(), "id", pickle_ok=True)
    for keys, park_id in ((_keys(secret=b"x" * 32), "id"), (_keys("q2"), "id"), (_keys(), "id2")):
        with pytest.raises(Unauthenticated):
            decode(blob, None, keys, park_id)
    fmt, mac, body = blob.split(".", 2)
    with pytest.raises(Unauthenticated):
        decode(f"{fmt}.{mac}.{body.replace('http://x/p', 'http://y/p')}", None, _keys(), "id")


def test_an_authenticated_but_malformed_entry_is_unreadable_not_a_crash() -> None:
    keys = _keys()
    for body in ('{"r": 5}', '{"p": "!!"}', "[1]", '{"r": {}, "s": "AAAA"}'):
        blob = f"scs1.{keys.mac('id', body)}.{body}"
        with pytest.raises(ValueError) as caught:
            decode(blob, None, keys, "id")
        assert not isinstance(caught.value, Unauthenticated)
