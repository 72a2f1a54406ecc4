"""A captcha-solver service emulator speaking the createTask / getTaskResult JSON protocol.

Solving is real: a worker acts as a browser through the task's proxy, meets the site
emulator's challenge, answers it and reports the cookies, User-Agent and headers it ended up
with, exactly what the add-on must replay. Widget tasks (Turnstile, reCAPTCHA, hCaptcha) get
tokens minted by the shared ``WidgetAuthority``, and image tasks are "read" by it. Two
provider dialects are served under path prefixes, and runtime switches reproduce the provider
misbehaviours seen in the wild.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import gzip
import hashlib
import http.client
import json
import logging
import queue
import re
import secrets
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

from ._server import EmulatorHandler, EmulatorServer
from .site import solve_answer
from .widgets import WidgetAuthority, WidgetError

__all__ = ["COST_PER_TASK", "DIALECTS", "FAULTS", "SolverEmulator", "TaskRecord"]

logger = logging.getLogger("scrapy_captcha.testing.solver")

COST_PER_TASK = 0.002
FAULTS = (
    "unsolvable",
    "no_slot",
    "garbage",
    "malformed",
    "http_502",
    "poll_502",
    "http_400_json",
    "never_ready",
    "hang",
    "bad_clearance",
)
SOLUTION_SHAPES = ("nested", "top_level", "both")
COOKIE_FORMATS = ("object", "list", "string")
MAX_TASKS = 10_000
MAX_QUEUE = 1_000
MAX_RESPONSE = 64 * 1024 * 1024
STALE_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36"
)
_ERROR_TEXT = {
    "ERROR_KEY_DOES_NOT_EXIST": "Account authorization key not found in the system",
    "ERROR_ZERO_BALANCE": "Account has zero or negative balance",
    "ERROR_NO_SLOT_AVAILABLE": "No idle workers are available at the moment, try again later",
    "ERROR_TASK_NOT_SUPPORTED": "Task type is not supported or is misspelled",
    "ERROR_NO_SUCH_CAPCHA_ID": "The task does not exist or has expired",
    "ERROR_CAPTCHA_UNSOLVABLE": "The challenge could not be solved",
    "ERROR_PROXY_CONNECT_REFUSED": "Could not connect to the task's proxy",
    "ERROR_BAD_PARAMETERS": "Required parameters are missing or have an incorrect format",
}
_CHALLENGE_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_CHALLENGE_ACTION = re.compile(r'<form[^>]*id="challenge-form"[^>]*action="([^"]+)"')
_BLOCK_CODE = re.compile(r"<span>(10\d\d)</span>")


@dataclass(frozen=True)
class _WidgetType:
    """A token or image task type: the widget kind it solves and how it is described."""

    kind: str  # turnstile | recaptcha_v2 | recaptcha_v3 | hcaptcha | image
    enterprise: bool = False
    # Where a Turnstile task carries action/cdata: "action" (top-level field, no cdata) or
    # "rqdata" (rqData.metadataAction / rqData.metadataCdata).
    turnstile_fields: str = "action"


@dataclass(frozen=True)
class _Dialect:
    task_types: tuple[str, ...]
    description_field: str
    uuid_ids: bool
    rqdata: bool
    widget_types: dict[str, _WidgetType] = field(default_factory=dict)
    image_field: str = "text"  # where an image task's answer goes in the solution


DIALECTS: dict[str, _Dialect] = {
    "1captcha": _Dialect(
        ("CloudFlareTaskS3", "CloudFlareTask"),
        "errorDescription",
        False,
        False,
        {
            "TurnstileTaskProxyless": _WidgetType("turnstile", turnstile_fields="action"),
            "RecaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "NoCaptchaTaskProxyless": _WidgetType("recaptcha_v2"),
            "RecaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "RecaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "RecaptchaV3EnterpriseTaskProxyless": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
        },
        # 1captcha's own ImageToTextTask example answers in gRecaptchaResponse.
        image_field="gRecaptchaResponse",
    ),
    "ez-captcha": _Dialect(
        ("CloudFlare5STask",),
        "errorDesc",
        True,
        True,
        {
            "CloudFlareTurnstileTask": _WidgetType("turnstile", turnstile_fields="rqdata"),
            "ReCaptchaV2TaskProxyless": _WidgetType("recaptcha_v2"),
            "ReCaptchaV2EnterpriseTaskProxyless": _WidgetType("recaptcha_v2", enterprise=True),
            "ReCaptchaV3TaskProxyless": _WidgetType("recaptcha_v3"),
            "ReCaptchaV3EnterpriseTaskProxyless": _WidgetType("recaptcha_v3", enterprise=True),
            "HCaptchaTaskProxyless": _WidgetType("hcaptcha"),
            "ImageToTextTask": _WidgetType("image"),
        },
        image_field="text",
    ),
}


@dataclass(frozen=True)
class _WidgetJob:
    """A widget or image task's validated parameters (checked at createTask)."""

    kind: str
    sitekey: str = ""
    page_url: str = ""
    action: str | None = None
    cdata: str | None = None
    invisible: bool = False
    enterprise: bool = False
    image: bytes = b""


@dataclass
class TaskRecord:
    """What the solver knows about one task (the client key is never kept here)."""

    id: int | str
    dialect: str
    type: str
    task: dict[str, Any]
    status: str = "processing"  # processing | ready | failed
    error_code: str | None = None
    created_at: float = field(default_factory=time.time)
    solved_at: float | None = None
    error_description: str | None = None
    solution: dict[str, Any] | None = field(default=None, repr=False)
    fault: str | None = field(default=None, repr=False)
    widget: _WidgetJob | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view for ``/_control/stats``."""
        return {
            "id": self.id,
            "dialect": self.dialect,
            "type": self.type,
            "task": self.task,
            "status": self.status,
            "error_code": self.error_code,
            "created_at": self.created_at,
            "solved_at": self.solved_at,
        }


class _SolveError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass
class _Proxy:
    host: str
    port: int
    auth: str | None


@dataclass
class _Cookie:
    name: str
    value: str
    domain: str
    path: str
    expires: int


@dataclass
class _Fetched:
    status: int
    headers: list[tuple[str, str]]
    text: str
    sent: dict[str, str]

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")


def _parse_proxy(value: Any) -> _Proxy:
    if not isinstance(value, str) or not value:
        raise _SolveError("ERROR_BAD_PARAMETERS", "A proxy is required for Cloudflare tasks")
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise _SolveError(
            "ERROR_BAD_PARAMETERS",
            "proxy must be an http URL: http://user:pass@host:port or http://host:port",
        )
    auth = None
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(creds.encode()).decode()
    return _Proxy(parts.hostname, port, auth)


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class _WorkerPool:
    """A fixed set of daemon worker threads (ThreadPoolExecutor's are joined at exit)."""

    def __init__(self, size: int, stopped: threading.Event) -> None:
        self._size = max(1, size)
        self._stopped = stopped
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=MAX_QUEUE)
        self._threads: list[threading.Thread] = []

    def start(self, name: str) -> None:
        for i in range(self._size):
            t = threading.Thread(target=self._run, name=f"{name}-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, fn: Any) -> bool:
        try:
            self._queue.put_nowait(fn)
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                fn = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                fn()
            except Exception:
                logger.exception("solver worker failed")


class _SolverHandler(EmulatorHandler):
    server_version = "nginx"

    def dispatch(self) -> None:
        solver: SolverEmulator = self.owner
        solver._handle(self, self.read_body())


class SolverEmulator(EmulatorServer):
    """Loopback captcha-solver API (``1captcha`` and ``ez-captcha`` dialects)."""

    handler_class = _SolverHandler

    def __init__(
        self,
        latency: float = 0.3,
        keys: dict[str, float] | None = None,
        max_workers: int = 8,
        hold_timeout: float = 30.0,
        max_lifetime: float = 900.0,
        authority: WidgetAuthority | None = None,
    ) -> None:
        super().__init__(max_lifetime=max_lifetime)
        #: Mints widget tokens and reads image captchas; share it with the site emulator.
        self.authority = authority if authority is not None else WidgetAuthority()
        self.latency = latency
        self.hold_timeout = hold_timeout
        self.max_workers = max_workers
        self.fetch_timeout = 30.0
        # Runtime switches (plain attributes).
        self.fault: str | None = None
        self.fault_times: int | None = None
        self.ready_on_create = False
        self.solution_shape = "nested"
        self.misspell_headers = False
        self.cookie_format = "object"
        self.ua_mismatch = False

        self._lock = threading.Lock()
        self._balances: dict[str, float] = dict(
            keys if keys is not None else {"test-key": 10.0, "empty-key": 0.0}
        )
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()
        self._owners: dict[str, str] = {}
        self._create_task_count = 0
        self._create_task_times: list[float] = []
        self._poll_count = 0
        self._seq = 0
        self._next_int_id = 70_000_000 + secrets.randbelow(1_000_000)
        self._held_until: float | None = None
        self._pool = _WorkerPool(max_workers, self._stopped)

    def _on_start(self) -> None:
        self._pool.start(f"solver:{self.port}")

    # Public helpers -----------------------------------------------------------------------

    def url_for(self, dialect: str) -> str:
        """API base URL of one dialect, e.g. ``http://127.0.0.1:PORT/1captcha``."""
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {list(DIALECTS)}")
        return f"{self.url}/{dialect}"

    def set_fault(self, fault: str | None, times: int | None = None) -> None:
        """Set ``fault`` and ``fault_times`` together (no request can see one without the
        other)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        with self._lock:
            self.fault = fault
            self.fault_times = times

    def hold(self) -> None:
        """Stop reporting tasks as finished (auto-release after ``hold_timeout``)."""
        with self._lock:
            self._held_until = time.monotonic() + self.hold_timeout

    def release(self) -> None:
        with self._lock:
            self._held_until = None

    @property
    def held(self) -> bool:
        with self._lock:
            return self._is_held()

    def _is_held(self) -> bool:
        if self._held_until is None:
            return False
        if time.monotonic() >= self._held_until:
            self._held_until = None
            return False
        return True

    def balance(self, key: str) -> float:
        with self._lock:
            return self._balances[key]

    def set_balance(self, key: str, amount: float) -> None:
        """Create a key or change its balance (e.g. run an account dry mid-crawl)."""
        with self._lock:
            self._balances[key] = amount

    @property
    def tasks(self) -> list[TaskRecord]:
        with self._lock:
            return [dataclasses.replace(t, task=dict(t.task)) for t in self._tasks.values()]

    @property
    def create_task_count(self) -> int:
        with self._lock:
            return self._create_task_count

    @property
    def create_task_times(self) -> list[float]:
        """Monotonic time of every createTask call, answered or not (no-slot back-off)."""
        with self._lock:
            return list(self._create_task_times)

    @property
    def poll_count(self) -> int:
        with self._lock:
            return self._poll_count

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "create_task_count": self._create_task_count,
                "poll_count": self._poll_count,
                "held": self._is_held(),
                "tasks": [t.summary() for t in self._tasks.values()],
            }

    # Faults -------------------------------------------------------------------------------

    def _take_fault(self, applicable: tuple[str, ...]) -> str | None:
        """Return the active fault if it applies here, consuming one of ``fault_times``."""
        with self._lock:
            fault, times = self.fault, self.fault_times
            if fault is None or fault not in applicable:
                return None
            if times is not None:
                if times <= 0:
                    self.fault, self.fault_times = None, None
                    return None
                self.fault_times = times - 1
                if times - 1 <= 0:
                    self.fault, self.fault_times = None, None
            return fault

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

    def _handle(self, h: EmulatorHandler, body: bytes) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        if path.startswith("/_control/"):
            self._control(h, path[len("/_control/") :], body)
            return
        parts = path.strip("/").split("/")
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
        else:
            self._json(h, {"errorId": 1, "errorCode": "ERROR_NOT_FOUND"}, 404)

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

    def configure(self, **options: Any) -> None:
        """Set runtime switches by name (also reachable as ``POST /_control/config``)."""
        allowed = {
            "fault",
            "fault_times",
            "ready_on_create",
            "solution_shape",
            "misspell_headers",
            "cookie_format",
            "ua_mismatch",
            "latency",
        }
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"unknown options: {sorted(unknown)}")
        if options.get("solution_shape", "nested") not in SOLUTION_SHAPES:
            raise ValueError("bad solution_shape")
        if options.get("cookie_format", "object") not in COOKIE_FORMATS:
            raise ValueError("bad cookie_format")
        if "fault" in options or "fault_times" in options:
            self.set_fault(options.pop("fault", self.fault), options.pop("fault_times", None))
        for name, value in options.items():
            setattr(self, name, value)

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
        authorised = self._authorised(h, dialect, body)
        if authorised is not None:
            self._json(h, {"errorId": 0, "balance": round(self.balance(authorised[1]), 6)})

    def _send_502(self, h: EmulatorHandler) -> None:
        page = (
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        h.send_bytes(
            502,
            page.encode(),
            [("CF-RAY", secrets.token_hex(8) + "-FRA")],
            content_type="text/html",
        )

    def _create_task(self, h: EmulatorHandler, dialect: str, body: bytes) -> None:
        with self._lock:
            self._create_task_count += 1
            self._create_task_times.append(time.monotonic())
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
        if fault == "malformed":
            self._json(h, {"errorId": 0})
            return
        try:
            record = self._new_task(dialect, payload.get("task"))
        except _SolveError as exc:
            self._error(h, dialect, exc.code, exc.description)
            return
        record.fault = self._take_fault(("unsolvable", "never_ready", "bad_clearance"))
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
                self._error(
                    h,
                    dialect,
                    record.error_code or "ERROR_CAPTCHA_UNSOLVABLE",
                    record.error_description,
                )
            return
        if not self._pool.submit(lambda: self._run_task(record, key)):
            self._finish(record, None, "ERROR_NO_SLOT_AVAILABLE", "solver queue is full")
            self._error(h, dialect, "ERROR_NO_SLOT_AVAILABLE")
            return
        self._json(h, {"errorId": 0, "taskId": record.id})

    def _new_task(self, dialect: str, task: Any) -> TaskRecord:
        spec = DIALECTS[dialect]
        if not isinstance(task, dict):
            raise _SolveError("ERROR_BAD_PARAMETERS", "task must be a JSON object")
        task = {k: v for k, v in task.items() if k != "clientKey"}
        task_type = task.get("type")
        widget_type = spec.widget_types.get(task_type) if isinstance(task_type, str) else None
        if widget_type is None and task_type not in spec.task_types:
            known = [*spec.task_types, *spec.widget_types]
            raise _SolveError(
                "ERROR_TASK_NOT_SUPPORTED",
                f"Task type {task_type!r} is not supported; use one of {known}",
            )
        if widget_type is not None:
            job = self._widget_job(widget_type, task)
            return TaskRecord(
                id=self._next_id(dialect),
                dialect=dialect,
                type=str(task_type),
                task=task,
                widget=job,
            )
        url = task.get("websiteURL")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise _SolveError("ERROR_BAD_PARAMETERS", "websiteURL must be an http(s) URL")
        _parse_proxy(task.get("proxy"))
        rq = task.get("rqData")
        if (
            spec.rqdata
            and rq is not None
            and (
                not isinstance(rq, dict) or str(rq.get("mode", "")).upper() not in ("JSON", "FORM")
            )
        ):
            raise _SolveError("ERROR_BAD_PARAMETERS", 'rqData.mode must be "JSON" or "FORM"')
        return TaskRecord(
            id=self._next_id(dialect), dialect=dialect, type=str(task_type), task=task
        )

    def _next_id(self, dialect: str) -> int | str:
        with self._lock:
            if DIALECTS[dialect].uuid_ids:
                return str(uuid.uuid4())
            self._next_int_id += 1
            return self._next_int_id

    def _widget_job(self, wtype: _WidgetType, task: dict[str, Any]) -> _WidgetJob:
        """Validate a widget or image task as providers do at createTask (bad input and bad
        site keys are refused there, never queued)."""
        if wtype.kind == "image":
            body = task.get("body")
            if not isinstance(body, str) or not body:
                raise _SolveError("ERROR_BAD_PARAMETERS", "body must be a base64 string")
            try:
                image = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise _SolveError(
                    "ERROR_BAD_PARAMETERS",
                    "body must be standard base64 without line breaks or whitespace",
                ) from None
            if not image:
                raise _SolveError("ERROR_BAD_PARAMETERS", "body decodes to an empty image")
            _optional(task, "imageType", str)
            return _WidgetJob("image", image=image)
        url = task.get("websiteURL")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _SolveError("ERROR_BAD_PARAMETERS", "websiteURL must be an http(s) URL")
        sitekey = task.get("websiteKey")
        if not isinstance(sitekey, str) or not sitekey:
            raise _SolveError("ERROR_BAD_PARAMETERS", "websiteKey must be a non-empty string")
        action: str | None = None
        cdata: str | None = None
        invisible = False
        if wtype.kind == "turnstile":
            if wtype.turnstile_fields == "action":
                action = _optional(task, "action", str)
            else:
                rq = _optional(task, "rqData", dict) or {}
                action = _optional(rq, "metadataAction", str, "rqData.")
                cdata = _optional(rq, "metadataCdata", str, "rqData.")
        elif wtype.kind == "recaptcha_v2":
            invisible = bool(_optional(task, "isInvisible", bool))
        elif wtype.kind == "recaptcha_v3":
            action = _optional(task, "pageAction", str)
            _optional(task, "websiteTitle", str)
            _optional(task, "isInvisible", bool)
        try:
            self.authority.check_sitekey(wtype.kind, sitekey)
        except WidgetError as exc:
            raise _SolveError(exc.code, exc.description) from None
        return _WidgetJob(
            wtype.kind,
            sitekey=sitekey,
            page_url=str(url),
            action=action,
            cdata=cdata,
            invisible=invisible,
            enterprise=wtype.enterprise,
        )

    def _store(self, record: TaskRecord, key: str) -> None:
        """Keep a task (lock held); oldest tasks are forgotten past ``MAX_TASKS``."""
        ref = f"{record.dialect}:{record.id}"
        self._tasks[ref] = record
        self._owners[ref] = _key_id(key)
        while len(self._tasks) > MAX_TASKS:
            old, _ = self._tasks.popitem(last=False)
            self._owners.pop(old, None)

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
        if record is None:
            self._error(h, dialect, "ERROR_NO_SUCH_CAPCHA_ID")
        elif held or status == "processing":
            self._json(h, {"errorId": 0, "status": "processing"})
        elif status == "failed":
            self._error(
                h,
                dialect,
                record.error_code or "ERROR_CAPTCHA_UNSOLVABLE",
                record.error_description,
            )
        else:
            self._json(h, self._ready_reply(record))

    # Replies ------------------------------------------------------------------------------

    def _ready_reply(self, record: TaskRecord) -> dict[str, Any]:
        solution = self._format_solution(record.solution or {})
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

    def _format_solution(self, raw: dict[str, Any]) -> dict[str, Any]:
        if "widget" in raw:
            widget = {k: dict(v) if isinstance(v, dict) else v for k, v in raw["widget"].items()}
            if self.ua_mismatch and "userAgent" in widget:
                widget["userAgent"] = STALE_UA
            return widget
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

    def _finish(
        self,
        record: TaskRecord,
        solution: dict[str, Any] | None,
        code: str | None = None,
        description: str | None = None,
    ) -> None:
        with self._lock:
            record.solved_at = time.time()
            if solution is not None:
                record.solution = solution
                record.status = "ready"
            else:
                record.status = "failed"
                record.error_code = code or "ERROR_CAPTCHA_UNSOLVABLE"
                record.error_description = description

    def _run_task(self, record: TaskRecord, key: str) -> None:
        """Wait ``latency``, then browse through the proxy (or mint a widget token) and
        record the outcome."""
        if self._stopped.wait(max(0.0, float(self.latency))):
            return
        if record.fault == "unsolvable":
            self._finish(
                record, None, "ERROR_CAPTCHA_UNSOLVABLE", _ERROR_TEXT["ERROR_CAPTCHA_UNSOLVABLE"]
            )
            return
        with self._lock:
            self._seq += 1
            seq = self._seq
        try:
            if record.widget is not None:
                solution = self._solve_widget(record.dialect, record.widget, seq)
            else:
                solution = self._browse(record, seq)
        except _SolveError as exc:
            self._finish(record, None, exc.code, exc.description)
            return
        except Exception as exc:
            logger.debug("solve failed", exc_info=True)
            self._finish(record, None, "ERROR_CAPTCHA_UNSOLVABLE", f"browser error: {exc}")
            return
        if record.fault == "bad_clearance" and record.widget is None:
            self._forge_clearance(solution)
        with self._lock:
            self._balances[key] = round(self._balances.get(key, 0.0) - COST_PER_TASK, 6)
        self._finish(record, solution)

    @staticmethod
    def _forge_clearance(solution: dict[str, Any]) -> None:
        expiry = int((time.time() + 1800) * 1000)
        forged = f"{secrets.token_hex(16)}-{expiry}-1.2.1.1-{secrets.token_hex(22)[:43]}"
        cookies: list[_Cookie] = solution["cookies"]
        for cookie in cookies:
            if cookie.name == "cf_clearance":
                cookie.value = forged
                break
        else:
            host = urlsplit(solution["url"]).hostname or ""
            cookies.append(_Cookie("cf_clearance", forged, host, "/", expiry // 1000))
        headers = solution["request_headers"]
        headers["cookie"] = "; ".join(f"{c.name}={c.value}" for c in cookies)

    def _solve_widget(self, dialect: str, job: _WidgetJob, seq: int) -> dict[str, Any]:
        """A worker's "solve" of a widget: a token minted by the authority (or an image read
        by it), in the reply fields providers use."""
        if job.kind == "image":
            text = self.authority.read_image(job.image)
            if text is None:
                raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "the image could not be read")
            return {"widget": {DIALECTS[dialect].image_field: text}}
        try:
            minted = self.authority.mint(
                job.kind,
                job.sitekey,
                page_url=job.page_url,
                action=job.action,
                cdata=job.cdata,
                invisible=job.invisible,
                enterprise=job.enterprise,
            )
        except WidgetError as exc:
            raise _SolveError(exc.code, exc.description) from None
        solution: dict[str, Any]
        if job.kind == "turnstile":
            solution = {"token": minted.token, "userAgent": _browser_ua(seq)}
        elif job.kind == "hcaptcha":
            solution = {"gRecaptchaResponse": minted.token}
        else:
            solution = {"gRecaptchaResponse": minted.token, "userAgent": _browser_ua(seq)}
        if minted.resp_key is not None:
            solution["respKey"] = minted.resp_key
        if minted.cookies:
            solution["cookies"] = dict(minted.cookies)
        return {"widget": solution}

    def _browse(self, record: TaskRecord, seq: int) -> dict[str, Any]:
        task = record.task
        url: str = task["websiteURL"]
        proxy = _parse_proxy(task.get("proxy"))
        ua = _browser_ua(seq)
        method, body, ctype = "GET", None, None
        rq = task.get("rqData") if DIALECTS[record.dialect].rqdata else None
        if isinstance(rq, dict):
            fields = {k: v for k, v in rq.items() if k != "mode"}
            method = "POST"
            if str(rq.get("mode")).upper() == "JSON":
                body, ctype = json.dumps(fields).encode(), "application/json"
            else:
                body = urlencode(fields, doseq=True).encode()
                ctype = "application/x-www-form-urlencoded"
        host = urlsplit(url).hostname or ""
        jar: OrderedDict[str, _Cookie] = OrderedDict()

        page = self._fetch(proxy, method, url, ua, jar, body, ctype, site="none")
        if self._is_challenge(page):
            nonce = _CHALLENGE_NONCE.search(page.text)
            action = _CHALLENGE_ACTION.search(page.text)
            if nonce is None or action is None:
                raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "challenge form not understood")
            verify_url = urljoin(url, action.group(1))
            form = urlencode(
                {"nonce": nonce.group(1), "answer": solve_answer(nonce.group(1), host)}
            ).encode()
            verified = self._fetch(
                proxy,
                "POST",
                verify_url,
                ua,
                jar,
                form,
                "application/x-www-form-urlencoded",
                site="same-origin",
                referer=url,
            )
            if verified.status != 200 or "cf_clearance" not in jar:
                raise _SolveError(
                    "ERROR_CAPTCHA_UNSOLVABLE",
                    f"challenge verification failed ({verified.status})",
                )
            page = self._fetch(
                proxy, method, url, ua, jar, body, ctype, site="same-origin", referer=url
            )
            if self._is_challenge(page):
                raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", "still challenged after solving")
        block = _BLOCK_CODE.search(page.text) if page.status in (403, 429) else None
        if block is not None:
            raise _SolveError(
                "ERROR_CAPTCHA_UNSOLVABLE", f"blocked by Cloudflare (error {block.group(1)})"
            )
        headers: dict[str, str] = {}
        for name, value in page.headers:
            lname = name.lower()
            sep = "\n" if lname == "set-cookie" else ", "
            headers[lname] = f"{headers[lname]}{sep}{value}" if lname in headers else value
        return {
            "url": url,
            "cookies": list(jar.values()),
            "user_agent": ua,
            "request_headers": page.sent,
            "headers": headers,
            "content": page.text,
        }

    @staticmethod
    def _is_challenge(page: _Fetched) -> bool:
        if page.header("cf-mitigated").lower() == "challenge":
            return True
        return page.status in (403, 503) and 'id="challenge-form"' in page.text

    def _fetch(
        self,
        proxy: _Proxy,
        method: str,
        url: str,
        ua: str,
        jar: OrderedDict[str, _Cookie],
        body: bytes | None,
        content_type: str | None,
        *,
        site: str,
        referer: str | None = None,
    ) -> _Fetched:
        """One browser request through the proxy (absolute-form, like any HTTP proxy client)."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent: dict[str, str] = {
            ":method": method,
            ":authority": parts.netloc,
            ":scheme": parts.scheme,
            ":path": path,
        }
        if method == "POST":
            sent["content-length"] = str(len(body or b""))
            sent["cache-control"] = "max-age=0"
        sent.update(
            {
                "sec-ch-ua": '"Chromium";v="124", "EmuBrowser";v="1", "Not-A.Brand";v="99"',
                "sec-ch-ua-mobile": "?0",
                "sec-ch-ua-platform": '"Linux"',
                "upgrade-insecure-requests": "1",
            }
        )
        if method == "POST":
            sent["origin"] = f"{parts.scheme}://{parts.netloc}"
            sent["content-type"] = content_type or "application/x-www-form-urlencoded"
        sent.update(
            {
                "user-agent": ua,
                "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
                "sec-fetch-site": site,
                "sec-fetch-mode": "navigate",
                "sec-fetch-user": "?1",
                "sec-fetch-dest": "document",
            }
        )
        if referer:
            sent["referer"] = referer
        sent["accept-encoding"] = "gzip, deflate, br, zstd"
        sent["accept-language"] = "en-US,en;q=0.9"
        if jar:
            sent["cookie"] = "; ".join(f"{c.name}={c.value}" for c in jar.values())
        sent["priority"] = "u=0, i"

        conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=self.fetch_timeout)
        try:
            try:
                conn.connect()
            except OSError as exc:
                raise _SolveError(
                    "ERROR_PROXY_CONNECT_REFUSED", f"could not connect to the proxy: {exc}"
                ) from None
            conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", parts.netloc)
            for name, value in sent.items():
                if not name.startswith(":"):
                    conn.putheader(name, value)
            if proxy.auth:
                conn.putheader("Proxy-Authorization", proxy.auth)
            conn.putheader("Proxy-Connection", "close")
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read(MAX_RESPONSE)
            headers = resp.getheaders()
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"page fetch failed: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                conn.close()
        if status == 407:
            raise _SolveError(
                "ERROR_PROXY_CONNECT_REFUSED", "the proxy refused the task's credentials (407)"
            )
        fetched = _Fetched(status, headers, self._decode(raw, headers), sent)
        host = parts.hostname or ""
        now = time.time()
        for name, value in headers:
            if name.lower() == "set-cookie":
                cookie = _parse_set_cookie(value, host, now)
                if cookie is not None:
                    jar.pop(cookie.name, None)
                    jar[cookie.name] = cookie
        return fetched

    @staticmethod
    def _decode(raw: bytes, headers: list[tuple[str, str]]) -> str:
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "")
        encoding = encoding.strip().lower()
        try:
            if encoding in ("gzip", "x-gzip"):
                raw = gzip.decompress(raw)
            elif encoding == "deflate":
                try:
                    raw = zlib.decompress(raw)
                except zlib.error:
                    raw = zlib.decompress(raw, -zlib.MAX_WBITS)
            elif encoding not in ("", "identity"):
                raise _SolveError(
                    "ERROR_CAPTCHA_UNSOLVABLE", f"unsupported content-encoding {encoding}"
                )
        except (OSError, EOFError, zlib.error) as exc:
            raise _SolveError("ERROR_CAPTCHA_UNSOLVABLE", f"bad compressed body: {exc}") from None
        return raw.decode("utf-8", "replace")


def _browser_ua(seq: int) -> str:
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"EmuBrowser/1.{seq} Safari/537.36"
    )


def _optional(obj: dict[str, Any], name: str, kind: type, prefix: str = "") -> Any:
    """``obj[name]`` if present (None otherwise); ERROR_BAD_PARAMETERS if of another type."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _SolveError("ERROR_BAD_PARAMETERS", f"{prefix}{name} must be a {kind.__name__}")
    return value


def _parse_set_cookie(value: str, host: str, now: float) -> _Cookie | None:
    first, *attrs = value.split(";")
    name, sep, cookie_value = first.partition("=")
    if not sep or not name.strip():
        return None
    domain, path, expires = host, "/", -1
    for attr in attrs:
        key, _, val = attr.strip().partition("=")
        key = key.lower()
        if key == "max-age":
            with contextlib.suppress(ValueError):
                expires = int(now + int(val))
        elif key == "domain" and val:
            domain = val
        elif key == "path" and val:
            path = val
    return _Cookie(name.strip(), cookie_value.strip(), domain, path, expires)
