"""A request's progress through the add-on: one object under one meta key.

Why one object: the Cloudflare flow, the gate flow and the parking code all need to know
how many solves a request has waited for, which clearance it carries and what it is (a
carrier waiting for its gate's job, a replay, a gate submission, the add-on's own image
fetch). Kept in ``request.meta`` (so it survives retries, redirects and JOBDIR pickling)
under :data:`STATE`; :meth:`RequestState.for_reissue` and
:meth:`RequestState.for_new_request` say what a copy keeps.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._route import Route

#: request meta: set True to leave a request and its response alone
META_OPT_OUT: Final = "dont_solve_captcha"
#: request meta: per-request options {"proxy", "provider", "task", "widgets", "image"}
META_OPTIONS: Final = "captcha"
#: response meta: what happened ({"kind", "solved", "task_id", "token", "reason", ...})
META_RESULT: Final = "captcha_result"
#: request meta: True (or a list of give-up reasons): the callback takes a page the add-on
#: could not get past, instead of the errback getting ``CaptchaUnsolved``
META_HANDLE: Final = "handle_captcha_unsolved"
#: request meta: the add-on's own state (:class:`RequestState`); private
STATE: Final = "_captcha"

#: what Clearance.apply changed, to take it off again (see clearance.Undo)
Undo = dict[str, dict[str, Any]]


@dataclass
class RequestState:
    """What the add-on knows about one request. Picklable (JOBDIR)."""

    #: solves this request has waited for (flights that landed)
    attempts: int = 0
    #: USD of the solves it waited for (shared with the requests that waited with it)
    cost: float = 0.0
    #: task id and challenge variant of the last flight it waited on
    last_task: str | int | None = None
    variant: str | None = None
    #: key of the flight to park this request on, once the scheduler sees it
    park: str | None = None
    #: its id on this worker's Redis shelf while parked (a shared queue: ``_shelf``)
    shelved: str | None = None
    #: the (domain, proxy) it goes through, known at 760
    route: Route | None = None
    #: (clearance id, task id) of the clearance it carries
    applied: tuple[str, str | int | None] | None = None
    #: the store key of that clearance and the wall it is for (``cloudflare``,
    #: ``aws_waf``, ``datadome``, ``incapsula``)
    cleared_key: str | None = None
    cleared_kind: str | None = None
    #: the service that solved that clearance
    solver: str | None = None
    #: how to take that clearance off again (a retry or redirect may change route)
    undo: Undo | None = None
    #: the add-on set ``dont_cache`` (a challenge page): not the spider's choice
    set_dont_cache: bool = False
    #: moved to CAPTCHA_PROXY after a challenge without a proxy
    rerouted: bool = False
    #: a carrier: id of the widget/image job it waits for
    job: str | None = None
    #: a form submission waiting for the token to fill in: id of its fill job
    fill: str | None = None
    #: the widget of that form (a plain dict: it must pickle for JOBDIR)
    fill_widget: dict[str, Any] | None = field(default=None, repr=False)
    #: a form submission whose token the add-on filled in (never filled twice)
    filled: bool = False
    #: a gate response replayed to its request
    replay: bool = False
    #: a gate submission: {"kind", "task_id"}
    submitted: dict[str, Any] | None = None
    #: the add-on's own fetch of a captcha image
    aux: bool = False
    #: a request of the add-on's own (image fetch, gate submission), judged by the
    #: outbound policy at every hop: {"page", "internal", "kind", "last", "cookies_off"}
    outbound: dict[str, Any] | None = None
    #: cookies sent on a page's behalf, on the Cookie header at 760, never into the jar:
    #: {"host": page host, "cookies": {...} (same host only), "extra": {...} (always)}
    session: dict[str, Any] | None = field(default=None, repr=False)
    #: (kind, reason) of a give-up on this very trip: the spider middleware turns the
    #: response into a ``CaptchaUnsolved`` failure (never carried to a copy)
    unsolved: tuple[str, str] | None = None
    #: what the clearance put on at 760 (User-Agent, cookies, proxy), to tell what
    #: changed after it when the site challenges the request anyway
    sent: dict[str, Any] | None = field(default=None, repr=False)
    #: ``id()`` of the request this state belongs to (0: not claimed yet; not pickled)
    owner: int = field(default=0, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "owner": 0}

    def __setstate__(self, data: dict[str, Any]) -> None:
        # (a state pickled by an older version, JOBDIR, lacks the fields added since)
        self.__dict__.update({f.name: f.default for f in fields(self) if f.default is not MISSING})
        self.__dict__.update(data)

    @staticmethod
    def of(request: Request) -> RequestState:
        """The request's state, created on first use."""
        state = RequestState.peek(request)
        if state is None:
            state = request.meta[STATE] = RequestState(owner=id(request))
        return state

    @staticmethod
    def peek(request: Request) -> RequestState | None:
        """The request's own state, if it has one. A state met on another request's meta
        (a retry or redirect copy, or a spider's ``meta=response.meta``) is copied as for
        a re-issue, so requests in flight together never share one."""
        state = request.meta.get(STATE)
        if not isinstance(state, RequestState):
            return None
        if state.owner != id(request):
            if state.owner:
                state = request.meta[STATE] = state.for_reissue()
            state.owner = id(request)
        return state

    def for_reissue(self) -> RequestState:
        """For the same request sent again: its history (attempts, the clearance to take
        off, whether it was rerouted) stays; what belonged to one trip does not."""
        return RequestState(
            attempts=self.attempts,
            cost=self.cost,
            last_task=self.last_task,
            variant=self.variant,
            undo=self.undo,
            rerouted=self.rerouted,
            submitted=self.submitted,
            outbound=self.outbound,
        )

    def for_new_request(self) -> RequestState:
        """For a brand-new request made from this one (a gate submission): the attempts
        carry over, nothing that belongs to the old request's route does."""
        return replace(self.for_reissue(), undo=None, rerouted=False, outbound=None)


def reissue(request: Request, attempts: int | None = None) -> Request:
    """The same request, to be sent again (``dont_filter``); a ``dont_cache`` the add-on
    set on a challenge page is lifted."""
    state = RequestState.peek(request)
    copy = request.replace(dont_filter=True)
    new = state.for_reissue() if state is not None else RequestState()
    if state is not None and state.set_dont_cache:
        copy.meta.pop("dont_cache", None)
    if attempts is not None:
        new.attempts = attempts
    copy.meta[STATE] = new
    return copy


def refetch_uncached(request: Request) -> Request:
    """A challenge or gate served by HttpCache: solving it would be paid for and then
    served again from the cache. Fetch afresh, bypassing the cache from now on."""
    copy = reissue(request)
    copy.meta["dont_cache"] = True
    return copy


def options(request: Request) -> dict[str, Any]:
    """``meta["captcha"]``, or an empty dict when absent or not a dict."""
    opts = request.meta.get(META_OPTIONS)
    return opts if isinstance(opts, dict) else {}


def cleared_result(state: RequestState) -> dict[str, Any]:
    """``meta["captcha_result"]`` of a page that got through with a wall's clearance;
    ``cost`` is what this page waited for: the solve (shared by every request that waited
    for it), nothing for a clearance reused."""
    assert state.applied is not None
    from_cache = state.attempts == 0
    return {
        "kind": state.cleared_kind or "cloudflare",
        **({"variant": state.variant} if state.variant is not None else {}),
        "solved": True,
        "from_cache": from_cache,
        "task_id": state.applied[1],
        "provider": state.solver,
        "cost": round(state.cost, 6),
        "attempts": state.attempts,
    }
