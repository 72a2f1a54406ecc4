"""pytest fixtures for the emulators.

Enable with ``pytest_plugins = ["scrapy_captcha.testing.pytest_plugin"]``. Every fixture is
function-scoped: each test gets fresh servers, stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .proxy._proxy import ForwardProxy
from .redis._server import RedisServer
from .site._emulator import CloudflareSiteEmulator
from .solver._emulator import SolverEmulator
from .stack import EmulatorStack

__all__ = [
    "captcha_proxy_factory",
    "captcha_redis",
    "captcha_site",
    "captcha_solver",
    "captcha_stack",
]


@pytest.fixture
def captcha_site() -> Iterator[CloudflareSiteEmulator]:
    """A started CloudflareSiteEmulator."""
    site = CloudflareSiteEmulator().start()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def captcha_solver() -> Iterator[SolverEmulator]:
    """A started SolverEmulator with the default keys ("test-key", "empty-key")."""
    solver = SolverEmulator().start()
    try:
        yield solver
    finally:
        solver.stop()


@pytest.fixture
def captcha_proxy_factory(
    captcha_site: CloudflareSiteEmulator,
) -> Iterator[Callable[..., ForwardProxy]]:
    """Make started ForwardProxy instances upstreamed to ``captcha_site``:
    ``factory(exit="A", users=None)``."""
    proxies: list[ForwardProxy] = []

    def factory(exit: str = "A", users: dict[str, str] | None = None) -> ForwardProxy:
        proxy = ForwardProxy(exit, users=users, upstream=("127.0.0.1", captcha_site.port))
        proxies.append(proxy)
        return proxy.start()

    try:
        yield factory
    finally:
        for proxy in proxies:
            proxy.stop()


@pytest.fixture
def captcha_stack() -> Iterator[EmulatorStack]:
    """A started EmulatorStack (site, solver, proxy_a, proxy_b)."""
    with EmulatorStack() as stack:
        yield stack


@pytest.fixture
def captcha_redis() -> Iterator[RedisServer]:
    """A started throw-away redis-server on 127.0.0.1 (``.url``; stop/start/kill)."""
    with RedisServer() as server:
        yield server
