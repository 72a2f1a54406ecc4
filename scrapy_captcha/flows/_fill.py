"""Fill on submit: a captcha widget in a form the spider fills itself (a login, a sign-up)
gets its token just before the spider's submission leaves.

Why: such a form needs the spider's input (credentials), so the add-on cannot submit it,
and a token fetched when the page arrived may expire (120-300 s) before the spider gets
round to it. Instead the page's widget is remembered by the form's (method, action URL);
when a request that submits that form comes through with the widget's field missing or
empty, it waits (parked, no downloader slot) for one fresh solve, and is sent again with
the token in its body. The spider writes the login as if there were no captcha.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scrapy_captcha._state import META_RESULT, RequestState, options
from scrapy_captcha.detect._page import FormRef
from scrapy_captcha.detect._widgets import Widget
from scrapy_captcha.errors import CaptchaUnsolved, ConfigurationError, SolverError
from scrapy_captcha.flows._forms import token_fields
from scrapy_captcha.policy._outbound import judge, site_of
from scrapy_captcha.routes._coordination import Flight, park

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._context import Context
    from scrapy_captcha.policy._solving import Solving
    from scrapy_captcha.routes._coordination import Coordination
    from scrapy_captcha.services._solutions import TokenSolution

#: forms remembered (least recently seen dropped first), and for how long
MAX_FORMS = 10_000
FORM_TTL = 3600.0
_FORM_TYPE = b"application/x-www-form-urlencoded"


def _form_key(method: str, url: str) -> tuple[str, str]:
    """A form's identity: method and action URL (without fragment; a GET form's query is
    its data, not its identity)."""
    parts = urlsplit(url)
    query = "" if method.upper() == "GET" else parts.query
    return method.upper(), urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass(eq=False)
class _FillJob:
    widget: Widget
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: TokenSolution | None = None
    task_id: str | int | None = None
    solver: str | None = None
    cost: float | None = None
    flight: Flight | None = None


class FormFiller:
    """Remembers fill-in forms and fills the spider's submissions of them."""

    def __init__(self, ctx: Context, solving: Solving, coordination: Coordination) -> None:
        self.ctx = ctx
        self.solving = solving
        self.coordination = coordination
        self._forms: OrderedDict[tuple[str, str], tuple[Widget, float]] = OrderedDict()
        self._jobs: dict[str, _FillJob] = {}

    def enabled(self, request: Request) -> bool:
        wanted = options(request).get("fill")
        return self.ctx.settings.fill_on_submit if wanted is None else bool(wanted)

    def remember(self, widget: Widget) -> None:
        """A widget in a form with fields the spider must fill. Only a form that posts to
        the page's own site is remembered: a page must not choose the site key and the
        field of another site's login (a token for its own key, in its own field, paid
        for at every submission)."""
        form = widget.form
        if form is None:
            return
        action, page = judge(form.action), judge(widget.page_url)
        if isinstance(action, str) or isinstance(page, str):
            return
        if site_of(action.origin.host) != site_of(page.origin.host):
            self.ctx.log.debug(
                "The %s form on %s posts to another site (%s): never filled",
                widget.kind,
                widget.page_url,
                action.origin,
            )
            return
        key = _form_key(form.method, action.url)
        self._forms.pop(key, None)
        self._forms[key] = (widget, time.monotonic() + FORM_TTL)
        while len(self._forms) > MAX_FORMS:
            self._forms.popitem(last=False)

    # -- 585 process_request ------------------------------------------------------------

    def on_request(self, request: Request, state: RequestState | None) -> Request | None:
        """A submission of a remembered form without its token: park it on a solve."""
        if not self._forms or (state is not None and (state.filled or state.aux)):
            return None
        key = _form_key(request.method, request.url)
        entry = self._forms.get(key)
        if entry is None:
            return None
        widget, expires = entry
        if expires < time.monotonic():
            del self._forms[key]
            return None
        data = _form_data(request)
        if data is None or any(v for k, v in data if k == widget.response_field):
            return None  # not a form body we can fill, or filled by the spider
        sent = {k for k, v in data if v}
        if widget.form is not None and not sent & set(widget.form.needs_input):
            return None  # the action URL fetched, not the form submitted (no field filled)
        if not self.enabled(request):
            return None
        return self._start(request, widget, state)

    def _start(
        self, request: Request, widget: Widget, state: RequestState | None
    ) -> Request | None:
        try:
            provider, reason = self.solving.choose(request, widget.task_key)
        except ConfigurationError:
            return None
        reservation = self.solving.reserve(provider, widget.task_key) if provider else None
        if provider is None or reservation is None:
            self._unfilled(request, widget.kind, reason or "budget")
            return None
        job = _FillJob(widget)
        self._jobs[job.id] = job
        extra = options(request).get("task")
        self.ctx.log.info(
            "%s captcha in the form %s submits: solving with %s to fill it in",
            widget.kind,
            request.url,
            provider.name,
        )

        async def work(flight: Flight) -> None:
            try:
                job.token, outcome = await self.solving.solve_token(
                    provider, widget, reservation, extra, request
                )
                outcome.record(job, flight)
            except SolverError as exc:
                job.task_id = exc.task_id
                raise
            finally:
                reservation.release()

        key = f"fill:{job.id}"
        job.flight = self.coordination.start(key, work, variant=widget.kind, what="a form fill")
        carrier = park(request, key, state.attempts if state else 0)
        carried = RequestState.of(carrier)
        carried.fill = job.id
        carried.fill_widget = asdict(widget)  # (a resumed JOBDIR job solves it again)
        return carrier

    async def on_carrier(self, request: Request, state: RequestState) -> Request | None:
        """The submission comes back once its solve has landed: send it with the token
        (or, if the solve failed, as the spider built it: one submission, one solve)."""
        job_id, state.fill = state.fill, None
        if state.park is not None:
            await self.coordination.wait_inline(request, state)
        job = self._jobs.pop(job_id or "", None)
        if job is None and state.fill_widget is not None:
            # Its job belonged to another process (a paused and resumed JOBDIR job).
            return self._start(request, _widget(state.fill_widget), state)
        state.filled = True
        if job is None or job.token is None:
            error = job.flight.error if job and job.flight else None
            reason = error.reason if isinstance(error, SolverError) else "cancelled"
            if job is not None:
                self._unfilled(request, job.widget.kind, reason, job.task_id)
            return None
        fields = token_fields(job.widget, job.token.token, job.token.resp_key, job.token.fields)
        filled = _with_fields(request, fields)
        if job.token.user_agent:
            filled.headers["User-Agent"] = job.token.user_agent  # (the token's own)
        filled.meta[META_RESULT] = {
            "kind": job.widget.kind,
            "solved": True,
            "filled": True,
            "task_id": job.task_id,
            "provider": job.solver,
            "cost": job.cost,
            "attempts": state.attempts,
        }
        self.ctx.inc(f"filled/{job.widget.kind}")
        self.ctx.inc(f"passed/{job.widget.kind}")
        return filled

    def _unfilled(
        self, request: Request, kind: str, reason: str, task_id: str | int | None = None
    ) -> None:
        """The submission cannot get its token. Sent without it, it would spend a login
        attempt on a refusal: it fails instead (``CaptchaUnsolved`` in its errback, no
        response), unless the spider handles such give-ups (then it leaves as built)."""
        self.ctx.give_up(request, kind, reason, task_id=task_id, dont_retry=False)
        if not self.ctx.handled(request.meta, reason):
            raise CaptchaUnsolved(
                reason,
                kind,
                None,
                f"the {kind} captcha of the form {request.url} submits was not solved "
                f"({reason}): the submission is not sent",
                result=request.meta.get(META_RESULT),
            )

    def close(self) -> None:
        self._jobs.clear()


def _widget(data: dict[str, Any]) -> Widget:
    from_form = data.get("form")
    form = (
        FormRef(**{**from_form, "needs_input": tuple(from_form["needs_input"])})
        if from_form
        else None
    )
    return Widget(**{**data, "form": form})


def _form_data(request: Request) -> list[tuple[str, str]] | None:
    """The submitted fields: the query of a GET, an urlencoded POST body; None otherwise."""
    if request.method.upper() == "GET":
        return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    ctype = (request.headers.get(b"Content-Type") or b"").split(b";")[0].strip().lower()
    if ctype != _FORM_TYPE:
        return None
    return parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _with_fields(request: Request, fields: dict[str, str]) -> Request:
    data: list[tuple[str, Any]] = [
        (k, v) for k, v in (_form_data(request) or []) if k not in fields
    ]
    data.extend(fields.items())
    encoded = urlencode(data)
    if request.method.upper() == "GET":
        parts = urlsplit(request.url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))
        return request.replace(url=url, dont_filter=True)
    return request.replace(body=encoded.encode(), dont_filter=True)
