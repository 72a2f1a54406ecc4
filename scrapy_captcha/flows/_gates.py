"""The gate flow: captcha widgets and images on pages, solved, then the gate submitted or
the token handed over.

Each gate page is one job (``_jobs.py``), solved in the background while the request that
met the gate is parked as a *carrier*, holding no downloader slot. When the job lands,
the carrier comes back through ``CaptchaMiddleware.process_request`` and turns into what
the spider gets: the gate form submitted as a browser would (the spider's callback
receives the page behind the gate), or the gate page itself replayed with the token in
``meta["captcha_result"]``. A replay goes once more through the downloader middlewares'
``process_response`` (``Set-Cookie`` stripped, so the cookie jar is not rolled back).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import Response, TextResponse

from scrapy_captcha._compat import cache_response
from scrapy_captcha._kinds import IMAGE
from scrapy_captcha._options import widget_modes_for
from scrapy_captcha._state import META_RESULT, RequestState, options, refetch_uncached
from scrapy_captcha.detect._amazon import robot_check_image
from scrapy_captcha.detect._page import CaptchaImage, ImageTooLarge, Page, find_image, html_page
from scrapy_captcha.detect._widgets import Widget, find_widgets_async
from scrapy_captcha.errors import ConfigurationError, SolverError
from scrapy_captcha.flows._forms import why_not_submitted
from scrapy_captcha.flows._gate_submit import submission
from scrapy_captcha.flows._jobs import Job, page_cookies, solve_job
from scrapy_captcha.policy._outbound import Outbound
from scrapy_captcha.routes._coordination import Flight, park

if TYPE_CHECKING:
    from scrapy_captcha._context import Context
    from scrapy_captcha.detect._challenge import Challenge
    from scrapy_captcha.flows._fill import FormFiller
    from scrapy_captcha.policy._solving import Solving
    from scrapy_captcha.routes._coordination import Coordination

#: landed jobs whose carrier never came back are forgotten after this many seconds
STALE_JOB_SECONDS = 600


class GateFlow:
    """Widgets and images on pages, for one crawler."""

    def __init__(
        self,
        ctx: Context,
        solving: Solving,
        coordination: Coordination,
        outbound: Outbound,
        filler: FormFiller,
    ) -> None:
        self.ctx = ctx
        self.solving = solving
        self.coordination = coordination
        self.outbound = outbound
        self.filler = filler
        self.jobs: dict[str, Job] = {}

    # -- 585 process_response -----------------------------------------------------------

    async def on_response(self, request: Request, response: Response) -> Request | None:
        """A request to send instead, or None to pass the response on."""
        state = RequestState.of(request)
        if state.replay or state.aux:
            state.replay = False
            return None
        if not isinstance(response, TextResponse):
            self._after_submission(request, state, response)
            return None
        page = html_page(response)
        image_opts = options(request).get("image")
        if image_opts is not None:
            return self._on_image_page(request, response, page, state, image_opts)
        modes = widget_modes_for(request, self.ctx.settings)
        enabled = any(mode != "ignore" for mode in modes.values())
        # (a large page is parsed off the reactor thread: bounded reactor time per page)
        widgets = await find_widgets_async(page) if enabled and page is not None else []
        submitted = state.submitted
        if submitted is not None and any(w.kind == submitted.get("kind") for w in widgets):
            self._refused(submitted)  # (the same captcha again, not another one behind it)
        if not widgets or page is None:
            self._after_submission(request, state, response)
            return None
        for kind in dict.fromkeys(w.kind for w in widgets):
            self.ctx.detected(request, response, kind, None)
        reported: tuple[Widget, str] | None = None
        for widget in widgets:
            mode = modes.get(widget.kind, "submit")
            if mode == "ignore":
                continue
            if mode == "submit":
                # (a widget outside any form: nothing would use its token, so it is
                # solved only when the spider asks for the token, mode "token")
                why = why_not_submitted(widget) if widget.form is not None else "no_form"
                if why == "needs_input":
                    self.filler.remember(widget)  # solved when the spider submits it
                if why is not None:
                    reported = reported or (widget, why)
                    continue
            return self._start(request, response, page, state, mode, widget=widget)
        if reported is not None:
            widget, why = reported
            self._give_up(request, widget.kind, why, widget, stat="skipped", dont_retry=False)
        else:
            self._after_submission(request, state, response)
        return None

    def _on_image_page(
        self,
        request: Request,
        response: TextResponse,
        page: Page | None,
        state: RequestState,
        image_opts: Any,
    ) -> Request | None:
        # (meta["captcha"]["image"] was checked at process_request)
        selector, field_name = image_opts["selector"], image_opts["field"]
        try:
            image = find_image(page, selector, field_name) if page is not None else None
        except ImageTooLarge as exc:
            self.ctx.log.warning("Captcha image on %s not solved: %s", response.url, exc)
            self._give_up(request, IMAGE, "image_too_large", dont_retry=False, response=response)
            return None
        except ValueError as exc:
            self.ctx.warn_once(f"image|{exc}", "%s", exc, level=logging.ERROR)
            self._give_up(request, IMAGE, "bad_options", dont_retry=False, response=response)
            return None
        if image is None:
            if state.submitted is None:
                # (a page past its captcha looks the same: said once per selector, counted)
                self.ctx.inc("image/not_found")
                self.ctx.warn_once(
                    f"noimage|{selector}",
                    'meta["captcha"]["image"] selector %r matched no image on %s: the page is '
                    "passed on as it is (further misses are counted in "
                    "captcha/image/not_found)",
                    selector,
                    response.url,
                )
            self._after_submission(request, state, response)
            return None
        if state.submitted is not None:
            self._refused(state.submitted)
        self.ctx.detected(request, response, IMAGE, None)
        if image.form is None:
            self._give_up(request, IMAGE, "no_form", dont_retry=False, response=response)
            return None
        assert page is not None
        return self._start(
            request, response, page, state, "submit", image=image, image_opts=image_opts
        )

    async def on_wall(
        self, request: Request, response: Response, challenge: Challenge
    ) -> Request | Response:
        """Amazon's robot check: its image solved, its form submitted with the answer in
        the page's session; the page itself once given up."""
        state = RequestState.of(request)
        if state.replay or state.aux:
            return response  # (a replayed gate page, or the add-on's own image fetch)
        page = html_page(response)
        image = robot_check_image(page, challenge) if page is not None else None
        if state.submitted is not None and state.submitted.get("kind") == challenge.kind:
            self._refused(state.submitted)  # (the answer was not taken: the check again)
        if image is None or page is None or not isinstance(response, TextResponse):
            self._give_up(request, challenge.kind, "no_form", response=response)
            return response
        carrier = self._start(request, response, page, state, "submit", image=image)
        return response if carrier is None else carrier

    def _refused(self, sent: dict[str, Any]) -> None:
        """The site answered our submission with its captcha again: refused."""
        report = self.solving.accounts.report_later
        report(sent.get("provider"), sent.get("kind", ""), sent.get("task_id"))

    def _after_submission(self, request: Request, state: RequestState, response: Response) -> None:
        """The page after a gate submission shows no gate: the submission worked. With
        HTTPCACHE on, the page behind the gate is also stored as the answer to the request
        that met the gate: a re-run is served it instead of paying for the gate again."""
        if state.submitted is None:
            return
        origin = state.submitted.get("origin")
        request.meta[META_RESULT] = {
            **{k: v for k, v in state.submitted.items() if k != "origin"},
            "solved": True,
            "submitted": True,
            "attempts": state.attempts,
        }
        self.ctx.inc(f"passed/{state.submitted.get('kind')}")
        if origin and "cached" not in response.flags and not request.meta.get("dont_cache"):
            method, url, body = origin
            met = Request(url, method=method, body=body.encode("latin-1"), dont_filter=True)
            if cache_response(self.ctx.crawler, met, response):
                self.ctx.inc("http_cache_stored")

    def _give_up(
        self,
        request: Request,
        kind: str,
        reason: str,
        widget: Widget | None = None,
        task_id: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        extra: dict[str, Any] = {}
        if widget is not None:
            extra["sitekey"] = widget.sitekey
            if widget.form is not None and widget.form.needs_input:
                extra["fields"] = list(widget.form.needs_input)
        self.ctx.give_up(request, kind, reason, task_id=task_id, **kwargs, **extra)

    def _start(
        self,
        request: Request,
        response: TextResponse,
        page: Page,
        state: RequestState,
        mode: str,
        *,
        widget: Widget | None = None,
        image: CaptchaImage | None = None,
        image_opts: dict[str, Any] | None = None,
    ) -> Request | None:
        kind = (image.wall or IMAGE) if image is not None else widget.kind  # type: ignore[union-attr]
        if "cached" in response.flags:
            # A gate served by HttpCache: its form and session are stale. Fetch afresh.
            self.ctx.inc("http_cache_bypassed")
            return refetch_uncached(request)
        if state.attempts >= self.ctx.settings.max_attempts:
            self._give_up(
                request, kind, "max_attempts", widget, state.last_task, response=response
            )
            return None
        refusal = self._refusal(page, mode, widget, image)
        if refusal is not None:
            self._give_up(request, kind, refusal, widget, dont_retry=False, response=response)
            return None
        task_key = "image" if image is not None else widget.task_key  # type: ignore[union-attr]
        try:
            provider, reason = self.solving.choose(request, task_key)
        except ConfigurationError as exc:
            self.ctx.warn_once(f"provider|{exc}", "%s", exc, level=logging.ERROR)
            self._give_up(
                request, kind, "bad_provider", widget, dont_retry=False, response=response
            )
            return None
        reservation = self.solving.reserve(provider, task_key) if provider else None
        if provider is None or reservation is None:
            self._give_up(
                request, kind, reason or "budget", widget, dont_retry=False, response=response
            )
            return None
        job = Job(
            request=request,
            response=response,
            page=page,
            provider=provider,
            mode=mode,
            widget=widget,
            image=image,
            image_opts=dict(image_opts or {}),
            cookies=page_cookies(request, response),
        )
        self._forget_stale_jobs()
        self.jobs[job.id] = job
        self.ctx.log.info(
            "%s captcha on %s: solving with %s (%s)",
            kind,
            response.url,
            provider.name,
            "then submitting its form" if mode == "submit" else "token for the spider",
        )

        async def work(flight: Flight) -> None:
            try:
                await solve_job(self.solving, self.outbound, flight, job, reservation)
            finally:
                reservation.release()  # (no-op once its createTask was sent)

        job.flight = self.coordination.start(job.key, work, variant=kind, what=f"a {kind} captcha")
        carrier = park(request, job.key, state.attempts)
        RequestState.of(carrier).job = job.id
        return carrier

    def _refusal(
        self, page: Page, mode: str, widget: Widget | None, image: CaptchaImage | None
    ) -> str | None:
        """Why the outbound policy forbids what solving this gate would send, checked
        before anything is paid for (one warning naming the target's origin)."""
        form = image.form if image is not None else widget.form if widget else None
        refused = self.outbound.gate_refusal(
            page,
            image.url if image is not None else None,
            form.index if mode == "submit" and form is not None else None,
            self.ctx.crawler.spider,
            image.wall if image is not None else None,
        )
        if refused is None:
            return None
        what, where, reason = refused
        self.ctx.log.warning(
            "Captcha on %s not solved: its %s goes to %s (%s); see CAPTCHA_ALLOW_OFFSITE",
            page.url,
            what,
            where,
            reason,
        )
        return reason

    # -- 585 process_request: the carrier comes back ------------------------------------

    async def on_request(self, request: Request, state: RequestState) -> Request | Response | None:
        job_id, state.job = state.job, None
        if job_id is None:
            return None
        job = self.jobs.get(job_id)
        if state.park is not None:
            await self.coordination.wait_inline(request, state)
        self.jobs.pop(job_id, None)
        if job is None:
            return None  # (forgotten at close) fetch the page again
        error = job.error
        if error is None:
            if job.mode == "submit" and job.form is not None:
                return self._submission(request, job)
            self.ctx.inc(f"passed/{job.kind}")
            return self._replay(request, job, job.token_result(RequestState.of(request).attempts))
        retryable = isinstance(error, SolverError) and error.retryable
        if retryable and state.attempts < self.ctx.settings.max_attempts:
            return None  # fetch the gate again: a fresh page, a fresh solve
        reason = error.reason if isinstance(error, SolverError) else "cancelled"
        self._give_up(request, job.kind, reason, job.widget, job.task_id, response=job.response)
        return self._replay(request, job, request.meta[META_RESULT])

    @staticmethod
    def _replay(carrier: Request, job: Job, result: dict[str, Any]) -> Response:
        """The gate page itself, as the response to its (carrier) request."""
        carrier.meta[META_RESULT] = result
        RequestState.of(carrier).replay = True
        carrier.meta["dont_cache"] = True
        # Retrying would fetch the page again and pay for another solve.
        carrier.meta["dont_retry"] = True
        headers = job.response.headers.copy()
        headers.pop(b"Set-Cookie", None)
        return job.response.replace(request=carrier, headers=headers)

    def _submission(self, carrier: Request, job: Job) -> Request:
        self.ctx.inc(f"submitted/{job.kind}")
        return submission(self.outbound, carrier, job)

    def _forget_stale_jobs(self) -> None:
        """A carrier dropped before it came back (a user middleware ignoring it, say)
        would leave its job, page included, here for good: forget landed jobs after
        ten minutes (their tokens are long expired)."""
        cutoff = time.monotonic() - STALE_JOB_SECONDS
        for job_id in [k for k, j in self.jobs.items() if j.landed_at and j.landed_at < cutoff]:
            del self.jobs[job_id]

    def close(self) -> None:
        self.jobs.clear()
