"""Exception taxonomy.

Every failure the add-on can meet maps to one of these, with a short ``reason`` that is
also the suffix of the ``captcha/failed/<reason>`` stat. Messages never carry the API key
or proxy credentials: the solver client redacts them before raising.
"""

from __future__ import annotations

from typing import Final

# How the middleware reacts to a failure.
FATAL: Final = "fatal"  # the account is unusable: stop solving for the rest of the crawl
RETRY: Final = "retry"  # a new task may succeed: retry within CAPTCHA_MAX_ATTEMPTS
INPUT: Final = "input"  # the task itself is wrong: resending the same task is pointless
PROXY: Final = "proxy"  # the proxy, not the account, is at fault


class CaptchaError(Exception):
    """Base class of everything scrapy-captcha raises."""


class SolverError(CaptchaError):
    """A solve failed. ``reason`` names the failure, ``family`` says what to do about it."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        family: str = RETRY,
        code: str | None = None,
        task_id: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.family = family
        self.code = code
        self.task_id = task_id

    @property
    def fatal(self) -> bool:
        return self.family == FATAL

    @property
    def retryable(self) -> bool:
        return self.family in (RETRY, PROXY)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, code={self.code!r}, {self.args[0]!r})"
        )


class SolverCancelled(CaptchaError):
    """The crawl closed while a request was waiting for a solve."""


class WidgetNotFound(CaptchaError):
    """The spider asked for a token, but the page holds no captcha widget to solve."""


class SolvingUnavailable(CaptchaError):
    """Solving is off for this request: ``reason`` says why (``no_task``: the provider has
    no task for that captcha kind; ``budget``; a disabled account's reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigurationError(CaptchaError):
    """A CAPTCHA_* setting is invalid; raised at start-up, never mid-crawl."""
