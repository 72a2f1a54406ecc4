"""Exception taxonomy.

Every failure the add-on can meet maps to one of these, with a short ``reason`` that is
also the suffix of the ``captcha/failed/<reason>`` stat. Messages never carry the API key
or proxy credentials: the solver client redacts them before raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy.http import Response

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
        transport: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.family = family
        self.code = code
        self.task_id = task_id
        #: the service was not reached (connection refused, no answer, a 5xx page), as
        #: opposed to a reply the service gave: counts towards CAPTCHA_UNREACHABLE_AFTER
        self.transport = transport

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
    """A CAPTCHA_* setting is invalid, or a component is missing; raised at start-up."""


class CaptchaUnsolved(IgnoreRequest, CaptchaError):
    """A page the add-on could not get past: what the request's errback receives, as
    ``HttpError`` for a status the spider does not handle (``failure.value.response``
    is the page, ``reason`` says why: ``budget``, ``blocked``, ``max_attempts``, a
    solver failure...). Meta ``handle_captcha_unsolved`` (or CAPTCHA_HANDLE_UNSOLVED)
    hands such pages to the callback instead. ``response`` is None when there is none
    (a form submission not sent for want of its token)."""

    def __init__(
        self,
        reason: str,
        kind: str,
        response: Response | None = None,
        message: str = "",
        *,
        result: dict[str, Any] | None = None,
    ) -> None:
        where = f" on {response.url}" if response is not None else ""
        super().__init__(message or f"{kind} not got past{where}: {reason}")
        self.reason = reason
        self.kind = kind
        self.response = response
        #: ``meta["captcha_result"]`` of the page
        self.result = dict(result or {})


class BadCaptchaOptions(CaptchaError, ValueError):
    """``meta["captcha"]`` of a request is not what the add-on takes: that request fails
    before anything is paid for."""
