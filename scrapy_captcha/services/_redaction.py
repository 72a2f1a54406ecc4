"""Secrets out of every text that may reach a log line, a stat or an exception: the API
key and a proxy's credentials, as written, in any letter case, percent-encoded or in
base64 (Basic authentication), and credentials inside any URL."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import unquote, urlsplit

_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact_url_credentials(text: str) -> str:
    """``scheme://user:pass@host`` becomes ``scheme://***@host``."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _percent_tolerant(secret: str) -> re.Pattern[str]:
    """Matches ``secret`` with any of its characters percent-encoded (either case)."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))
        parts.append(f"(?:{re.escape(char)}|{encoded})")
    return re.compile("".join(parts), re.IGNORECASE)


def redact_secret(text: str, secret: str) -> str:
    """``text`` without ``secret``: as written in any letter case, with any characters
    percent-encoded, or in base64."""
    if len(secret) < 3:
        return text
    encoded = base64.b64encode(secret.encode("utf-8", "replace")).decode()
    for form in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_")):
        text = text.replace(form, "***")
    return _percent_tolerant(secret).sub("***", text)


def redact_proxy(text: str, proxy: Any) -> str:
    """Mask a proxy URL's credentials in every form a provider may quote them back: as
    written, with any characters percent-encoded, and as base64 of ``user:pass``."""
    if not isinstance(proxy, str):
        return text
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    return redact_secrets(text, [v for v in (password, user) if v])


def redact_secrets(text: str, secrets: list[str]) -> str:
    """``text`` without any of ``secrets`` (a proxy's password first, then its login):
    as written, in any letter case, percent-encoded, and as base64 of ``login:password``
    (Basic authentication) or of each alone."""
    if not secrets:
        return text
    if len(secrets) >= 2:
        password, user = secrets[0], secrets[1]
        encoded = base64.b64encode(f"{user}:{password}".encode("utf-8", "replace")).decode()
        for form in (encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_")):
            text = text.replace(form, "***")
    for secret in secrets:
        text = redact_secret(text, secret)
    return text
