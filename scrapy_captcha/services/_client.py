"""The solver client: createTask, getTaskResult polling, getBalance over treq.

It runs on the crawl's own reactor (asyncio or plain Twisted) and never blocks it. Each
HTTP call has a timeout and a cap on the reply size; a whole solve has a deadline. Every
failure surfaces as a :class:`~scrapy_captcha.errors.SolverError` with a reason and a
family, and no message ever carries the API key.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import treq
from scrapy.utils.defer import maybe_deferred_to_future
from treq.client import HTTPClient
from twisted.internet import defer, task
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

from scrapy_captcha._compat import installed_reactor
from scrapy_captcha.errors import RETRY, SolverError
from scrapy_captcha.services._deadline import Timer, cancelled, sane
from scrapy_captcha.services._redaction import (
    redact_proxy,
    redact_secret,
    redact_secrets,
    redact_url_credentials,
)
from scrapy_captcha.services._task_fields import proxy_secrets
from scrapy_captcha.services._wire import task_id_ok, user_agent_ok
from scrapy_captcha.services.providers import Provider

_WAITING = {"processing", "idle", "pending", "queued", "waiting"}
#: how long a no-slot reply makes us wait before asking again (providers ask for >= 5 s)
NO_SLOT_DELAY = 5.0
#: createTask answers that mean "not now, ask again later": no slot, a rate limit
_BACK_OFF = {"no_slot", "rate_limit", "poll_rate"}
#: consecutive transport faults tolerated while polling a task that is alive
MAX_POLL_FAULTS = 3
#: services ban keys that poll one task more often than this (seconds): the floor of the
#: poll interval whatever the settings or a shared task note say (the services'
#: emulators on 127.0.0.0/8 are exempt, for fast tests)
MIN_POLL_INTERVAL = 2.0
#: the floor for a solver on a loopback address (tests against the emulators)
MIN_LOOPBACK_POLL_INTERVAL = 0.01
#: the slowest pace an ERROR_TOO_MUCH_REQUESTS reply slows polling down to
MAX_POLL_INTERVAL = 30.0
#: no wait of the client is longer than a day, whatever it is told
_LONGEST = 86_400.0
#: bytes of a getUserAgent answer read
MAX_USER_AGENT_REPLY = 4096


_JSON_HEADERS = Headers({b"Content-Type": [b"application/json"], b"Accept": [b"application/json"]})


class _ReplyTooLarge(Exception):
    pass


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host.startswith("127.") or host in ("localhost", "::1")


def poll_floor(base_url: str) -> float:
    """The shortest time between two polls of one task at the solver at ``base_url``."""
    return MIN_LOOPBACK_POLL_INTERVAL if _loopback(base_url) else MIN_POLL_INTERVAL


@dataclass(frozen=True)
class TaskResult:
    task_id: str | int
    reply: Mapping[str, Any] = field(repr=False)  # the ready reply, solution inside or on top
    seconds: float = 0.0


class SolverClient:
    """One provider account. ``on_call`` is told the name of each API call (for stats)."""

    def __init__(
        self,
        provider: Provider,
        api_key: str,
        *,
        base_url: str | None = None,
        request_timeout: float = 30.0,
        poll_interval: float = 3.0,
        solve_timeout: float = 180.0,
        max_reply_size: int = 8 * 1024 * 1024,
        on_call: Callable[[str], None] | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            reactor = installed_reactor()
        self.provider = provider
        self._key = api_key
        self.base_url = (base_url or provider.base_url).rstrip("/")
        self.request_timeout = request_timeout
        #: never under MIN_POLL_INTERVAL (services ban faster polling), whatever was asked
        self.poll_floor = poll_floor(self.base_url)
        self.poll_interval = sane(poll_interval, 3.0, self.poll_floor, _LONGEST)
        self.solve_timeout = solve_timeout
        self.max_reply_size = max_reply_size
        self._on_call = on_call or (lambda name: None)
        self._reactor = reactor
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 8
        self._pool.retryAutomatically = False  # a createTask must never be sent twice by us
        # Agent implements IAgent through zope.interface, which mypy cannot see.
        agent = cast(IAgent, Agent(reactor, connectTimeout=request_timeout, pool=self._pool))
        self._http = HTTPClient(agent)
        # JSON both ways, and the integration named (services ask for it).
        self._headers = Headers({k: list(v) for k, v in _JSON_HEADERS.getAllRawHeaders()})
        for name, value in getattr(provider, "headers", {}).items():
            self._headers.setRawHeaders(name.encode(), [value.encode("latin-1")])

    def __repr__(self) -> str:
        return f"<SolverClient {self.provider.name} {self.base_url}>"

    # -- public API ---------------------------------------------------------------------

    async def solve(
        self,
        task_payload: Mapping[str, Any],
        timeout: float | None = None,
        on_created: Callable[[str | int], Any] | None = None,
    ) -> TaskResult:
        """Create a task and poll it until it is ready, fails or the deadline passes
        (``timeout`` seconds, default the client's ``solve_timeout``). ``on_created`` is
        told the task id as soon as the service has it (another process may resume it)."""
        try:
            return await self._solve(task_payload, self._timeout(timeout), on_created)
        except SolverError as exc:
            # The task carries the proxy's credentials (split fields, a URL, a colon
            # string): keep them out of the message in whatever form a provider quotes
            # them back.
            exc.args = (redact_secrets(str(exc.args[0]), proxy_secrets(task_payload)),)
            raise

    async def resume(self, task_id: str | int, timeout: float | None = None) -> TaskResult:
        """Poll a task created earlier (by a process that died while it waited); a
        ``timeout`` that is not a positive finite number (read from a shared store)
        is the client's own."""
        started = time.monotonic()
        return await self._poll(task_id, started, started + self._timeout(timeout))

    def _timeout(self, timeout: float | None) -> float:
        return sane(timeout, self.solve_timeout, 0.0, _LONGEST)

    async def _solve(
        self,
        task_payload: Mapping[str, Any],
        timeout: float,
        on_created: Callable[[str | int], Any] | None,
    ) -> TaskResult:
        started = time.monotonic()
        deadline = started + timeout
        while True:
            reply = await self._call("createTask", {"task": dict(task_payload)}, deadline)
            try:
                self._raise_for_error(reply)
            except SolverError as exc:
                # No slot, a rate limit: no task was created; ask again after a pause
                # (not a failed solve), as long as the deadline allows.
                if exc.reason in _BACK_OFF and time.monotonic() + NO_SLOT_DELAY < deadline:
                    self._on_call("createTask/backed_off")
                    await self._sleep(max(NO_SLOT_DELAY, self.poll_interval))
                    continue
                raise
            break
        task_id = reply.get("taskId")
        if not task_id_ok(task_id):
            raise SolverError(
                "malformed_reply", "createTask reply has no usable taskId", family=RETRY
            )
        if str(reply.get("status", "")).lower() == "ready":
            return TaskResult(task_id, reply, time.monotonic() - started)
        if on_created is not None:
            on_created(task_id)
        return await self._poll(task_id, started, deadline)

    async def _poll(self, task_id: str | int, started: float, deadline: float) -> TaskResult:
        faults = 0
        interval = self.poll_interval
        while True:
            left = deadline - time.monotonic()
            wait = min(interval, left) if math.isfinite(left) else interval
            await self._sleep(max(self.poll_floor, wait))
            if not time.monotonic() < deadline:
                raise SolverError(
                    "timeout",
                    f"task {task_id} not ready after {self.solve_timeout:.0f}s",
                    task_id=task_id,
                )
            try:
                reply = await self._call("getTaskResult", {"taskId": task_id}, deadline)
            except SolverError as exc:
                # The task lives on at the provider: ride out a few transport faults.
                faults += 1
                if exc.family != RETRY or faults > MAX_POLL_FAULTS:
                    exc.task_id = task_id
                    raise
                continue
            faults = 0
            try:
                self._raise_for_error(reply, task_id)
            except SolverError as exc:
                if exc.reason != "poll_rate":
                    raise
                # Polled too often: the task lives on, ask for it at half the pace.
                interval = min(interval * 2, max(MAX_POLL_INTERVAL, self.poll_interval))
                self._on_call("getTaskResult/slowed_down")
                continue
            status = str(reply.get("status", "")).lower()
            if status == "ready":
                return TaskResult(task_id, reply, time.monotonic() - started)
            if status not in _WAITING:
                shown = self._redact(status[:40])
                raise SolverError(
                    "malformed_reply",
                    f"getTaskResult answered an unknown status {shown!r}",
                    task_id=task_id,
                )

    async def get_balance(self) -> float:
        """The account's balance, in the unit the service answers in (see
        ``Provider.balance_unit``)."""
        deadline = time.monotonic() + self.request_timeout
        reply = await self._call("getBalance", {}, deadline)
        self._raise_for_error(reply)
        raw: Any = reply.get("balance")
        try:
            balance = math.nan if isinstance(raw, bool) or raw is None else float(raw)
        except (TypeError, ValueError, OverflowError):
            balance = math.nan
        if not math.isfinite(balance):
            raise SolverError("malformed_reply", "getBalance reply has no balance")
        return balance

    async def fetch_user_agent(self, url: str) -> str:
        """The User-Agent a service publishes for its tasks (CapMonster's getUserAgent:
        a plain-text GET); SolverError if it cannot be read or is not one."""
        deadline = time.monotonic() + self.request_timeout
        status, raw = await self._exchange("getUserAgent", url, None, deadline)
        text = raw[:MAX_USER_AGENT_REPLY].decode("utf-8", "replace").strip()
        if text.startswith('"') and text.endswith('"'):  # (a JSON string)
            text = text[1:-1]
        if status >= 400 or not user_agent_ok(text) or not text.startswith("Mozilla/"):
            raise SolverError("malformed_reply", f"getUserAgent: HTTP {status}, no User-Agent")
        return text

    async def report(self, method: str, payload: Mapping[str, Any]) -> None:
        """One reporting call (e.g. ``reportIncorrectRecaptcha``); raises SolverError."""
        deadline = time.monotonic() + self.request_timeout
        self._raise_for_error(await self._call(method, payload, deadline))

    async def close(self) -> None:
        await maybe_deferred_to_future(self._pool.closeCachedConnections())

    # -- internals ----------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Provider texts may echo the key (in any case, percent-encoded or in base64)
        or a proxy URL's credentials: mask them all."""
        if self._key:
            text = redact_secret(text, self._key)
        return redact_url_credentials(text)

    def _raise_for_error(self, reply: Mapping[str, Any], task_id: Any = None) -> None:
        error_id = reply.get("errorId")
        code = self._redact(str(reply.get("errorCode") or "")[:64])
        is_error = error_id not in (None, 0, "0", False) or (error_id is None and code)
        if not is_error:
            return
        reason, family = self.provider.classify(code or "ERROR_UNKNOWN")
        text = self._redact(self.provider.error_text(reply))[:200]
        raise SolverError(
            reason,
            f"{code or 'error'}: {text}" if text else (code or "solver error"),
            family=family,
            code=code or None,
            task_id=task_id,
        )

    async def _sleep(self, seconds: float) -> None:
        await maybe_deferred_to_future(task.deferLater(self._reactor, seconds, lambda: None))

    async def _call(
        self, method: str, payload: Mapping[str, Any], deadline: float
    ) -> Mapping[str, Any]:
        """POST one API call; return its JSON object whatever the HTTP status."""
        body = json.dumps({"clientKey": self._key, **self.provider.envelope(method, payload)})
        url = f"{self.base_url}/{method}"
        status, raw = await self._exchange(method, url, body.encode(), deadline)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            reason = "http_error" if status >= 400 else "malformed_reply"
            raise SolverError(
                reason,
                f"{method}: HTTP {status}, not JSON ({len(raw)} bytes)",
                transport=status >= 500,
            ) from None
        if not isinstance(data, dict):
            raise SolverError("malformed_reply", f"{method}: HTTP {status}, JSON is not an object")
        if status >= 400 and not (data.get("errorCode") or data.get("errorId")):
            raise SolverError("http_error", f"{method}: HTTP {status}", transport=status >= 500)
        return data

    async def _exchange(
        self, method: str, url: str, body: bytes | None, deadline: float
    ) -> tuple[int, bytes]:
        """One HTTP exchange (a POST of ``body``, or a GET), bounded in time and size:
        (status, body)."""
        self._on_call(method)
        timeout = max(0.1, min(self.request_timeout, deadline - time.monotonic()))
        timer = Timer(self._reactor, timeout)
        try:
            if body is None:
                sent = self._http.get(url, headers=self._headers)
            else:
                sent = self._http.post(url, data=body, headers=self._headers)
            response = await timer.run(sent)
            raw = await self._read(response, timer)
        except _ReplyTooLarge:
            raise SolverError(
                "malformed_reply", f"{method} reply larger than {self.max_reply_size} bytes"
            ) from None
        except defer.CancelledError:
            if not timer.fired:
                raise  # the crawl is closing: not a solver fault
            raise SolverError(
                "timeout", f"{method}: no answer within {timeout:.0f}s", transport=True
            ) from None
        except Exception as exc:
            if timer.fired:
                raise SolverError(
                    "timeout", f"{method}: no answer within {timeout:.0f}s", transport=True
                ) from None
            if cancelled(exc):
                # Under the plain Twisted reactor, cancelling the solve reaches us as the
                # Agent's ResponseNeverReceived([CancelledError]): still a cancellation.
                raise defer.CancelledError() from None
            if isinstance(exc, (ConnectError, DNSLookupError)):
                what = f"cannot connect to the solver ({type(exc).__name__})"
            elif isinstance(exc, ResponseFailed):
                what = "connection lost mid-reply"
            else:
                what = f"{type(exc).__name__} talking to the solver"
            raise SolverError("connection", f"{method}: {what}", transport=True) from None
        finally:
            timer.stop()
        return response.code, raw

    async def _read(self, response: Any, timer: Timer) -> bytes:
        length = response.length
        # A declared oversize body fails on its first chunk instead of being read.
        limit = (
            -1 if isinstance(length, int) and length > self.max_reply_size else self.max_reply_size
        )
        chunks: list[bytes] = []
        size = 0

        def collect(data: bytes) -> None:
            nonlocal size
            size += len(data)
            if size > limit:
                raise _ReplyTooLarge
            chunks.append(data)

        await timer.run(treq.collect(response, collect))
        return b"".join(chunks)


#: (the former names, for tests written against them)
_redact_proxy = redact_proxy
_redact_secret = redact_secret
