"""The add-on's own requests (captcha image fetches, gate submissions), judged at every hop.

Why here and not once before the first hop: a page's server answers the add-on's request
with a redirect of its choosing, and Scrapy's RedirectMiddleware (600) builds the next hop
from it. Every hop comes back through ``CaptchaMiddleware.process_request`` (585), where
the outbound policy judges ``request.url`` and takes the page's credentials off on a change
of origin (its cookie jar too: ``dont_merge_cookies`` before CookiesMiddleware at 700);
``ClearanceMiddleware`` (760, once the proxy is settled) refuses a host name that resolves
inside, and on the way back a reply from an internal peer.

A hop is recognised by the marker :func:`mark` leaves in the request's state: its first
trip, a retry of it, or a redirect whose ``redirect_urls`` ends with the last hop judged.
A spider request made with ``meta=response.meta`` carries the marker too, is none of
these, and loses it (the policy is for the add-on's own requests only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy_captcha.errors import CaptchaUnsolved
from scrapy_captcha.policy._outbound import Outbound, PageSide, origin_of

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._context import Context
    from scrapy_captcha._state import RequestState


class OutboundRefused(CaptchaUnsolved):
    """A request of the add-on's own that the outbound policy refuses (``reason``): a gate
    submission refused at a later hop reaches the spider's errback as this
    ``CaptchaUnsolved`` (no response: it was never sent there)."""

    def __init__(self, reason: str, where: str, kind: str = "image") -> None:
        super().__init__(reason, kind, None, f"refused by the outbound policy: {where} ({reason})")


def mark(state: RequestState, page: PageSide, kind: str, wall: str | None = None) -> None:
    """The request of ``state`` is sent on ``page``'s behalf (``kind``: ``image`` for an
    image fetch, else the captcha kind of a gate submission; ``wall``: the wall an image
    is fetched for): judged at every hop."""
    state.outbound = {
        "page": page.url,
        "internal": page.internal,
        "kind": kind,
        "last": None,
        "cookies_off": False,
        **({"wall": wall} if wall else {}),
    }


def _page(mark: dict[str, Any]) -> PageSide:
    return PageSide(mark["page"], origin_of(mark["page"]), bool(mark["internal"]))


class OwnRequests:
    """The hop checks of one crawler."""

    def __init__(self, outbound: Outbound, ctx: Context) -> None:
        self.outbound = outbound
        self.ctx = ctx

    def _own(self, request: Request, state: RequestState) -> dict[str, Any] | None:
        mark = state.outbound
        if mark is None:
            return None
        last = mark.get("last")
        if last is None or request.url == last:
            return mark
        followed = request.meta.get("redirect_urls") or []
        if followed and followed[-1] == last:
            return mark
        state.outbound = None
        return None

    def before_hop(self, request: Request, state: RequestState) -> None:
        """At 585, every hop: the policy on the URL, then the page's credentials off on a
        change of origin. Raises OutboundRefused."""
        mark = self._own(request, state)
        if mark is None:
            return
        page = _page(mark)
        wall = mark.get("wall")
        reason = self.outbound.refusal(page, request.url, self.ctx.crawler.spider, wall)
        if reason is not None:
            self._refuse(request, mark, reason)
        mark = state.outbound = {**mark, "last": request.url}
        if self.outbound.headers_for(request, page):
            if not request.meta.get("dont_merge_cookies"):
                request.meta["dont_merge_cookies"] = True
                mark["cookies_off"] = True
        elif mark.get("cookies_off"):
            request.meta.pop("dont_merge_cookies", None)
            mark["cookies_off"] = False

    async def before_send(self, request: Request, state: RequestState) -> None:
        """At 760 (the proxy settled): a host name that resolves inside is refused."""
        mark = state.outbound
        if mark is None or request.url != mark.get("last"):
            return
        via_proxy = bool(request.meta.get("proxy"))
        reason = await self.outbound.resolved_refusal(_page(mark), request.url, via_proxy)
        if reason is not None:
            self._refuse(request, mark, reason)

    def after_response(self, request: Request, response: Response, state: RequestState) -> None:
        """At 760 on the way back: a reply from an internal peer is not used (the name
        resolved again, to another address, between the check and the connection)."""
        mark = state.outbound
        if mark is None or mark["internal"] or request.meta.get("proxy"):
            return
        peer = getattr(response, "ip_address", None)
        origin = origin_of(request.url)
        if peer is None or origin is None or origin == origin_of(mark["page"]):
            return
        if self.outbound.address_internal(str(peer), origin.port):
            self._refuse(request, mark, "internal_address")

    def _refuse(self, request: Request, mark: dict[str, Any], reason: str) -> None:
        origin = origin_of(request.url)
        where = str(origin) if origin is not None else "(no URL)"
        image = mark["kind"] == "image"
        self.ctx.log.warning(
            "Captcha %s for %s not sent: it goes to %s (%s); see CAPTCHA_ALLOW_OFFSITE",
            "image fetch" if image else "form submission",
            mark["page"],
            where,
            reason,
        )
        if not image:  # (an image fetch fails its job, which gives up on its page)
            self.ctx.give_up(request, mark["kind"], reason)
        raise OutboundRefused(reason, where, mark["kind"])
