"""Cookie text in its three shapes, parsed in one place: a ``Cookie`` request header, a
``Set-Cookie`` response header, and whatever a solver returns (object, list or string)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _pairs(text: str, *, strip: bool) -> Iterable[tuple[str, str]]:
    # A plain split, not http.cookies: SimpleCookie drops a whole string over one value
    # it finds irregular (a space, say), and solvers and sites send raw values.
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if strip:
            name, value = name.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
        if sep and name:
            yield name, value


def parse_cookie_header(header: bytes | None) -> dict[str, str]:
    """``a=b; c=d`` as sent on a request, values kept byte for byte."""
    return dict(_pairs(header.decode("latin-1"), strip=False)) if header else {}


def format_cookie_header(jar: Mapping[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def apply_set_cookies(cookies: dict[str, str], set_cookies: Iterable[bytes]) -> dict[str, str]:
    """``cookies`` updated by a response's ``Set-Cookie`` headers, as a browser keeps them
    for the page's host (an expired cookie, ``Max-Age=0``, is removed)."""
    for raw in set_cookies:
        first, *attrs = raw.decode("latin-1").split(";")
        name, sep, value = first.strip().partition("=")
        if not sep or not name:
            continue
        expired = any(
            a.strip().lower().replace(" ", "") in ("max-age=0", "max-age=-1") for a in attrs
        )
        if expired:
            cookies.pop(name, None)
        else:
            cookies[name] = value.strip()
    return cookies


def parse_solver_cookies(raw: Any) -> tuple[dict[str, str], float | None]:
    """Solver cookies: an object, a list of ``{name, value, expires...}`` or ``'a=b; c=d'``.
    Also returns the expiry (epoch seconds) of ``cf_clearance`` when the reply gives it."""
    cookies: dict[str, str] = {}
    expires: float | None = None
    if isinstance(raw, Mapping):
        cookies = {str(k): str(v) for k, v in raw.items() if v is not None}
    elif isinstance(raw, list):
        for item in raw:
            if not isinstance(item, Mapping) or "name" not in item:
                continue
            name, value = str(item["name"]), str(item.get("value", ""))
            cookies[name] = value
            exp = item.get("expires", item.get("expiry", item.get("expirationDate")))
            if name == "cf_clearance" and isinstance(exp, (int, float)) and exp > 0:
                expires = float(exp)
    elif isinstance(raw, str):
        cookies = dict(_pairs(raw, strip=True))
    return cookies, expires
