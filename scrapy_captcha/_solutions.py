"""Solver replies, normalised: every documented solution shape, and error codes sorted
into families. Pure functions of a decoded JSON reply; what differs between services is
chosen in ``providers.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy_captcha._cookies import parse_solver_cookies
from scrapy_captcha.errors import FATAL, INPUT, PROXY, RETRY

# errorCode -> (reason, family). Classify by the code string, never by errorId.
_ERROR_CODES: dict[str, tuple[str, str]] = {
    "ERROR_KEY_DOES_NOT_EXIST": ("bad_key", FATAL),
    "ERROR_WRONG_USER_KEY": ("bad_key", FATAL),
    "ERROR_KEY_DENIED_ACCESS": ("bad_key", FATAL),
    "ERROR_ZERO_BALANCE": ("zero_balance", FATAL),
    "ERROR_IP_NOT_ALLOWED": ("ip_not_allowed", FATAL),
    "ERROR_ACCOUNT_SUSPENDED": ("account_suspended", FATAL),
    "ERROR_NO_SLOT_AVAILABLE": ("no_slot", RETRY),
    "ERROR_CAPTCHA_UNSOLVABLE": ("unsolvable", RETRY),
    "ERROR_TASK_TIMEOUT": ("timeout", RETRY),
    "ERROR_NO_SUCH_CAPCHA_ID": ("task_not_found", RETRY),
    "ERROR_TASKID_NOT_FOUND": ("task_not_found", RETRY),
    "ERROR_TASK_NOT_FOUND": ("task_not_found", RETRY),
    "ERROR_IP_BLOCKED": ("ip_blocked", RETRY),
    "ERROR_IP_BANNED": ("ip_blocked", RETRY),
    "ERROR_TASK_NOT_SUPPORTED": ("bad_task", INPUT),
    "ERROR_TASK_ABSENT": ("bad_task", INPUT),
    "ERROR_BAD_PARAMETERS": ("bad_task", INPUT),
    "ERROR_INVALID_TASK_DATA": ("bad_task", INPUT),
    "ERROR_PAGEURL": ("bad_task", INPUT),
    "ERROR_WRONG_GOOGLEKEY": ("bad_task", INPUT),
    "ERROR_WRONG_SITEKEY": ("bad_task", INPUT),
    "ERROR_SITEKEY": ("bad_task", INPUT),
    "ERROR_RECAPTCHA_INVALID_SITEKEY": ("bad_task", INPUT),
    "ERROR_RECAPTCHA_INVALID_DOMAIN": ("bad_task", INPUT),
    "ERROR_ZERO_CAPTCHA_FILESIZE": ("bad_task", INPUT),
    "ERROR_TOO_BIG_CAPTCHA_FILESIZE": ("bad_task", INPUT),
    "ERROR_IMAGE_TYPE_NOT_SUPPORTED": ("bad_task", INPUT),
}


def classify_error(code: str) -> tuple[str, str]:
    """Map an ``errorCode`` to ``(reason, family)``; unknown codes are retried."""
    code = code.strip().upper()
    if code in _ERROR_CODES:
        return _ERROR_CODES[code]
    if code.startswith(("ERROR_PROXY", "ERROR_BAD_PROXY")):
        return "proxy", PROXY
    return "solver_error", RETRY


@dataclass(frozen=True)
class CloudflareSolution:
    """A provider's Cloudflare reply, normalised."""

    cookies: dict[str, str]
    user_agent: str | None
    request_headers: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    content: str | None = field(repr=False)
    cookie_expires: float | None = None  # epoch seconds of cf_clearance, when the reply says


def _lower_headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return {str(k).lower(): str(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, list):  # [[name, value], ...] or [{"name":..,"value":..}]
        out: dict[str, str] = {}
        for item in raw:
            if isinstance(item, Mapping) and "name" in item:
                out[str(item["name"]).lower()] = str(item.get("value", ""))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out[str(item[0]).lower()] = str(item[1])
        return out
    return {}


def parse_cloudflare_solution(reply: Mapping[str, Any]) -> CloudflareSolution | None:
    """Accept every documented shape: fields inside ``solution`` or at the top level, and
    1captcha's own misspelling ``heders``. ``None`` when there is nothing usable."""
    nested = reply.get("solution")
    sources = [s for s in (nested, reply) if isinstance(s, Mapping)]

    def pick(*names: str) -> Any:
        for source in sources:
            for name in names:
                if source.get(name) not in (None, "", {}, []):
                    return source[name]
        return None

    cookies, expires = parse_solver_cookies(pick("cookies", "cookie"))
    user_agent = pick("user_agent", "userAgent", "useragent")
    request_headers = _lower_headers(pick("request_headers", "requestHeaders"))
    if not cookies and "cookie" in request_headers:
        cookies, _ = parse_solver_cookies(request_headers["cookie"])
    if not cookies:
        return None
    content = pick("content", "html")
    return CloudflareSolution(
        cookies=cookies,
        user_agent=str(user_agent) if user_agent else None,
        request_headers=request_headers,
        headers=_lower_headers(pick("headers", "heders")),
        content=content if isinstance(content, str) else None,
        cookie_expires=expires,
    )


@dataclass(frozen=True)
class TokenSolution:
    """A token task's reply, normalised (reCAPTCHA, Turnstile, hCaptcha)."""

    token: str = field(repr=False)
    resp_key: str | None = field(default=None, repr=False)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    user_agent: str | None = None


def _picker(reply: Mapping[str, Any]) -> Any:
    nested = reply.get("solution")
    sources = [s for s in (nested, reply) if isinstance(s, Mapping)]

    def pick(*names: str) -> Any:
        for source in sources:
            for name in names:
                value = source.get(name)
                if value not in (None, "", {}, []):
                    return value
        return None

    return pick


def parse_token_solution(reply: Mapping[str, Any]) -> TokenSolution | None:
    """``token`` (Turnstile), ``gRecaptchaResponse`` (reCAPTCHA, hCaptcha) or ``text``,
    inside ``solution`` or at the top level; ``respKey`` and ``cookies`` when given."""
    pick = _picker(reply)
    token = pick("token", "gRecaptchaResponse", "captchaResponse", "text")
    if not isinstance(token, str) or not token.strip():
        return None
    cookies, _ = parse_solver_cookies(pick("cookies", "cookie"))
    resp_key = pick("respKey", "resp_key")
    user_agent = pick("userAgent", "user_agent", "useragent")
    return TokenSolution(
        token=token.strip(),
        resp_key=str(resp_key) if resp_key else None,
        cookies=cookies,
        user_agent=str(user_agent) if user_agent else None,
    )


def parse_text_solution(reply: Mapping[str, Any]) -> str | None:
    """An image task's answer: ``text`` at most providers, ``gRecaptchaResponse`` in
    1captcha's own example."""
    text = _picker(reply)("text", "gRecaptchaResponse", "answer", "code")
    return text if isinstance(text, str) and text.strip() else None
