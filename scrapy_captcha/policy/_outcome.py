"""What a landed solve tells the rest of the add-on, and the user: which service solved
it, its task id, what it cost and how long it took; one INFO line and the
``captcha_solved`` signal, whatever the kind (Cloudflare, gate, widget, image, fill)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy_captcha.signals import captcha_solved

if TYPE_CHECKING:
    from scrapy_captcha._context import Context


@dataclass(frozen=True)
class Outcome:
    """Which service solved a task, its id, what it cost and how long it took."""

    task_id: str | int
    provider: str
    cost: float | None = None
    seconds: float = 0.0

    def record(self, job: Any, flight: Any) -> None:
        """Note on a gate or fill job and its flight which task solved it, where, at what
        price."""
        flight.task_id = job.task_id = self.task_id
        flight.cost = job.cost = self.cost
        job.solver = self.provider

    def announce(self, ctx: Context, kind: str, where: str, *, log: bool = True) -> None:
        """The "solved" line (unless the caller logs a richer one) and the signal."""
        if log:
            ctx.log.info(
                "Solved %s with %s in %.1fs (task %s%s)",
                where,
                self.provider,
                self.seconds,
                self.task_id,
                f", ${self.cost:.4f}" if self.cost is not None else "",
            )
        ctx.send(
            captcha_solved,
            kind=kind,
            provider=self.provider,
            task_id=self.task_id,
            cost=self.cost,
            seconds=self.seconds,
            where=where,
        )
