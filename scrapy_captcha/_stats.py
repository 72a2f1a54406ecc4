"""Every stat the add-on sets, with its meaning: the source of the stats reference in the
docs.

Why a table apart from the code that counts: a stat is set in many places (the flows, the
services, the stores), and a user reads them in one list. ``tests/test_docs.py`` reads the
package's source and fails when a stat is set that is not listed here, or listed here and
never set, so the list cannot drift from the code.

Names are without the ``captcha/`` prefix every stat has; ``<...>`` stands for a part
that varies (a kind, a reason, a service name). Every value is a number.
"""

from __future__ import annotations

from typing import Final

STATS: Final[dict[str, str]] = {
    # -- what pages met, and how they ended
    "detected/<kind>": "Responses on which a wall or captcha of that kind was found "
    "(``cloudflare``, ``cloudflare_block``, ``turnstile``, ``recaptcha_v2``, ``image``, "
    "``aws_waf``, ...).",
    "passed/<kind>": "Responses that got past a wall or captcha of that kind: a page served "
    "with a clearance, the page behind a submitted gate, a filled form's answer.",
    "unsolved/<reason>": "Pages the add-on could not get past, by give-up reason: each "
    "goes to its request's errback as ``CaptchaUnsolved`` (or to the callback, when "
    "handled).",
    "skipped/<reason>": "Pages with a captcha the add-on leaves to the spider "
    "(``needs_input``, ``not_a_gate``, ``no_form``): ordinary pages for the callback.",
    "unsolved_ignored": "Given-up pages whose request had no errback: ignored, as Scrapy "
    "ignores an ``HttpError`` nobody handles.",
    "bad_options": "Requests failed before anything was paid for because their "
    '``meta["captcha"]`` was not what the add-on takes (``BadCaptchaOptions``).',
    "wall/<vendor>": "Responses behind another vendor's wall than Cloudflare's (AWS WAF, "
    "DataDome, Akamai, ...), by vendor.",
    "rechallenged/altered": "Requests challenged although they carried a clearance, because "
    "their User-Agent, cookies or proxy changed after ``ClearanceMiddleware`` (760).",
    # -- solves
    "solved/<kind>": "Solves that landed, by kind.",
    "solved_by/<service>": "Solves that landed, by the service that solved them.",
    "failed/<reason>": "Solves that failed, by reason (``unsolvable``, ``timeout``, "
    "``bad_key``, ``malformed_reply``, ``image_fetch``, ``internal``, ...).",
    "submitted/<kind>": "Gate forms the add-on submitted with a solved token or answer.",
    "filled/<kind>": "The spider's own form submissions the add-on filled a token into "
    "(fill on submit).",
    "solve_seconds": "Seconds spent in solves, in all.",
    "solver/<method>": "Calls to the services' API, by method (``createTask``, "
    "``getTaskResult``, ``getBalance``, a report method...).",
    "failover": "Solves moved to the next service of ``CAPTCHA_PROVIDERS``.",
    "refused_kind/<service>": "Task kinds a service refused for good (its error says it "
    "will never take them): the next service of the chain takes them.",
    "reported/<service>": "Results the site refused, reported to the service (a refund, "
    "where the service gives one).",
    "reported/none/<service>": "Results the site refused that the service has no report "
    "endpoint for.",
    "task/unsent_field": "Widget fields left out of a task because the service documents "
    "no field for them (one warning per service and field).",
    "token/proxy_bound": "Token tasks sent bound to the request's proxy "
    "(``CAPTCHA_TOKEN_PROXY``).",
    "proxy/resolved": "Proxy host names resolved to an address for a service that takes "
    "only IP addresses.",
    "reply/dropped_field": "Solver reply fields that cannot go on a request (not an HTTP "
    "token, not latin-1, too long): left out.",
    "user_agent/read": "Reads of a service's current User-Agent (CapMonster publishes it).",
    "user_agent/fallback": "Times that User-Agent could not be read: the last one read, or "
    "the profile's own, was used.",
    "user_agent/refreshed": "Tasks refused for an outdated User-Agent, sent again with the "
    "service's current one.",
    # -- money
    "tasks": "Solver tasks created (a task counts when its ``createTask`` is sent).",
    "cost": "USD spent on solves, in all.",
    "cost/<service>": "USD spent on solves, by service.",
    "budget/refused": "Solves not started because ``CAPTCHA_MAX_SOLVES`` or "
    "``CAPTCHA_MAX_COST`` is reached.",
    "balance": "The balance (USD) of the first account of the chain, last read.",
    "balance/<service>": "The balance (USD) of each account of the chain, last read.",
    "disabled/<reason>": "Solver accounts disabled for the rest of the crawl, by reason "
    "(``bad_key``, ``zero_balance``, ``no_api_key``, ``unreachable``, ...).",
    # -- clearances and stores
    "cache/hit": "Requests sent with a stored clearance (the re-sends after a solve included).",
    "cache/invalidated": "Clearances dropped from the store because the site challenged "
    "them again.",
    "http_cache_bypassed": "Challenge or gate pages served from Scrapy's HTTP cache, fetched "
    "afresh instead.",
    "http_cache_stored": "Pages behind a gate stored in Scrapy's HTTP cache under the "
    "request that met the gate, so a re-run is served them without paying again.",
    "image/not_found": 'Pages on which ``meta["captcha"]["image"]["selector"]`` matched no '
    "image (after the first, which is logged).",
    "store/evicted": "Clearances a memory or file store dropped at "
    "``CAPTCHA_CACHE_MAX_ENTRIES`` (least recently used first).",
    "store/skipped": "Unreadable lines of the file store's journal, skipped at start.",
    "store/fallback": "Times Redis became unavailable and the store fell back to this "
    "process's memory.",
    "store/recovered": "Times Redis came back and the store was shared again.",
    "store/unreadable": "Clearance entries in Redis of the wrong shape: ignored, the route "
    "solved again.",
    # -- several processes (Redis)
    "shared/waited": "Solves that landed with a clearance another process solved.",
    "shared/lease_taken_over": "Solve leases that ended without a clearance (their holder "
    "died or failed), after which this process solved.",
    "shared/task_resumed": "Tasks of a process that stopped, polled by this one instead of "
    "paying for a new one.",
    "shared/resume_failed": "Such tasks that could not be resumed (unknown to the service, "
    "too old, another chain): solved afresh.",
    # -- requests waiting for a solve
    "parked": "Requests parked until the solve of their route or widget lands (no "
    "downloader slot held).",
    "dropped_on_close": "Requests still waiting for a solve when the spider closed, "
    "dropped like requests left in the scheduler.",
    "requeued_on_close": "Requests waiting for a solve when a JOBDIR job paused, put back "
    "into the job's queue.",
    "parked/recovered": "Requests of a dead or stopped worker's shelf put back in the "
    "shared queue.",
    "parked/left_shelved": "Requests waiting for a solve left on this worker's shelf as it "
    "stopped, for another worker (or the next run).",
    "parked/unshelvable": "Waiting requests that cannot be kept in Redis (their meta holds "
    "objects the data-only serializer cannot take): kept in memory only.",
    "parked/redis_unavailable": "Waiting requests kept in memory only because Redis was down.",
    "parked/unauthenticated": "Shelf entries whose MAC did not check: skipped and deleted.",
    "parked/unreadable": "Authenticated shelf entries that could not be decoded: skipped "
    "and deleted.",
    "parked/oversized": "Shelf entries over 1 MiB: deleted inside Redis, never read.",
}
