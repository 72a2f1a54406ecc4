"""Downloader-middleware glue. Three positions, one shared :class:`CaptchaManager`.

Why three: each job needs a different place in Scrapy's chain (lower number = closer to
the engine; ``process_request`` runs low to high, ``process_response`` high to low).

- ``CaptchaMiddleware`` at 585. Its ``process_response`` runs after HttpCompression (590)
  has decoded the body and before MetaRefresh (580) and Retry (550) act on a challenge's
  403/503. Its ``process_request`` assigns CAPTCHA_DOMAIN_PROXIES / CAPTCHA_PROXY before
  HttpProxy (750), which then handles their credentials.
- ``ClearanceMiddleware`` at 760. After Cookies (700) built the Cookie header from the jar
  (so the clearance cookies can be added without entering a jar shared by every proxy)
  and after HttpProxy (750) settled the proxy (``meta["proxy"]``, ``http_proxy``), so
  the clearance looked up is the one of the proxy the request really uses.
- ``ChallengeCacheGuard`` at 950. Above HttpCache (900): flags challenge and block pages
  ``dont_cache`` before HttpCache would store them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from scrapy_captcha.compat import spider_argument_compat
from scrapy_captcha.manager import CaptchaManager

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self


class _Component:
    def __init__(self, manager: CaptchaManager) -> None:
        self.manager = manager

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("CAPTCHA_ENABLED", True):
            raise NotConfigured("CAPTCHA_ENABLED is False")
        return cls(CaptchaManager.for_crawler(crawler))


@spider_argument_compat
class CaptchaMiddleware(_Component):
    """Priority 585: proxies for challenged domains; detection and solving; gate forms
    submitted once their captcha is solved."""

    async def process_request(self, request: Request) -> Request | Response | None:
        return await self.manager.before_request(request)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        return await self.manager.on_response(request, response)


@spider_argument_compat
class ClearanceMiddleware(_Component):
    """Priority 760: waits for pending solves and applies stored clearances."""

    async def process_request(self, request: Request) -> Request | None:
        return await self.manager.before_download(request)


@spider_argument_compat
class ChallengeCacheGuard(_Component):
    """Priority 950: keeps challenge pages out of HTTPCACHE storage."""

    async def process_response(self, request: Request, response: Response) -> Response:
        self.manager.guard(request, response)
        return response
