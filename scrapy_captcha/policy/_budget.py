"""The budget: solver tasks (CAPTCHA_MAX_SOLVES) and money (CAPTCHA_MAX_COST).

Why its own owner: every path that pays (Cloudflare solves, gates, fill on submit, the
spider API) holds a :class:`Reservation` first. Its price stays reserved from the moment
its ``createTask`` is sent until the task is solved (then it is spent) or fails (then it
is given back): twenty routes challenged at once cannot each see the budget as unspent.
A spent budget stops *spending*, not crawling: solves in flight land, later challenges
give up with ``budget``, pages without a challenge keep flowing; closing the spider is an
opt-in (CAPTCHA_CLOSE_ON_BUDGET). Spending is counted per service
(``captcha/cost/<service>``) at the prices of its profile or CAPTCHA_PRICES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scrapy_captcha.signals import captcha_budget_exhausted

if TYPE_CHECKING:
    from scrapy_captcha._context import Context

_HELD, _SENT, _DONE = 0, 1, 2


class Reservation:
    """One task of the budget, held for one solve: :meth:`commit` when its createTask is
    sent, :meth:`solved` when it lands solved; :meth:`release` otherwise (a solve that
    never sent its task, or a task that failed). All idempotent."""

    __slots__ = ("_budget", "_price", "_state")

    def __init__(self, budget: Budget, price: float) -> None:
        self._budget = budget
        self._price = price
        self._state = _HELD

    @property
    def done(self) -> bool:
        return self._state != _HELD

    def commit(self) -> None:
        if self._state == _HELD:
            self._state = _SENT
            self._budget.on_sent(self._price)

    def solved(self, service: str) -> None:
        if self._state == _SENT:
            self._state = _DONE
            self._budget.on_landed(self._price, service)

    def release(self) -> None:
        if self._state == _HELD:
            self._budget.on_freed(self._price, sent=False)
        elif self._state == _SENT:
            self._budget.on_freed(self._price, sent=True)
        self._state = _DONE


class Budget:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.max_tasks = ctx.settings.max_solves
        self.max_cost = ctx.settings.max_cost
        self.tasks = 0  # createTask calls sent
        self.spent = 0.0  # USD of tasks solved, at known prices
        self._held = 0  # reservations of solves in progress, not sent yet
        self._held_cost = 0.0
        self._flying_cost = 0.0  # USD of tasks sent and not landed yet
        self.exhausted = False
        #: called once, the first time a solve is refused for want of budget
        self.on_exhausted: Callable[[], None] | None = None

    @property
    def committed(self) -> float:
        """USD spent, plus the price of every task sent or about to be."""
        return self.spent + self._flying_cost + self._held_cost

    def reserve(self, price: float | None) -> Reservation | None:
        """Hold one task (of an expected ``price``), or None: the budget is spent or
        entirely held by solves in progress."""
        price = price or 0.0
        if self.max_tasks and self.tasks + self._held >= self.max_tasks:
            self._refused(f"CAPTCHA_MAX_SOLVES={self.max_tasks}", "CAPTCHA_MAX_SOLVES")
            return None
        if self.max_cost and self.committed + price > self.max_cost + 1e-12:
            self._refused(
                f"CAPTCHA_MAX_COST={self.max_cost:.4f} (spent {self.spent:.4f}, "
                f"{self._flying_cost + self._held_cost:.4f} reserved by solves under way)",
                "CAPTCHA_MAX_COST",
            )
            return None
        self._held += 1
        self._held_cost += price
        return Reservation(self, price)

    # -- Reservation's transitions ------------------------------------------------------

    def on_sent(self, price: float) -> None:
        self._held -= 1
        self._held_cost -= price
        self._flying_cost += price
        self.tasks += 1
        self.ctx.set_stat("tasks", self.tasks)

    def on_landed(self, price: float, service: str) -> None:
        self._flying_cost -= price
        if price:
            self.spent += price
            self.ctx.add(f"cost/{service}", price)
            self.ctx.set_stat("cost", round(self.spent, 6))

    def on_freed(self, price: float, *, sent: bool) -> None:
        if sent:
            self._flying_cost -= price
        else:
            self._held -= 1
            self._held_cost -= price

    def _refused(self, limit: str, setting: str) -> None:
        self.ctx.inc("budget/refused")
        if self.exhausted:
            return
        self.exhausted = True
        self.ctx.log.warning(
            "%s reached: no new solve starts. Solves under way land and deliver their "
            "pages; later challenges give up with 'budget'; pages without a challenge keep "
            "coming%s",
            limit,
            " (CAPTCHA_CLOSE_ON_BUDGET: the spider closes once they have landed)"
            if self.ctx.settings.close_on_budget
            else "",
        )
        self.ctx.send(captcha_budget_exhausted, limit=setting, tasks=self.tasks, spent=self.spent)
        if self.on_exhausted is not None:
            self.on_exhausted()
