"""The pieces of the walls beyond Cloudflare that need no crawl: CAPTCHA_WALLS, the outbound
policy's one wall exception, wall tasks and answers read from hostile pages and replies,
a clearance's wall and key, and a request state pickled before the walls existed."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from scrapy.settings import Settings

from conftest import build_root, start_failure
from scrapy_captcha._state import RequestState
from scrapy_captcha.detect._amazon import wall_target_allowed
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.flows._clearance_flight import _trusted
from scrapy_captcha.policy._outbound import Outbound
from scrapy_captcha.routes._routes import Route
from scrapy_captcha.routes.clearance import Clearance
from scrapy_captcha.services._wall_solutions import parse_geetest_solution, parse_wall_solution
from scrapy_captcha.services._wall_tasks import MissingParams
from scrapy_captcha.services.providers import TaskContext, load_provider
from scrapy_captcha.settings import CaptchaSettings

# -- CAPTCHA_WALLS -------------------------------------------------------------------------


def walls(value: Any) -> frozenset[str]:
    return CaptchaSettings.from_settings(Settings({"CAPTCHA_WALLS": value})).walls


def test_captcha_walls_default_is_every_solvable_wall() -> None:
    assert CaptchaSettings.from_settings(Settings()).walls == {
        "cloudflare",
        "aws_waf",
        "amazon",
        "datadome",
        "incapsula",
    }
    assert walls("cloudflare, datadome") == {"cloudflare", "datadome"}
    assert walls([]) == frozenset()


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (["datadom"], "did you mean 'datadome'?"),
        (["akamai"], "no service opens 'akamai' walls"),
        ("aws-waf", "did you mean 'aws_waf'?"),
        (3, "must be a list of wall names"),
    ],
)
def test_captcha_walls_mistakes_are_start_up_errors(value: Any, said: str) -> None:
    with pytest.raises(ConfigurationError, match="CAPTCHA_WALLS") as info:
        walls(value)
    assert said in str(info.value)


def test_a_mistyped_wall_stops_the_crawl_at_start(tmp_path) -> None:
    exc = start_failure(
        tmp_path,
        {"CAPTCHA_PROVIDER": "1captcha", "CAPTCHA_API_KEY": "k", "CAPTCHA_WALLS": ["amazn"]},
    )
    assert isinstance(exc, ConfigurationError) and "did you mean 'amazon'?" in str(exc)


# -- the outbound policy's one wall exception ----------------------------------------------

PAGE = "https://www.amazon.com/errors/validateCaptcha"
IMAGE = "https://images-na.ssl-images-amazon.com/captcha/xkbcqmtr/Captcha_a.jpg"


@pytest.mark.parametrize(
    ("wall", "page", "image", "allowed"),
    [
        ("amazon", PAGE, IMAGE, True),
        (
            "amazon",
            "https://www.amazon.co.uk/dp/1",
            "https://m.media-amazon.com/captcha/x.jpg",
            True,
        ),
        (None, PAGE, IMAGE, False),  # (a spider's own image: the ordinary policy)
        ("amazon", PAGE, IMAGE.replace("https:", "http:"), False),  # (https only)
        ("amazon", PAGE, "https://images-na.ssl-images-amazon.com.evil.example/c.jpg", False),
        ("amazon", PAGE, "https://evil-ssl-images-amazon.com/c.jpg", False),
        ("amazon", "https://shop.example/errors/validateCaptcha", IMAGE, False),
        ("amazon", "https://amazon.com.evil.example/x", IMAGE, False),
        ("datadome", PAGE, IMAGE, False),  # (no other wall has an exception)
    ],
)
def test_amazon_image_host_is_the_only_exception(
    wall: str | None, page: str, image: str, allowed: bool
) -> None:
    outbound = Outbound()
    assert (outbound.refusal(page, image, None, wall) is None) is allowed
    if not allowed:
        assert outbound.refusal(page, image, None, wall) in ("offsite", "bad_scheme")


def test_the_exception_keeps_internal_addresses_out() -> None:
    outbound = Outbound()
    assert outbound.refusal(PAGE, "https://127.0.0.1/captcha/x.jpg", None, "amazon") == (
        "internal_address"
    )
    assert not wall_target_allowed("amazon", "www.amazon.com", "https", "127.0.0.1")


def test_the_exception_keeps_the_spiders_allowed_domains_for_the_form() -> None:
    class Spider:
        allowed_domains = ["amazon.com"]

    outbound = Outbound()
    assert outbound.refusal(PAGE, IMAGE, Spider(), "amazon") is None
    assert outbound.refusal(PAGE, "https://www.amazon.de/x", Spider(), None) == "offsite"


# -- wall tasks from hostile pages ---------------------------------------------------------

URL = "https://shop.example/p"


def test_a_task_a_service_requires_more_for_is_never_built() -> None:
    ctx = TaskContext(URL, "", params={"key": "k", "iv": "i", "context": "c"})
    with pytest.raises(MissingParams, match="captcha_script"):
        load_provider("capmonster").clearance_task("aws_waf", ctx)
    assert load_provider("capsolver").clearance_task("aws_waf", ctx)["awsKey"] == "k"
    with pytest.raises(MissingParams, match="captcha_url"):
        load_provider("capsolver").clearance_task(
            "datadome", TaskContext(URL, "http://u:p@10.0.0.1:8080")
        )


def test_wall_tasks_carry_only_what_detection_bounded() -> None:
    """A page's values reach a task as detection read them (bounded there): nothing of
    the page besides, and never the page's other cookies."""
    params = {"key": "k" * 2048, "iv": "i", "context": "c", "unrelated": "x"}
    cookies = {"incap_ses_1_2": "s", "session": "private", "datadome": "d"}
    ctx = TaskContext(URL, "", params=params, cookies=cookies)
    task = load_provider("capsolver").clearance_task("aws_waf", ctx)
    assert "unrelated" not in str(task) and "private" not in str(task)
    ctx = TaskContext(URL, "", params={"script_url": "https://shop.example/_I"}, cookies=cookies)
    task = load_provider("capsolver").clearance_task("incapsula", ctx)
    assert task["cookies"] == [{"name": "incap_ses_1_2", "value": "s"}]


# -- wall answers from hostile replies ------------------------------------------------------


def reply(**solution: Any) -> dict[str, Any]:
    return {"errorId": 0, "status": "ready", "solution": solution}


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"cookie": ""},
        {"cookies": {"other": "x"}},
        {"cookie": "datadome=a\r\nSet-Cookie: evil=1"},  # (CR/LF: never on the wire)
        {"cookie": "datadome=" + "x" * 10_000},  # (over a cookie's size)
        {"domains": {f"d{i}": {"cookies": {"x": "1"}} for i in range(10_000)}},
        {"cookie": "datadome=v", "userAgent": "ua\nX-Evil: 1"},
        {"cookie": 42},
        {"domains": "not a dict"},
    ],
)
def test_hostile_datadome_answers_are_malformed(answer: dict[str, Any]) -> None:
    assert parse_wall_solution("datadome", reply(**answer)) is None


def test_a_wall_answer_keeps_only_the_cookie_value() -> None:
    parsed = parse_wall_solution(
        "datadome",
        reply(cookie="datadome=v4l; Max-Age=60; Domain=.com; Path=/; Secure; SameSite=Lax"),
    )
    assert parsed is not None and parsed.cookies == {"datadome": "v4l"}
    assert parsed.cookie_expires is not None  # (Max-Age: the clearance lives no longer)
    parsed = parse_wall_solution("aws_waf", reply(token="t0k"))
    assert parsed is not None and parsed.cookies == {"aws-waf-token": "t0k"}


def test_geetest_answers_need_all_five_fields() -> None:
    fields = {
        "captcha_id": "e392",
        "lot_number": "l",
        "pass_token": "p",
        "gen_time": 1700000000,
        "captcha_output": "o",
    }
    parsed = parse_geetest_solution(reply(**fields))
    assert parsed is not None and parsed.token == "o" and parsed.fields["gen_time"] == "1700000000"
    assert parse_geetest_solution(reply(**{**fields, "pass_token": ""})) is None
    assert parse_geetest_solution(reply(**{**fields, "captcha_output": "a\nb"})) is None


# -- clearances: their wall, their key ------------------------------------------------------


def test_a_datadome_clearance_serves_the_whole_site() -> None:
    routes = build_root({"CAPTCHA_API_KEY": "k"}).routes
    www = Route("www.shop.example", "http://127.0.0.1:1", "www.shop.example|abc")
    api = Route("api.shop.example", "http://127.0.0.1:1", "api.shop.example|abc")
    assert routes.keys(www) == ("www.shop.example|abc",)
    assert routes.clearance_key(www, "cloudflare") == "www.shop.example|abc"
    assert routes.clearance_key(www, "datadome") == "shop.example|abc"
    assert routes.keys(api) == ("api.shop.example|abc", "shop.example|abc")


def test_clearances_name_their_wall_and_old_ones_are_cloudflare() -> None:
    clearance = Clearance({"datadome": "v"}, "UA", {}, 10**10, kind="datadome")
    assert Clearance.from_dict(clearance.to_dict()).kind == "datadome"
    old = {k: v for k, v in clearance.to_dict().items() if k != "kind"}
    assert Clearance.from_dict(old).kind == "cloudflare"
    with pytest.raises(ValueError):
        Clearance.from_dict({**clearance.to_dict(), "kind": "x" * 100})


def test_a_request_state_pickled_before_the_walls_still_loads() -> None:
    state = RequestState(attempts=2)
    data = pickle.dumps(state)
    del state.__dict__["cleared_key"]  # (as an older version pickled it)
    older = pickle.loads(pickle.dumps(state))
    assert older.cleared_key is None and older.attempts == 2
    assert pickle.loads(data).cleared_kind is None


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("script_url", "http://shop.example/_Incapsula_Resource?SWJIYLWA=1", True),
        ("script_url", "https://www.shop.example/_Incapsula_Resource?SWJIYLWA=1", True),
        ("script_url", "https://evil.example/_Incapsula_Resource?SWJIYLWA=1", False),
        ("script_url", "javascript:alert(1)", False),
        ("captcha_url", "https://geo.captcha-delivery.com/captcha/?initialCid=1", True),
        ("captcha_url", "http://geo.captcha-delivery.com/captcha/?initialCid=1", False),
        ("captcha_url", "https://geo.captcha-delivery.com.evil.example/captcha/", False),
        ("challenge_script", "https://a.b.us-east-1.token.awswaf.com/a/b/challenge.js", True),
        ("challenge_script", "https://10.0.0.1/challenge.js", False),
        ("key", "AQIDAH", True),
    ],
)
def test_urls_a_wall_page_names_are_kept_only_where_they_may_point(
    name: str, value: str, kept: bool
) -> None:
    assert (name in _trusted({name: value}, "http://shop.example/p/1")) is kept
