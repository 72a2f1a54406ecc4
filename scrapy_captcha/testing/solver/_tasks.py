"""Task lifecycle and fault modes of the solver emulator: keys and balances, the task book,
the worker pool that solves queued tasks, and the runtime switches that make it misbehave."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from .._server import EmulatorServer
from .._wall_authority import WallAuthority
from ..widgets import WidgetAuthority
from ._browser import _browse, _forge_clearance, task_proxy
from ._pool import _WorkerPool
from ._tables import (
    _ERROR_TEXT,
    COOKIE_FORMATS,
    COST_PER_TASK,
    CURRENT_WINDOWS_UA,
    DIALECTS,
    FAULTS,
    MAX_TASKS,
    SOLUTION_SHAPES,
    TaskRecord,
    _SolveError,
)
from ._walls import WALL_TYPES, WIDGET_TYPES, forge_wall, solve_wall, wall_job, wall_type
from ._widgets import _forge_token, _solve_widget, _widget_job

logger = logging.getLogger("scrapy_captcha.testing.solver")


_CHROME = re.compile(r"Chrome/(\d+)\.")


def _current(agent: Any, published: str) -> bool:
    """A Windows Chrome User-Agent at least as new as the published one."""
    if not isinstance(agent, str) or "Windows NT" not in agent:
        return False
    have, want = _CHROME.search(agent), _CHROME.search(published)
    return have is not None and want is not None and int(have[1]) >= int(want[1])


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class _TaskBook(EmulatorServer):
    """The solver's state and work, without the HTTP front: what ``SolverEmulator`` serves."""

    def __init__(
        self,
        latency: float = 0.3,
        keys: dict[str, float] | None = None,
        max_workers: int = 8,
        hold_timeout: float = 30.0,
        max_lifetime: float = 900.0,
        authority: WidgetAuthority | None = None,
        walls: WallAuthority | None = None,
    ) -> None:
        super().__init__(max_lifetime=max_lifetime)
        #: Mints widget tokens and reads image captchas; share it with the site emulator.
        self.authority = authority if authority is not None else WidgetAuthority()
        #: The walls' own services (AWS's tokens, Imperva's script); share it too.
        self.walls = walls if walls is not None else WallAuthority()
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
        #: the User-Agent getUserAgent publishes and CapMonster's cf_clearance tasks
        #: must name (ERROR_WRONG_USERAGENT otherwise)
        self.service_user_agent = CURRENT_WINDOWS_UA
        #: seconds a task must be left alone between two getTaskResult calls
        #: (ERROR_TOO_MUCH_REQUESTS otherwise; 0: no limit)
        self.poll_spacing = 0.0
        #: sites whose captchas the service will not solve (ERROR_DOMAIN_NOT_ALLOWED, at
        #: the dialects that document it)
        self.forbidden_domains: set[str] = set()
        #: task types the service no longer takes (answered as an unknown type)
        self.withdrawn_types: set[str] = set()
        #: seconds getBalance takes to answer (a slow account page)
        self.balance_latency = 0.0

        self._lock = threading.Lock()
        self._balances: dict[str, float] = dict(
            keys if keys is not None else {"test-key": 10.0, "empty-key": 0.0}
        )
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()
        #: (dialect, method, task id) of every report of an incorrect result received
        self._reports: list[tuple[str, str, Any]] = []
        self._owners: dict[str, str] = {}
        self._create_task_count = 0
        self._create_task_times: list[float] = []
        self._create_calls: dict[str, int] = {}
        self._poll_count = 0
        self._user_agent_reads = 0
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

    def reports(self) -> list[tuple[str, str, Any]]:
        """Reports of incorrect results received: (dialect, method, task id)."""
        with self._lock:
            return list(self._reports)

    def record_report(self, dialect: str, method: str, task_id: Any) -> None:
        with self._lock:
            if len(self._reports) < MAX_TASKS:
                self._reports.append((dialect, method, task_id))

    @property
    def tasks(self) -> list[TaskRecord]:
        with self._lock:
            return [dataclasses.replace(t, task=dict(t.task)) for t in self._tasks.values()]

    @property
    def create_task_count(self) -> int:
        with self._lock:
            return self._create_task_count

    def create_task_calls(self, dialect: str) -> int:
        """createTask calls one dialect received, answered or not."""
        with self._lock:
            return self._create_calls.get(dialect, 0)

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
            "service_user_agent",
            "poll_spacing",
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

    def _new_task(self, dialect: str, task: Any) -> TaskRecord:
        spec = DIALECTS[dialect]
        if not isinstance(task, dict):
            raise _SolveError("ERROR_BAD_PARAMETERS", "task must be a JSON object")
        task = {k: v for k, v in task.items() if k != "clientKey"}
        task_type = task.get("type")
        widget_type = (
            spec.widget_types.get(task_type) or WIDGET_TYPES.get(dialect, {}).get(task_type)
            if isinstance(task_type, str)
            else None
        )
        wall = wall_type(dialect, task)
        if spec.cloudflare_mode and task.get(spec.cloudflare_mode[0]) == spec.cloudflare_mode[1]:
            widget_type = None  # (CapMonster: a TurnstileTask in cf_clearance mode)
        if task_type in self.withdrawn_types:
            widget_type = None
            raise _SolveError(spec.unknown_type_code, f"Task type {task_type!r} is withdrawn")
        if widget_type is None and wall is None and task_type not in spec.task_types:
            known = [*spec.task_types, *spec.widget_types, *WALL_TYPES.get(dialect, {})]
            raise _SolveError(
                spec.unknown_type_code,
                f"Task type {task_type!r} is not supported; use one of {known}",
            )
        site = urlsplit(str(task.get("websiteURL") or "")).hostname or ""
        if spec.forbids_domains and site.lower() in self.forbidden_domains:
            raise _SolveError("ERROR_DOMAIN_NOT_ALLOWED", _ERROR_TEXT["ERROR_DOMAIN_NOT_ALLOWED"])
        if wall is not None and task_type not in spec.task_types:
            return TaskRecord(
                id=self._next_id(dialect),
                dialect=dialect,
                type=str(task_type),
                task=task,
                wall=wall_job(dialect, wall, task),
            )
        if widget_type is not None:
            job = _widget_job(self.authority, widget_type, task, dialect)
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
        task_proxy(dialect, task)
        for name in spec.cloudflare_required:
            if not isinstance(task.get(name), str) or not task[name]:
                raise _SolveError("ERROR_BAD_PARAMETERS", f"{name} is required")
        for name in ("userAgent", "html"):
            if name in task and not isinstance(task[name], str):
                raise _SolveError("ERROR_BAD_PARAMETERS", f"{name} must be a string")
        if spec.checks_user_agent and not _current(task.get("userAgent"), self.service_user_agent):
            raise _SolveError("ERROR_WRONG_USERAGENT", _ERROR_TEXT["ERROR_WRONG_USERAGENT"])
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

    def _store(self, record: TaskRecord, key: str) -> None:
        """Keep a task (lock held); oldest tasks are forgotten past ``MAX_TASKS``."""
        ref = f"{record.dialect}:{record.id}"
        self._tasks[ref] = record
        self._owners[ref] = _key_id(key)
        while len(self._tasks) > MAX_TASKS:
            old, _ = self._tasks.popitem(last=False)
            self._owners.pop(old, None)

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
            if record.wall is not None:
                solution = {
                    "widget": solve_wall(
                        self.walls, record.dialect, record.wall, seq, self.fetch_timeout
                    )
                }
            elif record.widget is not None:
                solution = _solve_widget(
                    self.authority, record.dialect, record.widget, seq, self.fetch_timeout
                )
            else:
                solution = _browse(record, seq, self.fetch_timeout)
        except _SolveError as exc:
            self._finish(record, None, exc.code, exc.description)
            return
        except Exception as exc:
            logger.debug("solve failed", exc_info=True)
            self._finish(record, None, "ERROR_CAPTCHA_UNSOLVABLE", f"browser error: {exc}")
            return
        if record.fault == "bad_clearance" and record.wall is not None:
            forge_wall(solution)
        elif record.fault == "bad_clearance" and record.widget is None:
            _forge_clearance(solution)
        if record.fault == "bad_token" and record.widget is not None:
            _forge_token(solution)
        with self._lock:
            self._balances[key] = round(self._balances.get(key, 0.0) - COST_PER_TASK, 6)
        self._finish(record, solution)
