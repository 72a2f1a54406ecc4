"""Request meta keys: the public ones a spider sets or reads, and the add-on's own.

Kept in one place because the manager (Cloudflare) and the gate keeper (widgets, images)
both read and strip them.
"""

from __future__ import annotations

from typing import Final

#: request meta: set True to leave a request and its response alone
META_OPT_OUT: Final = "dont_solve_captcha"
#: request meta: per-request options {"proxy", "provider", "task", "widgets", "image"}
META_OPTIONS: Final = "captcha"
#: response meta: what happened ({"kind", "solved", "task_id", "token", "reason", ...})
META_RESULT: Final = "captcha_result"

# Private keys.
ROUTE: Final = "_captcha_route"
APPLIED: Final = "_captcha_clearance"  # (clearance id, task id) of the clearance sent
SET_DONT_CACHE: Final = "_captcha_set_dont_cache"
REROUTED: Final = "_captcha_rerouted"
UNDO: Final = "_captcha_undo"  # how to take the applied clearance off again
JOB: Final = "_captcha_job"  # a carrier: id of the widget/image job it waits for
REPLAY: Final = "_captcha_replay"  # a gate response replayed to its request
SUBMITTED: Final = "_captcha_submitted"  # a gate submission: {"kind", "task_id"}
AUX: Final = "_captcha_aux"  # the add-on's own fetch of a captcha image
#: cookies sent on a page's behalf (its session, a v3 solution's cookies), put on the
#: Cookie header at 760 like a clearance, never into the shared jar:
#: {"host": page host, "cookies": {...} (same host only), "extra": {...} (always)}
SESSION: Final = "_captcha_session"
