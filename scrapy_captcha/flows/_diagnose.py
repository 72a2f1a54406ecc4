"""Why a request that carried a clearance was challenged anyway.

A clearance is bound to the User-Agent, the cookies and the exit IP it was solved with.
ClearanceMiddleware (760) puts them on; a downloader middleware that runs after it (a
random User-Agent, a cookie or proxy rotator above 760) can change them before the request
leaves, and the site then refuses the clearance. Paying for another solve would be wasted
the same way: the flow gives up instead, and says what changed and who may have changed it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy_captcha._compat import late_middlewares
from scrapy_captcha._route import cookie_digest
from scrapy_captcha.services._cookies import parse_cookie_header

if TYPE_CHECKING:
    from scrapy import Request

    from scrapy_captcha._context import Context
    from scrapy_captcha._state import RequestState


def what_changed(request: Request, state: RequestState) -> list[str]:
    """What of the clearance put on at 760 did not leave as put on: the User-Agent, one
    of its cookies, the proxy (as the request reached the downloader)."""
    sent = state.sent
    if not sent:
        return []
    changes = []
    ua = sent.get("user_agent")
    if ua and (request.headers.get("User-Agent") or b"").decode("latin-1") != ua:
        changes.append("User-Agent")
    jar = parse_cookie_header(request.headers.get("Cookie"))
    lost = [
        name
        for name, digest in (sent.get("cookies") or {}).items()
        if name not in jar or cookie_digest(jar[name]) != digest
    ]
    if lost:
        changes.append(f"Cookie ({', '.join(lost)})")
    if request.meta.get("proxy") != sent.get("proxy"):
        changes.append("proxy")
    return changes


def explain_change(ctx: Context, route: str, changes: list[str]) -> None:
    """One WARNING per route and change: what changed after ClearanceMiddleware (760),
    and the enabled downloader middlewares that run after it (the likely culprits)."""
    late = ", ".join(f"{name} ({prio})" for name, prio in late_middlewares(ctx.crawler))
    ctx.inc("rechallenged/altered")
    ctx.warn_once(
        f"altered|{route}|{changes}",
        "%s was challenged although it carried a clearance: its %s changed after "
        "ClearanceMiddleware (760) put the clearance on, so the site refused it. A "
        "downloader middleware above 760 sets it (%s). Move it below 760, or leave these "
        "requests alone; no further solve is paid for while they leave altered.",
        route,
        " and ".join(changes),
        f"enabled above 760: {late}" if late else "none is enabled above 760 but ours",
    )
