"""Captcha widgets and images on pages: solve them, then submit the gate or hand the token over.

Why this shape: a token is single use and bound to one page, so unlike a Cloudflare
clearance nothing is shared between requests: each gate page is one *job*. A job is solved
in the background on a flight of its own (``flights.py``) while the request that met the
gate is parked as a *carrier*, holding no downloader slot. When the job lands, the carrier
comes back through ``CaptchaMiddleware.process_request`` and turns into what the spider
gets: the gate form submitted as a browser would (the spider's callback receives the page
behind the gate), or the gate page itself replayed with the token in
``meta["captcha_result"]``. A replay goes once more through the downloader middlewares'
``process_response`` (``Set-Cookie`` stripped, so the cookie jar is not rolled back).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import FormRequest, Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer

from scrapy_captcha.clearance import parse_cookie_header, undo_clearance
from scrapy_captcha.errors import (
    INPUT,
    CaptchaError,
    ConfigurationError,
    SolverCancelled,
    SolverError,
    SolvingUnavailable,
    WidgetNotFound,
)
from scrapy_captcha.flights import ATTEMPTS, LAST_TASK, PARK, Flight, wait_inline
from scrapy_captcha.meta import AUX as _AUX
from scrapy_captcha.meta import JOB as _JOB
from scrapy_captcha.meta import META_OPTIONS, META_RESULT, SESSION, UNDO
from scrapy_captcha.meta import REPLAY as _REPLAY
from scrapy_captcha.meta import SUBMITTED as _SUBMITTED
from scrapy_captcha.providers import Provider, TokenSolution
from scrapy_captcha.settings import WIDGET_KINDS, WIDGET_MODES, parse_widget_modes
from scrapy_captcha.widgets import (
    HCAPTCHA,
    IMAGE,
    CaptchaImage,
    FormRef,
    Widget,
    find_image,
    find_widgets,
)

if TYPE_CHECKING:
    from scrapy_captcha.manager import CaptchaManager

logger = logging.getLogger("scrapy_captcha")

_RESP_KEY_FIELD = re.compile(r"resp[-_]?key", re.I)
_TOKEN_FIELD = re.compile(r"captcha|turnstile", re.I)
_MAX_IMAGE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Token:
    """A solved widget, for the spider API. ``formdata`` is what a browser would submit."""

    value: str = field(repr=False)
    widget: Widget
    task_id: str | int | None = None
    resp_key: str | None = field(default=None, repr=False)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    user_agent: str | None = None
    solved_at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return self.widget.kind

    @property
    def formdata(self) -> dict[str, str]:
        fields = {self.widget.response_field: self.value}
        if self.widget.kind == HCAPTCHA:  # hCaptcha fills both fields
            fields.setdefault("g-recaptcha-response", self.value)
        if self.resp_key:
            fields["respKey"] = self.resp_key
        return fields

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class Job:
    """One gate page being solved: a widget's token or an image's text."""

    request: Request
    response: TextResponse
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
    error: CaptchaError | None = None
    landed_at: float | None = None

    @property
    def key(self) -> str:
        return f"job:{self.id}"

    @property
    def kind(self) -> str:
        return IMAGE if self.image is not None else self.widget.kind  # type: ignore[union-attr]

    @property
    def form(self) -> FormRef | None:
        return self.image.form if self.image is not None else self.widget.form  # type: ignore[union-attr]


def page_cookies(request: Request, response: Response) -> dict[str, str]:
    """The page's session: the cookies it was fetched with (less a Cloudflare clearance
    the add-on put on, which must stay out of the shared jar) and those it set. They go
    with what is sent on the page's behalf: with one jar shared by concurrent requests,
    the jar may hold another page's session by the time the solve lands."""
    undo = request.meta.get(UNDO)
    if undo:
        request = request.copy()
        undo_clearance(request, undo)
    cookies = parse_cookie_header(request.headers.get("Cookie"))
    for raw in response.headers.getlist(b"Set-Cookie"):
        first, *attrs = raw.decode("latin-1").split(";")
        name, sep, value = first.strip().partition("=")
        if not sep or not name:
            continue
        expired = any(
            a.strip().lower().replace(" ", "") in ("max-age=0", "max-age=-1") for a in attrs
        )
        if expired:
            cookies.pop(name, None)
        else:
            cookies[name] = value.strip()
    return cookies


def submission_fields(
    response: TextResponse, form: FormRef, widget: Widget, token: TokenSolution
) -> dict[str, str]:
    """The token in every field a browser would fill: the widget's response field, empty
    hidden captcha fields the page's script fills (v3 sites name their own), hCaptcha's
    second field, and ``respKey`` where the solver returned one."""
    fields = {widget.response_field: token.token}
    if widget.kind == HCAPTCHA:
        fields.setdefault("g-recaptcha-response", token.token)
    resp_key_set = False
    forms = response.xpath("//form")
    if form.index < len(forms):
        for inp in forms[form.index].xpath(".//input[@name]"):
            name = inp.attrib["name"]
            if inp.attrib.get("value") or (inp.attrib.get("type") or "").lower() != "hidden":
                continue
            if _RESP_KEY_FIELD.search(name):
                if token.resp_key:
                    fields[name] = token.resp_key
                    resp_key_set = True
            elif _TOKEN_FIELD.search(name):
                fields.setdefault(name, token.token)
    if token.resp_key and not resp_key_set:
        fields["respKey"] = token.resp_key
    return fields


class GateKeeper:
    """The widget and image side of the manager (one per crawler)."""

    def __init__(self, manager: CaptchaManager) -> None:
        self.m = manager
        self.jobs: dict[str, Job] = {}

    # -- modes --------------------------------------------------------------------------

    def _modes(self, request: Request) -> dict[str, str]:
        value = self.m._options(request).get("widgets")
        if value is None:
            return {}
        try:
            return parse_widget_modes('meta["captcha"]["widgets"]', value)
        except ConfigurationError as exc:
            self.m._warn_once(f"widgets|{exc}", "%s; CAPTCHA_WIDGETS applies", exc)
            return {}

    def _mode(self, modes: dict[str, str], kind: str) -> str:
        return modes.get(kind) or self.m.settings.widget_mode(kind)

    def _any_enabled(self, modes: dict[str, str]) -> bool:
        return any(self._mode(modes, kind) != "ignore" for kind in WIDGET_KINDS)

    # -- 585 process_response -----------------------------------------------------------

    async def on_response(self, request: Request, response: Response) -> Request | Response | None:
        """A request to send instead, or None to pass the response on."""
        meta = request.meta
        if meta.pop(_REPLAY, False) or meta.get(_AUX):
            return None
        if not isinstance(response, TextResponse):
            self._after_submission(request)
            return None
        opts = self.m._options(request)
        if opts.get("image") is not None:
            return await self._on_image_page(request, response, opts["image"])
        modes = self._modes(request)
        widgets = find_widgets(response) if self._any_enabled(modes) else []
        if not widgets:
            self._after_submission(request)
            return None
        for kind in dict.fromkeys(w.kind for w in widgets):
            self.m._inc(f"detected/{kind}")
        reported: tuple[Widget, str] | None = None
        for widget in widgets:
            mode = self._mode(modes, widget.kind)
            if mode == "ignore":
                continue
            if mode == "submit":
                why = self._why_not_submitted(widget)
                if why is not None:
                    reported = reported or (widget, why)
                    continue
                if widget.form is None:
                    mode = "token"  # nothing to submit: hand the token over
            return await self._start(request, response, mode, widget=widget)
        if reported is not None:
            widget, why = reported
            self._unsolved(request, widget.kind, why, widget=widget, stat="skipped")
        else:
            self._after_submission(request)
        return None

    @staticmethod
    def _why_not_submitted(widget: Widget) -> str | None:
        """Why "submit" mode leaves a widget unsolved (reported only), or None.

        A form with fields to fill, or a content page's form (an add-to-cart guarded by a
        v3 script), is the spider's to submit. A reCAPTCHA v3 script outside any form
        gates nothing: sites load it on every page, and a token per page would be money
        thrown away ("token" mode asks for it explicitly)."""
        form = widget.form
        if form is not None:
            if form.needs_input:
                return "needs_input"
            if not form.is_gate:
                return "not_a_gate"
            return None
        if widget.version == "v3":
            return "no_form"
        return None

    async def _on_image_page(
        self, request: Request, response: TextResponse, image_opts: Any
    ) -> Request | Response | None:
        try:
            if not isinstance(image_opts, dict):
                raise ConfigurationError('meta["captcha"]["image"] must be a dict')
            selector, field_name = image_opts.get("selector"), image_opts.get("field")
            if not isinstance(selector, str) or not isinstance(field_name, str):
                raise ConfigurationError(
                    'meta["captcha"]["image"] needs "selector" and "field" strings'
                )
            image = find_image(response, selector, field_name)
        except (ConfigurationError, ValueError) as exc:
            self.m._warn_once(f"image|{exc}", "%s", exc, level=logging.ERROR)
            self._unsolved(request, IMAGE, "bad_options")
            return None
        if image is None:
            self._after_submission(request)
            return None
        self.m._inc(f"detected/{IMAGE}")
        if image.form is None:
            self._unsolved(request, IMAGE, "no_form")
            return None
        return await self._start(request, response, "submit", image=image, image_opts=image_opts)

    def _after_submission(self, request: Request) -> None:
        """The page after a gate submission shows no gate: the submission worked."""
        submitted = request.meta.get(_SUBMITTED)
        if submitted is None:
            return
        request.meta[META_RESULT] = {
            **submitted,
            "solved": True,
            "submitted": True,
            "attempts": request.meta.get(ATTEMPTS, 0),
        }

    def _unsolved(
        self,
        request: Request,
        kind: str,
        reason: str,
        widget: Widget | None = None,
        task_id: str | int | None = None,
        stat: str = "unsolved",
    ) -> None:
        self.m._inc(f"{stat}/{reason}")
        result: dict[str, Any] = {
            "kind": kind,
            "solved": False,
            "reason": reason,
            "attempts": request.meta.get(ATTEMPTS, 0),
            "task_id": task_id,
        }
        if widget is not None:
            result["sitekey"] = widget.sitekey
            if widget.form is not None and widget.form.needs_input:
                result["fields"] = list(widget.form.needs_input)
        request.meta[META_RESULT] = result

    def _can_solve(self, provider: Provider, task_key: str) -> str | None:
        """Why a task of that kind cannot be sent now, or None."""
        disabled = self.m.disabled_reason or self.m.disabled_providers.get(provider.name)
        if disabled is not None:
            return disabled
        try:
            provider.task_type(task_key)
        except ConfigurationError:
            self.m._warn_once(
                f"notask|{provider.name}|{task_key}",
                "%s has no task type for %s captchas: reported, not solved (add one with "
                "CAPTCHA_TASK_TYPES = {%r: '<TaskType>'})",
                provider.name,
                task_key,
                task_key,
            )
            return "no_task"
        if not self.m.budget_allows():
            return "budget"
        return None

    async def _start(
        self,
        request: Request,
        response: TextResponse,
        mode: str,
        *,
        widget: Widget | None = None,
        image: CaptchaImage | None = None,
        image_opts: dict[str, Any] | None = None,
    ) -> Request | None:
        kind = IMAGE if image is not None else widget.kind  # type: ignore[union-attr]
        if "cached" in response.flags:
            # A gate served by HttpCache: its form and session are stale. Fetch afresh.
            self.m._inc("http_cache_bypassed")
            copy = self.m._copy(request)
            copy.meta["dont_cache"] = True
            return copy
        attempts = request.meta.get(ATTEMPTS, 0)
        if attempts >= self.m.settings.max_attempts:
            self._unsolved(request, kind, "max_attempts", widget, request.meta.get(LAST_TASK))
            request.meta["dont_retry"] = True
            return None
        try:
            provider = self.m._provider_for(request)
        except ConfigurationError as exc:
            self.m._warn_once(f"provider|{exc}", "%s", exc, level=logging.ERROR)
            self._unsolved(request, kind, "bad_provider", widget)
            return None
        task_key = "image" if image is not None else widget.task_key  # type: ignore[union-attr]
        reason = self._can_solve(provider, task_key)
        if reason is not None:
            self._unsolved(request, kind, reason, widget)
            return None
        job = Job(
            request=request,
            response=response,
            provider=provider,
            mode=mode,
            widget=widget,
            image=image,
            image_opts=dict(image_opts or {}),
            cookies=page_cookies(request, response),
        )
        self._forget_stale_jobs()
        self.jobs[job.id] = job
        self.m.tasks_created += 1
        logger.info(
            "%s captcha on %s: solving with %s (%s)",
            kind,
            response.url,
            provider.name,
            "then submitting its form" if mode == "submit" else "token for the spider",
        )
        self.m.board.start(job.key, lambda flight: self._fly(flight, job), variant=kind)
        carrier = self.m._reissue(request, attempts)
        carrier.meta[PARK] = job.key
        carrier.meta[_JOB] = job.id
        return carrier

    # -- solving ------------------------------------------------------------------------

    async def _fly(self, flight: Flight, job: Job) -> None:
        error: CaptchaError | None = None
        try:
            if job.image is not None:
                data = job.image.data
                if data is None:
                    data = await self._fetch_image(job)
                job.text, job.task_id = await self.solve_text(
                    job.provider,
                    data,
                    job.image_opts.get("image_type"),
                    self.m._options(job.request).get("task"),
                )
            else:
                assert job.widget is not None
                job.token, job.task_id = await self.solve_token(
                    job.provider, job.widget, self.m._options(job.request).get("task")
                )
            flight.task_id = job.task_id
        except SolverError as exc:
            job.error = exc
            flight.task_id = job.task_id = exc.task_id
        except (defer.CancelledError, asyncio.CancelledError):
            error = job.error = SolverCancelled("crawl closed while solving")
        except Exception as exc:  # a bug: log it, but let the waiting request go on
            logger.exception("Unexpected error solving a %s captcha", job.kind)
            job.error = SolverError("internal", type(exc).__name__)
            self.m._inc("failed/internal")
        finally:
            job.landed_at = time.monotonic()
            self.m.board.land(flight, error)

    async def solve_token(
        self, provider: Provider, widget: Widget, extra: Any = None
    ) -> tuple[TokenSolution, str | int]:
        task = provider.widget_task(widget, extra if isinstance(extra, dict) else None)
        result = await self._solve(provider, task, widget.kind)
        solution = provider.parse_token(result.reply)
        if solution is None:
            raise self._malformed(provider, result, "token")
        self.m._inc(f"solved/{widget.kind}")
        return solution, result.task_id

    async def solve_text(
        self, provider: Provider, image: bytes, image_type: Any = None, extra: Any = None
    ) -> tuple[str, str | int]:
        task = provider.image_task(
            image,
            str(image_type) if image_type else None,
            extra if isinstance(extra, dict) else None,
        )
        result = await self._solve(provider, task, IMAGE, timeout=self.m.settings.image_timeout)
        text = provider.parse_text(result.reply)
        if text is None:
            raise self._malformed(provider, result, "text")
        self.m._inc(f"solved/{IMAGE}")
        return text.strip(), result.task_id

    async def _solve(
        self, provider: Provider, task: dict[str, Any], kind: str, timeout: float | None = None
    ) -> Any:
        try:
            return await self.m._client(provider).solve(task, timeout=timeout)
        except SolverError as exc:
            raise self._failed(provider, exc) from None

    def _malformed(self, provider: Provider, result: Any, what: str) -> SolverError:
        error = SolverError(
            "malformed_reply", f"ready reply holds no {what}", task_id=result.task_id
        )
        return self._failed(provider, error)

    def _failed(self, provider: Provider, exc: SolverError) -> SolverError:
        self.m._inc(f"failed/{exc.reason}")
        if exc.fatal:
            self.m._disable(provider, exc.reason, exc)
        elif exc.family == INPUT:
            logger.error("Solver rejected a captcha task: %s", exc)
        else:
            logger.warning("Captcha solve failed: %s", exc)
        return exc

    async def _fetch_image(self, job: Job) -> bytes:
        """The captcha image of this page, fetched in the page's session (its cookie jar,
        proxy and clearance) through the engine, like the browser that showed the page."""
        assert job.image is not None and job.image.url is not None
        base = self.m._copy(job.request)
        request = base.replace(
            url=job.image.url,
            method="GET",
            body=b"",
            callback=NO_CALLBACK,
            errback=None,
            cb_kwargs={},
            priority=job.request.priority + 1,
        )
        request.meta[SESSION] = self._session(job)
        for name in (b"Cookie", b"Content-Type", b"Content-Length"):
            request.headers.pop(name, None)
        request.headers[b"Referer"] = job.response.url
        request.headers[b"Accept"] = b"image/avif,image/webp,image/png,image/*;q=0.8,*/*;q=0.5"
        opts = {k: v for k, v in self.m._options(job.request).items() if k == "provider"}
        request.meta[META_OPTIONS] = opts
        request.meta[_AUX] = True
        request.meta["dont_cache"] = True
        request.meta.pop(_SUBMITTED, None)
        engine = self.m.crawler.engine
        if engine is None:
            raise SolverCancelled("no engine")
        try:
            if hasattr(engine, "download_async"):
                response = await engine.download_async(request)
            else:  # Scrapy 2.13
                response = await maybe_deferred_to_future(engine.download(request))
        except (defer.CancelledError, asyncio.CancelledError, SolverCancelled):
            raise
        except IgnoreRequest as exc:
            raise SolverError("image_fetch", f"captcha image request ignored: {exc}") from None
        except Exception as exc:
            raise SolverError(
                "image_fetch", f"captcha image download failed: {type(exc).__name__}"
            ) from None
        if response.status != 200 or not response.body:
            raise SolverError("image_fetch", f"captcha image answered HTTP {response.status}")
        if len(response.body) > _MAX_IMAGE_BYTES:
            raise SolverError("image_fetch", "captcha image is over 2 MiB", family=INPUT)
        return response.body

    # -- 585 process_request: the carrier comes back ------------------------------------

    async def on_request(self, request: Request) -> Request | Response | None:
        job_id = request.meta.pop(_JOB, None)
        if job_id is None:
            return None
        job = self.jobs.get(job_id)
        if request.meta.pop(PARK, None) is not None:
            await wait_inline(request, self.m.board.get(f"job:{job_id}"))
        self.jobs.pop(job_id, None)
        if job is None:
            return None  # (forgotten at close) fetch the page again
        if job.error is None:
            if job.mode == "submit" and job.form is not None:
                return self._submission(request, job)
            return self._replay(request, job, self._token_result(request, job))
        retryable = isinstance(job.error, SolverError) and job.error.retryable
        if retryable and request.meta.get(ATTEMPTS, 0) < self.m.settings.max_attempts:
            return None  # fetch the gate again: a fresh page, a fresh solve
        reason = job.error.reason if isinstance(job.error, SolverError) else "cancelled"
        self._unsolved(request, job.kind, reason, job.widget, job.task_id)
        request.meta["dont_retry"] = True
        return self._replay(request, job, request.meta[META_RESULT])

    def _token_result(self, request: Request, job: Job) -> dict[str, Any]:
        assert job.widget is not None and job.token is not None
        return {
            "kind": job.widget.kind,
            "sitekey": job.widget.sitekey,
            "action": job.widget.action,
            "solved": True,
            "token": job.token.token,
            "resp_key": job.token.resp_key,
            "cookies": dict(job.token.cookies),
            "user_agent": job.token.user_agent,
            "task_id": job.task_id,
            "attempts": request.meta.get(ATTEMPTS, 0),
            "solved_at": time.time(),
        }

    def _replay(self, carrier: Request, job: Job, result: dict[str, Any]) -> Response:
        """The gate page itself, as the response to its (carrier) request."""
        carrier.meta[META_RESULT] = result
        carrier.meta[_REPLAY] = True
        carrier.meta["dont_cache"] = True
        # Retrying would fetch the page again and pay for another solve.
        carrier.meta["dont_retry"] = True
        headers = job.response.headers.copy()
        headers.pop(b"Set-Cookie", None)
        return job.response.replace(request=carrier, headers=headers)

    def _submission(self, carrier: Request, job: Job) -> Request:
        """The gate form submitted as a browser would: every other field kept, the
        answer in its field(s), the page's cookies (the jar), proxy and callbacks."""
        from scrapy_captcha.manager import PRIVATE_ALL

        form = job.form
        assert form is not None
        extra: dict[str, str] = {}
        if job.token is not None:
            assert job.widget is not None
            fields = submission_fields(job.response, form, job.widget, job.token)
            extra = dict(job.token.cookies)
        else:
            assert job.image is not None and job.text is not None
            formdata = job.image_opts.get("formdata")
            fields = {
                **(formdata if isinstance(formdata, dict) else {}),
                job.image.field_name: job.text,
            }
        meta = {k: v for k, v in carrier.meta.items() if k not in PRIVATE_ALL}
        meta.pop(META_RESULT, None)
        meta[_SUBMITTED] = {"kind": job.kind, "task_id": job.task_id}
        meta[SESSION] = self._session(job, extra)
        page = urlsplit(job.response.url)
        headers = {"Referer": job.response.url, "Origin": f"{page.scheme}://{page.netloc}"}
        proxy_auth = carrier.headers.get("Proxy-Authorization")
        if proxy_auth:
            headers["Proxy-Authorization"] = proxy_auth.decode("latin-1")
        self.m._inc(f"submitted/{job.kind}")
        return FormRequest.from_response(
            job.response,
            formnumber=form.index,
            formdata=fields,
            callback=carrier.callback,
            errback=carrier.errback,
            cb_kwargs=dict(carrier.cb_kwargs),
            meta=meta,
            headers=headers,
            dont_filter=True,
            priority=carrier.priority,
        )

    def _forget_stale_jobs(self) -> None:
        """A carrier dropped before it came back (a user middleware ignoring it, say)
        would leave its job, page included, here for good: forget landed jobs after
        ten minutes (their tokens are long expired)."""
        cutoff = time.monotonic() - 600
        for job_id in [k for k, j in self.jobs.items() if j.landed_at and j.landed_at < cutoff]:
            del self.jobs[job_id]

    @staticmethod
    def _session(job: Job, extra: dict[str, str] | None = None) -> dict[str, Any]:
        host = (urlsplit(job.response.url).hostname or "").lower()
        return {"host": host, "cookies": dict(job.cookies), "extra": dict(extra or {})}

    def close(self) -> None:
        self.jobs.clear()

    # -- spider API ---------------------------------------------------------------------

    async def api_token(
        self,
        response: Response,
        widget: Widget | None = None,
        *,
        action: str | None = None,
        provider_name: str | None = None,
        task: dict[str, Any] | None = None,
    ) -> Token:
        if widget is None:
            widgets = find_widgets(response)
            if not widgets:
                raise WidgetNotFound(f"no captcha widget on {response.url}")
            widget = widgets[0]
        if action is not None:
            widget = replace(widget, action=action)
        provider = self._api_provider(provider_name, widget.task_key)
        self.m.tasks_created += 1
        solution, task_id = await self.solve_token(provider, widget, task)
        return Token(
            value=solution.token,
            widget=widget,
            task_id=task_id,
            resp_key=solution.resp_key,
            cookies=dict(solution.cookies),
            user_agent=solution.user_agent,
        )

    async def api_text(
        self,
        image: bytes,
        *,
        image_type: str | None = None,
        provider_name: str | None = None,
        task: dict[str, Any] | None = None,
    ) -> str:
        if not image:
            raise ValueError("empty image")
        provider = self._api_provider(provider_name, "image")
        self.m.tasks_created += 1
        text, _ = await self.solve_text(provider, image, image_type, task)
        return text

    def _api_provider(self, name: str | None, task_key: str) -> Provider:
        provider = self.m.provider_named(name)
        reason = self._can_solve(provider, task_key)
        if reason is not None:
            raise SolvingUnavailable(reason, f"cannot solve a {task_key} captcha: {reason}")
        return provider


__all__ = ["WIDGET_MODES", "GateKeeper", "Job", "Token", "submission_fields"]
