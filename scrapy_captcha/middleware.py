"""The Scrapy components: one extension (the per-crawler root) and three downloader
middlewares, glue only.

Why three middlewares: each job needs a different place in Scrapy's chain (lower number
= closer to the engine; ``process_request`` runs low to high, ``process_response`` high
to low).

- ``CaptchaMiddleware`` at 585. Its ``process_response`` runs after HttpCompression (590)
  has decoded the body and before MetaRefresh (580) and Retry (550) act on a challenge's
  403/503. Its ``process_request`` assigns CAPTCHA_DOMAIN_PROXIES / CAPTCHA_PROXY before
  HttpProxy (750), which then handles their credentials, and turns a carrier back from a
  gate solve into its submission or replayed page.
- ``ClearanceMiddleware`` at 760. After Cookies (700) built the Cookie header from the jar
  (so the clearance cookies can be added without entering a jar shared by every proxy)
  and after HttpProxy (750) settled the proxy (``meta["proxy"]``, ``http_proxy``), so
  the clearance looked up is the one of the proxy the request really uses.
- ``ChallengeCacheGuard`` at 950. Above HttpCache (900): flags challenge and block pages
  ``dont_cache`` before HttpCache would store them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from twisted.internet import defer

from scrapy_captcha._compat import spider_argument_compat
from scrapy_captcha._root import Root
from scrapy_captcha._state import RequestState

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self


class CaptchaExtension(Root):
    """The per-crawler root, as the Scrapy extension the add-on installs."""

    def missing_components(self) -> list[str]:
        return [
            cls.__name__
            for cls in COMPONENTS
            if self.crawler.get_downloader_middleware(cls) is None
        ]


class _Component:
    def __init__(self, root: Root) -> None:
        self.root = root

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("CAPTCHA_ENABLED", True):
            raise NotConfigured("CAPTCHA_ENABLED is False")
        return cls(CaptchaExtension.of(crawler))


@spider_argument_compat
class CaptchaMiddleware(_Component):
    """Priority 585: proxies for challenged domains; detection and solving; gate forms
    submitted once their captcha is solved."""

    async def process_request(self, request: Request) -> Request | Response | None:
        root = self.root
        if not root.ctx.active(request):
            return None
        state = RequestState.peek(request)
        if state is not None and state.outbound is not None:
            root.own.before_hop(request, state)  # (the add-on's own requests, every hop)
        if state is not None and state.job is not None:
            return await root.gates.on_request(request, state)
        root.routes.assign_proxy(request)  # (kept by a fill carrier, whatever its fate)
        if state is not None and state.fill is not None:
            return await root.filler.on_carrier(request, state)
        return root.filler.on_request(request, state)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        root = self.root
        if not root.ctx.active(request):
            return response
        try:
            outcome = await root.cloudflare.on_response(request, response)
            if outcome is None:  # past Cloudflare: a captcha widget or image on the page?
                outcome = await root.gates.on_response(request, response)
            return outcome or response
        except (defer.CancelledError, asyncio.CancelledError):
            raise
        except Exception:
            # A bug of ours must not cost the user the page.
            root.ctx.log.exception(
                "scrapy-captcha failed on %s; passing the response on", response
            )
            return response


@spider_argument_compat
class ClearanceMiddleware(_Component):
    """Priority 760: waits for pending solves and applies stored clearances."""

    async def process_request(self, request: Request) -> Request | None:
        if not self.root.ctx.active(request):
            return None
        state = RequestState.peek(request)
        if state is not None and state.outbound is not None:
            await self.root.own.before_send(request, state)
        return await self.root.cloudflare.before_download(request)

    async def process_response(self, request: Request, response: Response) -> Response:
        if self.root.ctx.active(request):
            state = RequestState.peek(request)
            if state is not None and state.outbound is not None:
                self.root.own.after_response(request, response, state)
            await self.root.cloudflare.after_download(request, response)
        return response


@spider_argument_compat
class ChallengeCacheGuard(_Component):
    """Priority 950: keeps challenge pages out of HTTPCACHE storage."""

    async def process_response(self, request: Request, response: Response) -> Response:
        self.root.cloudflare.guard(request, response)
        return response


#: component -> priority: what the add-on installs
COMPONENTS: dict[type, int] = {
    CaptchaMiddleware: 585,
    ClearanceMiddleware: 760,
    ChallengeCacheGuard: 950,
}
#: the extension's priority (its order among extensions does not matter)
EXTENSION_PRIORITY = 500
