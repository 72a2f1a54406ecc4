"""A forward HTTP proxy that gives every request an "exit identity".

Real proxies change the visitor's IP; Cloudflare binds ``cf_clearance`` to it. The emulator
stamps ``X-Emulator-Exit`` on each forwarded request so the site emulator can tell exits
apart, and maps proxy credentials to exits to mimic sticky-session proxy products.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import threading
import time
from socketserver import _SocketWriter  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote, urlsplit

from .._server import (
    EXIT_HEADER,
    SOCKET_TIMEOUT,
    EmulatorHandler,
    EmulatorServer,
    append_bounded,
)
from ._tls import server_context

__all__ = ["ForwardProxy"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
MAX_RESPONSE = 64 * 1024 * 1024
MAX_RECORDS = 100_000


def _hop_headers(connection_value: str) -> frozenset[str]:
    return HOP_BY_HOP | {t.strip().lower() for t in connection_value.split(",") if t.strip()}


class _ProxyHandler(EmulatorHandler):
    server_version = "emulator-proxy"

    #: the host of the ``CONNECT`` tunnel this connection carries, once terminated, and
    #: the credentials it was opened with
    tunnel: str | None = None
    tunnel_auth: str | None = None

    def dispatch(self) -> None:
        proxy: ForwardProxy = self.owner
        if self.command == "CONNECT":
            proxy.terminate_tunnel(self)
            return
        body = self.read_body()
        proxy.forward(self, body)

    def start_tls(self, host: str) -> None:
        """Answer the CONNECT, then speak TLS on the same socket: the requests that follow
        come through the tunnel (origin-form, for ``host``)."""
        self.send_response_only(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = server_context().wrap_socket(self.connection, server_side=True)
        tls.settimeout(SOCKET_TIMEOUT)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = _SocketWriter(tls)
        self.tunnel = host
        self.close_connection = False  # (a CONNECT may come as HTTP/1.0: the tunnel stays)

    do_CONNECT = EmulatorHandler._safe_dispatch


class ForwardProxy(EmulatorServer):
    """Loopback HTTP forward proxy that forwards everything to one upstream (the site)."""

    handler_class = _ProxyHandler

    def __init__(
        self,
        exit: str,
        users: dict[str, str] | None = None,
        upstream: tuple[str, int] | None = None,
        max_lifetime: float = 900.0,
    ) -> None:
        super().__init__(max_lifetime=max_lifetime)
        self.exit = exit
        self.users = dict(users) if users is not None else None
        self.upstream = upstream
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []

    def url_with(self, user: str, password: str) -> str:
        """Proxy URL with (percent-encoded) credentials, as users put in ``meta["proxy"]``."""
        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}"

    # Observation --------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot: one dict per request received (rejected ones have ``exit`` None)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def count(self, exit: str | None = None, host: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self._requests
                if r["exit"] is not None
                and (exit is None or r["exit"] == exit)
                and (host is None or r["host"] == host.lower())
            )

    def _record(self, method: str, url: str, exit_id: str | None, host: str, status: int) -> None:
        entry = {
            "method": method,
            "url": url,
            "exit": exit_id,
            "host": host,
            "status": status,
            "time": time.time(),
        }
        with self._lock:
            append_bounded(self._requests, entry, MAX_RECORDS)

    # Forwarding ---------------------------------------------------------------------------

    def _authenticate(self, h: EmulatorHandler, given: str | None = None) -> str | None:
        """The exit of the request's credentials (a tunnel's: those of its CONNECT)."""
        if self.users is None:
            return self.exit
        value = given or h.headers.get("Proxy-Authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            creds = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.users.get(creds)

    def terminate_tunnel(self, h: _ProxyHandler) -> None:
        """``CONNECT host:port``: the tunnel is terminated here (TLS with a throw-away
        certificate), so its requests are forwarded, exit stamped, like plain ones."""
        host = h.path.rsplit(":", 1)[0].strip("[]").lower()
        if self._authenticate(h) is None:
            self._record("CONNECT", h.path, None, host, 407)
            h.close_connection = True
            h.send_bytes(407, b"", [("Proxy-Authenticate", 'Basic realm="emulator"')])
            return
        self._record("CONNECT", h.path, self._authenticate(h), host, 200)
        h.tunnel_auth = h.headers.get("Proxy-Authorization")
        h.start_tls(host)

    def forward(self, h: EmulatorHandler, body: bytes) -> None:
        target = h.path
        tunnel = h.tunnel if isinstance(h, _ProxyHandler) else None
        if tunnel is not None and target.startswith("/"):
            target = f"https://{h.headers.get('Host') or tunnel}{target}"
        parts = urlsplit(target)
        host_header = h.headers.get("Host") or parts.netloc
        host = (parts.hostname or host_header.rsplit(":", 1)[0]).lower()
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self._record(h.command, target, None, host, 400)
            h.send_plain_error(400, "the emulator proxy expects absolute-form request targets")
            return
        exit_id = self._authenticate(h, h.tunnel_auth if isinstance(h, _ProxyHandler) else None)
        if exit_id is None:
            self._record(h.command, target, None, host, 407)
            h.send_bytes(
                407,
                b"<html><body><h1>407 Proxy Authentication Required</h1></body></html>\n",
                [("Proxy-Authenticate", 'Basic realm="emulator"')],
                content_type="text/html; charset=utf-8",
            )
            return
        upstream = self.upstream
        if upstream is None:
            self._record(h.command, target, exit_id, host, 502)
            h.send_plain_error(502, "emulator proxy has no upstream configured")
            return

        drop = _hop_headers(h.headers.get("Connection") or "")
        drop |= {EXIT_HEADER.lower(), "content-length", "host"}
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = http.client.HTTPConnection(upstream[0], upstream[1], timeout=SOCKET_TIMEOUT)
        try:
            conn.putrequest(h.command, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host_header)
            for name, value in h.headers.items():
                if name.lower() not in drop:
                    conn.putheader(name, value)
            conn.putheader(EXIT_HEADER, exit_id)
            if body or h.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read(MAX_RESPONSE) if h.command != "HEAD" else b""
            status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
        except TimeoutError:
            self._record(h.command, target, exit_id, host, 504)
            h.send_plain_error(504, "emulator proxy: upstream timed out")
            return
        except OSError as exc:
            self._record(h.command, target, exit_id, host, 502)
            h.send_plain_error(502, f"emulator proxy: upstream failed: {exc}")
            return
        finally:
            conn.close()

        self._record(h.command, target, exit_id, host, status)
        resp_drop = _hop_headers(
            ", ".join(v for k, v in resp_headers if k.lower() == "connection")
        )
        if h.command != "HEAD":
            resp_drop |= {"content-length"}
        relayed = [(k, v) for k, v in resp_headers if k.lower() not in resp_drop]
        h.send_bytes(
            status,
            data,
            relayed,
            add_server_headers=False,
            reason=reason,
            content_length=h.command != "HEAD",
        )
