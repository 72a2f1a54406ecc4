"""Shared loopback HTTP server machinery for the emulators.

Each emulator runs a ``ThreadingHTTPServer`` in a daemon thread so it works under pytest, in a
plain script or beside a Twisted reactor, and never keeps the interpreter alive. Everything is
bounded: connection count, socket timeouts, request body size and the server's lifetime.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["EXIT_HEADER", "EmulatorHandler", "EmulatorServer", "append_bounded"]

logger = logging.getLogger("scrapy_captcha.testing")

#: Header the forward proxy stamps on forwarded requests: the "exit IP" the site sees.
EXIT_HEADER = "X-Emulator-Exit"

SOCKET_TIMEOUT = 30.0
MAX_BODY = 32 * 1024 * 1024
MAX_CONNECTIONS = 128

_S = TypeVar("_S", bound="EmulatorServer")
_T = TypeVar("_T", bound="StartStopContext")


def append_bounded(log: list[dict[str, Any]], entry: dict[str, Any], limit: int) -> None:
    """Append to an emulator's in-memory log; once it holds ``limit`` entries the oldest tenth
    goes, so a long crawl cannot grow it without bound. Call it with the log's lock held."""
    if len(log) >= limit:
        del log[: limit // 10]
    log.append(entry)


class BodyTooLarge(Exception):
    """Raised when a request body exceeds ``MAX_BODY``; answered with 413."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a connection cap and the ability to cut open connections.

    Keep-alive connections otherwise idle in handler threads until their socket timeout;
    tracking them lets ``stop()`` return promptly and free the port.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: EmulatorServer,
        max_connections: int,
    ) -> None:
        self.owner = owner
        self._slots = threading.BoundedSemaphore(max_connections)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._closing = False
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Never block the accept loop: over the cap, drop the connection at once.
        if self._closing or not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.discard(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("emulator connection error from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open client socket so handler threads exit now."""
        self._closing = True
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class EmulatorHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler base: bodies read and written by Content-Length."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server_version = "emulator"
    sys_version = ""
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def owner(self) -> Any:
        return self.server.owner

    # Request side -------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked), bounded by ``MAX_BODY``."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise BodyTooLarge("bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise BodyTooLarge(f"body of {length} bytes")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        for _ in range(100_000):
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailer section ends with an empty line.
                for _ in range(100):
                    if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise BodyTooLarge("chunked body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)
        raise BodyTooLarge("too many chunks")

    # Response side ------------------------------------------------------------------------

    def send_bytes(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = None,
        *,
        add_server_headers: bool = True,
        reason: str | None = None,
        content_length: bool = True,
    ) -> None:
        """Send a complete response, with Content-Length so keep-alive works (a relay of a
        HEAD answer passes ``content_length=False`` and forwards the upstream's instead)."""
        if add_server_headers:
            self.send_response(status, reason)
        else:
            self.send_response_only(status, reason)
        names = set()
        for name, value in headers or []:
            names.add(name.lower())
            self.send_header(name, value)
        if content_type and "content-type" not in names:
            self.send_header("Content-Type", content_type)
        if content_length:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def send_plain_error(self, status: int, message: str) -> None:
        self.send_bytes(status, message.encode() + b"\n", content_type="text/plain; charset=utf-8")

    def dispatch(self) -> None:
        """Answer one request; subclasses implement it."""
        raise NotImplementedError

    def _safe_dispatch(self) -> None:
        try:
            self.dispatch()
        except BodyTooLarge as exc:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_plain_error(413, f"request body rejected: {exc}")
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception:
            logger.exception("emulator handler failed")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_plain_error(500, "emulator internal error")

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _safe_dispatch


class StartStopContext:
    """``with X() as x:`` starts ``x`` and stops it on the way out, whatever happens."""

    def start(self: _T) -> _T:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmulatorServer(StartStopContext):
    """Base for all emulators: start/stop, context manager, port/url, bounded lifetime."""

    handler_class: type[EmulatorHandler] = EmulatorHandler

    def __init__(self, max_lifetime: float = 900.0, max_connections: int = MAX_CONNECTIONS):
        self.max_lifetime = max_lifetime
        self.max_connections = max_connections
        self._state_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # Lifecycle ----------------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Bind 127.0.0.1 on an ephemeral port and serve in a daemon thread; returns self."""
        with self._state_lock:
            if self._stopped.is_set():
                raise RuntimeError(f"{type(self).__name__} was stopped; create a new one")
            if self._httpd is not None:
                return self
            httpd = _HTTPServer(("127.0.0.1", 0), self.handler_class, self, self.max_connections)
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.25},
                name=f"{type(self).__name__}:{httpd.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
            self._timer = threading.Timer(self.max_lifetime, self._expire)
            self._timer.daemon = True
            self._timer.start()
        self._on_start()
        return self

    def _expire(self) -> None:
        logger.warning(
            "%s reached max_lifetime=%ss, stopping", type(self).__name__, self.max_lifetime
        )
        self.stop()

    def stop(self) -> None:
        """Stop serving and cut open connections; prompt and idempotent."""
        with self._state_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            httpd, thread, timer = self._httpd, self._thread, self._timer
        if timer is not None:
            timer.cancel()
        if httpd is not None:
            httpd.close_connections()
            if thread is not None and thread is not threading.current_thread():
                self._shutdown_serve_loop(httpd, thread)
            httpd.server_close()
            httpd.close_connections()
        self._on_stop()

    @staticmethod
    def _shutdown_serve_loop(httpd: _HTTPServer, thread: threading.Thread) -> None:
        """``shutdown()``, but woken by a loopback connection instead of waiting out the poll
        interval, so stopping a stack of servers costs milliseconds."""
        stopper = threading.Thread(target=httpd.shutdown, daemon=True)
        stopper.start()
        host, port = httpd.server_address[:2]
        address = (str(host), int(port))
        for _ in range(200):  # bounded: at most ~2 s
            if not stopper.is_alive():
                break
            with contextlib.suppress(OSError):
                socket.create_connection(address, timeout=0.2).close()
            stopper.join(timeout=0.01)
        stopper.join(timeout=3.0)
        thread.join(timeout=3.0)

    def _on_start(self) -> None:
        """Hook for subclasses (worker threads)."""

    def _on_stop(self) -> None:
        """Hook for subclasses."""

    @property
    def running(self) -> bool:
        return self._httpd is not None and not self._stopped.is_set()

    # Addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "not started"
        return f"<{type(self).__name__} {where}>"
