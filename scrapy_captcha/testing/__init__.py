"""Offline emulators for testing scrapy-captcha: a Cloudflare-protected site with captcha
gates, a captcha-solver service, a widget token authority and forward proxies, all on
loopback, standard library only; and a throw-away redis-server for the shared store."""

from ._server import EXIT_HEADER
from ._site_forms import ACCOUNT
from ._wall_authority import WallAuthority
from .offline import offline_public_suffixes
from .proxy import ForwardProxy
from .redis_server import RedisServer
from .site import CloudflareSiteEmulator
from .solver import SolverEmulator, TaskRecord
from .stack import EmulatorStack
from .widgets import Minted, Verdict, WidgetAuthority, WidgetError

__all__ = [
    "ACCOUNT",
    "EXIT_HEADER",
    "CloudflareSiteEmulator",
    "EmulatorStack",
    "ForwardProxy",
    "Minted",
    "RedisServer",
    "SolverEmulator",
    "TaskRecord",
    "Verdict",
    "WallAuthority",
    "WidgetAuthority",
    "WidgetError",
    "offline_public_suffixes",
]
