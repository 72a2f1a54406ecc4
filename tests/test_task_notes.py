"""Task notes read back from a shared Redis are untrusted (issue 17, item 8): a note whose
``created`` is NaN, Infinity or in the future once lifted the solve deadline and, for
NaN, the poll interval too (hundreds of polls a minute: services ban keys polling faster
than every 2 s). Such a note is ignored (a fresh solve), and the client's poll interval
has a floor whatever it is told."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy import Request

from conftest import assert_clean_log
from scrapy_captcha.routes._routes import route_for, route_secret
from scrapy_captcha.routes.store import created_ok
from scrapy_captcha.services._client import MIN_POLL_INTERVAL, SolverClient
from scrapy_captcha.services.providers import load_provider
from scrapy_captcha.testing import EmulatorStack, RedisServer

HOST = "shop.example"
PREFIX = "scrapy-captcha:"


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host(HOST)
        yield s


def never_ready_task(stack: EmulatorStack) -> int:
    """A 1captcha task that stays "processing" for good (what a storm of polls hits)."""
    stack.solver.set_fault("never_ready", times=1)
    base = urlsplit(stack.solver.url_for("1captcha"))
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
    task = {"type": "CloudFlareTaskS3", "websiteURL": f"http://{HOST}/", "proxy": "http://h:1"}
    try:
        body = json.dumps({"clientKey": "test-key", "task": task})
        conn.request("POST", f"{base.path}/createTask", body=body.encode())
        return int(json.loads(conn.getresponse().read())["taskId"])
    finally:
        conn.close()


@pytest.mark.parametrize(
    "created", [math.nan, math.inf, 4_000_000_000.0], ids=["nan", "infinity", "future"]
)
def test_a_task_note_with_a_bad_time_is_not_resumed(
    stack: EmulatorStack, crawl: Any, created: float
) -> None:
    proxy = stack.proxy_a.url
    route = route_for(
        Request(f"http://{HOST}/", meta={"proxy": proxy}), route_secret("test-key", {})
    )
    task_id = never_ready_task(stack)
    note = json.dumps({"provider": "1captcha", "task_id": task_id, "created": created})
    with RedisServer() as redis:
        redis.command("SET", f"{PREFIX}task:{route.key}", note, "PX", "60000")
        result = crawl(
            requests=[{"url": f"http://{HOST}/p/{i}", "meta": {"proxy": proxy}} for i in range(2)],
            settings={
                **stack.scrapy_settings(),
                "CAPTCHA_CACHE_URL": redis.url,
                "CAPTCHA_POLL_INTERVAL": 0.05,
                "CAPTCHA_SOLVE_TIMEOUT": 20,
            },
            timeout=60,
        )
    assert [p["status"] for p in result.pages] == [200] * 2
    assert result.stat("captcha/shared/task_resumed") == 0
    assert "Resuming task" not in result.log
    assert stack.solver.create_task_count == 2  # the never-ready one, and a fresh solve
    assert stack.solver.poll_count < 50  # no storm of polls on the noted task
    assert_clean_log(result, "test-key")


def test_created_must_be_finite_and_not_in_the_future() -> None:
    now = 1_800_000_000.0
    assert created_ok(now - 10, now) and created_ok(now + 5, now)  # (a little clock skew)
    for bad in (math.nan, math.inf, -math.inf, now + 3600, True, "1", None):
        assert not created_ok(bad, now), bad


class _NoReactor:
    def callLater(self, *a: object, **k: object) -> None:  # pragma: no cover
        raise AssertionError("no timers here")


@pytest.mark.parametrize("asked", [0.1, math.nan, math.inf, -1.0, 0.0])
def test_the_poll_interval_has_a_floor_whatever_it_is_told(asked: float) -> None:
    provider = load_provider("capmonster")
    remote = SolverClient(provider, "k", poll_interval=asked, reactor=_NoReactor())
    assert MIN_POLL_INTERVAL <= remote.poll_interval < math.inf
    # the emulators on loopback may be polled fast (the suite's own speed), never at 0
    local = SolverClient(
        provider,
        "k",
        base_url="http://127.0.0.1:9/capmonster",
        poll_interval=asked,
        reactor=_NoReactor(),
    )
    assert 0 < local.poll_interval < math.inf
    for timeout in (math.nan, math.inf, -5.0, 0.0, None):
        assert remote._timeout(timeout) == remote.solve_timeout
