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


class LocalNames:
    """Host names that resolve to loopback addresses, for in-process crawls: installed as
    the reactor's name resolver (the one Scrapy connects with, and the one the add-on
    asks) while the block runs; every other name goes to the resolver it replaces.

    ``names``: name -> address, or a list of addresses answered in turn (the last one
    for good): a name that resolves to a public address first and to loopback after
    stands for DNS rebinding."""

    def __init__(self, names: dict[str, str | list[str]]) -> None:
        self.names = {k: [v] if isinstance(v, str) else list(v) for k, v in names.items()}
        self.asked: dict[str, int] = {}
        self._original: Any = None

    def resolveHostName(
        self,
        receiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        from twisted.internet.address import IPv4Address
        from twisted.internet.interfaces import IHostResolution
        from zope.interface import implementer

        answers = self.names.get(hostName.lower())
        if answers is None:
            return self._original.resolveHostName(
                receiver, hostName, portNumber, addressTypes, transportSemantics
            )
        turn = self.asked[hostName.lower()] = self.asked.get(hostName.lower(), 0) + 1

        @implementer(IHostResolution)
        class Resolution:
            name = hostName

            def cancel(self) -> None:
                pass

        resolution = Resolution()
        receiver.resolutionBegan(resolution)
        address = answers[min(turn, len(answers)) - 1]
        receiver.addressResolved(IPv4Address("TCP", address, portNumber))
        receiver.resolutionComplete()
        return resolution

    def __enter__(self) -> LocalNames:
        from twisted.internet import reactor
        from twisted.internet.interfaces import IHostnameResolver
        from zope.interface import directlyProvides

        directlyProvides(self, IHostnameResolver)
        self._original = reactor.nameResolver  # type: ignore[attr-defined]
        reactor.installNameResolver(self)  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: Any) -> None:
        from twisted.internet import reactor

        reactor.installNameResolver(self._original)  # type: ignore[attr-defined]
