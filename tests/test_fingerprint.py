"""The User-Agent -> curl_cffi impersonation target mapping, and what Routes.apply does
with it."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.settings import Settings

from scrapy_captcha._state import RequestState
from scrapy_captcha.routes._routes import Routes
from scrapy_captcha.routes.clearance import Clearance, undo_clearance
from scrapy_captcha.services import _fingerprint as fp
from scrapy_captcha.services._fingerprint import (
    Browser,
    apply_target,
    available_targets,
    choice_matches,
    impersonating_schemes,
    parse_target,
    target_for,
    undo_target,
    uses_impersonation,
)

# A fixed table (curl_cffi 0.17's names), so the expectations do not move with curl_cffi.
TABLE = [
    t
    for t in map(
        parse_target,
        [*fp.STATIC_TARGETS, "chrome150", "chrome151", "chrome151_macos", "chrome152"],
    )
    if t is not None
]

WIN, MAC = "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7"
CHROME = "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Safari/537.36"
UAS = {
    CHROME.format(os=WIN, v="131.0.0.0"): "chrome131",
    CHROME.format(os=WIN, v="124.0.6367.91"): "chrome124",
    CHROME.format(os=WIN, v="125.0.0.0"): "chrome124",  # nearest not newer
    CHROME.format(os=WIN, v="134.0.0.0"): "chrome133a",
    CHROME.format(os=WIN, v="200.0.0.0"): "chrome152",
    CHROME.format(os=WIN, v="98.0.0.0"): None,  # nothing old enough
    CHROME.format(os=MAC, v="151.0.0.0"): "chrome151_macos",  # same OS on a tie
    CHROME.format(os="X11; Linux x86_64", v="151.0.0.0"): "chrome151",
    CHROME.format(os="X11; Linux x86_64", v="124.0.0.0").replace("Chrome", "HeadlessChrome"): (
        "chrome124"
    ),
    # Android: the Android target of that version, else the nearest desktop one
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36": "chrome131_android",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36": "chrome120",
    # Opera, Samsung Internet: Chromium, by their Chrome token
    CHROME.format(os=WIN, v="120.0.0.0") + " OPR/106.0.0.0": "chrome120",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36": "chrome120",
    # Edge: its own target of that version, else Chromium's
    CHROME.format(os=WIN, v="101.0.4951.64") + " Edg/101.0.1210.53": "edge101",
    CHROME.format(os=WIN, v="99.0.0.0") + " Edg/99.0.1150.36": "edge99",
    CHROME.format(os=WIN, v="131.0.0.0") + " Edg/131.0.0.0": "chrome131",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0": "chrome131_android",
    # legacy EdgeHTML Edge: far older than any target
    CHROME.format(os=WIN, v="70.0.3538.102") + " Edge/18.17763": None,
    # Safari: by Version/, macOS or iOS
    f"Mozilla/5.0 ({MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15": "safari170",
    f"Mozilla/5.0 ({MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 "
    "Safari/605.1.15": "safari184",
    f"Mozilla/5.0 ({MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 "
    "Safari/605.1.15": "safari260",  # 26.0.1 is newer
    f"Mozilla/5.0 ({MAC}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.0 "
    "Safari/605.1.15": None,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.4 Mobile/15E148 Safari/604.1": "safari184_ios",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "safari172_ios",
    # every iOS browser is WebKit: Safari's fingerprint at the iOS version
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1": "safari172_ios",
    "Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) FxiOS/131.0 Mobile/15E148 Safari/605.1.15": "safari180_ios",
    # Firefox
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0": (
        "firefox133"
    ),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0": (
        "firefox135"
    ),
    "Mozilla/5.0 (Android 14; Mobile; rv:147.0) Gecko/147.0 Firefox/147.0": "firefox147",
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0": None,
    # not a browser curl_cffi can be
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": None,
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "EmuBrowser/1.3 Safari/537.36": None,
    "Scrapy/2.19 (+https://scrapy.org)": None,
    "curl/8.5.0": None,
    "python-requests/2.32.3": None,
    "Mozilla/5.0 (Linux; Android 4.4.2) AppleWebKit/534.30 (KHTML, like Gecko) "
    "Version/4.0 Mobile Safari/534.30": None,  # the old Android stock browser
}


@pytest.mark.parametrize(("ua", "expected"), list(UAS.items()))
def test_user_agent_to_target(ua: str, expected: str | None) -> None:
    assert target_for(ua, TABLE) == expected


JUNK: list[Any] = [
    None,
    "",
    123,
    b"Chrome/124.0",
    "Chrome/",
    "Chrome/abc",
    "Chrome/-124",
    "Chrome/" + "9" * 5000,  # an int this long would not even parse in Python 3.11
    "\x00\xff\u202e Chrome/\u0661\u0662\u0664",  # Arabic-Indic digits are no version
    "Version/99999.1 Safari/1",
    "iPhone OS _ like Mac OS X",
]


@pytest.mark.parametrize("ua", JUNK)
def test_junk_maps_to_nothing(ua: Any) -> None:
    assert target_for(ua, TABLE) is None


@pytest.mark.parametrize(
    "ua",
    [
        "a" * 10_000,
        "Chrome/" * 1500,
        "Mozilla/5.0 (" * 800,
        "OS 1_" * 2000,
        "Version/1." * 1000 + "Safari/",
        " " * 10_000 + "Chrome/124.0.0.0",  # the token past the bound is not looked at
    ],
)
def test_ten_kilobyte_strings_are_bounded(ua: str) -> None:
    start = time.perf_counter()
    assert target_for(ua, TABLE) is None
    assert time.perf_counter() - start < 0.05


def test_token_within_the_bound_of_a_long_string_counts() -> None:
    ua = CHROME.format(os=WIN, v="124.0.0.0") + " x" * 5000
    assert target_for(ua, TABLE) == "chrome124"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_maps_to_a_known_target_or_none(ua: str) -> None:
    assert target_for(ua, TABLE) in {t.name for t in TABLE} | {None}


def test_target_names() -> None:
    assert parse_target("safari2601") == fp.Target("safari2601", "safari", (26, 0, 1), "desktop")
    assert parse_target("chrome133a") == fp.Target("chrome133a", "chrome", (133,), "desktop")
    assert parse_target("safari184_ios").platform == "ios"  # type: ignore[union-attr]
    assert parse_target("chrome151_macos").os == "macos"  # type: ignore[union-attr]
    for name in ("chrome", "safari15_3", "tor145", "chrome124x", "CHROME124", ""):
        assert parse_target(name) is None


def test_targets_come_from_the_installed_curl_cffi() -> None:
    """Every target read at runtime is one curl_cffi really impersonates: an unknown one
    fails only at download time (ImpersonateError)."""
    curl_cffi = pytest.importorskip("curl_cffi")
    targets = available_targets()
    assert {"chrome124", "chrome131", "edge101", "firefox133"} <= {t.name for t in targets}
    curl = curl_cffi.Curl()
    try:
        for t in targets:
            assert curl.impersonate(t.name) == 0, t.name
    finally:
        curl.close()
    with pytest.raises(curl_cffi.requests.exceptions.ImpersonateError):
        curl_cffi.requests.get("http://127.0.0.1:9/", impersonate="chrome999")
    # Whatever the version, the pick is one of them.
    picked = {target_for(CHROME.format(os=WIN, v=f"{v}.0.0.0")) for v in range(90, 300)}
    assert picked - {None} <= {t.name for t in targets}


@pytest.mark.parametrize("missing", ["curl_cffi.fingerprints", "curl_cffi"])
def test_fallbacks_without_curl_cffi(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    available_targets.cache_clear()
    for name in list(sys.modules):  # imports of these fail
        if name == missing or name.startswith(f"{missing}."):
            monkeypatch.setitem(sys.modules, name, None)
    try:
        names = {t.name for t in available_targets()}
        if missing == "curl_cffi":
            assert names == set(fp.STATIC_TARGETS)
        else:  # BrowserType, the older API
            assert {"chrome124", "safari184_ios"} <= names
        assert target_for(CHROME.format(os=WIN, v="124.0.0.0")) == "chrome124"
    finally:
        available_targets.cache_clear()


def test_table_rows_that_do_not_fit_are_skipped() -> None:
    rows = [
        {"browser": "Chrome", "version": "124", "os": "Windows", "target_name": "chrome124"},
        {"browser": "Tor", "version": "14.5", "os": "macOS", "target_name": "tor145"},
        {"browser": "Chrome", "version": "x", "target_name": "chrome1"},
        {"browser": "Chrome", "version": "125", "target_name": "../etc"},
        {"target_name": "chrome126"},
        "chrome127",
        None,
    ]
    assert [t.name for t in fp._from_table(rows)] == ["chrome124"]


CHROME_151_MAC = Browser("chrome", (151,), "desktop", "macos")


@pytest.mark.parametrize(
    ("current", "keeps"),
    [
        ("chrome151", True),  # same family and version: the spider's choice stays
        ("chrome151_macos", True),
        ("chrome150", False),
        ("chrome152", False),  # newer than the browser
        ("chrome", False),  # "the latest Chrome" is 152 here
        ("firefox147", False),
        ("edge101", False),
        ("nonsense", False),
        ("", False),
        (None, False),
        (object(), False),  # a custom fingerprint: cannot vouch for it
    ],
)
def test_spider_choice(current: Any, keeps: bool) -> None:
    assert choice_matches(current, CHROME_151_MAC, TABLE) is keeps


def test_alias_of_the_right_version_is_kept() -> None:
    assert choice_matches("chrome", Browser("chrome", (152,), "desktop"), TABLE)
    assert choice_matches("chrome_android", Browser("chrome", (131,), "android"), TABLE)


UA_151_MAC = CHROME.format(os=MAC, v="151.0.0.0")


def test_apply_and_undo_target() -> None:
    request = Request("http://example.com/")
    change = apply_target(request, UA_151_MAC, TABLE)
    assert request.meta["impersonate"] == "chrome151_macos"
    assert change == {"had": False, "previous": None, "applied": "chrome151_macos"}
    undo_target(request, change)
    assert "impersonate" not in request.meta

    request = Request("http://example.com/", meta={"impersonate": "firefox147"})
    change = apply_target(request, UA_151_MAC, TABLE)
    assert request.meta["impersonate"] == "chrome151_macos"
    undo_target(request, change)
    assert request.meta["impersonate"] == "firefox147"


def test_undo_leaves_a_later_change_alone() -> None:
    request = Request("http://example.com/")
    change = apply_target(request, UA_151_MAC, TABLE)
    request.meta["impersonate"] = "safari184"
    undo_target(request, change)
    assert request.meta["impersonate"] == "safari184"
    undo_target(request, None)


@pytest.mark.parametrize(
    ("meta", "ua"),
    [
        ({"impersonate": "chrome151"}, UA_151_MAC),  # matching spider choice
        ({"impersonate": "chrome151_macos"}, UA_151_MAC),  # already the pick
        ({}, "curl/8.5.0"),  # no browser
        ({}, None),
        ({"impersonate": "firefox147"}, CHROME.format(os=WIN, v="98.0.0.0")),  # too old
    ],
)
def test_apply_target_changes_nothing(meta: dict[str, Any], ua: str | None) -> None:
    request = Request("http://example.com/", meta=dict(meta))
    assert apply_target(request, ua, TABLE) is None
    assert request.meta.get("impersonate") == meta.get("impersonate")


class Subclassed(fp.load_object("scrapy_impersonate.ImpersonateDownloadHandler")):  # type: ignore[misc]
    pass


@pytest.mark.parametrize(
    ("handlers", "expected"),
    [
        ({}, set()),
        (
            {
                "http": "scrapy_impersonate.ImpersonateDownloadHandler",
                "https": "scrapy_impersonate.ImpersonateDownloadHandler",
            },
            {"http", "https"},
        ),
        ({"https": "scrapy_impersonate.handler.ImpersonateDownloadHandler"}, {"https"}),
        ({"http": Subclassed}, {"http"}),
        ({"http": f"{__name__}.Subclassed"}, {"http"}),
        ({"http": None, "https": "no.such.module.Handler"}, set()),
        ({"http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"}, set()),
        ({"http": "not a path"}, set()),
    ],
)
def test_detects_scrapy_impersonate(handlers: dict[str, Any], expected: set[str]) -> None:
    assert impersonating_schemes(Settings({"DOWNLOAD_HANDLERS": handlers})) == expected


def test_uses_impersonation() -> None:
    plain, secure = Request("http://a.example/"), Request("https://a.example/")
    assert not uses_impersonation(plain, frozenset())
    assert uses_impersonation(plain, frozenset({"http"}))
    assert not uses_impersonation(secure, frozenset({"http"}))
    assert uses_impersonation(
        Request("https://a.example/", meta={"impersonate": None}), frozenset()
    )


# -- Routes.apply ----------------------------------------------------------------------


def make_routes(handlers: dict[str, Any], schemes: frozenset[str] | None = None) -> Routes:
    crawler = SimpleNamespace(settings=Settings({"DOWNLOAD_HANDLERS": handlers}))
    ctx: Any = SimpleNamespace(
        crawler=crawler,
        settings=SimpleNamespace(api_key="k", api_keys={}),
        inc=lambda key, count=1: None,
    )
    return Routes(ctx, store=None, defaults={}, impersonate_schemes=schemes)  # type: ignore[arg-type]


def clearance(ua: str | None = CHROME.format(os=WIN, v="124.0.0.0")) -> Clearance:
    return Clearance(
        cookies={"cf_clearance": "C"},
        user_agent=ua,
        headers={"accept-language": "en"},
        expires_at=time.time() + 60,
    )


def test_routes_apply_sets_the_target_and_can_undo_it() -> None:
    routes = make_routes({"http": "scrapy_impersonate.ImpersonateDownloadHandler"})
    request = Request("http://a.example/", meta={"impersonate": "firefox133"})
    state = RequestState.of(request)
    routes.apply(request, state, clearance())
    assert routes.impersonate_schemes == {"http"}  # read once, from DOWNLOAD_HANDLERS
    assert request.meta["impersonate"] == "chrome124"
    assert request.headers["User-Agent"].startswith(b"Mozilla/5.0")
    undo = state.undo
    assert undo is not None
    assert set(undo) == {"headers", "added", "replaced", "impersonate"}
    # What a re-routed request goes through: the clearance comes off, the target too.
    undo_clearance(request, undo)
    undo_target(request, undo.get("impersonate"))
    assert request.meta["impersonate"] == "firefox133"
    assert b"User-Agent" not in request.headers and b"Cookie" not in request.headers


def test_routes_apply_without_impersonation_leaves_meta_alone() -> None:
    routes = make_routes({})
    request = Request("http://a.example/")
    state = RequestState.of(request)
    routes.apply(request, state, clearance())
    assert "impersonate" not in request.meta
    assert state.undo is not None and "impersonate" not in state.undo
    # A request naming a target itself goes through curl_cffi whatever the handlers say.
    request = Request("https://a.example/", meta={"impersonate": "chrome99"})
    routes.apply(request, RequestState.of(request), clearance())
    assert request.meta["impersonate"] == "chrome124"


def test_routes_apply_with_a_clearance_without_user_agent() -> None:
    routes = make_routes({}, schemes=frozenset({"http", "https"}))
    request = Request("http://a.example/")
    state = RequestState.of(request)
    routes.apply(request, state, clearance(ua=None))
    assert "impersonate" not in request.meta
    assert state.undo is not None and "impersonate" not in state.undo
