"""A captcha-solver service emulator speaking the createTask / getTaskResult JSON protocol.

Solving is real: a worker acts as a browser through the task's proxy, meets the site
emulator's challenge, answers it and reports the cookies, User-Agent and headers it ended up
with, exactly what the add-on must replay. Widget tasks (Turnstile, reCAPTCHA, hCaptcha) get
tokens minted by the shared ``WidgetAuthority``, and image tasks are "read" by it. Every
built-in provider's dialect is served under its own path prefix, and runtime switches
reproduce the provider misbehaviours seen in the wild.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from .._server import EmulatorHandler
from ..site._cloudflare import _ray
from ._browser import MAX_RESPONSE as MAX_RESPONSE
from ._browser import _Cookie
from ._shapes import shape_cloudflare
from ._tables import (
    _ERROR_TEXT,
    COST_PER_TASK,
    DIALECTS,
    FAULTS,
    STALE_UA,
    TaskRecord,
    _SolveError,
)
from ._tables import COOKIE_FORMATS as COOKIE_FORMATS
from ._tables import MAX_QUEUE as MAX_QUEUE
from ._tables import MAX_TASKS as MAX_TASKS
from ._tables import SOLUTION_SHAPES as SOLUTION_SHAPES
from ._tasks import _key_id, _TaskBook

# The implementation lives in the ``_solver_*`` modules: ``_solver_tables`` (dialects, task
# types, records), ``_solver_tasks`` (lifecycle, faults, workers), ``_solver_widgets`` (token
# and image tasks), ``_solver_browser`` (Cloudflare tasks); this module is the HTTP front.
__all__ = ["COST_PER_TASK", "DIALECTS", "FAULTS", "SolverEmulator", "TaskRecord"]


#: the services' report-an-incorrect-result endpoints the emulator answers
REPORT_METHODS = frozenset(
    {
        "reportIncorrectRecaptcha",
        "reportIncorrectHcaptcha",
        "reportIncorrectImageCaptcha",
        "reportIncorrectTokenCaptcha",
        "reportIncorrect",
        "feedbackTask",
    }
)


class _SolverHandler(EmulatorHandler):
    server_version = "nginx"

    def dispatch(self) -> None:
        solver: SolverEmulator = self.owner
        solver.handle(self, self.read_body())


class SolverEmulator(_TaskBook):
    """Loopback captcha-solver API: one dialect per built-in provider profile."""

    handler_class = _SolverHandler

    # HTTP ---------------------------------------------------------------------------------

    def _json(self, h: EmulatorHandler, obj: Any, status: int = 200) -> None:
        h.send_bytes(status, json.dumps(obj).encode(), content_type="application/json")

    def _error(
        self,
        h: EmulatorHandler,
        dialect: str,
        code: str,
        desc: str | None = None,
        status: int = 200,
    ) -> None:
        field_name = DIALECTS[dialect].description_field
        self._json(
            h,
            {"errorId": 1, "errorCode": code, field_name: desc or _ERROR_TEXT.get(code, code)},
            status,
        )

    def _task_error(self, h: EmulatorHandler, dialect: str, record: TaskRecord) -> None:
        """The error reply of a failed task (at createTask with ``ready_on_create``, or at
        getTaskResult)."""
        code = record.error_code or "ERROR_CAPTCHA_UNSOLVABLE"
        self._error(h, dialect, code, record.error_description)

    def handle(self, h: EmulatorHandler, body: bytes) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        if path.startswith("/_control/"):
            self._control(h, path[len("/_control/") :], body)
            return
        parts = path.strip("/").split("/")
        if parts[1:] == ["api", "useragent", "actual"] and DIALECTS.get(parts[0]) is not None:
            self._user_agent(h, parts[0])
            return
        if len(parts) != 2 or parts[0] not in DIALECTS:
            self._json(h, {"errorId": 1, "errorCode": "ERROR_NOT_FOUND"}, 404)
            return
        dialect, endpoint = parts
        if h.command != "POST":
            self._error(h, dialect, "ERROR_BAD_PARAMETERS", "use POST with a JSON body", 405)
            return
        if endpoint == "createTask":
            self._create_task(h, dialect, body)
        elif endpoint == "getTaskResult":
            self._get_task_result(h, dialect, body)
        elif endpoint == "getBalance":
            self._get_balance(h, dialect, body)
        elif endpoint in REPORT_METHODS:
            self._report(h, dialect, endpoint, body)
        else:
            self._json(h, {"errorId": 1, "errorCode": "ERROR_NOT_FOUND"}, 404)

    def _user_agent(self, h: EmulatorHandler, dialect: str) -> None:
        """CapMonster's getUserAgent (a plain-text GET, no key): the current Windows UA
        its cf_clearance tasks must name."""
        with self._lock:
            self._user_agent_reads += 1
        if not DIALECTS[dialect].checks_user_agent:
            self._json(h, {"errorId": 1, "errorCode": "ERROR_NOT_FOUND"}, 404)
        elif self._take_fault(("user_agent_down",)):
            self._send_502(h)
        else:
            h.send_bytes(200, self.service_user_agent.encode(), content_type="text/plain")

    @property
    def user_agent_reads(self) -> int:
        with self._lock:
            return self._user_agent_reads

    def _report(self, h: EmulatorHandler, dialect: str, method: str, body: bytes) -> None:
        """A report of an incorrect result (a refund at the real services): recorded."""
        payload = self._payload(body)
        if payload is None or payload.get("clientKey") not in self._balances:
            self._error(h, dialect, "ERROR_KEY_DOES_NOT_EXIST", "unknown key")
            return
        self.record_report(dialect, method, payload.get("taskId"))
        self._json(h, {"errorId": 0, "status": "success"})

    def _control(self, h: EmulatorHandler, action: str, body: bytes) -> None:
        if action == "stats":
            self._json(h, self.stats())
        elif action == "hold" and h.command == "POST":
            self.hold()
            self._json(h, {"ok": True, "held": True})
        elif action == "release" and h.command == "POST":
            self.release()
            self._json(h, {"ok": True, "held": False})
        elif action == "config" and h.command == "POST":
            try:
                self.configure(**json.loads(body or b"{}"))
            except (TypeError, ValueError) as exc:
                self._json(h, {"ok": False, "error": str(exc)}, 400)
                return
            self._json(h, {"ok": True})
        else:
            self._json(h, {"ok": False, "error": "unknown control action"}, 404)

    def _payload(self, body: bytes) -> dict[str, Any] | None:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def _authorised(
        self, h: EmulatorHandler, dialect: str, body: bytes
    ) -> tuple[dict[str, Any], str] | None:
        """The JSON payload and its key, or None once an error reply has been sent."""
        payload = self._payload(body)
        if payload is None:
            self._error(h, dialect, "ERROR_BAD_PARAMETERS", "request body is not a JSON object")
            return None
        key = self._check_key(h, dialect, payload)
        return None if key is None else (payload, key)

    def _check_key(self, h: EmulatorHandler, dialect: str, payload: dict[str, Any]) -> str | None:
        key = payload.get("clientKey")
        with self._lock:
            known = isinstance(key, str) and key in self._balances
        if not known:
            self._error(h, dialect, "ERROR_KEY_DOES_NOT_EXIST")
            return None
        return str(key)

    def _get_balance(self, h: EmulatorHandler, dialect: str, body: bytes) -> None:
        if self.balance_latency:
            self._stopped.wait(self.balance_latency)
        authorised = self._authorised(h, dialect, body)
        if authorised is not None:
            # (in the dialect's unit: yescaptcha answers in points)
            units = self.balance(authorised[1]) * DIALECTS[dialect].balance_per_usd
            self._json(h, {"errorId": 0, "balance": round(units, 6)})

    def _send_502(self, h: EmulatorHandler) -> None:
        page = (
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        h.send_bytes(
            502,
            page.encode(),
            [("CF-RAY", _ray())],
            content_type="text/html",
        )

    def _create_task(self, h: EmulatorHandler, dialect: str, body: bytes) -> None:
        with self._lock:
            self._create_task_count += 1
            self._create_task_times.append(time.monotonic())
            self._create_calls[dialect] = self._create_calls.get(dialect, 0) + 1
        fault = self._take_fault(("hang", "http_502", "garbage"))
        if fault == "hang":
            # Swallow the request and answer nothing, like an overloaded provider.
            h.close_connection = True
            self._stopped.wait(self.hold_timeout)
            return
        if fault == "http_502":
            self._send_502(h)
            return
        if fault == "garbage":
            h.send_bytes(
                200,
                b"<html><body><p>Service is busy. Please retry.</p></body></html>\n",
                content_type="text/html; charset=utf-8",
            )
            return
        authorised = self._authorised(h, dialect, body)
        if authorised is None:
            return
        payload, key = authorised
        if self.balance(key) <= 0:
            self._error(h, dialect, "ERROR_ZERO_BALANCE")
            return
        fault = self._take_fault(("http_400_json", "no_slot", "malformed"))
        if fault == "http_400_json":
            self._error(h, dialect, "ERROR_BAD_PARAMETERS", "Invalid request (emulated)", 400)
            return
        if fault == "no_slot":
            self._error(h, dialect, "ERROR_NO_SLOT_AVAILABLE")
            return
        if self._take_fault(("rate_limit",)):
            self._error(h, dialect, "ERROR_RATE_LIMIT")
            return
        if fault == "malformed":
            self._json(h, {"errorId": 0})
            return
        try:
            record = self._new_task(dialect, payload.get("task"))
        except _SolveError as exc:
            self._error(h, dialect, exc.code, exc.description)
            return
        record.fault = self._take_fault(
            ("unsolvable", "never_ready", "bad_clearance", "bad_token")
        )
        with self._lock:
            self._store(record, key)
            held = self._is_held()

        if record.fault == "never_ready":
            self._json(h, {"errorId": 0, "taskId": record.id})
            return
        if self.ready_on_create and not held:
            self._run_task(record, key)
            if record.status == "ready":
                self._json(h, {**self._ready_reply(record), "taskId": record.id})
            else:
                self._task_error(h, dialect, record)
            return
        if not self._pool.submit(lambda: self._run_task(record, key)):
            self._finish(record, None, "ERROR_NO_SLOT_AVAILABLE", "solver queue is full")
            self._error(h, dialect, "ERROR_NO_SLOT_AVAILABLE")
            return
        self._json(h, {"errorId": 0, "taskId": record.id})

    def _get_task_result(self, h: EmulatorHandler, dialect: str, body: bytes) -> None:
        with self._lock:
            self._poll_count += 1
        if self._take_fault(("http_502", "poll_502")):
            self._send_502(h)
            return
        authorised = self._authorised(h, dialect, body)
        if authorised is None:
            return
        payload, key = authorised
        task_id = payload.get("taskId")
        # Like real providers, a task id must come back exactly as it was given: an
        # integer where the dialect issues integers, a string where it issues UUIDs.
        expected = str if DIALECTS[dialect].uuid_ids else int
        if not isinstance(task_id, expected) or isinstance(task_id, bool):
            self._error(h, dialect, "ERROR_NO_SUCH_CAPCHA_ID", "taskId has the wrong type")
            return
        ref = f"{dialect}:{task_id}"
        with self._lock:
            record = self._tasks.get(ref)
            if record is None or self._owners.get(ref) != _key_id(key):
                record = None
            held = self._is_held()
            status = record.status if record else None
            too_soon = False
            if record is not None:
                now = time.monotonic()
                last, record.last_poll = record.last_poll, now
                too_soon = last is not None and now - last < float(self.poll_spacing)
        if too_soon:
            self._error(h, dialect, "ERROR_TOO_MUCH_REQUESTS")
        elif record is None:
            self._error(h, dialect, "ERROR_NO_SUCH_CAPCHA_ID")
        elif held or status == "processing":
            self._json(h, {"errorId": 0, "status": "processing"})
        elif status == "failed":
            self._task_error(h, dialect, record)
        else:
            self._json(h, self._ready_reply(record))

    # Replies ------------------------------------------------------------------------------

    def _ready_reply(self, record: TaskRecord) -> dict[str, Any]:
        solution = self._format_solution(record.solution or {}, record.dialect)
        shape = self.solution_shape
        reply: dict[str, Any] = {"errorId": 0, "status": "ready"}
        if shape in ("top_level", "both"):
            reply.update(solution)
        if shape != "top_level":
            reply["solution"] = solution
        reply.update(
            {
                "cost": f"{COST_PER_TASK:.5f}",
                "createTime": int(record.created_at),
                "endTime": int(record.solved_at or record.created_at),
                "solveCount": 1,
            }
        )
        return reply

    def _format_solution(self, raw: dict[str, Any], dialect: str) -> dict[str, Any]:
        if "widget" in raw:
            widget = {k: dict(v) if isinstance(v, dict) else v for k, v in raw["widget"].items()}
            if self.ua_mismatch and "userAgent" in widget:
                widget["userAgent"] = STALE_UA
            return widget
        style = DIALECTS[dialect].cloudflare_reply
        if style != "full":
            ua = STALE_UA if self.ua_mismatch else raw.get("user_agent", "")
            return shape_cloudflare(style, raw, ua)
        cookies: list[_Cookie] = raw.get("cookies", [])
        fmt = self.cookie_format
        formatted: Any
        if fmt == "list":
            formatted = [dataclasses.asdict(c) for c in cookies]
        elif fmt == "string":
            formatted = "; ".join(f"{c.name}={c.value}" for c in cookies)
        else:
            formatted = {c.name: c.value for c in cookies}
        return {
            "cookies": formatted,
            "user_agent": STALE_UA if self.ua_mismatch else raw.get("user_agent", ""),
            "request_headers": dict(raw.get("request_headers", {})),
            "heders" if self.misspell_headers else "headers": dict(raw.get("headers", {})),
            "content": raw.get("content", ""),
        }

    # Solving ------------------------------------------------------------------------------
