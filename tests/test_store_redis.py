"""The Redis clearance store against a real redis-server, under both reactors.

Each scenario (``redis_scenarios.py``) runs in its own process with a real reactor and
asserts what it checks; the tests here add the bounds and invariants seen from outside.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from conftest import HERE, REACTORS, python_command
from scrapy_captcha.errors import ConfigurationError
from scrapy_captcha.routes._store_redis import RedisStore
from scrapy_captcha.routes.store import open_store


def run_scenario(name: str, reactor: str, script: str = "redis_scenarios.py") -> dict[str, Any]:
    """Run one scenario of ``script`` in its own process; what it printed, as JSON."""
    proc = subprocess.run(
        [*python_command(), str(HERE / script), reactor, name],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=str(HERE.parent),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("reactor", REACTORS)
def test_store_scenarios(reactor: str) -> None:
    """Every scenario of ``redis_scenarios.py`` on one reactor, in one process."""
    results = run_scenario("every", reactor)
    failed = {name: r["failed"] for name, r in results.items() if "failed" in r}
    assert not failed, failed

    out = results["basics"]  # get, set, TTL, compare-and-delete
    assert 55_000 < out["pttl"] <= 60_000  # the Redis TTL ends with the clearance
    assert out["raw"] == out["c1"]  # stored as Clearance.to_dict() JSON

    out = results["leases"]  # exclusive, renewed, released, expiring
    assert out["renewed"] is True
    assert 0.3 < out["waited"] < 5  # a dead holder's lease ran out; nobody waited longer

    out = results["wait_for_wakes"]  # every waiter woken when a clearance is set
    assert out["idle"] < 2 and out["woke"] < 5 and 0.4 < out["timed"] < 5

    out = results["prefixes"]  # a prefix isolates projects
    assert out["keys"] == ["proj1:clearance:r", "proj1:lease:r", "proj2:lease:r"]

    out = results["password"]  # never shown
    assert any("***@" in text for text in out["texts"])
    assert out["fallback"] == {"captcha/store/fallback": 1}
    assert len(out["log"]) == 1 and out["log"][0].startswith("WARNING")

    out = results["down_then_recovered"]  # down at start: falls back, recovers, syncs
    assert out["first"] < 5
    assert out["stored_id"] == out["id"]  # learned during the outage, written when back
    assert out["stats"] == {"captcha/store/fallback": 1, "captcha/store/recovered": 1}

    out = results["killed_mid_use"]  # serves from memory, logs once each way
    assert out["stats"] == {"captcha/store/fallback": 1, "captcha/store/recovered": 1}
    assert [line.split()[0] for line in out["log"]] == ["WARNING", "INFO"]

    out = results["black_hole"]  # a black-holed Redis never hangs
    assert out["first"] < 5  # one call waits for the timeout...
    assert out["later"] < 2  # ...then every call falls back at once
    assert out["stats"] == {"captcha/store/fallback": 1}


def test_redis_urls_and_settings_without_showing_the_password() -> None:
    for url in (
        "redis://:s3cr3t@/0",
        "redis://:s3cr3t@host/notadb",
        "redis://:s3cr3t@h:x/0",
        "redis://:s3cr3t@[/0",  # (urlsplit itself raised: a raw ValueError)
        "redis://:s3cr3t@[::1/0",
        "redis://:s3cr3t@ho\uff20st/0",
    ):
        with pytest.raises(ConfigurationError, match="CAPTCHA_CACHE_URL") as info:
            open_store(url, get_crawler())
        assert "s3cr3t" not in str(info.value) + repr(info.value)
        assert info.value.__cause__ is None and info.value.__context__ is None
    crawler = get_crawler(settings_dict={"CAPTCHA_CACHE_PREFIX": "p:", "CAPTCHA_CACHE_TIMEOUT": 2})
    store = open_store("rediss://user:s3cr3t@cache.example:6380/2", crawler)
    assert isinstance(store, RedisStore) and store.shared and store.prefix == "p:"
    a = address = store.link.address
    assert (a.tls, a.host, a.port, a.db) == (True, "cache.example", 6380, 2)
    assert (address.username, address.password, store.link.timeout) == ("user", "s3cr3t", 2)
    assert "s3cr3t" not in repr(store) + repr(store.link) + repr(address)
    with pytest.raises(ConfigurationError):
        open_store("redis://h/0", get_crawler(settings_dict={"CAPTCHA_LEASE_TTL": 0}))
