"""An extension that listens to the add-on's signals: here, a tally of solves and of the
pages the add-on could not get past, logged when the spider closes.

Enable it with EXTENSIONS = {"signals_extension.CaptchaTally": 500}.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from scrapy import signals as scrapy_signals
from scrapy.crawler import Crawler

from scrapy_captcha import signals


class CaptchaTally:
    def __init__(self, crawler: Crawler) -> None:
        self.solved: Counter[str] = Counter()
        self.unsolved: Counter[str] = Counter()
        self.spent = 0.0
        crawler.signals.connect(self.on_solved, signal=signals.captcha_solved)
        crawler.signals.connect(self.on_unsolved, signal=signals.captcha_unsolved)
        crawler.signals.connect(self.on_closed, signal=scrapy_signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptchaTally:
        return cls(crawler)

    def on_solved(self, kind: str, provider: str, cost: float | None, **kwargs: Any) -> None:
        self.solved[f"{kind} by {provider}"] += 1
        self.spent += cost or 0.0

    def on_unsolved(self, kind: str, reason: str, **kwargs: Any) -> None:
        self.unsolved[f"{kind}: {reason}"] += 1

    def on_closed(self, spider: Any, **kwargs: Any) -> None:
        spider.logger.info(
            "captcha tally: solved %s, unsolved %s, $%.4f",
            dict(self.solved),
            dict(self.unsolved),
            self.spent,
        )
