"""The walls beyond Cloudflare (AWS WAF, DataDome, Imperva, Akamai...), once detected.

Another vendor's wall is never a Cloudflare solve, and never a widget to pay for (the gate
flow does not look at a wall page, even one that embeds a reCAPTCHA): a block is reported,
counted per vendor (``captcha/wall/<vendor>``) and given up as ``blocked``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._challenge import Challenge
    from scrapy_captcha._context import Context


def other_wall(
    ctx: Context, request: Request, response: Response, challenge: Challenge
) -> Response:
    """Give the request up on a wall of another vendor than Cloudflare."""
    ctx.inc(f"wall/{challenge.vendor}")
    reason = "no_task" if challenge.solvable else "blocked"
    ctx.log.info(
        "%s wall (%s) on %s: %s", challenge.vendor, challenge.variant, request.url, reason
    )
    ctx.give_up(request, challenge.kind, reason, variant=challenge.variant, response=response)
    return response
