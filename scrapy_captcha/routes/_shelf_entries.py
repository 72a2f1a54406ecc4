"""Shelf entries: a parked request as Redis keeps it, and never trusted when read back.

Why: whoever can write to Redis (another tenant of a shared Redis, a leaked password)
must not run code in a worker, nor read the credentials a request carries there.

- Authenticated: ``scs1.<mac>.<body>``, the MAC an HMAC-SHA256 of the queue, the park id
  and the body under a key the workers derive from their shared secret (the solver API
  keys, as ``_routes.route_secret``): Redis never holds it. The MAC is checked before
  anything of the body is decoded; an entry moved to another queue or id fails it.
- Data only where the request allows it: the body is JSON (bytes, tuples and dicts with
  other keys tagged). A request whose meta or ``cb_kwargs`` hold other objects is pickled,
  which is only ever unpickled once authenticated; with a data-only
  ``SCHEDULER_SERIALIZER`` (the user chose no pickle for the queue) it is not shelved.
- No secrets at rest: ``Authorization`` and ``Proxy-Authorization`` are sealed (AES-GCM,
  another derived key) so the worker that takes the request over sends exactly what the
  dead one would (the proxy password HttpProxyMiddleware moved out of ``meta["proxy"]``
  cannot be rebuilt otherwise); ``Cookie`` is dropped (CookiesMiddleware rebuilds it from
  the jar); the clearance is taken off and the route forgotten (760 looks them up again);
  the page session of a gate submission is sealed too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import pickle
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from scrapy.utils.request import request_from_dict

from scrapy_captcha._state import STATE, RequestState
from scrapy_captcha.routes.clearance import undo_clearance

if TYPE_CHECKING:
    from scrapy import Request, Spider

FORMAT: Final = "scs1"
#: the largest entry written or read (a request with a bigger body waits in memory only)
MAX_ENTRY_BYTES: Final = 1024 * 1024
_SEALED: Final = (b"authorization", b"proxy-authorization")
_DROPPED: Final = (b"cookie",)
#: state fields that belong to one trip through one worker: never shelved
_TRIP_ONLY: Final = frozenset({"route", "applied", "undo", "session", "owner", "park", "shelved"})
#: SCHEDULER_SERIALIZER modules that serialise data only (no code runs when loading)
DATA_ONLY_SERIALIZERS: Final = frozenset(
    {"json", "ujson", "orjson", "simplejson", "rapidjson", "msgpack", "ormsgpack", "umsgpack"}
)


class Unauthenticated(ValueError):
    """Not an entry this crawl's workers wrote (unknown format, wrong MAC, too big)."""


class NotData(ValueError):
    """A value JSON cannot carry as data."""


class ShelfKeys:
    """The keys of one queue's shelf entries, derived from the workers' shared secret."""

    def __init__(self, secret: bytes, queue: str) -> None:
        self.queue = queue
        self._mac = hmac.new(secret, b"scrapy-captcha shelf mac", hashlib.sha256).digest()
        self._seal = AESGCM(
            hmac.new(secret, b"scrapy-captcha shelf seal", hashlib.sha256).digest()
        )

    def __repr__(self) -> str:
        return f"<ShelfKeys {self.queue!r}>"

    def mac(self, park_id: str, body: str) -> str:
        msg = f"{FORMAT}|{self.queue}|{park_id}|".encode() + body.encode()
        return base64.urlsafe_b64encode(hmac.new(self._mac, msg, hashlib.sha256).digest()).decode()

    def seal(self, park_id: str, data: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(
            nonce + self._seal.encrypt(nonce, data, self._aad(park_id))
        ).decode()

    def unseal(self, park_id: str, text: str) -> bytes:
        raw = base64.b64decode(text, validate=True)
        return self._seal.decrypt(raw[:12], raw[12:], self._aad(park_id))

    def _aad(self, park_id: str) -> bytes:
        return f"{FORMAT}|{self.queue}|{park_id}".encode()


def pickle_allowed(serializer: Any) -> bool:
    """False when the user's SCHEDULER_SERIALIZER is a known data-only one."""
    name = serializer if isinstance(serializer, str) else getattr(serializer, "__name__", "")
    return str(name or "").rsplit(".", 1)[-1] not in DATA_ONLY_SERIALIZERS


# -- data: JSON with bytes, tuples and other dict keys tagged ------------------------------


def to_data(value: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise NotData("nested too deep")
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotData("not a finite number")
        return value
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [to_data(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"$t": [to_data(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: to_data(v, depth + 1) for k, v in value.items()}
        return {"$d": [[to_data(k, depth + 1), to_data(v, depth + 1)] for k, v in value.items()]}
    raise NotData(type(value).__name__)


def from_data(value: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise ValueError("nested too deep")
    if isinstance(value, list):
        return [from_data(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$b":
            return base64.b64decode(inner, validate=True)
        if tag == "$t":
            return tuple(from_data(v, depth + 1) for v in inner)
        if tag == "$d":
            return {from_data(k, depth + 1): from_data(v, depth + 1) for k, v in inner}
    return {k: from_data(v, depth + 1) for k, v in value.items()}


# -- entries ---------------------------------------------------------------------------------


def encode(
    request: Request, spider: Spider | None, keys: ShelfKeys, park_id: str, *, pickle_ok: bool
) -> str:
    """The shelf entry of a parked request (ValueError/TypeError/pickle errors when it
    cannot be kept: the caller keeps it in memory only)."""
    copy = request.replace(headers=request.headers.copy())
    state = RequestState.peek(request)
    if state is not None and state.undo:
        undo_clearance(copy, state.undo)  # (760 applies the route's clearance again)
    d = copy.to_dict(spider=spider)
    secrets: dict[str, Any] = {}
    headers = d.get("headers") or {}
    for name in list(headers):
        lower = bytes(name).lower()
        if lower in _SEALED:
            secrets.setdefault("headers", {})[name] = headers.pop(name)
        elif lower in _DROPPED:
            del headers[name]
    meta = d["meta"] = dict(d.get("meta") or {})
    if state is not None:
        kept = {f.name: getattr(state, f.name) for f in fields(state) if f.name not in _TRIP_ONLY}
        meta[STATE] = {"$state": kept}
        if state.session:
            secrets["session"] = state.session
    entry: dict[str, Any] = {}
    try:
        entry["r"] = to_data(d)
    except NotData:
        if not pickle_ok:
            raise
        entry["p"] = base64.b64encode(pickle.dumps(d, protocol=4)).decode()
    if secrets:
        entry["s"] = keys.seal(park_id, json.dumps(to_data(secrets)).encode())
    body = json.dumps(entry, separators=(",", ":"), allow_nan=False)
    blob = f"{FORMAT}.{keys.mac(park_id, body)}.{body}"
    if len(blob) > MAX_ENTRY_BYTES:
        raise ValueError(f"over {MAX_ENTRY_BYTES} bytes")
    return blob


def decode(blob: str, spider: Spider | None, keys: ShelfKeys, park_id: str) -> Request:
    """The request of an entry. Unauthenticated unless this queue's workers wrote it for
    this park id (checked before anything is decoded); ValueError if malformed."""
    if len(blob) > MAX_ENTRY_BYTES:
        raise Unauthenticated("too big")
    fmt, _, rest = blob.partition(".")
    mac, _, body = rest.partition(".")
    if fmt != FORMAT or not hmac.compare_digest(mac.encode(), keys.mac(park_id, body).encode()):
        raise Unauthenticated("not written by this crawl's workers")
    try:  # (authenticated: written by a worker of this crawl, yet checked as data)
        entry = json.loads(body)
        if "r" in entry:
            d = from_data(entry["r"])
        else:
            d = pickle.loads(base64.b64decode(entry["p"], validate=True))
        secrets = from_data(json.loads(keys.unseal(park_id, entry["s"]))) if "s" in entry else {}
        headers = d.setdefault("headers", {})
        headers.update(secrets.get("headers") or {})
        meta = d.get("meta") or {}
        kept = meta.get(STATE)
        if isinstance(kept, dict) and isinstance(kept.get("$state"), dict):
            known = {f.name for f in fields(RequestState)}
            state = RequestState(**{k: v for k, v in kept["$state"].items() if k in known})
            state.session = secrets.get("session")
            meta[STATE] = state
        return request_from_dict(d, spider=spider)
    except Exception as exc:
        raise ValueError(f"malformed entry ({type(exc).__name__})") from None
