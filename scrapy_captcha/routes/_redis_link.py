"""One Redis connection that never blocks the reactor and outlives Redis outages.

Why txredisapi: it speaks Redis over Twisted's own protocols, so it runs on whatever reactor
the crawl uses: the default ``AsyncioSelectorReactor`` and the plain Twisted reactors
alike (``redis.asyncio`` needs a running asyncio loop, which the plain reactor lacks). It
is imported only when the first connection is made: at import it takes
``twisted.internet.reactor``, which would install the default reactor before Scrapy
installs the configured one.

Why this wrapper: a shared store is an optimisation, never a reason to stall a crawl.
Every call has a deadline; the first failure marks Redis down (one WARNING), after which
calls fail at once with :class:`RedisUnavailable` (callers fall back to memory) while a
background loop reconnects with backoff and reports the recovery once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer

from scrapy_captcha._compat import installed_reactor, spawn
from scrapy_captcha.errors import ConfigurationError

logger = logging.getLogger("scrapy_captcha")

#: seconds before the first reconnection attempt; doubled after each failure
RETRY_FIRST = 0.5


async def _nothing() -> None:
    return None


def ms(seconds: float) -> int:
    """A TTL for Redis's PX/PEXPIRE: whole milliseconds, at least one."""
    return max(1, int(seconds * 1000))


class RedisUnavailable(Exception):
    """Redis could not answer this call (down, timed out, refused, closed)."""


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is; ``password`` never appears in a repr or :meth:`describe`."""

    tls: bool
    host: str
    port: int
    db: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        """``redis://[[user]:password@]host[:port][/db]``, or ``rediss://`` for TLS.
        Errors never echo the URL: it may hold a password."""
        try:  # (urlsplit itself refuses some hosts: "[", fullwidth characters)
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), parts.hostname
            port = parts.port or 6379
            path = parts.path.strip("/")
            db = int(path) if path else 0
            username, password = parts.username, parts.password
        except ValueError:
            scheme, host, port, db, username, password = "", None, -1, -1, None, None
        if scheme not in ("redis", "rediss") or not host or port < 0 or db < 0:
            raise ConfigurationError(
                "CAPTCHA_CACHE_URL: not a Redis URL (redis[s]://[:password@]host[:port][/db])"
            )
        return cls(
            tls=scheme == "rediss",
            host=host,
            port=port,
            db=db,
            username=unquote(username) if username else None,
            password=unquote(password) if password is not None else None,
        )

    def describe(self) -> str:
        """For logs and reprs: the password is shown as ``***``."""
        auth = "***@" if self.password is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{self.port}/{self.db}"

    def redact(self, text: str) -> str:
        """``text`` without the password (server and library messages are echoed)."""
        return text.replace(self.password, "***") if self.password else text


class RedisLink:
    """A lazily opened, self-healing connection; see the module docstring."""

    def __init__(
        self,
        address: RedisAddress,
        *,
        timeout: float = 1.0,
        retry_max: float = 5.0,
        on_down: Callable[[], None] = lambda: None,
        on_up: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.retry_max = retry_max
        self._on_down = on_down
        self._on_up = on_up
        self._conn: Any = None
        self._down = False
        self._closed = False
        self._waiting: list[defer.Deferred[Any]] = []
        self._retry: Any = None  # IDelayedCall of the next reconnection attempt
        self._delay = RETRY_FIRST

    def __repr__(self) -> str:
        state = "down" if self._down else "up" if self._conn is not None else "idle"
        return f"<RedisLink {self.address.describe()} {state}>"

    @property
    def down(self) -> bool:
        return self._down

    async def call(self, *args: Any) -> Any:
        """Run one command; raises RedisUnavailable (at once while Redis is down)."""
        conn = self._conn if self._conn is not None else await self._connection()
        try:
            return await self._bounded(conn.execute_command(*args))
        except (defer.CancelledError, asyncio.CancelledError):
            raise  # the caller was cancelled (crawl closing): not an outage
        except Exception as exc:
            self._lost(exc)
            raise RedisUnavailable(self.address.redact(str(exc))) from None

    async def close(self) -> None:
        self._closed = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._bounded(conn.disconnect())
            except Exception:
                logger.debug("Redis disconnect failed", exc_info=True)

    # -- connecting -------------------------------------------------------------------

    async def _connection(self) -> Any:
        """The open connection, opening it first if need be. Concurrent first callers
        share one attempt, each with its own Deferred (a shared one would only answer the
        first)."""
        if self._closed or self._down:
            raise RedisUnavailable("down" if self._down else "closed")
        d: defer.Deferred[Any] = defer.Deferred()
        self._waiting.append(d)
        if len(self._waiting) == 1:
            spawn(self._first_connect())
        return await maybe_deferred_to_future(d)

    async def _first_connect(self) -> None:
        try:
            self._conn = await self._open()
            result: Any = self._conn
        except (defer.CancelledError, asyncio.CancelledError) as exc:
            result = RedisUnavailable("cancelled")
            self._lost(exc)
        except Exception as exc:
            self._lost(exc)
            result = RedisUnavailable("cannot connect")
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(result, Exception):
                d.errback(result)
            else:
                d.callback(result)

    async def _open(self) -> Any:
        import txredisapi  # see the module docstring: not before the reactor is installed
        from twisted.internet import ssl

        a = self.address
        conn = await self._bounded(
            txredisapi.Connection(
                a.host,
                a.port,
                dbid=a.db,
                reconnect=False,
                password=a.password,
                username=a.username,
                ssl_context_factory=ssl.optionsForClientTLS(a.host) if a.tls else False,
                connectTimeout=self.timeout,
                replyTimeout=self.timeout,
                convertNumbers=False,
            )
        )
        if self._closed:
            conn.disconnect()
            raise RedisUnavailable("closed")
        return conn

    def _bounded(self, d: defer.Deferred[Any]) -> Any:
        """Await ``d`` for at most the timeout (txredisapi's own reply and connect timeouts
        normally fire first; this bounds anything they do not cover)."""
        d.addTimeout(self.timeout + 0.5, installed_reactor())
        return maybe_deferred_to_future(d)

    # -- outages ----------------------------------------------------------------------

    def _lost(self, exc: BaseException) -> None:
        """The connection failed: drop it, say so once, and start reconnecting."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:
                logger.debug("Redis disconnect failed", exc_info=True)
        if self._down or self._closed:
            return
        self._down = True
        logger.warning(
            "Redis clearance store %s unavailable (%s): this process uses its own memory "
            "store until Redis is back",
            self.address.describe(),
            self.address.redact(str(exc) or type(exc).__name__),
        )
        self._on_down()
        self._delay = RETRY_FIRST
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if not self._closed:
            reconnect = lambda: spawn(self._reconnect())  # noqa: E731
            self._retry = installed_reactor().callLater(self._delay, reconnect)

    async def _reconnect(self) -> None:
        if self._closed:
            return
        try:
            conn = await self._open()
        except Exception as exc:
            logger.debug("Redis still unavailable: %s", self.address.redact(str(exc)))
            self._delay = min(self._delay * 2, self.retry_max)
            self._schedule_retry()
            return
        self._conn = conn
        self._down = False
        logger.info("Redis clearance store %s is back: shared again", self.address.describe())
        await self._on_up()
