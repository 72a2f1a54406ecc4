"""What may go on the wire: the checks every value from a solver reply or a shared store
passes before the add-on puts it on a request.

Why: a header value that is not latin-1, or a header name that is not an HTTP token,
makes every later request of a route fail inside Scrapy; a multi-megabyte field ends up in
log lines and results. These are the limits, and the checks that apply them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeGuard

MAX_HEADERS: Final = 64
MAX_HEADER_VALUE: Final = 8 * 1024
MAX_COOKIES: Final = 64
MAX_COOKIE_VALUE: Final = 4 * 1024
MAX_USER_AGENT: Final = 1024
MAX_TOKEN: Final = 64 * 1024
MAX_TEXT: Final = 256
MAX_TASK_ID: Final = 128

#: RFC 9110 token characters
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
#: visible latin-1 and spaces/tabs: no CR, LF or other control characters
_FIELD_VALUE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_COOKIE_VALUE: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e\x80-\xff \"]*")


def header_ok(name: Any, value: Any) -> bool:
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and _TOKEN.fullmatch(name) is not None
        and len(value) <= MAX_HEADER_VALUE
        and _FIELD_VALUE.fullmatch(value) is not None
    )


def cookie_ok(name: Any, value: Any) -> bool:
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and _TOKEN.fullmatch(name) is not None
        and len(value) <= MAX_COOKIE_VALUE
        and _COOKIE_VALUE.fullmatch(value) is not None
    )


def user_agent_ok(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_USER_AGENT
        and _FIELD_VALUE.fullmatch(value) is not None
    )


def task_id_ok(value: Any) -> TypeGuard[str | int]:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return len(str(value)) <= MAX_TASK_ID
    return isinstance(value, str) and 0 < len(value) <= MAX_TASK_ID and value.isprintable()


def clean_headers(raw: Mapping[str, str], dropped: list[str]) -> dict[str, str]:
    """The headers that may be replayed; the names of the others go to ``dropped``."""
    kept: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(name, str) and name.startswith(":"):
            continue  # HTTP/2 pseudo-headers: never replayed, and expected in replies
        if len(kept) < MAX_HEADERS and header_ok(name, value):
            kept[name] = value
        else:
            dropped.append(f"header {str(name)[:40]!r}")
    return kept


def clean_cookies(raw: Mapping[str, str], dropped: list[str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in raw.items():
        if len(kept) < MAX_COOKIES and cookie_ok(name, value):
            kept[name] = value
        else:
            dropped.append(f"cookie {str(name)[:40]!r}")
    return kept
