"""Clearance building, header filtering, routes and proxy identity hashing."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from scrapy import Request
from scrapy.settings import Settings

from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.routes._routes import route_for
from scrapy_captcha.routes.clearance import Clearance, filter_headers, undo_clearance
from scrapy_captcha.routes.store import MemoryStore, open_store
from scrapy_captcha.services._solutions import CloudflareSolution
from scrapy_captcha.settings import CaptchaSettings

SECRET = b"k" * 32


def solution(**kw: object) -> CloudflareSolution:
    base = dict(
        cookies={"cf_clearance": "c"},
        user_agent="Stale/1",
        request_headers={
            ":authority": "a",
            ":path": "/",
            "host": "a",
            "user-agent": "Real/2",
            "cookie": "x=y",
            "content-length": "3",
            "connection": "keep-alive",
            "accept-language": "en",
            "accept-encoding": "gzip, deflate, br, zstd, weird",
            "sec-ch-ua": '"Chromium"',
        },
        headers={},
        content=None,
    )
    base.update(kw)
    return CloudflareSolution(**base)  # type: ignore[arg-type]


def test_filter_headers_drops_unsafe_and_undecodable() -> None:
    out = filter_headers(solution().request_headers)
    assert set(out) == {"accept-language", "accept-encoding", "sec-ch-ua"}
    encodings = [e.strip() for e in out["accept-encoding"].split(",")]
    assert "weird" not in encodings and encodings[:2] == ["gzip", "deflate"]


def test_filter_headers_drops_encoding_when_none_decodable() -> None:
    assert "accept-encoding" not in filter_headers({"accept-encoding": "sdch, weird"})


def test_clearance_prefers_the_user_agent_really_sent() -> None:
    c = Clearance.from_solution(solution(), ttl=60, now=1000.0)
    assert c.user_agent == "Real/2"
    assert c.expires_at == 1060.0
    c2 = Clearance.from_solution(solution(request_headers={}), ttl=60, now=1000.0)
    assert c2.user_agent == "Stale/1"


def test_clearance_expiry_follows_cookie() -> None:
    c = Clearance.from_solution(solution(cookie_expires=1030.0), ttl=60, now=1000.0)
    assert c.expires_at == 1030.0
    assert not c.expired(1029.0) and c.expired(1030.0)


def test_clearance_roundtrip_and_repr_hides_cookies() -> None:
    c = Clearance.from_solution(solution(cookies={"cf_clearance": "SECRETCOOKIE"}), ttl=5)
    assert Clearance.from_dict(c.to_dict()) == c
    assert "SECRETCOOKIE" not in repr(c)


def test_apply_merges_cookie_header() -> None:
    c = Clearance.from_solution(solution(), ttl=60)
    r = Request("http://a/", headers={"Cookie": "session=1; cf_clearance=old"})
    c.apply(r)
    assert r.headers["Cookie"] == b"session=1; cf_clearance=c"
    assert r.headers["User-Agent"] == b"Real/2"
    assert r.headers["Accept-Language"] == b"en"


def test_spider_headers_win_over_replayed_ones_but_defaults_do_not() -> None:
    c = Clearance.from_solution(
        solution(
            request_headers={"accept": "text/html", "accept-language": "fr", "user-agent": "B"}
        ),
        ttl=60,
    )
    r = Request("http://a/", headers={"Accept": "application/json", "Accept-Language": "en"})
    c.apply(r, defaults={"accept-language": b"en"})
    assert r.headers["Accept"] == b"application/json"  # the spider asked for JSON
    assert r.headers["Accept-Language"] == b"fr"  # Scrapy's default gives way
    assert r.headers["User-Agent"] == b"B"  # the clearance is bound to it: always set


def test_undo_takes_the_clearance_off_again() -> None:
    c = Clearance.from_solution(solution(), ttl=60)
    r = Request(
        "http://a/", headers={"Cookie": "session=1; cf_clearance=old", "User-Agent": "Mine"}
    )
    undo = c.apply(r)
    r2 = r.replace()  # a retry or re-issue carries the headers along
    undo_clearance(r2, undo)
    assert r2.headers["Cookie"] == b"session=1; cf_clearance=old"
    assert r2.headers["User-Agent"] == b"Mine"
    assert b"Accept-Language" not in r2.headers
    bare = Request("http://a/")
    undo_clearance(bare, c.apply(bare))
    assert b"Cookie" not in bare.headers and b"User-Agent" not in bare.headers
    # Something changed after us is left alone.
    r3 = Request("http://a/")
    undo3 = c.apply(r3)
    r3.headers["User-Agent"] = "Changed"
    undo_clearance(r3, undo3)
    assert r3.headers["User-Agent"] == b"Changed"


def test_ipv6_proxy_keeps_brackets() -> None:
    r = Request("http://a/", meta={"proxy": "http://u:p@[2001:db8::1]:8080"})
    route = route_for(r, SECRET)
    assert route.proxy_url == "http://[2001:db8::1]:8080"
    assert route.solver_proxy() == "http://u:p@[2001:db8::1]:8080"


def _auth(user: str, pw: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{pw}".encode())


def test_route_keys_tell_credentials_apart_without_holding_them() -> None:
    def route(proxy: str | None, auth: bytes | None = None):  # type: ignore[no-untyped-def]
        r = Request("https://Shop.Example/x", meta={} if proxy is None else {"proxy": proxy})
        if auth:
            r.headers["Proxy-Authorization"] = auth
        return route_for(r, SECRET)

    a1 = route("http://127.0.0.1:8080", _auth("alice", "pw1"))
    a2 = route("http://127.0.0.1:8080", _auth("alice-2", "pw1"))
    plain = route("http://127.0.0.1:8080")
    inline = route("http://alice:pw1@127.0.0.1:8080")
    assert a1.domain == "shop.example"
    assert len({a1.key, a2.key, plain.key}) == 3
    assert inline.key == a1.key  # same identity before and after HttpProxy
    for r in (a1, inline):
        assert "pw1" not in r.key and "pw1" not in repr(r) and "pw1" not in r.describe()
        assert "alice" not in r.key and "alice" not in repr(r)
    assert a1.solver_proxy() == "http://alice:pw1@127.0.0.1:8080"
    assert plain.solver_proxy() == "http://127.0.0.1:8080"
    direct = route(None)
    assert not direct.has_proxy and direct.solver_proxy() is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "P1"),
        ("www.example.com", "P1"),
        ("a.b.example.com", "P1"),
        ("other.com", None),
        ("notexample.com", None),
        ("special.example.com", "P2"),
    ],
)
def test_domain_proxies_cover_subdomains(host: str, expected: str | None) -> None:
    proxies = {"example.com": "http://p1:1", ".special.example.com": "http://p2:2"}
    s = CaptchaSettings.from_settings(Settings({"CAPTCHA_DOMAIN_PROXIES": proxies}))
    names = {"http://p1:1": "P1", "http://p2:2": "P2"}
    got = s.proxy_for_domain(host)
    assert (names[got] if got else None) == expected


def test_settings_repr_hides_secrets_and_validates() -> None:
    s = CaptchaSettings.from_settings(
        Settings({"CAPTCHA_API_KEY": "KEY123", "CAPTCHA_PROXY": "http://u:PW@h:1"})
    )
    assert "KEY123" not in repr(s) and "PW" not in repr(s)
    with pytest.raises(ConfigurationError) as err:
        CaptchaSettings.from_settings(Settings({"CAPTCHA_PROXY": "nonsense:PW"}))
    assert "PW" not in str(err.value)
    with pytest.raises(ConfigurationError):
        CaptchaSettings.from_settings(Settings({"CAPTCHA_MAX_ATTEMPTS": 0}))
    with pytest.raises(ConfigurationError):
        CaptchaSettings.from_settings(Settings({"CAPTCHA_POLL_INTERVAL": -1}))


def test_memory_store_expiry_and_precise_invalidation() -> None:
    asyncio.run(_memory_store_checks())


async def _memory_store_checks() -> None:
    store = MemoryStore()
    old = Clearance.from_solution(solution(), ttl=60)
    await store.set("k", old)
    assert await store.get("k") == old
    new = Clearance.from_solution(solution(), ttl=60)
    await store.set("k", new)
    assert not await store.invalidate("k", old.id)  # a newer clearance survives
    assert await store.invalidate("k", new.id)
    assert await store.get("k") is None
    await store.set("e", Clearance.from_solution(solution(), ttl=60, now=0.0))
    assert await store.get("e") is None


def test_open_store_errors() -> None:
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(settings_dict={"CAPTCHA_CACHE_MAX_ENTRIES": 5})
    with pytest.raises(ConfigurationError, match="unsupported scheme"):
        open_store("nosuch://x", crawler)
    store = open_store("memory://", crawler)
    assert isinstance(store, MemoryStore) and store.max_entries == 5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CAPTCHA_CLEARANCE_TTL": "abc"}, "CAPTCHA_CLEARANCE_TTL must be a number"),
        ({"CAPTCHA_MAX_ATTEMPTS": "many"}, "CAPTCHA_MAX_ATTEMPTS must be a number"),
        ({"CAPTCHA_DOMAIN_PROXIES": "x"}, "CAPTCHA_DOMAIN_PROXIES must be a dict"),
        ({"CAPTCHA_API_URL": "ftp:/x"}, "CAPTCHA_API_URL"),
        ({"CAPTCHA_API_URLS": {"ez-captcha": "nope"}}, "CAPTCHA_API_URLS"),
    ],
)
def test_invalid_settings_raise_configuration_error(settings: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CaptchaSettings.from_settings(Settings(settings))


def _clearance(expires_at: float) -> Clearance:
    return Clearance(
        cookies={"cf_clearance": "x"}, user_agent="UA", headers={}, expires_at=expires_at
    )


def test_memory_store_is_capped_least_recently_used_first() -> None:
    from scrapy.statscollectors import MemoryStatsCollector
    from scrapy.utils.test import get_crawler

    stats = MemoryStatsCollector(get_crawler())
    store = MemoryStore(max_entries=3, stats=stats)

    async def scenario() -> list[str]:
        for key in "abc":
            await store.set(key, _clearance(9e9))
        await store.get("a")  # "b" is now the least recently used
        await store.set("d", _clearance(9e9))
        return [k for k in "abcd" if await store.get(k) is not None]

    assert asyncio.run(scenario()) == ["a", "c", "d"]
    assert stats.get_value("captcha/store/evicted") == 1


def test_memory_store_prunes_expired_entries_without_scanning() -> None:
    """Expiries come off a heap: a set never walks every entry (it used to, once the
    store held more than 1 024)."""
    store = MemoryStore()
    now = time.time()

    async def scenario() -> None:
        for i in range(5000):
            await store.set(f"old{i}", _clearance(now - 1 if i % 2 else now + 3600))
        await store.set("new", _clearance(now + 3600))

    asyncio.run(scenario())
    assert len(store) == 2501  # the expired half pruned as it went
    assert len(store._expiry) <= 2 * len(store) + 1024
