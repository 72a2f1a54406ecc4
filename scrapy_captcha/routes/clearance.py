"""What a solve buys: a :class:`Clearance` (cookies, User-Agent, request headers), how it
is put on a request and taken off again.

A clearance is bound by the wall (Cloudflare, AWS WAF, DataDome, Imperva) to the exit IP
and the User-Agent of the browser that earned it, so it is stored per (domain, proxy
identity): see ``_routes.py``. It is the
value type of :class:`~scrapy_captcha.routes.store.ClearanceStore`, hence public.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from scrapy import Request

from scrapy_captcha._state import Undo
from scrapy_captcha.services._cookies import format_cookie_header, parse_cookie_header
from scrapy_captcha.services._solutions import CloudflareSolution
from scrapy_captcha.services._wire import cookie_ok, header_ok, task_id_ok, user_agent_ok

# Request headers from the solving browser (or a stored clearance) that must not be
# replayed: HTTP/2 pseudo headers are dropped separately; these are per-connection,
# per-body, credentials or managed by Scrapy.
_DROP_HEADERS = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-type",
        "cookie",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "priority",
        "user-agent",  # set from Clearance.user_agent
    }
)


def decodable_encodings() -> tuple[str, ...]:
    """Content encodings Scrapy's HttpCompressionMiddleware can really decode here."""
    found = ["gzip", "deflate"]
    for enc, modules in (("br", ("brotli", "brotlicffi")), ("zstd", ("zstandard",))):
        for module in modules:
            try:
                __import__(module)
            except ImportError:
                continue
            found.append(enc)
            break
    return tuple(found)


_DECODABLE = decodable_encodings()


def replayable(name: str) -> bool:
    """Whether a header of that name may be replayed on a request (not per-connection,
    per-body, a credential or managed by Scrapy)."""
    name = name.lower().strip()
    return bool(name) and not name.startswith(":") and name not in _DROP_HEADERS


def filter_headers(raw: Mapping[str, str]) -> dict[str, str]:
    """Request headers from a solver's reply, or from a stored clearance, minus what must
    not or cannot be replayed."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        name = name.lower().strip()
        if not replayable(name):
            continue
        if name == "accept-encoding":
            offered = [part.split(";")[0].strip().lower() for part in value.split(",")]
            kept = [enc for enc in offered if enc in _DECODABLE]
            if not kept:
                continue
            value = ", ".join(kept)
        out[name] = value
    return out


@dataclass(frozen=True)
class Clearance:
    """Cookies, User-Agent and headers that let requests through one (domain, proxy)."""

    cookies: dict[str, str] = field(repr=False)
    user_agent: str | None
    headers: dict[str, str] = field(repr=False)
    expires_at: float
    task_id: str | int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    #: the service that solved it, and what it cost (USD), when known
    provider: str | None = None
    cost: float | None = None
    #: the wall it lets through (``cloudflare``, ``aws_waf``, ``datadome``, ``incapsula``)
    kind: str = "cloudflare"

    @classmethod
    def from_solution(
        cls,
        solution: CloudflareSolution,
        *,
        ttl: float,
        task_id: str | int | None = None,
        now: float | None = None,
        provider: str | None = None,
        cost: float | None = None,
        kind: str = "cloudflare",
    ) -> Clearance:
        now = time.time() if now is None else now
        expires = now + ttl
        if solution.cookie_expires and solution.cookie_expires > now:
            expires = min(expires, solution.cookie_expires)
        # The browser's real User-Agent is the one it sent; the reply's ``user_agent``
        # field is sometimes stale, and cf_clearance is bound to what was sent.
        sent_ua = solution.request_headers.get("user-agent")
        return cls(
            cookies=dict(solution.cookies),
            user_agent=sent_ua or solution.user_agent,
            headers=filter_headers(solution.request_headers),
            expires_at=expires,
            task_id=task_id,
            created_at=now,
            provider=provider,
            cost=cost,
            kind=kind,
        )

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Clearance:
        """A clearance read back from a store; ValueError unless every field has the
        type and shape a request can carry (another process, or anyone with access to
        a shared store, may have written it). Its headers pass the filter a solver's
        reply passes (no ``Content-Length``, ``Host``, ``Cookie``, credentials...)."""
        if not isinstance(data, dict):
            raise ValueError("a clearance is a JSON object")
        cookies, headers = data.get("cookies"), data.get("headers")
        user_agent, task_id = data.get("user_agent"), data.get("task_id")
        checks = (
            isinstance(cookies, dict) and all(cookie_ok(k, v) for k, v in cookies.items()),
            isinstance(headers, dict) and all(header_ok(k, v) for k, v in headers.items()),
            user_agent is None or user_agent_ok(user_agent),
            data.get("provider") is None or isinstance(data.get("provider"), str),
            data.get("cost") is None
            or (isinstance(data.get("cost"), (int, float)) and not isinstance(data["cost"], bool)),
            task_id is None or task_id_ok(task_id),
            isinstance(data.get("kind", ""), str) and len(data.get("kind", "")) <= 32,
            isinstance(data.get("id"), str) and 0 < len(data["id"]) <= 64,
            all(
                isinstance(data.get(k, 0.0), (int, float)) and not isinstance(data.get(k), bool)
                for k in ("expires_at", "created_at")
            )
            and "expires_at" in data,
            set(data) <= {f.name for f in fields(cls)},
        )
        if not all(checks):
            raise ValueError("a clearance field has the wrong type or shape")
        assert isinstance(headers, dict)  # (checked above)
        return cls(**{**data, "headers": filter_headers(headers)})

    def apply(self, request: Request, defaults: Mapping[str, bytes] | None = None) -> Undo:
        """Put the clearance on a request that has passed the Cookies middleware.

        The User-Agent and cookies are always set: the clearance is bound to them. Other
        replayed headers replace only what is absent or still Scrapy's default
        (``defaults``): a header the spider chose, say ``Accept: application/json``,
        stays. Returns what to undo if the request later goes through another route.
        """
        defaults = defaults or {}
        undo: Undo = {"headers": {}, "added": {}, "replaced": {}}
        for name, value in self.headers.items():
            if not replayable(name):  # (a ClearanceStore of the user's own: never sent)
                continue
            current = request.headers.get(name)
            if current is not None and current != defaults.get(name):
                continue
            undo["headers"][name] = (current, value.encode("latin-1"))
            request.headers[name] = value
        if self.user_agent:
            ua = self.user_agent.encode("latin-1")
            undo["headers"]["user-agent"] = (request.headers.get("User-Agent"), ua)
            request.headers["User-Agent"] = ua
        jar = parse_cookie_header(request.headers.get("Cookie"))
        for name, value in self.cookies.items():
            if name in jar and jar[name] != value:
                undo["replaced"][name] = jar[name]
            undo["added"][name] = value
            jar[name] = value
        request.headers["Cookie"] = format_cookie_header(jar)
        return undo


def undo_clearance(request: Request, undo: Undo) -> None:
    """Take a clearance off a request (a retry, redirect or re-issue of one that carried
    it), leaving whatever was changed since by someone else alone."""
    for name, (original, applied) in undo.get("headers", {}).items():
        if request.headers.get(name) != applied:
            continue
        if original is None:
            del request.headers[name]
        else:
            request.headers[name] = original
    jar = parse_cookie_header(request.headers.get("Cookie"))
    changed = False
    for name, value in undo.get("added", {}).items():
        if jar.get(name) != value:
            continue
        changed = True
        if name in undo.get("replaced", {}):
            jar[name] = undo["replaced"][name]
        else:
            del jar[name]
    if changed:
        if jar:
            request.headers["Cookie"] = format_cookie_header(jar)
        else:
            del request.headers["Cookie"]
