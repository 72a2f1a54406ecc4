"""A solved gate's form, submitted as a browser would: every other field kept, the answer
in its field(s) (a token, GeeTest v4's five fields, an image's text), the page's cookies
(the jar and its own session), proxy and callbacks.

Apart from ``_gates`` so the gate flow stays the orchestration only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy_captcha._state import META_RESULT, STATE, RequestState
from scrapy_captcha.flows._forms import submission_fields, submit_form
from scrapy_captcha.policy._hops import mark

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha.flows._jobs import Job
    from scrapy_captcha.policy._outbound import Outbound


def submission(outbound: Outbound, carrier: Request, job: Job) -> Request:
    """The request that submits ``job``'s gate form, in place of ``carrier``."""
    form = job.form
    assert form is not None
    wall = job.image is not None and job.image.wall is not None
    extra: dict[str, str] = {}
    if job.token is not None:
        assert job.widget is not None
        fields = submission_fields(job.page, form, job.widget, job.token)
        extra = dict(job.token.cookies)
    else:
        assert job.image is not None and job.text is not None
        formdata = job.image_opts.get("formdata")
        fields = {
            **(formdata if isinstance(formdata, dict) else {}),
            job.image.field_name: job.text,
        }
    meta = dict(carrier.meta)
    meta.pop(META_RESULT, None)
    state = RequestState.of(carrier).for_new_request()
    met = job.request
    state.submitted = {
        "kind": job.kind,
        "task_id": job.task_id,
        "provider": job.solver,
        "cost": job.cost,
        # (the request that met the gate: HTTPCACHE stores the page behind it for it)
        "origin": (met.method, met.url, met.body.decode("latin-1")),
    }
    state.session = job.session(extra)
    meta[STATE] = state
    page = urlsplit(job.response.url)
    headers = {"Referer": job.response.url, "Origin": f"{page.scheme}://{page.netloc}"}
    proxy_auth = carrier.headers.get("Proxy-Authorization")
    if proxy_auth:
        headers["Proxy-Authorization"] = proxy_auth.decode("latin-1")
    if job.token is not None and job.token.user_agent:
        headers["User-Agent"] = job.token.user_agent  # (the one the token is bound to)
    request = submit_form(
        job.page,
        form.index,
        fields,
        headers,
        callback=carrier.callback,
        errback=carrier.errback,
        cb_kwargs=dict(carrier.cb_kwargs),
        meta=meta,
        # A gate's submission is unique (its token) and filtered as any request; a wall's
        # sends the visitor back to the page first asked for (Amazon's ``amzn-r``), which
        # the duplicate filter has seen: not filtered (the outbound policy, not the
        # offsite filter, judges its every hop, allowed_domains included).
        dont_filter=wall,
        priority=carrier.priority,
    )
    mark(state, outbound.page(job.response), job.kind)
    return request
