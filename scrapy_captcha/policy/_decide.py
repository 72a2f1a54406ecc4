"""What to do with a response of a Cloudflare-protected route: a pure decision table.

The Cloudflare flow gathers the facts (detection, the request's state, the provider's and
the route's condition) and acts on the answer; keeping the decision itself a pure
function of those facts makes every branch testable from a table
(``tests/test_decide.py``), without a crawl.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    #: no challenge: pass the response on (to the gate flow)
    PASS = "pass"
    #: give up on this request: the response goes to the spider unsolved (``reason``)
    GIVE_UP = "give_up"
    #: a challenge served from HttpCache: fetch afresh, bypassing the cache
    REFETCH = "refetch"
    #: no proxy, but CAPTCHA_PROXY can take the domain: re-send through it
    REROUTE = "reroute"
    #: look the route up in the store: a fresher clearance may have landed meanwhile
    CHECK_STORE = "check_store"
    #: a fresher clearance landed while this request was on the wire: send it again
    REISSUE = "reissue"
    #: a solve of this route is pending: park the request on it
    JOIN = "join"
    #: start a solve for this route (budget permitting), then park on it
    SOLVE = "solve"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the decision depends on; each field is cheap for the flow to know."""

    challenged: bool
    solvable: bool = True
    from_cache: bool = False
    attempts: int = 0
    max_attempts: int = 3
    #: why the provider cannot be used (``bad_provider``, a disabled account), or None
    unavailable: str | None = None
    has_proxy: bool = True
    can_reroute: bool = False
    #: why the provider rejected this very task before, or None
    rejected: str | None = None
    flight_pending: bool = False


def decide(f: Facts) -> Decision:
    """The first decision, before the clearance store is asked anything."""
    if not f.challenged:
        return Decision(Action.PASS)
    if not f.solvable:
        return Decision(Action.GIVE_UP, "blocked")
    if f.from_cache:
        return Decision(Action.REFETCH)
    if f.attempts >= f.max_attempts:
        return Decision(Action.GIVE_UP, "max_attempts")
    if f.unavailable is not None:
        return Decision(Action.GIVE_UP, f.unavailable)
    if not f.has_proxy:
        if f.can_reroute:
            return Decision(Action.REROUTE)
        return Decision(Action.GIVE_UP, "no_proxy")
    if f.rejected is not None:
        return Decision(Action.GIVE_UP, f.rejected)
    if f.flight_pending:
        return Decision(Action.JOIN)
    return Decision(Action.CHECK_STORE)


def decide_after_store(*, fresher_clearance: bool, flight_pending: bool) -> Decision:
    """After the store was asked (which may really await, letting another response of
    the route start a flight meanwhile)."""
    if fresher_clearance:
        return Decision(Action.REISSUE)
    if flight_pending:
        return Decision(Action.JOIN)
    return Decision(Action.SOLVE)
