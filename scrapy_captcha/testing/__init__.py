"""Offline emulators for testing scrapy-captcha (and spiders that use it): a website with
Cloudflare challenges, captcha gates and the other walls, a captcha-solver service, forward
proxies, all on loopback, standard library only; and a throw-away redis-server.

One sub-package per role (``site``, ``solver``, ``proxy``, ``redis``), the authorities the
site and the solver share (``widgets``, ``_wall_authority``), and this module, the one
public face: import from ``scrapy_captcha.testing``.

May import: the standard library, Scrapy's public API and the package's base (``_compat``
for the offline public-suffix list); never the add-on's layers: the emulators behave as
the real services and sites do, whatever the add-on does.
"""

from scrapy_captcha.testing._server import EXIT_HEADER
from scrapy_captcha.testing._wall_authority import WallAuthority
from scrapy_captcha.testing.offline import offline_public_suffixes
from scrapy_captcha.testing.proxy import ForwardProxy
from scrapy_captcha.testing.redis import RedisServer
from scrapy_captcha.testing.site import CloudflareSiteEmulator
from scrapy_captcha.testing.site._forms import ACCOUNT
from scrapy_captcha.testing.solver import SolverEmulator, TaskRecord
from scrapy_captcha.testing.stack import EmulatorStack
from scrapy_captcha.testing.widgets import Minted, Verdict, WidgetAuthority, WidgetError

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
