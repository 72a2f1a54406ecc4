"""Bounded work for page scanners: a budget of steps every scanner spends from.

Why: a hostile page within the 2 MiB window (16 000 script tags, elements nested 250 deep,
a ``render(`` call that never closes) used to cost seconds of reactor time, because each
scanner was linear on its own but was run once per marker or per element. Every
Python-level loop over page content now spends steps from one :class:`Steps` per page
and stops when it is spent; what was found so far stands. Whole-document passes done in C
(an XPath query, a regex search) are counted apart as :attr:`Steps.passes`: each is
linear in the window, and a page gets a fixed number of them.

The counter is exposed so that tests can bound the work for any input without timing it.
"""

from __future__ import annotations

from typing import Final

#: Python-level steps (a regex match looked at, a token of a JS object, an element, an
#: ancestor) one page may cost the widget scanners: about 20 ms of CPU at worst.
MAX_STEPS: Final = 100_000
#: Whole-window passes in C (XPath queries, regex searches over the inline script) one page
#: may cost. Each is linear in the window; the number is fixed by construction.
MAX_PASSES: Final = 40


class Steps:
    """A page's budget. ``take(n)`` spends ``n`` steps and says whether any were left;
    a scanner stops at the first refusal. ``passes`` counts whole-window passes."""

    __slots__ = ("limit", "passes", "used")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_STEPS if limit is None else limit
        self.used = 0
        self.passes = 0

    def take(self, n: int = 1) -> bool:
        if self.used + n > self.limit:
            self.used = self.limit  # (spent: every later take is refused too)
            return False
        self.used += n
        return True

    def pass_(self) -> None:
        """One more whole-window pass (asserted bounded by the property tests)."""
        self.passes += 1

    @property
    def spent(self) -> bool:
        return self.used >= self.limit

    def __repr__(self) -> str:
        return f"Steps(used={self.used}, limit={self.limit}, passes={self.passes})"
