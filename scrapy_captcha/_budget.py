"""The budget: solver tasks (CAPTCHA_MAX_SOLVES) and money (CAPTCHA_MAX_COST).

Why its own owner: every path that pays (Cloudflare solves, gates, fill on submit, the
spider API) holds a :class:`Reservation` first and commits it when its ``createTask`` is
sent; a solve that never gets that far gives it back. Spending is counted per service
(``captcha/cost/<service>``) at the prices of its profile or CAPTCHA_PRICES.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy_captcha._compat import close_spider

if TYPE_CHECKING:
    from scrapy_captcha._context import Context


class Reservation:
    """One task of the budget, held for one solve: committed when createTask is sent,
    released otherwise (both idempotent, whichever comes first wins)."""

    __slots__ = ("_budget", "_price", "done")

    def __init__(self, budget: Budget, price: float) -> None:
        self._budget = budget
        self._price = price
        self.done = False

    def commit(self) -> None:
        if not self.done:
            self.done = True
            self._budget.settle(self._price, sent=True)

    def release(self) -> None:
        if not self.done:
            self.done = True
            self._budget.settle(self._price, sent=False)


class Budget:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.max_tasks = ctx.settings.max_solves
        self.max_cost = ctx.settings.max_cost
        self.tasks = 0  # createTask calls sent
        self.spent = 0.0  # USD of tasks solved, at known prices
        self._held = 0  # reservations of solves in progress, not sent yet
        self._held_cost = 0.0
        self._closed = False

    def reserve(self, price: float | None) -> Reservation | None:
        """Hold one task (of an expected ``price``); None when the budget is spent (then
        the spider is closed, once) or fully held by solves in progress."""
        price = price or 0.0
        tasks_spent = bool(self.max_tasks) and self.tasks >= self.max_tasks
        money_spent = bool(self.max_cost) and self.spent + price > self.max_cost
        if tasks_spent or money_spent:
            self._close(
                f"CAPTCHA_MAX_SOLVES={self.max_tasks} reached"
                if tasks_spent
                else f"CAPTCHA_MAX_COST={self.max_cost:.4f} reached (spent {self.spent:.4f})"
            )
            return None
        if self.max_tasks and self.tasks + self._held >= self.max_tasks:
            return None
        if self.max_cost and self.spent + self._held_cost + price > self.max_cost:
            return None
        self._held += 1
        self._held_cost += price
        return Reservation(self, price)

    def settle(self, price: float, *, sent: bool) -> None:
        self._held -= 1
        self._held_cost -= price
        if sent:
            self.tasks += 1

    def spend(self, service: str, price: float | None) -> None:
        """A task of ``service`` was solved: count what it cost."""
        if price:
            self.spent += price
            self.ctx.add(f"cost/{service}", price)
            self.ctx.set_stat("cost", round(self.spent, 6))

    def _close(self, why: str) -> None:
        if not self._closed:
            self._closed = True
            self.ctx.log.warning("%s: closing the spider", why)
            close_spider(self.ctx.crawler, "captcha_budget_exhausted")
