"""The ``CAPTCHA_*`` settings, read once per crawler.

Every setting has a default that works for a typical crawl; only the provider and its API
key need setting. ``CaptchaSettings`` is a frozen snapshot so nothing re-reads settings on
the hot path, and its repr hides the API key and proxy passwords.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from scrapy_captcha._kinds import WIDGET_KINDS
from scrapy_captcha.errors import ConfigurationError

DEFAULTS: dict[str, Any] = {
    "CAPTCHA_ENABLED": True,
    "CAPTCHA_PROVIDER": "1captcha",
    "CAPTCHA_API_KEY": "",
    "CAPTCHA_API_URL": None,
    "CAPTCHA_API_KEYS": {},
    "CAPTCHA_API_URLS": {},
    "CAPTCHA_TASK_TYPES": {},
    "CAPTCHA_PROXY": None,
    "CAPTCHA_DOMAIN_PROXIES": {},
    "CAPTCHA_CLEARANCE_TTL": 1800.0,
    "CAPTCHA_SOLVE_TIMEOUT": 180.0,
    "CAPTCHA_POLL_INTERVAL": 3.0,
    "CAPTCHA_REQUEST_TIMEOUT": 30.0,
    "CAPTCHA_MAX_REPLY_SIZE": 8 * 1024 * 1024,
    "CAPTCHA_MAX_ATTEMPTS": 3,
    "CAPTCHA_MAX_SOLVES": 0,
    "CAPTCHA_CACHE_URL": "memory://",
    "CAPTCHA_CACHE_PREFIX": "scrapy-captcha:",
    "CAPTCHA_CACHE_TIMEOUT": 1.0,
    "CAPTCHA_CACHE_RETRY": 5.0,
    "CAPTCHA_LEASE_TTL": 30.0,
    "CAPTCHA_CHECK_BALANCE": True,
    "CAPTCHA_CLOSE_ON_FATAL": False,
    "CAPTCHA_WIDGETS": {},
    "CAPTCHA_IMAGE_TIMEOUT": 300.0,
    "CAPTCHA_ALLOW_OFFSITE": False,
    "CAPTCHA_PUBLIC_ADDRESSES": [],
    "CAPTCHA_FILL_ON_SUBMIT": True,
    "CAPTCHA_PROVIDERS": [],
    "CAPTCHA_FAILOVER_AFTER": 3,
    "CAPTCHA_PRICES": {},
    "CAPTCHA_MAX_COST": 0.0,
    "CAPTCHA_BALANCE_INTERVAL": 600.0,
    "CAPTCHA_BALANCE_WARN": 1.0,
    "CAPTCHA_REPORT_INCORRECT": True,
    "CAPTCHA_ENVELOPES": {},
    # None: on when the store is shared and SCHEDULER is scrapy-redis's
    "CAPTCHA_SHARED_QUEUE": None,
}

#: What to do with a captcha widget on a page (CAPTCHA_WIDGETS, meta["captcha"]["widgets"]):
#: "submit" a gate form with the token (a widget outside any form gets its token handed
#: over), only hand the "token" over, or "ignore" the widget.
WIDGET_MODES = ("submit", "token", "ignore")


def parse_widget_modes(name: str, value: Any) -> dict[str, str]:
    """CAPTCHA_WIDGETS (or the meta key): one mode for every kind, or ``{kind: mode}``."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        value = dict.fromkeys(WIDGET_KINDS, value)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a mode or a dict of kind -> mode")
    modes: dict[str, str] = {}
    for kind, mode in value.items():
        if kind not in WIDGET_KINDS:
            raise ConfigurationError(
                f"{name}: unknown widget kind {kind!r}; use one of {list(WIDGET_KINDS)}"
            )
        if mode not in WIDGET_MODES:
            raise ConfigurationError(
                f"{name}[{kind!r}]: unknown mode {mode!r}; use one of {list(WIDGET_MODES)}"
            )
        modes[str(kind)] = str(mode)
    return modes


def _plain(value: Any) -> Any:
    """A settings dict arrives as BaseSettings when set through a settings object."""
    return value.copy_to_dict() if isinstance(value, BaseSettings) else value


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _check_proxy(name: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https", "socks5", "socks5h", "socks4")
        ok = ok and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # (a port that is not a number, a broken IPv6 literal)
        ok = False
    if not ok:
        # Say which setting is wrong without echoing the value: it may hold a password.
        raise ConfigurationError(f"{name}: not a proxy URL (scheme://[user:pass@]host:port)")
    return url


def _check_api_url(name: str, url: Any) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(str(url))
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        # Say which setting is wrong without echoing the value: it may hold a key.
        raise ConfigurationError(f"{name}: not an http(s) URL (http[s]://host[:port][/path])")
    return str(url)


def _public_addresses(value: Any) -> frozenset[tuple[str, int]]:
    """CAPTCHA_PUBLIC_ADDRESSES: ``"address:port"`` entries (``"[::1]:8080"`` for IPv6),
    each an exact endpoint the outbound policy treats as public although its address is
    internal (a test site on loopback, a staging site on a private network)."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigurationError('CAPTCHA_PUBLIC_ADDRESSES must be a list of "address:port"')
    found: set[tuple[str, int]] = set()
    for entry in value:
        host, sep, port = str(entry).strip().rpartition(":")
        try:
            address = ipaddress.ip_address(host.strip("[]")).compressed
            number = int(port)
        except ValueError:
            number = 0
        if not sep or not 0 < number < 65536:
            raise ConfigurationError(
                f'CAPTCHA_PUBLIC_ADDRESSES: {str(entry)[:60]!r} is not "address:port" '
                "(an IP address and a port: only that exact endpoint is treated as public)"
            )
        found.add((address, number))
    return frozenset(found)


def _shared_queue(settings: BaseSettings) -> bool:
    """CAPTCHA_SHARED_QUEUE, or whether SCHEDULER is scrapy-redis's (a queue in Redis that
    every worker pops from)."""
    value = settings.get("CAPTCHA_SHARED_QUEUE")
    if value is not None:
        try:
            return settings.getbool("CAPTCHA_SHARED_QUEUE")
        except ValueError:
            raise ConfigurationError(
                "CAPTCHA_SHARED_QUEUE must be True, False or None (auto)"
            ) from None
    try:
        scheduler = load_object(settings.get("SCHEDULER"))
    except Exception:  # (Scrapy itself reports a bad SCHEDULER)
        return False
    return any(c.__module__.startswith("scrapy_redis.") for c in getattr(scheduler, "__mro__", ()))


@dataclass(frozen=True)
class CaptchaSettings:
    enabled: bool
    provider: str
    api_key: str = field(repr=False)
    api_url: str | None
    api_keys: dict[str, str] = field(repr=False)
    api_urls: dict[str, str]
    task_types: dict[str, str]
    proxy: str | None = field(repr=False)
    domain_proxies: dict[str, str] = field(repr=False)
    clearance_ttl: float
    solve_timeout: float
    poll_interval: float
    request_timeout: float
    max_reply_size: int
    max_attempts: int
    max_solves: int
    cache_url: str = field(repr=False)
    cache_prefix: str
    cache_timeout: float
    cache_retry: float
    lease_ttl: float
    check_balance: bool
    close_on_fatal: bool
    widget_modes: dict[str, str] = field(default_factory=dict)
    image_timeout: float = 300.0
    allow_offsite: bool = False
    #: (address, port) endpoints the outbound policy treats as public
    public_addresses: frozenset[tuple[str, int]] = frozenset()
    fill_on_submit: bool = True
    #: the failover order (CAPTCHA_PROVIDERS, else just CAPTCHA_PROVIDER)
    providers: tuple[str, ...] = ()
    failover_after: int = 3
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    max_cost: float = 0.0
    balance_interval: float = 600.0
    balance_warn: float = 1.0
    report_incorrect: bool = True
    #: createTask fields per service (``softId``, ``appId``, ``callbackUrl``)
    envelopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: requests waiting for a solve are kept in the shared store too (scrapy-redis)
    shared_queue: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> CaptchaSettings:
        def get(name: str) -> Any:
            return settings.get(name, DEFAULTS[name])

        def number(name: str, *, allow_zero: bool = False) -> float:
            try:
                value = settings.getfloat(name, DEFAULTS[name])
            except (TypeError, ValueError):
                raise ConfigurationError(f"{name} must be a number") from None
            return _positive(name, value, allow_zero=allow_zero)

        def mapping(name: str) -> dict[str, Any]:
            try:
                return dict(settings.getdict(name))
            except (TypeError, ValueError):
                raise ConfigurationError(f"{name} must be a dict") from None

        domain_proxies = {
            str(domain).lower().lstrip("."): _check_proxy("CAPTCHA_DOMAIN_PROXIES", str(proxy))
            for domain, proxy in mapping("CAPTCHA_DOMAIN_PROXIES").items()
        }
        proxy = get("CAPTCHA_PROXY") or None
        if proxy:
            _check_proxy("CAPTCHA_PROXY", str(proxy))
        chain = get("CAPTCHA_PROVIDERS") or []
        if isinstance(chain, str):
            chain = [p.strip() for p in chain.split(",") if p.strip()]
        if not isinstance(chain, (list, tuple)) or not all(isinstance(p, str) for p in chain):
            raise ConfigurationError("CAPTCHA_PROVIDERS must be a list of provider names")
        providers = tuple(dict.fromkeys(chain)) or (str(get("CAPTCHA_PROVIDER")),)
        prices: dict[str, dict[str, float]] = {}
        for service, table in mapping("CAPTCHA_PRICES").items():
            try:
                prices[str(service)] = {str(k): float(v) for k, v in dict(table).items()}
            except (TypeError, ValueError):
                raise ConfigurationError(
                    "CAPTCHA_PRICES must be {service: {kind: USD per task}}"
                ) from None
        max_attempts = int(number("CAPTCHA_MAX_ATTEMPTS"))
        if max_attempts < 1:
            raise ConfigurationError(f"CAPTCHA_MAX_ATTEMPTS must be >= 1, got {max_attempts}")
        return cls(
            enabled=settings.getbool("CAPTCHA_ENABLED", True),
            provider=providers[0],
            api_key=str(get("CAPTCHA_API_KEY") or ""),
            api_url=_check_api_url("CAPTCHA_API_URL", get("CAPTCHA_API_URL")),
            api_keys={str(k): str(v) for k, v in mapping("CAPTCHA_API_KEYS").items()},
            api_urls={
                str(k): str(_check_api_url("CAPTCHA_API_URLS", v))
                for k, v in mapping("CAPTCHA_API_URLS").items()
            },
            task_types={str(k): str(v) for k, v in mapping("CAPTCHA_TASK_TYPES").items()},
            proxy=str(proxy) if proxy else None,
            domain_proxies=domain_proxies,
            clearance_ttl=number("CAPTCHA_CLEARANCE_TTL"),
            solve_timeout=number("CAPTCHA_SOLVE_TIMEOUT"),
            poll_interval=number("CAPTCHA_POLL_INTERVAL"),
            request_timeout=number("CAPTCHA_REQUEST_TIMEOUT"),
            max_reply_size=int(number("CAPTCHA_MAX_REPLY_SIZE")),
            max_attempts=max_attempts,
            max_solves=int(number("CAPTCHA_MAX_SOLVES", allow_zero=True)),
            cache_url=str(get("CAPTCHA_CACHE_URL")),
            cache_prefix=str(get("CAPTCHA_CACHE_PREFIX")),
            cache_timeout=number("CAPTCHA_CACHE_TIMEOUT"),
            cache_retry=number("CAPTCHA_CACHE_RETRY"),
            lease_ttl=number("CAPTCHA_LEASE_TTL"),
            check_balance=settings.getbool("CAPTCHA_CHECK_BALANCE", True),
            close_on_fatal=settings.getbool("CAPTCHA_CLOSE_ON_FATAL", False),
            widget_modes=parse_widget_modes("CAPTCHA_WIDGETS", _plain(get("CAPTCHA_WIDGETS"))),
            image_timeout=number("CAPTCHA_IMAGE_TIMEOUT"),
            allow_offsite=settings.getbool("CAPTCHA_ALLOW_OFFSITE", False),
            public_addresses=_public_addresses(_plain(get("CAPTCHA_PUBLIC_ADDRESSES"))),
            fill_on_submit=settings.getbool("CAPTCHA_FILL_ON_SUBMIT", True),
            providers=providers,
            failover_after=max(1, int(number("CAPTCHA_FAILOVER_AFTER"))),
            prices=prices,
            max_cost=number("CAPTCHA_MAX_COST", allow_zero=True),
            balance_interval=number("CAPTCHA_BALANCE_INTERVAL", allow_zero=True),
            balance_warn=number("CAPTCHA_BALANCE_WARN", allow_zero=True),
            report_incorrect=settings.getbool("CAPTCHA_REPORT_INCORRECT", True),
            envelopes={str(k): dict(_plain(v)) for k, v in mapping("CAPTCHA_ENVELOPES").items()},
            shared_queue=_shared_queue(settings),
        )

    def widget_mode(self, kind: str) -> str:
        return self.widget_modes.get(kind, "submit")

    def proxy_for_domain(self, host: str) -> str | None:
        """The CAPTCHA_DOMAIN_PROXIES entry for ``host`` or its closest parent domain."""
        host = host.lower().rstrip(".")
        while host:
            if host in self.domain_proxies:
                return self.domain_proxies[host]
            _, _, host = host.partition(".")
        return None
