"""The encoding of a page, found without decoding the page.

Why not ``response.encoding``: when a page declares none, Scrapy infers one by decoding
the whole body (and keeps the decoded copy), which for a 100 MB page costs what the scan
window is there to avoid. A byte-order mark, the ``Content-Type`` charset and a
``<meta charset>`` in the first 4 KB are enough to tell UTF-16/32 from the rest.
"""

from __future__ import annotations

from scrapy.http import Response
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)


def sniff_encoding(response: Response) -> str:
    body = response.body[:4096]
    bom, _ = read_bom(body)
    if bom:
        return bom
    content_type = response.headers.get(b"Content-Type")
    declared = http_content_type_encoding(content_type.decode("latin-1") if content_type else None)
    declared = declared or html_body_declared_encoding(body)
    return resolve_encoding(declared or "utf-8") or "utf-8"


def is_wide(encoding: str) -> bool:
    """UTF-16/32: ASCII markers do not appear as bytes in such a body."""
    return encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))


def scan_bytes(response: Response, limit: int) -> bytes:
    """The first ``limit`` bytes of the body as a byte search can read them: a UTF-16/32
    page is re-encoded as UTF-8 (other encodings keep ASCII as ASCII)."""
    head = response.body[:limit]
    encoding = sniff_encoding(response)
    if is_wide(encoding):
        return head.decode(encoding, "replace").encode("utf-8")
    return head
