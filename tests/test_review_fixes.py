"""Regression tests for defects a review found (each failed before its fix)."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.request import request_from_dict

from conftest import assert_clean_log, build_root
from scrapy_captcha import CaptchaExtension
from scrapy_captcha._state import STATE, RequestState
from scrapy_captcha.detect._widgets import find_widgets
from scrapy_captcha.errors import SolverError
from scrapy_captcha.flows._fill import FormFiller
from scrapy_captcha.policy._outbound import Outbound
from scrapy_captcha.services._client import SolverClient
from scrapy_captcha.services.providers import OneCaptcha
from scrapy_captcha.testing import EmulatorStack
from scrapy_captcha.testing.site._forms import ACCOUNT

KEY = "k3y-SECRET-abcdef0123456789"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (f"ERROR_{KEY}", "x"),
        ("ERROR_KEY_DOES_NOT_EXIST", "bad key " + KEY.replace("-", "%2D")),
        ("ERROR_KEY_DOES_NOT_EXIST", "bad key " + base64.b64encode(KEY.encode()).decode()),
        ("ERROR_KEY_DOES_NOT_EXIST", "bad key " + KEY.lower()),
    ],
)
def test_the_api_key_is_redacted_in_every_form(code: str, text: str) -> None:
    client = SolverClient(OneCaptcha(), KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(SolverError) as caught:
        client._raise_for_error({"errorId": 1, "errorCode": code, "errorDescription": text})
    assert "SECRET" not in repr(caught.value).upper().replace("***", "")
    assert KEY.lower() not in str(caught.value).lower()


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f000001", "0177.0.0.1", "0"])
def test_shorthand_ipv4_literals_are_internal(host: str) -> None:
    outbound = Outbound(allow_offsite=True)
    assert outbound.refusal("https://shop.example.com/", f"http://{host}/x") == "internal_address"


def test_requests_sharing_meta_do_not_share_state() -> None:
    page = Request("https://a.example/")
    state = RequestState.of(page)
    state.attempts = 2
    follow = Request("https://a.example/next", meta=dict(page.meta))  # meta=response.meta
    mine = RequestState.of(follow)
    assert mine is not state and mine.attempts == 2
    mine.park = "x"
    assert state.park is None


def _login_page() -> Any:
    from scrapy.http import HtmlResponse

    body = (
        "<html><head><title>Log in</title>"
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script></head>'
        '<body><form method="get" action="/search"><input name="q">'
        '<div class="cf-turnstile" data-sitekey="0x4AAAAAAAQnd2Lq8sVxYr7B"></div>'
        "<button>Go</button></form></body></html>"
    )
    return HtmlResponse("https://a.example/", body=body.encode(), encoding="utf-8")


@pytest.fixture
def make_filler() -> Iterator[Callable[[], FormFiller]]:
    """Fillers of fresh roots whose solver is a closed loopback port; any solve they start
    is cancelled at teardown (nothing leaks into later tests, nothing leaves the host)."""
    roots: list[CaptchaExtension] = []

    def make() -> FormFiller:
        settings = {"CAPTCHA_API_KEY": "k", "CAPTCHA_API_URL": "http://127.0.0.1:9"}
        roots.append(build_root(settings))
        return roots[-1].filler

    yield make
    for root in roots:
        root.coordination.close()


def test_fetching_a_get_forms_action_is_not_a_submission(
    make_filler: Callable[[], FormFiller],
) -> None:
    filler = make_filler()
    (widget,) = find_widgets(_login_page())
    filler.remember(widget)
    for url in ("https://a.example/search", "https://a.example/search?page=2"):
        assert filler.on_request(Request(url), None) is None


def test_a_fill_carrier_resumed_in_another_process_is_solved_again(
    make_filler: Callable[[], FormFiller],
) -> None:
    """JOBDIR: the carrier comes back in a new process whose job table is empty."""
    filler = make_filler()
    (widget,) = find_widgets(_login_page())
    filler.remember(widget)
    carrier = filler.on_request(Request("https://a.example/search?q=shoes"), None)
    assert carrier is not None
    restored = request_from_dict(pickle.loads(pickle.dumps(carrier.to_dict())))
    state = restored.meta[STATE]
    state.park = None  # (the scheduler let it through)
    fresh = make_filler()  # a resumed process: no jobs, no remembered forms
    import asyncio

    again = asyncio.run(fresh.on_carrier(restored, state))
    assert again is not None and RequestState.of(again).fill is not None
    assert RequestState.of(again).filled is False


@pytest.fixture
def stack():
    with EmulatorStack(solve_latency=0.05) as s:
        s.site.add_host("accounts.example", "open")
        yield s


def test_a_failed_fill_still_leaves_through_the_domain_proxy(stack: EmulatorStack, crawl) -> None:
    stack.solver.set_fault("unsolvable")
    login = {
        "url": "http://accounts.example/account/turnstile/me",
        "tag": "login",
        "api": {
            "what": "none",
            "form": "//form[@id='login']",
            "formdata": dict(ACCOUNT),
            "captcha": {},
        },
    }
    settings = {
        **stack.scrapy_settings(),
        "CAPTCHA_DOMAIN_PROXIES": {"accounts.example": stack.proxy_a.url},
        "CAPTCHA_MAX_ATTEMPTS": 1,
    }
    result = crawl(requests=[login], settings=settings)
    # Issue 16: a login whose token could not be solved is not sent without it (a wasted
    # login attempt): the errback gets CaptchaUnsolved; handled, it leaves as built,
    # through the domain's proxy.
    (unsolved,) = result.unsolved
    assert unsolved["tag"] == "login#0" and unsolved["status"] is None
    assert unsolved["reason"] == "unsolvable" and not result.tagged("login#0")
    result = crawl(requests=[login], settings={**settings, "CAPTCHA_HANDLE_UNSOLVED": True})
    assert not result.errors and not result.unsolved, result.errors
    (page,) = result.tagged("login#0")
    assert page["proxy"] == stack.proxy_a.url
    assert page["result"]["solved"] is False


def test_failover_needs_its_own_place_in_the_budget(stack: EmulatorStack, crawl) -> None:
    stack.site.add_host("shop.example")
    result = crawl(
        requests=[{"url": "http://shop.example/p/1", "meta": {"proxy": stack.proxy_a.url}}],
        settings={
            "CAPTCHA_PROVIDERS": ["1captcha", "ez-captcha"],
            "CAPTCHA_API_KEYS": {"1captcha": "revoked-key", "ez-captcha": "test-key"},
            "CAPTCHA_API_URLS": {n: stack.solver.url_for(n) for n in ("1captcha", "ez-captcha")},
            "CAPTCHA_CHECK_BALANCE": False,
            "CAPTCHA_MAX_SOLVES": 1,
        },
    )
    assert result.stat("captcha/solver/createTask") == 1  # no unbudgeted second task
    assert result.stat("captcha/failover") == 0
    assert_clean_log(result, "revoked-key", "test-key")
