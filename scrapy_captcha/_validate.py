"""Checks of setting values: each mistake a ``ConfigurationError`` that names the
setting, the bad value (never a secret) and the closest valid value."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from scrapy_captcha._kinds import SERVICES, SOLVABLE_WALLS, WALLS, WIDGET_KINDS
from scrapy_captcha._registry import DEFAULTS, SETTINGS
from scrapy_captcha.errors import ConfigurationError

#: What to do with a captcha widget on a page (CAPTCHA_WIDGETS, meta["captcha"]["widgets"]):
#: "submit" a gate form with the token, only hand the "token" over, or "ignore" the widget.
WIDGET_MODES = ("submit", "token", "ignore")


def register_defaults(settings: BaseSettings) -> None:
    """Every ``CAPTCHA_*`` default, at Scrapy's "default" priority: what the user set
    stays, and ``settings.get()`` tells the truth for the rest."""
    for name, value in DEFAULTS.items():
        settings.set(name, value, priority="default")


def closest(value: Any, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the valid choice closest to ``value``, or ``""``."""
    match = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def plain(value: Any) -> Any:
    """A settings dict arrives as BaseSettings when set through a settings object."""
    return value.copy_to_dict() if isinstance(value, BaseSettings) else value


def shown(name: str, value: Any) -> str:
    return "(value not shown)" if SETTINGS[name].secret else repr(value)


def parse_bool(name: str, value: Any) -> bool:
    """Scrapy's boolean spellings (True/False, 1/0, "true"/"false"), else an error that
    names the setting."""
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConfigurationError(f"{name} must be True or False, got {shown(name, value)}")


def widget_modes(name: str, value: Any) -> dict[str, str]:
    """CAPTCHA_WIDGETS (or the meta key): one mode for every kind, or ``{kind: mode}``."""
    value = plain(value)
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        if value not in WIDGET_MODES:
            raise ConfigurationError(
                f"{name}: unknown mode {value!r}; use one of {list(WIDGET_MODES)}"
                f"{closest(value, WIDGET_MODES)}"
            )
        value = dict.fromkeys(WIDGET_KINDS, value)
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a mode or a dict of kind -> mode")
    modes: dict[str, str] = {}
    for kind, mode in value.items():
        if kind not in WIDGET_KINDS:
            raise ConfigurationError(
                f"{name}: unknown widget kind {kind!r}; use one of {list(WIDGET_KINDS)}"
                f"{closest(kind, WIDGET_KINDS)}"
            )
        if mode not in WIDGET_MODES:
            raise ConfigurationError(
                f"{name}[{kind!r}]: unknown mode {mode!r}; use one of {list(WIDGET_MODES)}"
                f"{closest(mode, WIDGET_MODES)}"
            )
        modes[str(kind)] = str(mode)
    return modes


def walls(name: str, value: Any) -> frozenset[str]:
    """CAPTCHA_WALLS: the solvable walls to solve, each named correctly; a wall no service
    opens cannot be switched on."""
    value = plain(value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise ConfigurationError(f"{name} must be a list of wall names, got {value!r}")
    for wall in value:
        if wall in WALLS and wall not in SOLVABLE_WALLS:
            raise ConfigurationError(
                f"{name}: no service opens {wall!r} walls: they are always reported and "
                f"never paid for; the walls that can be solved are {list(SOLVABLE_WALLS)}"
            )
        if wall not in SOLVABLE_WALLS:
            raise ConfigurationError(
                f"{name}: unknown wall {wall!r}; use some of {list(SOLVABLE_WALLS)}"
                f"{closest(wall, SOLVABLE_WALLS)}"
            )
    return frozenset(value)


def parse_handle(name: str, value: Any) -> bool | frozenset[str]:
    """CAPTCHA_HANDLE_UNSOLVED / meta ``handle_captcha_unsolved``: a boolean, or the
    give-up reasons a callback takes."""
    value = plain(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        if not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{name} must be True, False or a list of reasons")
        return frozenset(value)
    return parse_bool(name, value)


def handles(handle: bool | frozenset[str], reason: str) -> bool:
    return reason in handle if isinstance(handle, frozenset) else handle


def check_proxy(name: str, url: str) -> str:
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


def check_api_url(name: str, url: Any) -> str | None:
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


def public_addresses(value: Any) -> frozenset[tuple[str, int]]:
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


def shared_queue(settings: BaseSettings) -> bool:
    """CAPTCHA_SHARED_QUEUE, or whether SCHEDULER is scrapy-redis's (a queue in Redis that
    every worker pops from)."""
    value = settings.get("CAPTCHA_SHARED_QUEUE")
    if value is not None:
        try:
            return parse_bool("CAPTCHA_SHARED_QUEUE", value)
        except ConfigurationError:
            raise ConfigurationError(
                f"CAPTCHA_SHARED_QUEUE must be True, False or None (auto), got {value!r}"
            ) from None
    try:
        scheduler = load_object(settings.get("SCHEDULER"))
    except Exception:  # (Scrapy itself reports a bad SCHEDULER)
        return False
    return any(c.__module__.startswith("scrapy_redis.") for c in getattr(scheduler, "__mro__", ()))


def known_services() -> list[str]:
    return sorted(SERVICES)


def provider_chain(settings: BaseSettings) -> tuple[str, ...]:
    """CAPTCHA_PROVIDERS, else CAPTCHA_PROVIDER, each entry named correctly."""
    chain: Any = plain(settings.get("CAPTCHA_PROVIDERS")) or []
    name = "CAPTCHA_PROVIDERS"
    if isinstance(chain, str):
        chain = [p.strip() for p in chain.split(",") if p.strip()]
    if not chain:
        single = settings.get("CAPTCHA_PROVIDER")
        if not single:
            return ()
        chain, name = [single], "CAPTCHA_PROVIDER"
    if not isinstance(chain, (list, tuple)) or not all(isinstance(p, str) for p in chain):
        raise ConfigurationError(
            f"CAPTCHA_PROVIDERS must be a list of service names, got {chain!r}"
        )
    for entry in chain:
        check_service(name, entry)
    return tuple(dict.fromkeys(chain))


def check_service(name: str, service: str) -> None:
    """A built-in service name, or the import path of a Provider subclass."""
    known = known_services()
    if service in known:
        return
    try:
        cls = load_object(service) if "." in service else None
    except (ValueError, NameError, ImportError, AttributeError):
        cls = None
    if cls is None:
        raise ConfigurationError(
            f"{name}: unknown service {service!r}; use one of {known} or the import path "
            f"of a Provider subclass{closest(service, known)}"
        )
    # (Accounts loads every service of the chain at start-up, and refuses a class that
    # is not a Provider subclass; a class without a profile's shape is refused here)
    if not (isinstance(cls, type) and hasattr(cls, "task_types") and hasattr(cls, "name")):
        raise ConfigurationError(f"{name}: {service!r} is not a Provider subclass")


def keys_known(name: str, mapping: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    valid = list(known)
    for key in mapping:
        if key not in valid and not (what == "service" and "." in str(key)):
            raise ConfigurationError(
                f"{name}: unknown {what} {key!r}; use one of {valid}{closest(key, valid)}"
            )


def check_names(settings: BaseSettings) -> None:
    """A ``CAPTCHA_*`` name close to one of ours is a typo (``CAPTCHA_MAX_SOLVE``): say so
    at start instead of ignoring it."""
    for name in settings.attributes if hasattr(settings, "attributes") else ():
        if not isinstance(name, str) or not name.startswith("CAPTCHA_") or name in SETTINGS:
            continue
        hint = closest(name, SETTINGS)
        if hint:
            raise ConfigurationError(f"unknown setting {name}{hint}")
