"""Refunds that happen (issue 18, item 1): for every service and every kind of captcha
it can refund, a result the site refused reaches the service's report endpoint, in a real
crawl against the emulated solver speaking that service's dialect. The cases come from
the services table (``service_matrix``), so a new profile or kind is covered at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import assert_clean_log
from scrapy_captcha.services.providers import service_matrix
from scrapy_captcha.testing import EmulatorStack

GATES = "gates.example"
SHOP = "shop.example"
#: the host of each clearance wall's pages (the others are gates on GATES)
WALL_HOSTS = {"cloudflare": SHOP, "datadome": "dd.example", "aws_waf": "aws.example"}

#: the pages that ask for each task kind (gate kindpaths; an invisible v2 widget is a v2
#: task, both Enterprise widgets are kind "recaptcha_enterprise" on the page)
PAGES: dict[str, tuple[str, ...]] = {
    "turnstile": ("gate/turnstile",),
    "recaptcha_v2": ("gate/recaptcha-v2", "gate/recaptcha-v2-invisible"),
    "recaptcha_v2_enterprise": ("gate/recaptcha-v2-enterprise",),
    "recaptcha_v3": ("gate/recaptcha-v3",),
    "recaptcha_v3_enterprise": ("gate/recaptcha-v3-enterprise",),
    "hcaptcha": ("gate/hcaptcha",),
    "image": ("captcha-form",),
    "cloudflare": ("p",),
    "datadome": ("p",),
    "aws_waf": ("p",),
    "geetest_v4": ("gate/geetest-v4",),
    "mtcaptcha": ("gate/mtcaptcha",),
    "friendly_captcha": ("gate/friendly-captcha",),
}

REFUNDABLE = [
    (row.service, row.kind, page)
    for row in service_matrix()
    if row.report and row.task_type
    for page in PAGES[row.kind]
]
NOT_REFUNDABLE = [
    (row.service, row.kind, PAGES[row.kind][0])
    for row in service_matrix()
    if row.task_type and not row.report and row.kind in ("turnstile", "recaptcha_v2", "image")
]


@pytest.fixture
def stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(solve_latency=0.02) as s:
        s.site.add_host(GATES, "open")
        s.site.add_host(SHOP, "managed")
        s.site.add_host(WALL_HOSTS["datadome"], "datadome")
        s.site.add_host(WALL_HOSTS["aws_waf"], "aws_waf")
        yield s


def refused_once(stack: EmulatorStack, crawl: Any, service: str, kind: str, page: str) -> Any:
    """One page whose first solve the site refuses (a forged token, or a clearance
    challenged at once); the second is accepted."""
    stack.solver.set_fault("bad_clearance" if kind in WALL_HOSTS else "bad_token", times=1)
    host = WALL_HOSTS.get(kind, GATES)
    meta: dict[str, Any] = {"proxy": stack.proxy_a.url, "cookiejar": "refund"}
    if kind == "image":
        meta["captcha"] = {"image": {"selector": "img#captcha", "field": "code"}}
    return crawl(
        requests=[{"url": f"http://{host}/{page}/r1", "meta": meta}],
        settings={
            "CAPTCHA_PROVIDER": service,
            "CAPTCHA_API_KEY": "test-key",
            "CAPTCHA_API_URL": stack.solver.url_for(service),
            "CAPTCHA_POLL_INTERVAL": 0.02,
            "CAPTCHA_MAX_ATTEMPTS": 2,
        },
    )


@pytest.mark.parametrize(("service", "kind", "page"), REFUNDABLE)
def test_a_refused_result_is_reported_for_a_refund(
    stack: EmulatorStack, crawl: Any, service: str, kind: str, page: str
) -> None:
    result = refused_once(stack, crawl, service, kind, page)
    (got,) = result.pages
    assert got["status"] == 200 and got["result"]["solved"] is True, got
    first, _second = stack.solver.tasks
    method = next(r.report for r in service_matrix() if (r.service, r.kind) == (service, kind))
    assert stack.solver.reports() == [(service, method, first.id)]
    assert result.stat(f"captcha/reported/{service}") == 1
    assert_clean_log(result, "test-key")


@pytest.mark.parametrize(("service", "kind", "page"), NOT_REFUNDABLE)
def test_a_service_without_a_report_endpoint_is_not_called(
    stack: EmulatorStack, crawl: Any, service: str, kind: str, page: str
) -> None:
    result = refused_once(stack, crawl, service, kind, page)
    assert [p["status"] for p in result.pages] == [200]
    assert len(stack.solver.tasks) == 2
    assert stack.solver.reports() == []
    assert result.stat(f"captcha/reported/none/{service}") == 1
