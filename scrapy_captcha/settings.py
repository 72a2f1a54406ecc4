"""The ``CAPTCHA_*`` settings: one registry (name, type, default, meaning), read once per
crawler.

Why a registry: the defaults the add-on registers (so ``crawler.settings`` and ``scrapy
settings --get`` tell the truth), the start-up validation and the settings reference in the
docs all come from :data:`SETTINGS`, so they cannot drift apart. ``CaptchaSettings`` is a
frozen snapshot, so nothing re-reads settings on the hot path, and its repr hides the API
keys and proxy passwords.

Every mistake is a :class:`~scrapy_captcha.errors.ConfigurationError` at start-up that
names the setting, the bad value (never a secret) and, where one is close, the valid value
that was probably meant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import BaseSettings

from scrapy_captcha._kinds import SOLVABLE_WALLS, TASK_KINDS
from scrapy_captcha._registry import DEFAULTS, SETTINGS, Setting
from scrapy_captcha._validate import (
    WIDGET_MODES,
    check_api_url,
    check_names,
    check_proxy,
    check_service,
    closest,
    handles,
    keys_known,
    known_services,
    parse_bool,
    parse_handle,
    plain,
    provider_chain,
    register_defaults,
    shared_queue,
    shown,
    walls,
    widget_modes,
)
from scrapy_captcha._validate import (
    public_addresses as parse_public_addresses,
)
from scrapy_captcha.errors import ConfigurationError

#: the older name of :func:`widget_modes`
parse_widget_modes = widget_modes

__all__ = [
    "DEFAULTS",
    "SETTINGS",
    "WIDGET_MODES",
    "CaptchaSettings",
    "Setting",
    "check_proxy",
    "check_service",
    "closest",
    "handles",
    "parse_handle",
    "register_defaults",
    "widget_modes",
]


@dataclass(frozen=True)
class CaptchaSettings:
    enabled: bool
    provider: str | None
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
    close_on_unavailable: bool = True
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
    handle_unsolved: bool | frozenset[str] = False
    close_on_budget: bool = False
    unreachable_after: int = 3
    cache_max_entries: int = 1_000_000
    #: token tasks bound to the request's proxy where the service has such a variant
    token_proxy: bool = False
    #: the walls to solve (CAPTCHA_WALLS); the others are given up ``disabled``
    walls: frozenset[str] = frozenset(SOLVABLE_WALLS)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> CaptchaSettings:
        def get(name: str) -> Any:
            return plain(settings.get(name, DEFAULTS[name]))

        def flag(name: str) -> bool:
            return parse_bool(name, get(name))

        def number(name: str, *, allow_zero: bool = False) -> float:
            value = get(name)
            try:
                if isinstance(value, bool):
                    raise TypeError
                result = float(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{name} must be a number, got {shown(name, value)}"
                ) from None
            if not math.isfinite(result) or result < 0 or (result == 0 and not allow_zero):
                raise ConfigurationError(
                    f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}"
                )
            return result

        def integer(name: str, *, minimum: int = 0) -> int:
            value = number(name, allow_zero=True)
            if value != int(value) or value < minimum:
                raise ConfigurationError(
                    f"{name} must be a whole number >= {minimum}, got {get(name)!r}"
                )
            return int(value)

        def mapping(name: str) -> dict[str, Any]:
            value = get(name)
            if value is None:
                return {}
            if isinstance(value, str):
                try:
                    value = settings.getdict(name)  # (JSON, as Scrapy reads dict settings)
                except (TypeError, ValueError):
                    value = None
            if not isinstance(value, dict):
                raise ConfigurationError(
                    f"{name} must be a dict, got {shown(name, type(value).__name__)}"
                )
            return {str(k): plain(v) for k, v in value.items()}

        check_names(settings)
        providers = provider_chain(settings)
        services = sorted({*known_services(), *providers})
        api_keys = {k: str(v) for k, v in mapping("CAPTCHA_API_KEYS").items()}
        keys_known("CAPTCHA_API_KEYS", api_keys, services, "service")
        api_urls = {
            k: str(check_api_url("CAPTCHA_API_URLS", v))
            for k, v in mapping("CAPTCHA_API_URLS").items()
        }
        keys_known("CAPTCHA_API_URLS", api_urls, services, "service")
        task_types = {k: str(v) for k, v in mapping("CAPTCHA_TASK_TYPES").items()}
        keys_known("CAPTCHA_TASK_TYPES", task_types, TASK_KINDS, "task kind")
        prices: dict[str, dict[str, float]] = {}
        for service, table in mapping("CAPTCHA_PRICES").items():
            keys_known("CAPTCHA_PRICES", {service: 0}, services, "service")
            if not isinstance(table, dict):
                raise ConfigurationError(
                    f"CAPTCHA_PRICES[{service!r}] must be {{task kind: USD per task}}"
                )
            keys_known(f"CAPTCHA_PRICES[{service!r}]", table, TASK_KINDS, "task kind")
            try:
                prices[service] = {str(k): float(v) for k, v in table.items()}
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"CAPTCHA_PRICES[{service!r}] must be {{task kind: USD per task}}"
                ) from None
            if any(not math.isfinite(p) or p < 0 for p in prices[service].values()):
                raise ConfigurationError(f"CAPTCHA_PRICES[{service!r}]: prices must be >= 0")
        envelopes = mapping("CAPTCHA_ENVELOPES")
        keys_known("CAPTCHA_ENVELOPES", envelopes, services, "service")
        if any(not isinstance(v, dict) for v in envelopes.values()):
            raise ConfigurationError("CAPTCHA_ENVELOPES must be {service: {field: value}}")
        domain_proxies = {
            str(domain).lower().lstrip("."): check_proxy("CAPTCHA_DOMAIN_PROXIES", str(proxy))
            for domain, proxy in mapping("CAPTCHA_DOMAIN_PROXIES").items()
        }
        proxy = get("CAPTCHA_PROXY") or None
        if proxy:
            check_proxy("CAPTCHA_PROXY", str(proxy))
        close_on_unavailable = flag("CAPTCHA_CLOSE_ON_UNAVAILABLE")
        if get("CAPTCHA_CLOSE_ON_FATAL") is not None:
            close_on_unavailable = flag("CAPTCHA_CLOSE_ON_FATAL")
        return cls(
            enabled=flag("CAPTCHA_ENABLED"),
            provider=providers[0] if providers else None,
            api_key=str(get("CAPTCHA_API_KEY") or ""),
            api_url=check_api_url("CAPTCHA_API_URL", get("CAPTCHA_API_URL")),
            api_keys=api_keys,
            api_urls=api_urls,
            task_types=task_types,
            proxy=str(proxy) if proxy else None,
            domain_proxies=domain_proxies,
            clearance_ttl=number("CAPTCHA_CLEARANCE_TTL"),
            solve_timeout=number("CAPTCHA_SOLVE_TIMEOUT"),
            poll_interval=number("CAPTCHA_POLL_INTERVAL"),
            request_timeout=number("CAPTCHA_REQUEST_TIMEOUT"),
            max_reply_size=integer("CAPTCHA_MAX_REPLY_SIZE", minimum=1),
            max_attempts=integer("CAPTCHA_MAX_ATTEMPTS", minimum=1),
            max_solves=integer("CAPTCHA_MAX_SOLVES"),
            cache_url=str(get("CAPTCHA_CACHE_URL")),
            cache_prefix=str(get("CAPTCHA_CACHE_PREFIX")),
            cache_timeout=number("CAPTCHA_CACHE_TIMEOUT"),
            cache_retry=number("CAPTCHA_CACHE_RETRY"),
            lease_ttl=number("CAPTCHA_LEASE_TTL"),
            check_balance=flag("CAPTCHA_CHECK_BALANCE"),
            close_on_unavailable=close_on_unavailable,
            widget_modes=widget_modes("CAPTCHA_WIDGETS", get("CAPTCHA_WIDGETS")),
            image_timeout=number("CAPTCHA_IMAGE_TIMEOUT"),
            allow_offsite=flag("CAPTCHA_ALLOW_OFFSITE"),
            fill_on_submit=flag("CAPTCHA_FILL_ON_SUBMIT"),
            providers=providers,
            failover_after=integer("CAPTCHA_FAILOVER_AFTER", minimum=1),
            prices=prices,
            max_cost=number("CAPTCHA_MAX_COST", allow_zero=True),
            balance_interval=number("CAPTCHA_BALANCE_INTERVAL", allow_zero=True),
            balance_warn=number("CAPTCHA_BALANCE_WARN", allow_zero=True),
            report_incorrect=flag("CAPTCHA_REPORT_INCORRECT"),
            envelopes={k: dict(v) for k, v in envelopes.items()},
            shared_queue=shared_queue(settings),
            handle_unsolved=parse_handle(
                "CAPTCHA_HANDLE_UNSOLVED", get("CAPTCHA_HANDLE_UNSOLVED")
            ),
            close_on_budget=flag("CAPTCHA_CLOSE_ON_BUDGET"),
            unreachable_after=integer("CAPTCHA_UNREACHABLE_AFTER", minimum=1),
            cache_max_entries=integer("CAPTCHA_CACHE_MAX_ENTRIES", minimum=1),
            token_proxy=flag("CAPTCHA_TOKEN_PROXY"),
            public_addresses=parse_public_addresses(get("CAPTCHA_PUBLIC_ADDRESSES")),
            walls=walls("CAPTCHA_WALLS", get("CAPTCHA_WALLS")),
        )

    def check_solver(self) -> None:
        """At start-up: a named service, and a key for every service of the chain. No
        silent default: a key must never go to a service the user did not name."""
        if not self.providers:
            if self.api_key or self.api_keys:
                raise ConfigurationError(
                    "CAPTCHA_API_KEY is set but CAPTCHA_PROVIDER is not: name the service the "
                    f"key belongs to (one of {known_services()}); a key is never sent to a "
                    "service you did not choose"
                )
            raise ConfigurationError(
                "scrapy-captcha is enabled but CAPTCHA_PROVIDER is not set: name a solver "
                f"service (one of {known_services()}) and set CAPTCHA_API_KEY, or set "
                "CAPTCHA_ENABLED = False"
            )
        for index, service in enumerate(self.providers):
            if self.key_for(service):
                continue
            if index == 0 and service not in self.api_keys:
                raise ConfigurationError(
                    f"CAPTCHA_API_KEY is not set: {service!r} (CAPTCHA_PROVIDER) needs its key"
                )
            raise ConfigurationError(
                f"CAPTCHA_API_KEYS has no key for {service!r} (in CAPTCHA_PROVIDERS)"
            )

    def key_for(self, service: str) -> str:
        """CAPTCHA_API_KEY belongs to the first service of the chain only: another service
        never gets it."""
        if service in self.api_keys:
            return self.api_keys[service]
        return self.api_key if service == self.provider else ""

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
