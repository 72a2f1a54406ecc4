"""The solver emulator's workers: a fixed set of daemon threads solving queued tasks."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ._tables import MAX_QUEUE

logger = logging.getLogger("scrapy_captcha.testing.solver")


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
