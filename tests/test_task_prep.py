"""What is checked of a task before it is paid for (``_task_prep``): a proxy host name
where the service takes only IP addresses, on the crawl's own reactor."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.utils.defer import deferred_from_coro

from conftest import drive
from scrapy_captcha.errors import INPUT, SolverError
from scrapy_captcha.services._task_prep import prepared
from scrapy_captcha.services.providers import TaskContext, load_provider


class _Ctx:
    def __init__(self) -> None:
        self.stats: dict[str, int] = {}

    def inc(self, key: str, count: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + count


def run(name: str, proxy: str) -> tuple[Any, _Ctx]:
    ctx = _Ctx()
    provider = load_provider(name)
    ctx_task = TaskContext("https://shop.example/", proxy, page_html=b"<html>")
    outcome: list[Any] = []
    d = deferred_from_coro(prepared(ctx, provider, lambda p: p.cloudflare_task(ctx_task)))
    d.addBoth(outcome.append)
    assert drive(lambda: bool(outcome), 15)
    return outcome[0], ctx


@pytest.mark.parametrize("name", ["anti-captcha", "capmonster"])
def test_a_proxy_host_name_is_resolved_before_the_task_is_sent(name: str) -> None:
    task, ctx = run(name, "http://u:p@localhost:8080")
    assert task["proxyAddress"] == "127.0.0.1" and ctx.stats == {"proxy/resolved": 1}


def test_a_host_name_that_does_not_resolve_is_a_bad_task_sent_nowhere() -> None:
    failure, _ = run("anti-captcha", "http://u:p@no-such-proxy.invalid:8080")
    exc = failure.value
    assert isinstance(exc, SolverError) and exc.family == INPUT
    assert exc.reason == "proxy_unresolved" and "no-such-proxy.invalid" in str(exc)
    assert "p@" not in str(exc)


def test_services_taking_host_names_get_them_as_they_are() -> None:
    task, ctx = run("1captcha", "http://u:p@localhost:8080")
    assert task["proxy"] == "http://u:p@localhost:8080" and ctx.stats == {}
