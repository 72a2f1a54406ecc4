"""Which curl_cffi impersonation target matches a solver browser's User-Agent.

Why: Cloudflare binds ``cf_clearance`` to the User-Agent that earned it and checks that
User-Agent against the TLS and HTTP/2 fingerprint of every request. When the crawl fetches
through scrapy-impersonate (curl_cffi), a request carrying a clearance must therefore
impersonate the solver's browser: same family, and the nearest version curl_cffi has that
is not newer than the one claimed (a browser cannot show a fingerprint from its future).
The target list is read from the installed curl_cffi, since an unknown target only fails
at download time (``ImpersonateError``).
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from scrapy import Request
    from scrapy.settings import BaseSettings

#: request meta key scrapy-impersonate reads; also the extra key of a clearance's undo
META_KEY = "impersonate"
#: only the start of a User-Agent is looked at: real ones are a few hundred characters
MAX_UA = 1024
FAMILIES = ("chrome", "edge", "safari", "firefox")

#: used when curl_cffi is not importable here (names as curl_cffi 0.17 spells them)
STATIC_TARGETS = (
    "edge99",
    "edge101",
    "chrome99",
    "chrome100",
    "chrome101",
    "chrome104",
    "chrome107",
    "chrome110",
    "chrome116",
    "chrome119",
    "chrome120",
    "chrome123",
    "chrome124",
    "chrome131",
    "chrome133a",
    "chrome136",
    "chrome142",
    "chrome145",
    "chrome146",
    "chrome99_android",
    "chrome131_android",
    "safari153",
    "safari155",
    "safari170",
    "safari172_ios",
    "safari180",
    "safari180_ios",
    "safari184",
    "safari184_ios",
    "safari260",
    "safari260_ios",
    "safari2601",
    "firefox133",
    "firefox135",
    "firefox144",
    "firefox147",
)


@dataclass(frozen=True)
class Target:
    """One curl_cffi impersonation target."""

    name: str
    family: str
    version: tuple[int, ...]
    platform: str  # "desktop", "android" or "ios"
    os: str = ""  # "windows", "macos", ... when known: a tie-break only


@dataclass(frozen=True)
class Browser:
    """What a User-Agent claims."""

    family: str
    version: tuple[int, ...]
    platform: str
    os: str = ""


_NAME = re.compile(r"(chrome|edge|safari|firefox)(\d{2,4})a?(?:_(android|ios|macos))?", re.ASCII)


def parse_target(name: str) -> Target | None:
    """A target from its curl_cffi name (``chrome131``, ``safari184_ios``, ``safari2601``);
    None for aliases, deprecated spellings and browsers not handled here."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    family, digits, suffix = m.groups()
    if family == "safari":  # safari153 = 15.3, safari2601 = 26.0.1
        version = (int(digits[:2]), *(int(d) for d in digits[2:]))
    else:
        version = (int(digits),)
    platform = suffix if suffix in ("android", "ios") else "desktop"
    return Target(name, family, version, platform, "macos" if suffix == "macos" else "")


def _from_table(rows: Any) -> list[Target]:
    """Targets from curl_cffi's ``NATIVE_IMPERSONATE_TARGETS`` (browser, version, os)."""
    found = []
    for row in rows:
        try:
            name, family = str(row["target_name"]), str(row["browser"]).lower()
            version = tuple(int(p) for p in str(row["version"]).split(".")[:3])
            os_name = str(row.get("os", "")).lower().replace(" ", "")
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if family in FAMILIES and version and _NAME.fullmatch(name):
            platform = os_name if os_name in ("android", "ios") else "desktop"
            found.append(Target(name, family, version, platform, os_name))
    return found


@functools.cache
def available_targets() -> tuple[Target, ...]:
    """The targets the installed curl_cffi supports: its fingerprint table (0.14+), else
    its ``BrowserType`` enum, else :data:`STATIC_TARGETS`. Read once."""
    try:
        from curl_cffi import fingerprints

        found = _from_table(fingerprints.NATIVE_IMPERSONATE_TARGETS)
    except (ImportError, OSError, AttributeError):
        found = []
    if not found:
        try:
            from curl_cffi.requests import BrowserType

            names: Iterable[str] = [str(b.value) for b in BrowserType]
        except (ImportError, OSError, AttributeError):
            names = STATIC_TARGETS
        found = [t for t in map(parse_target, names) if t is not None]
    return tuple(found)


# ASCII: int() would take any Unicode digit; (?!\d): a longer number is no version.
_A = re.ASCII
_IOS_DEVICE = re.compile(r"\b(?:iPhone|iPad|iPod)\b", _A)
_IOS_VERSION = re.compile(r"\bOS (\d{1,3})_(\d{1,3})(?!\d)(?:_(\d{1,3})(?!\d))?", _A)
_SAFARI_VERSION = re.compile(
    r"\bVersion/(\d{1,3})(?!\d)(?:\.(\d{1,3})(?!\d))?(?:\.(\d{1,3})(?!\d))?", _A
)
_EDGE = re.compile(r"\bEdg(?:e|A)?/(\d{1,4})\b", _A)
_CHROME = re.compile(r"Chrome/(\d{1,4})\b", _A)  # HeadlessChrome/ too
_FIREFOX = re.compile(r"\bFirefox/(\d{1,4})\b", _A)
_ANDROID = re.compile(r"\bAndroid\b", _A)
_OS = (
    ("windows", re.compile(r"\bWindows NT\b", _A)),
    ("macos", re.compile(r"\bMac OS X\b", _A)),
    ("linux", re.compile(r"\b(?:X11|Linux)\b", _A)),
)


def _numbers(m: re.Match[str]) -> tuple[int, ...]:
    return tuple(int(g) for g in m.groups() if g is not None)


def parse_user_agent(user_agent: object) -> Browser | None:
    """The browser a User-Agent claims, or None (a bot, a library, junk). Every browser
    on iOS is WebKit, hence Safari's fingerprint at the iOS version; Opera, Brave and the
    other Chromium browsers carry a ``Chrome/NNN`` token and are Chrome."""
    if not isinstance(user_agent, str) or not user_agent:
        return None
    ua = user_agent[:MAX_UA]
    if _IOS_DEVICE.search(ua):
        m = _SAFARI_VERSION.search(ua) or _IOS_VERSION.search(ua)
        return Browser("safari", _numbers(m), "ios", "ios") if m else None
    platform = "android" if _ANDROID.search(ua) else "desktop"
    os_name = "android" if platform == "android" else ""
    for name, pattern in _OS:
        if not os_name and pattern.search(ua):
            os_name = name
    for family, pattern in (("edge", _EDGE), ("chrome", _CHROME), ("firefox", _FIREFOX)):
        m = pattern.search(ua)
        if m is not None:
            return Browser(family, (int(m.group(1)),), platform, os_name)
    m = _SAFARI_VERSION.search(ua)
    if m is not None and platform == "desktop" and "Safari/" in ua:
        return Browser("safari", _numbers(m), platform, os_name)
    return None


def _not_newer(target: Target, browser: Browser) -> bool:
    if browser.family == "safari":
        return target.version <= browser.version
    return target.version[:1] <= browser.version[:1]


def _candidates(browser: Browser, targets: Sequence[Target]) -> list[Target]:
    # Edge is Chromium with Chrome's version numbers: Chrome targets fit when no Edge
    # target of that version exists.
    families = ("edge", "chrome") if browser.family == "edge" else (browser.family,)
    return [t for t in targets if t.family in families and _not_newer(t, browser)]


def best_target(browser: Browser, targets: Sequence[Target] | None = None) -> str | None:
    """The nearest target not newer than the browser: the highest major version first,
    then the same platform (desktop, Android, iOS), then the exact version, the same
    family (Edge over Chrome), the same OS; None if curl_cffi has nothing old enough."""
    found = _candidates(browser, available_targets() if targets is None else targets)
    if not found:
        return None

    def rank(t: Target) -> tuple[Any, ...]:
        return (
            t.version[:1],
            t.platform == browser.platform,
            t.version,
            t.family == browser.family,
            bool(t.os) and t.os == browser.os,
            -len(t.name),
        )

    return max(found, key=rank).name


def target_for(user_agent: object, targets: Sequence[Target] | None = None) -> str | None:
    """The curl_cffi target for a User-Agent, or None (see :func:`best_target`)."""
    browser = parse_user_agent(user_agent)
    return None if browser is None else best_target(browser, targets)


def _resolve(name: str, targets: Sequence[Target]) -> Target | None:
    """A target by name; an alias (``chrome``, ``safari_ios``) is the latest of its kind."""
    known = {t.name: t for t in targets}
    if name in known:
        return known[name]
    family, _, platform = name.partition("_")
    kind = [t for t in targets if t.family == family and t.platform == (platform or "desktop")]
    return max(kind, key=lambda t: t.version) if kind else parse_target(name)


def choice_matches(current: object, browser: Browser, targets: Sequence[Target]) -> bool:
    """Whether a spider's own ``impersonate`` value already fits the browser: the same
    family and major version, not newer. Anything else (another browser, a custom
    fingerprint object) would contradict the User-Agent the clearance is bound to."""
    if not isinstance(current, str) or not current:
        return False
    target = _resolve(current[:64], targets)
    return (
        target is not None
        and target.family == browser.family
        and target.version[:1] == browser.version[:1]
        and _not_newer(target, browser)
    )


def impersonating_schemes(settings: BaseSettings) -> frozenset[str]:
    """The URL schemes whose download handler is scrapy-impersonate's (or a subclass of
    it), read from DOWNLOAD_HANDLERS. A path that does not load is not one of them:
    Scrapy reports it when it builds its handlers."""
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    schemes = set()
    for scheme in ("http", "https"):
        handler = handlers.get(scheme)
        if isinstance(handler, str) and handler.startswith("scrapy_impersonate."):
            schemes.add(scheme)
            continue
        try:
            cls = load_object(handler) if isinstance(handler, str) else handler
        except (ImportError, NameError, ValueError, AttributeError):
            continue
        mro = inspect.getmro(cls) if inspect.isclass(cls) else ()
        if any(c.__module__.split(".")[0] == "scrapy_impersonate" for c in mro):
            schemes.add(scheme)
    return frozenset(schemes)


def uses_impersonation(request: Request, schemes: frozenset[str]) -> bool:
    """Whether the request is fetched by curl_cffi: it names a target itself, or its
    scheme's handler is scrapy-impersonate's."""
    return META_KEY in request.meta or urlparse_cached(request).scheme in schemes


def apply_target(
    request: Request, user_agent: str | None, targets: Sequence[Target] | None = None
) -> dict[str, Any] | None:
    """Set ``meta["impersonate"]`` to the target matching the clearance's User-Agent.
    Returns what to undo (the previous value), or None when nothing changed: no target
    for this User-Agent, or the spider's own choice already matches it."""
    browser = parse_user_agent(user_agent)
    if browser is None:
        return None
    table = available_targets() if targets is None else targets
    target = best_target(browser, table)
    current = request.meta.get(META_KEY)
    if target is None or current == target or choice_matches(current, browser, table):
        return None
    had = META_KEY in request.meta
    request.meta[META_KEY] = target
    return {"had": had, "previous": current, "applied": target}


def undo_target(request: Request, change: dict[str, Any] | None) -> None:
    """Give a request back the ``impersonate`` value it had before :func:`apply_target`,
    unless someone has changed it since."""
    if not change or request.meta.get(META_KEY) != change.get("applied"):
        return
    if change.get("had"):
        request.meta[META_KEY] = change.get("previous")
    else:
        del request.meta[META_KEY]
