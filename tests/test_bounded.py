"""The add-on's per-crawl maps stay bounded whatever the number of routes."""

from __future__ import annotations

from scrapy_captcha._bounded import BoundedDict, BoundedSet


def test_bounded_dict_evicts_least_recently_set() -> None:
    d: BoundedDict[str, int] = BoundedDict(3)
    for i, key in enumerate("abcd"):
        d[key] = i
    assert list(d) == ["b", "c", "d"]
    d["b"] = 9  # set again: now the most recent
    d["e"] = 5
    assert list(d) == ["d", "b", "e"]


def test_bounded_set_keeps_at_most_its_limit() -> None:
    s: BoundedSet[int] = BoundedSet(1000)
    for i in range(100_000):
        s.add(i)
    assert len(s) == 1000 and 99_999 in s and 0 not in s
