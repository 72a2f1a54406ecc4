"""What :func:`~scrapy_captcha.detect._detection.detect` answers, and the view of a response its
detectors share.

Kept apart from the detectors so that the Cloudflare rules (``_detection.py``) and the
other walls (``_walls.py``) can both use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from scrapy.http import Headers, Response

from scrapy_captcha._kinds import WALL_OF_KIND
from scrapy_captcha.detect._cloudflare_markers import COMPRESSED_MAGIC
from scrapy_captcha.detect._encoding import is_wide, scan_bytes, sniff_encoding

#: Bytes sniffed for NULs: a NUL in a body that is not UTF-16/32 means binary data.
_BINARY_SNIFF_BYTES: Final = 512


def _no_params() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class Challenge:
    """The wall in front of a response's content.

    ``kind`` names the protection (``cloudflare``, ``cloudflare_block``, ``aws_waf``,
    ``datadome``, ``perimeterx``...: see :mod:`scrapy_captcha._kinds`); ``variant``
    refines it (Cloudflare: ``managed``, ``interactive``, ``legacy``, or a block's error
    code; others: ``challenge``, ``captcha``, ``interstitial``, ``banned``, ``block``...);
    ``solvable`` says whether a solver can help at all (blocks are only reported);
    ``params`` holds what a solver task for it needs, read from the page (script URLs,
    keys, the captcha URL...: strings only, empty when there is nothing to read).
    """

    kind: str
    variant: str
    solvable: bool
    params: Mapping[str, str] = field(default_factory=_no_params, hash=False, repr=False)

    @property
    def vendor(self) -> str:
        """The wall this is (one of :data:`~scrapy_captcha._kinds.WALLS`): what per-wall
        stats and a per-wall switch are keyed by."""
        return WALL_OF_KIND.get(self.kind, self.kind)


class ResponseView:
    """Response facts computed at most once and shared by every detector."""

    __slots__ = (
        "_host",
        "_names",
        "_raw",
        "_texts",
        "body",
        "headers",
        "response",
        "status",
        "url",
    )

    def __init__(self, response: Response) -> None:
        self.response = response
        self.status: int = response.status
        self.headers: Headers = response.headers
        self.body: bytes = response.body
        self.url: str = response.url
        self._texts: dict[int, bytes] = {}
        self._raw: dict[int, bytes] = {}
        self._names: frozenset[bytes] | None = None
        self._host: str | None = None

    @property
    def names(self) -> frozenset[bytes]:
        """Lower-cased names of the response's headers (one pass, then set lookups: what
        lets a dozen wall detectors decline an ordinary response for almost nothing)."""
        if self._names is None:
            self._names = frozenset(bytes(name).lower() for name in self.headers)
        return self._names

    @property
    def host(self) -> str:
        """The response URL's host, lower-cased (a cheap split, not a full URL parse)."""
        if self._host is None:
            rest = self.url.partition("://")[2]
            netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            self._host = netloc.rpartition("@")[2].split(":", 1)[0].lower()
        return self._host

    def raw(self, limit: int) -> bytes:
        """The first ``limit`` bytes of the body as a byte search can read them (a
        UTF-16/32 page re-encoded), case kept: for reading values."""
        text = self._raw.get(limit)
        if text is None:
            text = self._raw[limit] = scan_bytes(self.response, limit)
        return text

    def scan(self, limit: int) -> bytes:
        """Lower-cased copy of the first ``limit`` bytes of the body (a UTF-16/32 page
        re-encoded, so its markers can be found), computed once per limit."""
        text = self._texts.get(limit)
        if text is None:
            text = self._texts[limit] = self.raw(limit).lower()
        return text

    def header(self, name: bytes) -> bytes:
        """The first value of header ``name``, stripped and lower-cased (b"" if absent)."""
        value = self.headers.get(name)
        return bytes(value).strip().lower() if value else b""

    def header_values(self, name: bytes) -> list[bytes]:
        return [bytes(v).strip() for v in self.headers.getlist(name)]

    def cookie(self, name: bytes) -> str | None:
        """The value of cookie ``name`` the response sets, if it sets it."""
        for value in self.headers.getlist(b"Set-Cookie"):
            pair = bytes(value).split(b";", 1)[0]
            key, sep, cookie = pair.partition(b"=")
            if sep and key.strip().lower() == name:
                return cookie.strip().decode("latin-1")
        return None

    def is_scannable(self) -> bool:
        """True for bodies that may hold a page: not empty, text/HTML-like (or untyped), and
        not compressed or binary data that merely claims to be text."""
        if not self.body:
            return False
        content_type = self.headers.get(b"Content-Type")
        media = bytes(content_type).split(b";", 1)[0].strip().lower() if content_type else b""
        if media and not (
            media.startswith(b"text/") or b"html" in media or media.endswith(b"/xml")
        ):
            return False
        if self.body.startswith(COMPRESSED_MAGIC):
            return False
        return b"\x00" not in self.body[:_BINARY_SNIFF_BYTES] or is_wide(
            sniff_encoding(self.response)
        )

    def is_json(self) -> bool:
        content_type = self.header(b"Content-Type")
        return b"json" in content_type.split(b";", 1)[0]
