"""Walls the add-on gives up on at once: the walls no service opens (PerimeterX, Akamai,
Kasada...), a banned visitor (DataDome's ``t: 'bv'``), an Imperva incident page, and
solvable walls CAPTCHA_WALLS leaves out.

None is ever paid for: not as another wall's solve, and not as the widget a block page may
embed (the gate flow does not look at a wall page). Each is counted per vendor
(``captcha/wall/<vendor>``, in the flow) and given up with its reason: ``blocked``,
``disabled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

    from scrapy_captcha._context import Context
    from scrapy_captcha.detect._challenge import Challenge


def other_wall(
    ctx: Context, request: Request, response: Response, challenge: Challenge
) -> Response:
    """Give the request up on a wall no service opens (or a variant of one that a
    service cannot open: a banned IP, an incident page)."""
    reason = "no_task" if challenge.solvable else "blocked"
    ctx.log.info(
        "%s wall (%s) on %s: %s", challenge.vendor, challenge.variant, request.url, reason
    )
    ctx.give_up(request, challenge.kind, reason, variant=challenge.variant, response=response)
    return response


def switched_off(
    ctx: Context, request: Request, response: Response, challenge: Challenge
) -> Response:
    """Give the request up on a wall CAPTCHA_WALLS does not name: reported, never paid
    for."""
    ctx.warn_once(
        f"walloff|{challenge.vendor}",
        "%s wall on %s is not in CAPTCHA_WALLS: given up as 'disabled' (further ones are "
        "counted in captcha/unsolved/disabled)",
        challenge.vendor,
        request.url,
    )
    ctx.give_up(request, challenge.kind, "disabled", variant=challenge.variant, response=response)
    return response
