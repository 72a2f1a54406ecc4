"""All emulators wired together: what a Scrapy crawl needs to meet a challenge offline."""

from __future__ import annotations

import contextlib
from typing import Any

from ._server import StartStopContext
from ._wall_authority import WallAuthority
from .proxy._proxy import ForwardProxy
from .site._emulator import CloudflareSiteEmulator
from .solver._emulator import SolverEmulator
from .widgets import WidgetAuthority

__all__ = ["PROXY_B_USERS", "EmulatorStack"]

#: Credentials of ``proxy_b``: each session user is a different exit (sticky sessions).
PROXY_B_USERS = {"alice:s3cret": "B-1", "alice-session-2:s3cret": "B-2"}


class EmulatorStack(StartStopContext):
    """A site, a solver, an open proxy (exit "A") and an authenticated proxy (exits
    ``"B-*"``); the site and the solver share one ``WidgetAuthority`` (``self.authority``)
    and one ``WallAuthority`` (``self.walls``)."""

    def __init__(self, solve_latency: float = 0.3, clearance_ttl: float = 1800.0) -> None:
        self.authority = WidgetAuthority()
        self.walls = WallAuthority()
        self.site = CloudflareSiteEmulator(
            clearance_ttl=clearance_ttl, authority=self.authority, walls=self.walls
        )
        self.solver = SolverEmulator(
            latency=solve_latency, authority=self.authority, walls=self.walls
        )
        self.proxy_a = ForwardProxy("A")
        self.proxy_b = ForwardProxy("B", users=dict(PROXY_B_USERS))

    def start(self) -> EmulatorStack:
        """Start everything (site first, so the proxies know their upstream)."""
        try:
            self.site.start()
            upstream = ("127.0.0.1", self.site.port)
            self.proxy_a.upstream = upstream
            self.proxy_b.upstream = upstream
            self.proxy_a.start()
            self.proxy_b.start()
            self.solver.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything; idempotent."""
        for server in (self.solver, self.proxy_b, self.proxy_a, self.site):
            with contextlib.suppress(Exception):
                server.stop()

    def scrapy_settings(
        self, provider: str = "1captcha", api_key: str = "test-key"
    ) -> dict[str, Any]:
        """Settings pointing the add-on at this stack's solver."""
        return {
            "CAPTCHA_PROVIDER": provider,
            "CAPTCHA_API_URL": self.solver.url_for(provider),
            "CAPTCHA_API_KEY": api_key,
        }
