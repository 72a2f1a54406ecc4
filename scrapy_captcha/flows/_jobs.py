"""Gate jobs: one captcha widget or image on one page, solved in the background.

A token is single use and bound to one page, so unlike a Cloudflare clearance nothing is
shared between requests: each gate page is one job, solved on a flight of its own while
the request that met it is parked as a *carrier*. What is sent on the page's behalf (its
captcha image, its form) carries the page's own session cookies.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from twisted.internet import defer

from scrapy_captcha._compat import download, engine_closing, engine_of
from scrapy_captcha._kinds import IMAGE
from scrapy_captcha._state import META_OPTIONS, RequestState, options, reissue
from scrapy_captcha.detect._page import MAX_IMAGE_BYTES, submission_url
from scrapy_captcha.errors import INPUT, SolverCancelled, SolverError
from scrapy_captcha.policy._hops import OutboundRefused, mark
from scrapy_captcha.policy._outbound import Outbound, origin_of
from scrapy_captcha.routes.clearance import undo_clearance
from scrapy_captcha.services._cookies import apply_set_cookies, parse_cookie_header

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response, TextResponse

    from scrapy_captcha.detect._page import CaptchaImage, FormRef, Page
    from scrapy_captcha.detect._widgets import Widget
    from scrapy_captcha.policy._solving import Reservation, Solving
    from scrapy_captcha.routes._coordination import Flight
    from scrapy_captcha.services._solutions import TokenSolution
    from scrapy_captcha.services.providers import Provider


@dataclass(eq=False)
class Job:
    """One gate page being solved: a widget's token or an image's text."""

    request: Request
    response: TextResponse
    page: Page
    provider: Provider
    mode: str  # "submit" | "token"
    widget: Widget | None = None
    image: CaptchaImage | None = None
    image_opts: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: TokenSolution | None = None
    text: str | None = None
    task_id: str | int | None = None
    #: the service that solved it (failover may pick another than ``provider``), its price
    solver: str | None = None
    cost: float | None = None
    flight: Flight | None = None
    landed_at: float | None = None

    @property
    def key(self) -> str:
        return f"job:{self.id}"

    @property
    def kind(self) -> str:
        if self.image is not None:
            return self.image.wall or IMAGE
        return self.widget.kind  # type: ignore[union-attr]

    @property
    def form(self) -> FormRef | None:
        return self.image.form if self.image is not None else self.widget.form  # type: ignore[union-attr]

    @property
    def error(self) -> Exception | None:
        return self.flight.error if self.flight is not None else None

    def token_result(self, attempts: int) -> dict[str, Any]:
        """``meta["captcha_result"]`` of a gate page replayed with its token."""
        assert self.widget is not None and self.token is not None
        return {
            "kind": self.widget.kind,
            "sitekey": self.widget.sitekey,
            "action": self.widget.action,
            "solved": True,
            "token": self.token.token,
            "resp_key": self.token.resp_key,
            "cookies": dict(self.token.cookies),
            "user_agent": self.token.user_agent,
            "task_id": self.task_id,
            "provider": self.solver,
            "cost": self.cost,
            "attempts": attempts,
            "solved_at": time.time(),
        }

    def session(self, extra: dict[str, str] | None = None) -> dict[str, Any]:
        """The page's cookies, for a request sent on its behalf (see RequestState), and
        the cookies a solver returned with the token (``extra``: the page's win)."""
        origin = origin_of(self.response.url)
        return {
            "origin": str(origin) if origin is not None else None,
            "cookies": dict(self.cookies),
            "extra": dict(extra or {}),
        }


def page_cookies(request: Request, response: Response) -> dict[str, str]:
    """The page's session: the cookies it was fetched with (less a Cloudflare clearance
    the add-on put on, which must stay out of the shared jar) and those it set. They go
    with what is sent on the page's behalf: with one jar shared by concurrent requests,
    the jar may hold another page's session by the time the solve lands."""
    state = RequestState.peek(request)
    if state is not None and state.undo:
        request = request.copy()
        undo_clearance(request, state.undo)
    cookies = parse_cookie_header(request.headers.get("Cookie"))
    return apply_set_cookies(cookies, response.headers.getlist(b"Set-Cookie"))


async def resolved_refusal(outbound: Outbound, job: Job) -> None:
    """Before paying: the image and form targets whose host names resolve inside are
    refused (SolverError with the policy's reason)."""
    page = outbound.page(job.response)
    via_proxy = bool(job.request.meta.get("proxy"))
    targets = [job.image.url] if job.image is not None and job.image.url else []
    if job.mode == "submit" and job.form is not None:
        targets.append(submission_url(job.page, job.form.index))
    for url in targets:
        reason = await outbound.resolved_refusal(page, url, via_proxy)
        if reason is not None:
            where = origin_of(url)
            raise SolverError(reason, f"the page's form or image goes to {where}", family=INPUT)


async def solve_job(
    solving: Solving, outbound: Outbound, flight: Flight, job: Job, reservation: Reservation
) -> None:
    """The work of a job's flight: check where it will send, fetch the image if need
    be, then solve."""
    extra = options(job.request).get("task")
    try:
        try:
            await resolved_refusal(outbound, job)
        except SolverError as exc:
            solving.ctx.inc(f"failed/{exc.reason}")
            solving.ctx.log.warning("Captcha on %s not solved: %s", job.response.url, exc)
            raise
        if job.image is not None:
            data = job.image.data
            if data is None:
                try:
                    data = await fetch_image(solving.ctx.crawler, job, outbound)
                except SolverError as exc:
                    solving.ctx.inc(f"failed/{exc.reason}")
                    solving.ctx.log.warning(
                        "Captcha image of %s not fetched: %s", job.response.url, exc
                    )
                    raise
            job.text, outcome = await solving.solve_text(
                job.provider,
                data,
                reservation,
                job.image_opts.get("image_type"),
                extra,
                job.request,
                kind=job.kind,
            )
        else:
            assert job.widget is not None
            job.token, outcome = await solving.solve_token(
                job.provider, job.widget, reservation, extra, job.request
            )
        outcome.record(job, flight)
    except SolverError as exc:
        job.task_id = exc.task_id
        raise
    finally:
        job.landed_at = time.monotonic()


async def fetch_image(crawler: Crawler, job: Job, outbound: Outbound) -> bytes:
    """The captcha image of this page, fetched in the page's session (its cookie jar,
    proxy and clearance) through the engine, like the browser that showed the page. The
    outbound policy judges it at every hop (``CaptchaMiddleware`` at 585 and 760)."""
    assert job.image is not None and job.image.url is not None
    request = reissue(job.request).replace(
        url=job.image.url,
        method="GET",
        body=b"",
        callback=NO_CALLBACK,
        errback=None,
        cb_kwargs={},
        priority=job.request.priority + 1,
        # Not exempt from OffsiteMiddleware / allowed_domains.
        dont_filter=False,
    )
    state = RequestState.of(request)
    state.session = job.session()
    state.aux = True
    state.submitted = None
    mark(state, outbound.page(job.response), "image", job.image.wall)
    if job.image.wall:
        # (the policy judged it, and judges every hop: a wall's own image host only)
        request.meta["allow_offsite"] = True
    for name in (b"Cookie", b"Content-Type", b"Content-Length"):
        request.headers.pop(name, None)
    request.headers[b"Referer"] = job.response.url
    request.headers[b"Accept"] = b"image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5"
    request.meta[META_OPTIONS] = {k: v for k, v in options(job.request).items() if k == "provider"}
    request.meta["dont_cache"] = True
    # Read no more than an image may be: the download is cut while streaming.
    request.meta["download_maxsize"] = MAX_IMAGE_BYTES
    if engine_of(crawler) is None:
        raise SolverCancelled("no engine")
    try:
        response = await download(crawler, request)
    except (defer.CancelledError, asyncio.CancelledError, SolverCancelled):
        if engine_closing(crawler):
            raise
        # (Scrapy cancels a download that grows past download_maxsize.)
        raise SolverError(
            "image_fetch", "captcha image download cut: over 1 MiB", family=INPUT
        ) from None
    except OutboundRefused as exc:
        raise SolverError(exc.reason, f"captcha image {exc}", family=INPUT) from None
    except IgnoreRequest as exc:
        raise SolverError("image_fetch", f"captcha image request ignored: {exc}") from None
    except Exception as exc:
        raise SolverError(
            "image_fetch", f"captcha image download failed: {type(exc).__name__}"
        ) from None
    if response.status != 200 or not response.body:
        raise SolverError("image_fetch", f"captcha image answered HTTP {response.status}")
    if len(response.body) > MAX_IMAGE_BYTES:
        raise SolverError("image_fetch", "captcha image is over 1 MiB", family=INPUT)
    return response.body
