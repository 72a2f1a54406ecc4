"""Bounded per-crawl collections: a crawl through a rotating pool of a million (domain,
proxy) pairs must not grow any of the add-on's maps without limit. Least recently used
entries go first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class BoundedDict(OrderedDict[_K, _V], Generic[_K, _V]):
    """A dict of at most ``limit`` entries; setting one evicts the least recently set."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: _K, value: _V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class BoundedSet(Generic[_K]):
    """A set of at most ``limit`` members; adding one evicts the least recently added."""

    def __init__(self, limit: int) -> None:
        self._members: BoundedDict[_K, None] = BoundedDict(limit)

    def add(self, member: _K) -> None:
        self._members[member] = None

    def discard(self, member: _K) -> None:
        self._members.pop(member, None)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __len__(self) -> int:
        return len(self._members)
