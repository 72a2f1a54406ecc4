"""How the services of the chain are doing: failures in a row (a service failing
CAPTCHA_FAILOVER_AFTER times rests while the next takes its solves) and kinds a service
refused (its next solves of that kind go to the next service for the rest of the crawl).

Why apart from ``_solving``: these are facts about services that every solve reads, not
part of any one solve (as ``_accounts`` keeps the facts about accounts).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy_captcha.errors import PROXY, RETRY, SolverError

if TYPE_CHECKING:
    from scrapy_captcha._context import Context
    from scrapy_captcha.services.providers import Provider

#: a service failing this many solves in a row (unsolvable, timeouts) rests this long
COOL_DOWN = 600.0


class Health:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        #: service -> failed solves in a row; service -> monotonic end of its rest
        self._failures: dict[str, int] = {}
        self._resting: dict[str, float] = {}
        #: (service, task kind) -> the error code with which the service refused the kind
        self._refused: dict[tuple[str, str], str] = {}

    def resting(self, provider: Provider) -> bool:
        until = self._resting.get(provider.name)
        return until is not None and until > time.monotonic()

    def refused(self, name: str, task_key: str) -> bool:
        return (name, task_key) in self._refused

    def note(self, provider: Provider, exc: SolverError | None) -> None:
        """Count failures in a row; a service failing CAPTCHA_FAILOVER_AFTER times rests
        (the next service of the chain takes its solves) for COOL_DOWN seconds."""
        if exc is None or exc.family not in (RETRY, PROXY):
            self._failures.pop(provider.name, None)
            return
        count = self._failures[provider.name] = self._failures.get(provider.name, 0) + 1
        if count >= self.ctx.settings.failover_after and not self.resting(provider):
            self._failures.pop(provider.name, None)
            if not [n for n in self.ctx.settings.providers if n != provider.name]:
                self.ctx.log.warning(
                    "%s failed %d solves in a row (no other service in CAPTCHA_PROVIDERS to "
                    "take over: it keeps solving)",
                    provider.name,
                    count,
                )
                return
            self._resting[provider.name] = time.monotonic() + COOL_DOWN
            self.ctx.log.warning(
                "%s failed %d solves in a row: the next service takes its solves for %d s",
                provider.name,
                count,
                COOL_DOWN,
            )

    def note_refusal(self, provider: Provider, task_key: str, exc: SolverError) -> None:
        """An error after which ``provider`` is not asked for ``task_key`` again (its
        ``kind_refusals``: CapMonster's ERROR_DOMAIN_NOT_ALLOWED, ERROR_NO_SUCH_METHOD)."""
        code = (exc.code or "").upper()
        if code not in provider.kind_refusals or self.refused(provider.name, task_key):
            return
        self._refused[(provider.name, task_key)] = code
        self.ctx.inc(f"refused_kind/{provider.name}")
        self.ctx.log.warning(
            "%s refuses %s tasks (%s): the next service of the chain takes them for the "
            "rest of the crawl",
            provider.name,
            task_key,
            code,
        )
