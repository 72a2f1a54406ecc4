"""An emulated captcha-widget token service (what Google, Cloudflare and hCaptcha run).

One :class:`WidgetAuthority` is shared by the site emulator (which embeds widgets and checks
the tokens posted back, like ``siteverify``) and the solver emulator (which mints tokens, as a
real solver's workers earn them). Tokens are opaque, single use and expire; image captchas
are real PNG files whose answers only the authority knows.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import struct
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = [
    "IMAGE_ALPHABET",
    "KINDS",
    "Minted",
    "Verdict",
    "WidgetAuthority",
    "WidgetError",
    "png_grayscale",
]

#: Widget kinds the authority issues site keys for.
KINDS = (
    "turnstile",
    "recaptcha_v2",
    "recaptcha_v3",
    "hcaptcha",
    "geetest_v4",
    "mtcaptcha",
    "friendly_captcha",
)
#: GeeTest v4's answer fields (``captcha_output`` is the token)
GEETEST_FIELDS = ("captcha_id", "lot_number", "pass_token", "gen_time", "captcha_output")
#: Characters of image-captcha answers (no 0/O, 1/I look-alikes, as real captchas do).
IMAGE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
IMAGE_SIZE = (120, 40)
MAX_TOKENS = 20_000
MAX_IMAGES = 20_000
_KEY_CHARS = string.ascii_letters + string.digits + "_-"


class WidgetError(Exception):
    """A request the token service refuses (unknown site key, key of another kind)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass(frozen=True)
class Minted:
    """A freshly minted token and what must travel with it."""

    token: str
    resp_key: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    #: GeeTest v4's five fields (``captcha_output`` is the token)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The answer of ``verify``: ``ok`` and why (``reason``), plus the token's action/cdata."""

    ok: bool
    reason: str
    action: str | None = None
    cdata: str | None = None


@dataclass(frozen=True)
class _Key:
    kind: str
    invisible: bool
    enterprise: bool
    resp_key: bool
    v3_cookie: bool


@dataclass
class _Token:
    sitekey: str
    kind: str
    page_url: str
    action: str | None
    cdata: str | None
    invisible: bool
    enterprise: bool
    resp_key: str | None
    cookie: str | None
    expires_at: float
    used: bool = False
    #: solved on the page itself (a worker's browser ran the widget as the site renders
    #: it): the token carries the page's own action, whatever the site checks
    on_page: bool = False


def png_grayscale(width: int, height: int, pixels: bytes) -> bytes:
    """Encode 8-bit grayscale ``pixels`` (row-major, ``width * height`` bytes) as a PNG."""
    if len(pixels) != width * height:
        raise ValueError("pixels must hold width * height bytes")

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def _noise_image() -> bytes:
    """A light noisy background with a few dark strokes: unique bytes on every call."""
    width, height = IMAGE_SIZE
    noise = secrets.token_bytes(width * height)
    pixels = bytearray(160 + b % 96 for b in noise)
    for _ in range(5):
        y = 8 + secrets.randbelow(height - 16)
        x0 = secrets.randbelow(width // 2)
        for x in range(x0, min(width, x0 + 20 + secrets.randbelow(40))):
            pixels[y * width + x] = secrets.randbelow(60)
    return png_grayscale(width, height, bytes(pixels))


class WidgetAuthority:
    """Site keys, token minting and verification, and image captchas; thread-safe."""

    def __init__(self) -> None:
        #: Token lifetimes in seconds (shorten them in tests).
        self.recaptcha_lifetime = 120.0
        self.hcaptcha_lifetime = 120.0
        self.turnstile_lifetime = 300.0
        self.max_tokens = MAX_TOKENS
        self.max_images = MAX_IMAGES
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._tokens: OrderedDict[str, _Token] = OrderedDict()
        self._images: OrderedDict[str, str] = OrderedDict()
        self._sessions: OrderedDict[str, str] = OrderedDict()

    # Site keys ----------------------------------------------------------------------------

    def register(
        self,
        kind: str,
        *,
        invisible: bool = False,
        enterprise: bool = False,
        resp_key: bool = False,
        v3_cookie: bool = False,
    ) -> str:
        """A new site key in the real format of ``kind``, remembered with its options."""
        if kind not in KINDS:
            raise ValueError(f"unknown widget kind {kind!r}; expected one of {KINDS}")
        if v3_cookie and kind != "recaptcha_v3":
            raise ValueError("v3_cookie applies to recaptcha_v3 keys only")
        info = _Key(kind, invisible, enterprise, resp_key, v3_cookie)
        with self._lock:
            while True:
                if kind == "turnstile":
                    key = "0x4AAAAAAA" + _random_chars(14)
                elif kind == "hcaptcha":
                    key = str(uuid.uuid4())
                elif kind == "geetest_v4":
                    key = secrets.token_hex(16)
                elif kind == "mtcaptcha":
                    key = "MTPublic-" + "".join(secrets.choice(IMAGE_ALPHABET) for _ in range(9))
                elif kind == "friendly_captcha":
                    key = "FC" + "".join(secrets.choice(IMAGE_ALPHABET) for _ in range(14))
                else:
                    key = "6L" + _random_chars(38)
                if key not in self._keys:
                    self._keys[key] = info
                    return key

    def kind_of(self, sitekey: str) -> str | None:
        """The kind a site key was registered for, or None for an unknown key."""
        with self._lock:
            info = self._keys.get(sitekey)
        return info.kind if info else None

    def check_sitekey(self, kind: str, sitekey: str) -> None:
        """Raise ``WidgetError`` unless ``sitekey`` is a registered key of ``kind``.

        The solver emulator calls this at createTask, as real providers reject bad keys
        before queueing the task."""
        code = "ERROR_WRONG_GOOGLEKEY" if kind.startswith("recaptcha") else "ERROR_WRONG_SITEKEY"
        with self._lock:
            info = self._keys.get(sitekey)
        if info is None:
            raise WidgetError(code, f"site key {sitekey!r} is not registered")
        if info.kind != kind:
            raise WidgetError(code, f"site key {sitekey!r} is a {info.kind} key, not {kind}")

    # Tokens -------------------------------------------------------------------------------

    def lifetime(self, kind: str) -> float:
        if kind == "turnstile":
            return float(self.turnstile_lifetime)
        if kind == "hcaptcha":
            return float(self.hcaptcha_lifetime)
        return float(self.recaptcha_lifetime)

    def mint(
        self,
        kind: str,
        sitekey: str,
        *,
        page_url: str,
        action: str | None = None,
        cdata: str | None = None,
        invisible: bool = False,
        enterprise: bool = False,
        on_page: bool = False,
    ) -> Minted:
        """Issue a token for ``sitekey`` as a browser that solved the widget would get it
        (``on_page``: on the page itself, so with the page's own action)."""
        self.check_sitekey(kind, sitekey)
        with self._lock:
            info = self._keys[sitekey]
        if kind == "recaptcha_v3" and action is None:
            action = "verify"  # what providers send when no pageAction is given
        fields: dict[str, str] = {}
        if kind == "turnstile":
            token = "0." + secrets.token_urlsafe(250)
        elif kind == "hcaptcha":
            token = "P1_" + secrets.token_urlsafe(600)
        elif kind == "geetest_v4":
            token = secrets.token_hex(64)
            fields = {
                "captcha_id": sitekey,
                "lot_number": secrets.token_hex(16),
                "pass_token": secrets.token_hex(32),
                "gen_time": str(int(time.time())),
                "captcha_output": token,
            }
        elif kind == "mtcaptcha":
            parts = (secrets.token_hex(4), secrets.token_hex(4), sitekey, secrets.token_hex(40))
            token = "v1(" + ",".join(parts) + ")"
        elif kind == "friendly_captcha":
            token = secrets.token_hex(48) + "." + secrets.token_urlsafe(120)
        else:
            token = "03A" + secrets.token_urlsafe(400)
        resp_key = secrets.token_hex(16) if info.resp_key else None
        cookie = secrets.token_urlsafe(32) if info.v3_cookie else None
        record = _Token(
            sitekey=sitekey,
            kind=kind,
            page_url=page_url,
            action=action,
            cdata=cdata,
            invisible=invisible,
            enterprise=enterprise,
            resp_key=resp_key,
            cookie=cookie,
            expires_at=time.monotonic() + self.lifetime(kind),
            on_page=on_page,
        )
        with self._lock:
            self._tokens[token] = record
            while len(self._tokens) > self.max_tokens:
                self._tokens.popitem(last=False)
        cookies = {"_GRECAPTCHA": cookie} if cookie is not None else {}
        return Minted(token=token, resp_key=resp_key, cookies=cookies, fields=fields)

    def verify(
        self,
        token: str,
        sitekey: str,
        *,
        action: str | None = None,
        resp_key: str | None = None,
        cookie: str | None = None,
    ) -> Verdict:
        """What ``siteverify`` answers; the first verify consumes the token, pass or fail."""
        if not token:
            return Verdict(False, "missing")
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return Verdict(False, "unknown")
            used, record.used = record.used, True
            key = self._keys.get(record.sitekey)

        def fail(reason: str) -> Verdict:
            return Verdict(False, reason, record.action, record.cdata)

        if used:
            return fail("reused")
        if time.monotonic() >= record.expires_at:
            return fail("expired")
        if record.sitekey != sitekey or key is None:
            return fail("wrong_sitekey")
        if record.invisible != key.invisible or record.enterprise != key.enterprise:
            return fail("wrong_type")
        if action is not None and record.action != action and not record.on_page:
            return fail("wrong_action")
        if key.resp_key and (resp_key is None or resp_key != record.resp_key):
            return fail("wrong_resp_key")
        if key.v3_cookie and (cookie is None or cookie != record.cookie):
            return fail("missing_cookie")
        return Verdict(True, "ok", record.action, record.cdata)

    # Image captchas -----------------------------------------------------------------------

    def new_image(self, session: str) -> bytes:
        """A fresh PNG whose answer becomes ``session``'s current one (replacing the last)."""
        answer = "".join(secrets.choice(IMAGE_ALPHABET) for _ in range(5))
        png = _noise_image()
        digest = hashlib.sha256(png).hexdigest()
        with self._lock:
            self._images[digest] = answer
            while len(self._images) > self.max_images:
                self._images.popitem(last=False)
            self._sessions.pop(session, None)
            self._sessions[session] = answer
            while len(self._sessions) > self.max_images:
                self._sessions.popitem(last=False)
        return png

    def read_image(self, png: bytes) -> str | None:
        """The emulated solver's "OCR": the answer of an image this authority drew."""
        digest = hashlib.sha256(png).hexdigest()
        with self._lock:
            return self._images.get(digest)

    def check_image(self, session: str, answer: str) -> bool:
        """Case-insensitive check against the session's current answer; single use."""
        with self._lock:
            expected = self._sessions.pop(session, None)
        return (
            expected is not None
            and bool(answer)
            and secrets.compare_digest(answer.upper().encode(), expected.encode())
        )


def _random_chars(n: int) -> str:
    return "".join(secrets.choice(_KEY_CHARS) for _ in range(n))
