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


# -- pages written to abuse the page scanners (issue 17 items 10-11) -----------------------
# Each stays inside the 2 MiB parse window and carries the markers that get a page parsed.

RC_API = "https://www.google.com/recaptcha/api.js"
TS_KEY = "0x4AAAAAAABkMYinukE8nzYS"


def v3_key(i: int) -> str:
    """A distinct reCAPTCHA-shaped key per ``i`` (6L + 38 characters)."""
    return f"6Lc{i:09d}".ljust(40, "Q")


def v3_script_tags(count: int, *, forms: int = 200, script_kb: int = 200) -> bytes:
    """``count`` v3 script tags, each with its own key: each used to be a widget outside
    the cap, and each rescanned the page's forms and its inline scripts (531 KB: 150 s)."""
    tags = "".join(f'<script src="{RC_API}?render={v3_key(i)}"></script>' for i in range(count))
    form = '<form method="post" action="/f"><input type="hidden" name="t"><button>Go</button>'
    form += "</form>"
    script = f"<script>var cfg = {{'k': '{v3_key(0)}', 'x': 1}};" + "a=1;" * (script_kb * 256)
    return f"<html><head>{tags}</head><body>{form * forms}{script}</script></body></html>".encode()


def nested_sitekeys(depth: int = 250, size: int = 1_800_000) -> bytes:
    """Elements with (empty) site keys nested ``depth`` deep, repeated to ``size`` bytes:
    each element re-walked its ancestors and the page (1.8 s a page)."""
    one = '<div class="g-recaptcha" data-sitekey="">' * depth + "</div>" * depth
    api = f'<script src="{RC_API}"></script>'
    return f"<html><head>{api}</head><body>{one * (size // len(one))}</body></html>".encode()


def unclosed_render_calls(size: int = 1_800_000) -> bytes:
    """``render(`` calls whose options never close: each read up to 5 000 characters
    one by one (2.2 s a page)."""
    call = f"turnstile.render('#x', {{sitekey: '{TS_KEY}', callback: function () {{ "
    api = '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>'
    body = call * (size // len(call))
    return f'<html><head>{api}</head><body><div id="x"></div><script>{body}</script>'.encode()


def unclosed_v3_configs(size: int = 1_800_000) -> bytes:
    """A v3 key followed by configuration objects that never close: each occurrence of the
    key was read as an object up to 5 000 characters (2.5 s a page)."""
    key = v3_key(7)
    config = f"{{'sitekey': '{key}', 'x': {{"
    api = f'<script src="{RC_API}?render={key}"></script>'
    body = config * (size // len(config))
    return f"<html><head>{api}</head><body><script>{body}</script></body></html>".encode()


#: name -> builder of each worst case (benchmarks/bench_hostile.py runs the same pages)
SCANNER_PAGES = {
    "v3 script tags, 531 KB": lambda: v3_script_tags(3_000),
    "16 000 v3 script tags, 1.8 MB": lambda: v3_script_tags(16_000, forms=0, script_kb=0),
    "site keys nested 250 deep": nested_sitekeys,
    "render( never closed": unclosed_render_calls,
    "v3 config never closed": unclosed_v3_configs,
}
