"""Solver replies, normalised: every documented solution shape, and error codes sorted
into families. Pure functions of a decoded JSON reply; what differs between services is
chosen in ``providers.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy_captcha.errors import FATAL, INPUT, PROXY, RETRY
from scrapy_captcha.services._cookies import parse_solver_cookies
from scrapy_captcha.services._wire import (
    MAX_HEADERS,
    MAX_TEXT,
    MAX_TOKEN,
    clean_cookies,
    clean_headers,
    user_agent_ok,
)

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
    "ERROR_TASKID_INVALID": ("task_not_found", RETRY),
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
    "ERROR_NO_SUCH_METHOD": ("bad_task", INPUT),
    "ERROR_DOMAIN_NOT_ALLOWED": ("domain_not_allowed", INPUT),
    # polling one task too often (CapMonster: at most once every 2 s): poll it slower
    "ERROR_TOO_MUCH_REQUESTS": ("poll_rate", RETRY),
    # too many calls for the account's plan (capsolver): back off, as for no slot
    "ERROR_RATE_LIMIT": ("rate_limit", RETRY),
    # the clearance task's User-Agent is not the service's current one (CapMonster)
    "ERROR_WRONG_USERAGENT": ("wrong_user_agent", RETRY),
}

#: what the add-on does with an error of each reason (the services table, ``providers``)
ERROR_ACTIONS: dict[str, str] = {
    "bad_key": "account disabled for the crawl; the next service of the chain takes over",
    "zero_balance": "account disabled for the crawl; the next service of the chain takes over",
    "ip_not_allowed": "account disabled for the crawl; the next service of the chain takes over",
    "account_suspended": (
        "account disabled for the crawl; the next service of the chain takes over"
    ),
    "no_slot": "createTask sent again after a back-off (>= 5 s), within the solve deadline",
    "rate_limit": "createTask sent again after a back-off (>= 5 s), within the solve deadline",
    "poll_rate": "the same task polled again, at half the pace each time",
    "unsolvable": "a new task, within CAPTCHA_MAX_ATTEMPTS",
    "timeout": "a new task, within CAPTCHA_MAX_ATTEMPTS",
    "task_not_found": "a new task, within CAPTCHA_MAX_ATTEMPTS",
    "ip_blocked": "a new task, within CAPTCHA_MAX_ATTEMPTS",
    "bad_task": "given up as a bad task: the identical task is never sent again",
    "domain_not_allowed": "given up as a bad task: the identical task is never sent again",
    "wrong_user_agent": "the service's current User-Agent fetched again, the task sent once more",
    "proxy": "a new task; the proxy, not the account, is at fault",
    "solver_error": "a new task, within CAPTCHA_MAX_ATTEMPTS",
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
    """A clearance reply, normalised and checked (see ``_wire.py``): Cloudflare's, or
    another wall's cookie (``_wall_solutions``)."""

    cookies: dict[str, str]
    user_agent: str | None
    request_headers: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    content: str | None = field(repr=False)
    cookie_expires: float | None = None  # epoch seconds of cf_clearance, when the reply says
    #: fields of the reply that could not go on the wire and were left out
    dropped: tuple[str, ...] = ()


def _lower_headers(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, Mapping):
        items: list[Any] = list(raw.items())
    elif isinstance(raw, list):  # [[name, value], ...] or [{"name":..,"value":..}]
        items = []
        for item in raw:
            if isinstance(item, Mapping) and "name" in item:
                items.append((item["name"], item.get("value", "")))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                items.append((item[0], item[1]))
    else:
        return out
    for name, value in items[: 4 * MAX_HEADERS]:
        if value is not None and isinstance(name, (str, int, float)):
            out[str(name).lower()] = value if isinstance(value, str) else repr(value)[:100]
    return out


def picker(reply: Mapping[str, Any]) -> Any:
    """``pick(*names)``: the first non-empty field, inside ``solution`` or on top."""
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


def _fingerprint_ua(pick: Any) -> Any:
    """anti-captcha's AntiBotCookieTask names the browser in
    ``fingerprint["self.navigator.userAgent"]``."""
    fingerprint = pick("fingerprint")
    if isinstance(fingerprint, Mapping):
        return fingerprint.get("self.navigator.userAgent")
    return None


def parse_cloudflare_solution(reply: Mapping[str, Any]) -> CloudflareSolution | None:
    """Accept every documented shape: fields inside ``solution`` or at the top level,
    1captcha's own misspelling ``heders``, a bare ``cf_clearance`` (CapMonster) and the UA
    inside ``fingerprint`` (anti-captcha). ``None`` when there is nothing usable, or when
    the User-Agent the clearance is bound to cannot be sent (not latin-1, too long):
    replaying the clearance without it would only be challenged again. Cookies and
    headers that cannot be sent are left out and named in ``dropped``."""
    pick = picker(reply)
    dropped: list[str] = []
    raw_cookies, expires = parse_solver_cookies(pick("cookies", "cookie"))
    request_headers = _lower_headers(pick("request_headers", "requestHeaders"))
    if not raw_cookies and isinstance(request_headers.get("cookie"), str):
        raw_cookies, _ = parse_solver_cookies(request_headers["cookie"])
    clearance = pick("cf_clearance")
    if not raw_cookies and isinstance(clearance, str):  # CapMonster's cf_clearance mode
        raw_cookies = {"cf_clearance": clearance}
    cookies = clean_cookies(raw_cookies, dropped)
    user_agent = pick("user_agent", "userAgent", "useragent") or _fingerprint_ua(pick)
    sent_ua = request_headers.get("user-agent")
    if not cookies:
        return None
    if (user_agent and not user_agent_ok(user_agent)) or (
        sent_ua is not None and not user_agent_ok(sent_ua)
    ):
        return None
    content = pick("content", "html")
    return CloudflareSolution(
        cookies=cookies,
        user_agent=user_agent or None,
        request_headers=clean_headers(request_headers, dropped),
        headers=clean_headers(_lower_headers(pick("headers", "heders")), []),
        content=content if isinstance(content, str) else None,
        cookie_expires=expires,
        dropped=tuple(dropped),
    )


@dataclass(frozen=True)
class TokenSolution:
    """A token task's reply, normalised (reCAPTCHA, Turnstile, hCaptcha)."""

    token: str = field(repr=False)
    resp_key: str | None = field(default=None, repr=False)
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    user_agent: str | None = None
    dropped: tuple[str, ...] = ()
    #: form fields of a multi-field answer (GeeTest v4's five), by name
    fields: dict[str, str] = field(default_factory=dict, repr=False)


#: the other name of a clearance reply (any wall's, not only Cloudflare's)
ClearanceSolution = CloudflareSolution


def parse_token_solution(reply: Mapping[str, Any]) -> TokenSolution | None:
    """``token`` (Turnstile), ``gRecaptchaResponse`` (reCAPTCHA, hCaptcha) or ``text``,
    inside ``solution`` or at the top level; ``respKey`` and ``cookies`` when given.
    ``None`` for a missing, oversized or unprintable token."""
    pick = picker(reply)
    token = pick("token", "gRecaptchaResponse", "captchaResponse", "text")
    if not isinstance(token, str) or not token.strip():
        return None
    token = token.strip()
    if len(token) > MAX_TOKEN or not token.isprintable():
        return None
    dropped: list[str] = []
    raw_cookies, _ = parse_solver_cookies(pick("cookies", "cookie"))
    resp_key = pick("respKey", "resp_key")
    if resp_key is not None and not (
        isinstance(resp_key, str) and len(resp_key) <= MAX_TOKEN and resp_key.isprintable()
    ):
        dropped.append("respKey")
        resp_key = None
    user_agent = pick("userAgent", "user_agent", "useragent")
    if user_agent is not None and not user_agent_ok(user_agent):
        dropped.append("userAgent")
        user_agent = None
    return TokenSolution(
        token=token,
        resp_key=resp_key or None,
        cookies=clean_cookies(raw_cookies, dropped),
        user_agent=user_agent or None,
        dropped=tuple(dropped),
    )


def parse_text_solution(reply: Mapping[str, Any]) -> str | None:
    """An image task's answer: ``text`` at most providers, ``gRecaptchaResponse`` in
    1captcha's own example."""
    text = picker(reply)("text", "gRecaptchaResponse", "answer", "code")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return None
    return text if text.isprintable() else None
