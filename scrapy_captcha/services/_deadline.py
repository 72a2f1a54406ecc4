"""Time limits of the solver client: one deadline per HTTP exchange, a cancellation
told apart from a timeout, and numbers from settings or shared notes made sane."""

from __future__ import annotations

import math
from typing import Any

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer


def sane(value: Any, default: float, low: float, high: float) -> float:
    """``value`` as a number within [low, high]; ``default`` (clamped alike) when it is
    missing, not a number, NaN or infinite."""
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number <= 0:
        number = default
    return float(min(max(number, low), high))


def cancelled(exc: BaseException) -> bool:
    reasons = getattr(exc, "reasons", None) or []
    return any(getattr(r, "check", lambda *a: None)(defer.CancelledError) for r in reasons)


class Timer:
    """One deadline for a whole HTTP exchange (headers and body). Twisted's Agent reports
    a cancelled request as ResponseNeverReceived, not CancelledError, so whether the
    deadline fired is tracked here rather than guessed from the exception."""

    def __init__(self, reactor: Any, seconds: float) -> None:
        self.fired = False
        self._current: defer.Deferred[Any] | None = None
        self._call = reactor.callLater(seconds, self._fire)

    def _fire(self) -> None:
        self.fired = True
        if self._current is not None:
            self._current.cancel()

    async def run(self, d: defer.Deferred[Any]) -> Any:
        if self.fired:
            d.cancel()
        self._current = d
        try:
            return await maybe_deferred_to_future(d)
        finally:
            self._current = None

    def stop(self) -> None:
        if self._call.active():
            self._call.cancel()
