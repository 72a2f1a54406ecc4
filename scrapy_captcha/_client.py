"""The solver client: createTask, getTaskResult polling, getBalance over treq.

It runs on the crawl's own reactor (asyncio or plain Twisted) and never blocks it. Each
HTTP call has a timeout and a cap on the reply size; a whole solve has a deadline. Every
failure surfaces as a :class:`~scrapy_captcha.errors.SolverError` with a reason and a
family, and no message ever carries the API key.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import treq
from scrapy.utils.defer import maybe_deferred_to_future
from treq.client import HTTPClient
from twisted.internet import defer, task
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.web.client import Agent, HTTPConnectionPool, ResponseFailed
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent

from scrapy_captcha._solutions import classify_error
from scrapy_captcha._wire import task_id_ok
from scrapy_captcha.errors import RETRY, SolverError
from scrapy_captcha.providers import Provider

_WAITING = {"processing", "idle", "pending", "queued", "waiting"}
#: how long a no-slot reply makes us wait before asking again (providers ask for >= 5 s)
NO_SLOT_DELAY = 5.0
#: consecutive transport faults tolerated while polling a task that is alive
MAX_POLL_FAULTS = 3


_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


_JSON_HEADERS = Headers({b"Content-Type": [b"application/json"], b"Accept": [b"application/json"]})


class _ReplyTooLarge(Exception):
    pass


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
            from twisted.internet import reactor as installed

            reactor = installed
        self.provider = provider
        self._key = api_key
        self.base_url = (base_url or provider.base_url).rstrip("/")
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
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
            return await self._solve(task_payload, timeout or self.solve_timeout, on_created)
        except SolverError as exc:
            # The task carries the proxy URL with its credentials: keep them out of the
            # message even if a provider quotes them back in some other form.
            exc.args = (_redact_proxy(str(exc.args[0]), task_payload.get("proxy")),)
            raise

    async def resume(self, task_id: str | int, timeout: float | None = None) -> TaskResult:
        """Poll a task created earlier (by a process that died while it waited)."""
        started = time.monotonic()
        return await self._poll(task_id, started, started + (timeout or self.solve_timeout))

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
                if exc.reason == "no_slot" and time.monotonic() + NO_SLOT_DELAY < deadline:
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
        while True:
            await self._sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
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
            self._raise_for_error(reply, task_id)
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
        deadline = time.monotonic() + self.request_timeout
        reply = await self._call("getBalance", {}, deadline)
        self._raise_for_error(reply)
        try:
            return float(reply["balance"])
        except (KeyError, TypeError, ValueError):
            raise SolverError("malformed_reply", "getBalance reply has no balance") from None

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
            text = _redact_secret(text, self._key)
        return _URL_CREDENTIALS.sub(r"\1***@", text)

    def _raise_for_error(self, reply: Mapping[str, Any], task_id: Any = None) -> None:
        error_id = reply.get("errorId")
        code = self._redact(str(reply.get("errorCode") or "")[:64])
        is_error = error_id not in (None, 0, "0", False) or (error_id is None and code)
        if not is_error:
            return
        reason, family = classify_error(code or "ERROR_UNKNOWN")
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
        self._on_call(method)
        timeout = max(0.1, min(self.request_timeout, deadline - time.monotonic()))
        body = json.dumps({"clientKey": self._key, **self.provider.envelope(method, payload)})
        url = f"{self.base_url}/{method}"
        timer = _Timer(self._reactor, timeout)
        try:
            response = await timer.run(
                self._http.post(
                    url,
                    data=body.encode(),
                    headers=self._headers,
                )
            )
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
            if _cancelled(exc):
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
        status = response.code
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

    async def _read(self, response: Any, timer: _Timer) -> bytes:
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


def _percent_tolerant(secret: str) -> re.Pattern[str]:
    """Matches ``secret`` with any of its characters percent-encoded (either case)."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))
        parts.append(f"(?:{re.escape(char)}|{encoded})")
    return re.compile("".join(parts), re.IGNORECASE)


def _redact_secret(text: str, secret: str) -> str:
    """``text`` without ``secret``: as written in any letter case, with any characters
    percent-encoded, or in base64."""
    if len(secret) < 3:
        return text
    encoded = base64.b64encode(secret.encode("utf-8", "replace")).decode()
    for form in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_")):
        text = text.replace(form, "***")
    return _percent_tolerant(secret).sub("***", text)


def _redact_proxy(text: str, proxy: Any) -> str:
    """Mask the proxy's credentials in every form a provider may quote them back: as
    written, with any characters percent-encoded, and as base64 of ``user:pass``."""
    if not isinstance(proxy, str):
        return text
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if user or password:
        encoded = base64.b64encode(f"{user}:{password}".encode("utf-8", "replace")).decode()
        for form in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_")):
            text = text.replace(form, "***")
    for secret in (password, user):
        text = _redact_secret(text, secret)
    return text


def _cancelled(exc: BaseException) -> bool:
    reasons = getattr(exc, "reasons", None) or []
    return any(getattr(r, "check", lambda *a: None)(defer.CancelledError) for r in reasons)


class _Timer:
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
