"""The site emulator's state, apart from HTTP: virtual hosts and their modes, the event log,
the gates' site keys and form tokens, and the signed ``cf_clearance`` cookies."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from .._server import EmulatorServer, append_bounded
from .._wall_authority import WallAuthority
from ..widgets import WidgetAuthority
from ._cloudflare import MODES
from ._gates import GATES
from ._walls import WALL_MODES

MAX_NONCES = 10_000
MAX_EVENTS = 100_000


class _Respond(Protocol):
    """The per-request reply function ``handle`` hands to the page servers."""

    def __call__(
        self,
        status: int,
        html_text: str | bytes,
        outcome: str,
        extra: list[tuple[str, str]] | None = None,
        ctype: str = "text/html; charset=utf-8",
        detail: dict[str, Any] | None = None,
    ) -> None: ...


class _SiteState(EmulatorServer):
    """Everything ``CloudflareSiteEmulator`` knows and decides, without its HTTP front."""

    def __init__(
        self,
        clearance_ttl: float = 1800.0,
        max_lifetime: float = 900.0,
        authority: WidgetAuthority | None = None,
        walls: WallAuthority | None = None,
    ) -> None:
        super().__init__(max_lifetime=max_lifetime)
        self.clearance_ttl = clearance_ttl
        #: Issues the site keys of the gates and verifies the tokens posted to them.
        self.authority = authority if authority is not None else WidgetAuthority()
        #: Issues the other walls' challenges and checks the cookies that answer them.
        self.walls = walls if walls is not None else WallAuthority()
        self._sitekeys: dict[tuple[str, str], str] = {}
        self._form_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}
        self._secret = secrets.token_bytes(32)
        self._nonces: OrderedDict[str, str] = OrderedDict()
        self._events: list[dict[str, Any]] = []
        self._huge_cache: dict[str, bytes] = {}

    # Configuration ------------------------------------------------------------------------

    def add_host(self, host: str, mode: str = "managed") -> None:
        """Declare a virtual host and how Cloudflare (or another wall: ``WALL_MODES``)
        treats it."""
        if mode not in (*MODES, *WALL_MODES):
            raise ValueError(f"unknown mode {mode!r}; expected one of {(*MODES, *WALL_MODES)}")
        with self._lock:
            self._hosts[host.lower()] = mode

    def set_mode(self, host: str, mode: str) -> None:
        """Change a host's mode at runtime (e.g. turn protection on mid-crawl)."""
        self.add_host(host, mode)

    def mode(self, host: str) -> str:
        with self._lock:
            return self._hosts.get(host.lower(), "open")

    def revoke_all(self) -> None:
        """Invalidate every clearance (and pending nonce) issued so far by rotating the key."""
        with self._lock:
            self._secret = secrets.token_bytes(32)
            self._nonces.clear()

    # Observation --------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Snapshot of what happened, one dict per request."""
        with self._lock:
            return [dict(e) for e in self._events]

    def count(self, outcome: str, host: str | None = None, exit: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self._events
                if e["outcome"] == outcome
                and (host is None or e["host"] == host.lower())
                and (exit is None or e["exit"] == exit)
            )

    def gate_failures(self, host: str | None = None, kindpath: str | None = None) -> list[str]:
        """Why gate posts failed, oldest first (``"reused"``, ``"wrong_action"``, ...)."""
        with self._lock:
            return [
                str(e["reason"])
                for e in self._events
                if e["outcome"] == "gate_fail"
                and (host is None or e["host"] == host.lower())
                and (kindpath is None or e.get("gate") == kindpath)
            ]

    def reset_events(self) -> None:
        with self._lock:
            self._events.clear()

    def _record(
        self,
        host: str,
        path: str,
        method: str,
        exit_id: str,
        ua: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        entry = {
            **(detail or {}),
            "host": host,
            "path": path,
            "method": method,
            "exit": exit_id,
            "ua": ua,
            "outcome": outcome,
            "time": time.time(),
        }
        with self._lock:
            append_bounded(self._events, entry, MAX_EVENTS)

    # Widgets ------------------------------------------------------------------------------

    def sitekey(self, host: str, kind_path: str) -> str:
        """The site key of ``host``'s widget ``kind_path`` (registered on first use)."""
        spec = GATES.get(kind_path)
        if spec is None:
            raise ValueError(f"unknown gate {kind_path!r}; expected one of {list(GATES)}")
        ident = (host.lower(), kind_path)
        with self._lock:
            key = self._sitekeys.get(ident)
            if key is None:
                key = self.authority.register(
                    spec.kind,
                    invisible=spec.invisible,
                    enterprise=spec.enterprise,
                    resp_key=spec.resp_key,
                    v3_cookie=spec.v3_cookie,
                )
                self._sitekeys[ident] = key
            return key

    def csrf(self, scope: str, session: str) -> str:
        msg = f"{scope}:{session}".encode()
        return hmac.new(self._form_secret, msg, hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, scope: str, session: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf(scope, session).encode(), given.encode())

    # Clearance ----------------------------------------------------------------------------

    def _sign(self, secret: bytes, host: str, exit_id: str, ua: str, expiry: str, tok: str) -> str:
        msg = "\n".join((host, exit_id, ua, expiry, tok)).encode()
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:43]

    def _issue_clearance(self, host: str, exit_id: str, ua: str) -> tuple[str, float]:
        ttl = float(self.clearance_ttl)
        expiry = str(int((time.time() + ttl) * 1000))
        tok = secrets.token_hex(16)
        with self._lock:
            secret = self._secret
        sig = self._sign(secret, host, exit_id, ua, expiry, tok)
        return f"{tok}-{expiry}-1.2.1.1-{sig}", ttl

    def clearance_valid(self, value: str, host: str, exit_id: str, ua: str) -> bool:
        """Would this cf_clearance value pass for (host, exit, User-Agent) right now?"""
        parts = value.split("-")
        if len(parts) != 4:
            return False
        tok, expiry, _, sig = parts
        if not expiry.isdigit() or int(expiry) <= time.time() * 1000:
            return False
        with self._lock:
            secret = self._secret
        expected = self._sign(secret, host, exit_id, ua, expiry, tok)
        return hmac.compare_digest(expected, sig)
