"""The Scrapy components: one extension (the per-crawler root), three downloader
middlewares and one spider middleware, glue only.

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
- ``UnsolvedMiddleware``, a spider middleware at 60: right after HttpErrorMiddleware (50),
  as Scrapy's own give-ups are, it turns a page the add-on could not get past into a
  ``CaptchaUnsolved`` failure for the request's errback (a status the spider does not
  handle is HttpErrorMiddleware's ``HttpError`` first, as for any page).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object
from twisted.internet import defer

from scrapy_captcha._compat import spider_argument_compat
from scrapy_captcha._options import check_meta_options
from scrapy_captcha._root import Root
from scrapy_captcha._state import META_OPTIONS, META_RESULT, STATE, RequestState
from scrapy_captcha.errors import BadCaptchaOptions, CaptchaUnsolved

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self


class CaptchaExtension(Root):
    """The per-crawler root, as the Scrapy extension the add-on installs."""

    def missing_components(self) -> list[str]:
        """The add-on's components the crawler's settings do not enable (a manual set-up
        that forgot one): solves paid for could never be used."""
        missing = []
        for setting, components in (
            ("DOWNLOADER_MIDDLEWARES", COMPONENTS),
            ("SPIDER_MIDDLEWARES", SPIDER_COMPONENTS),
        ):
            enabled = set()
            for path in build_component_list(self.crawler.settings.getwithbase(setting)):
                try:
                    enabled.add(load_object(path) if isinstance(path, str) else path)
                except Exception:  # (Scrapy reports a component it cannot load)
                    continue
            for cls in components:
                if not any(isinstance(c, type) and issubclass(c, cls) for c in enabled):
                    missing.append(f"{setting}: scrapy_captcha.{cls.__name__}")
        return missing


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
        if not root.ctx.settings.enabled:
            return None
        # (CAPTCHA_DOMAIN_PROXIES routes a domain's requests, dont_solve_captcha ones too;
        # a fill carrier keeps its proxy, whatever its fate)
        root.routes.assign_proxy(request)
        if not root.ctx.active(request):
            return None
        if META_OPTIONS in request.meta:
            self._check_options(request)
        state = RequestState.peek(request)
        if state is not None and state.outbound is not None:
            root.own.before_hop(request, state)  # (the add-on's own requests, every hop)
        if state is not None and state.job is not None:
            return await root.gates.on_request(request, state)
        if state is not None and state.fill is not None:
            return await root.filler.on_carrier(request, state)
        return root.filler.on_request(request, state)

    def _check_options(self, request: Request) -> None:
        """``meta["captcha"]`` of the wrong type or with an unknown key fails the request
        here, before anything is paid for (one ERROR per mistake)."""
        try:
            opts = check_meta_options(request.meta[META_OPTIONS])
            service = opts.get("provider")
            if service and not self.root.settings.key_for(service):
                raise ValueError(
                    f'meta["captcha"]["provider"] = {service!r}: CAPTCHA_API_KEYS has no key '
                    "for it (CAPTCHA_API_KEY belongs to CAPTCHA_PROVIDER only)"
                )
        except ValueError as exc:
            self.root.ctx.inc("bad_options")
            self.root.ctx.warn_once(f"options|{exc}", "%s (%s)", exc, request, level=logging.ERROR)
            raise BadCaptchaOptions(str(exc)) from None

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        root = self.root
        root.coordination.delivered(request)
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

    async def process_exception(self, request: Request, exception: Exception) -> None:
        self.root.coordination.delivered(request)


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


class UnsolvedMiddleware(_Component):
    """Spider middleware, priority 60: a page the add-on could not get past reaches the
    request's errback as a :class:`~scrapy_captcha.errors.CaptchaUnsolved` failure (with
    the page as ``failure.value.response``), never the callback as a success; meta
    ``handle_captcha_unsolved`` (True, or a list of reasons) or CAPTCHA_HANDLE_UNSOLVED
    hands it to the callback instead, as ``handle_httpstatus_list`` does for statuses."""

    def process_spider_input(self, response: Response, spider: Spider | None = None) -> None:
        request = response.request
        state = response.meta.get(STATE) if request is not None else None
        if not isinstance(state, RequestState) or state.unsolved is None:
            return
        if state.owner not in (0, id(request)):
            return  # (a state met on another request's meta: not this page's give-up)
        kind, reason = state.unsolved
        if self.root.ctx.handled(response.meta, reason):
            return
        result = response.meta.get(META_RESULT)
        raise CaptchaUnsolved(
            reason, kind, response, result=result if isinstance(result, dict) else None
        )

    def process_spider_exception(
        self, response: Response, exception: Exception, spider: Spider | None = None
    ) -> Iterable[Any] | None:
        if isinstance(exception, CaptchaUnsolved):
            # No errback took it: ignored like HttpError (the give-up was logged once).
            self.root.ctx.inc("unsolved_ignored")
            return ()
        return None


#: component -> priority: what the add-on installs
COMPONENTS: dict[type, int] = {
    CaptchaMiddleware: 585,
    ClearanceMiddleware: 760,
    ChallengeCacheGuard: 950,
}
#: spider middleware -> priority
SPIDER_COMPONENTS: dict[type, int] = {UnsolvedMiddleware: 60}
#: the extension's priority (its order among extensions does not matter)
EXTENSION_PRIORITY = 500
