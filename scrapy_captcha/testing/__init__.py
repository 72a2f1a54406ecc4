"""Offline emulators for testing scrapy-captcha: a Cloudflare-protected site, a captcha-solver
service and forward proxies, all on loopback, standard library only."""

from ._server import EXIT_HEADER
from .offline import offline_public_suffixes
from .proxy import ForwardProxy
from .redis_server import RedisServer
from .site import CloudflareSiteEmulator
from .solver import SolverEmulator, TaskRecord
from .stack import EmulatorStack

__all__ = [
    "EXIT_HEADER",
    "CloudflareSiteEmulator",
    "EmulatorStack",
    "ForwardProxy",
    "RedisServer",
    "SolverEmulator",
    "TaskRecord",
    "offline_public_suffixes",
]
