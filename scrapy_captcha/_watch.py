"""What a user running the crawl unattended sees of the add-on: a line every
``LOGSTATS_INTERVAL`` while solves are under way or money is being spent, and one summary
line at close (pages by outcome, solves, spend).

Why: a solve of 72 s, thirty requests parked behind it, or a budget draining are
invisible in Scrapy's own "Crawled N pages" line; a crawl that ended must say what the
add-on did for it, and what it could not do.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from twisted.internet import task

if TYPE_CHECKING:
    from scrapy_captcha._context import Context
    from scrapy_captcha.policy._solving import Solving
    from scrapy_captcha.routes._coordination import Coordination


def _sum(stats: dict[str, Any], prefix: str) -> dict[str, int]:
    """``{suffix: count}`` of the numeric stats under ``captcha/<prefix>/``."""
    head = f"captcha/{prefix}/"
    return {
        k[len(head) :]: int(v)
        for k, v in stats.items()
        if k.startswith(head) and isinstance(v, (int, float)) and "/" not in k[len(head) :]
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


class Watch:
    def __init__(self, ctx: Context, coordination: Coordination, solving: Solving) -> None:
        self.ctx = ctx
        self.coordination = coordination
        self.solving = solving
        self.interval = ctx.crawler.settings.getfloat("LOGSTATS_INTERVAL", 60.0)
        self._loop: task.LoopingCall | None = None
        self._last: tuple[int, int, float] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._loop is None:
            self._loop = task.LoopingCall(self.tick)
            self._loop.start(self.interval, now=False).addErrback(
                lambda f: self.ctx.log.error("captcha watcher failed", exc_info=f.value)
            )

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def _progress(self) -> tuple[int, int, float]:
        stats = self.ctx.stats.get_stats()
        solved = sum(_sum(stats, "solved").values())
        failed = sum(_sum(stats, "failed").values())
        return solved, failed, self.solving.budget.spent

    def tick(self) -> None:
        """One line, when solves are under way or something changed since the last."""
        flights = list(self.coordination.flights.values())
        progress = self._progress()
        if not flights and progress == self._last:
            return
        self._last = progress
        solved, failed, spent = progress
        waiting = sum(len(f.parked) + len(f.waiters) for f in flights)
        oldest = max((time.monotonic() - f.started for f in flights), default=0.0)
        self.ctx.log.info(
            "Captcha: %d solves under way%s, %d requests waiting for them; %d solved, "
            "%d failed so far, $%.4f spent",
            len(flights),
            f" (the longest for {oldest:.0f} s)" if flights else "",
            waiting,
            solved,
            failed,
            spent,
        )

    def summary(self) -> None:
        """At close: pages by outcome, solves, spend (WARNING when pages were lost)."""
        stats = self.ctx.stats.get_stats()
        passed = _sum(stats, "passed")
        unsolved = _sum(stats, "unsolved")
        skipped = _sum(stats, "skipped")
        if not (passed or unsolved or skipped or self.solving.budget.tasks):
            return
        solved, failed, spent = self._progress()
        parts = [f"{sum(passed.values())} pages got past a wall or captcha"]
        if passed:
            parts[-1] += f" ({_counts(passed)})"
        if unsolved:
            parts.append(f"{sum(unsolved.values())} could not ({_counts(unsolved)})")
        if skipped:
            parts.append(f"{sum(skipped.values())} left to the spider ({_counts(skipped)})")
        self.ctx.log.log(
            logging.WARNING if unsolved else logging.INFO,
            "scrapy-captcha summary: %s; %d solver tasks (%d solved, %d failed), $%.4f spent",
            "; ".join(parts),
            self.solving.budget.tasks,
            solved,
            failed,
            spent,
        )
