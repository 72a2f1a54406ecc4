"""A hostile web server for tests: serves pages written to abuse the add-on and records
every request that reaches it (path, method, headers, body)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = tuple[int, dict[str, str], bytes]


class HostileSite:
    """``routes``: path -> (status, headers, body) or a callable(handler) -> that tuple."""

    def __init__(self, routes: dict[str, Route | Callable[[Any], Route]] | None = None) -> None:
        self.routes: dict[str, Route | Callable[[Any], Route]] = dict(routes or {})
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20)) if length else b""
                path = self.path
                if path.startswith("http://") or path.startswith("https://"):
                    path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
                with owner._lock:
                    owner.requests.append(
                        {
                            "path": path,
                            "method": self.command,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                route = owner.routes.get(path.split("?")[0])
                if route is None:
                    status, headers, payload = 404, {"Content-Type": "text/plain"}, b"nope"
                else:
                    status, headers, payload = route(self) if callable(route) else route
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"].split("?")[0] == path]

    def __enter__(self) -> HostileSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def html(body: str, status: int = 200, **headers: str) -> Route:
    return status, {"Content-Type": "text/html; charset=utf-8", **headers}, body.encode()
