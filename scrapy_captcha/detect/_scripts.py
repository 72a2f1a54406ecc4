"""Captcha widgets declared in script, read as a browser would run it (without running it).

Pure functions of the page's inline script text. Why not one regex: real pages pass
options with nested braces (``callback: function (t) {...}``), guard ``render`` behind
``if (document.getElementById(...))`` or loop over several candidate elements, pass the
site key as a variable defined elsewhere, load the API by script injection or from a
bundle, and keep a v3 action in configuration (or in an inline function's arguments)
rather than in a literal ``execute`` call.

Every scan here is bounded by construction: each regex runs once over the text (one
linear pass per kind of marker), each match looked at and each token of a JS object read
costs a step of the page's :class:`~scrapy_captcha.detect._scan.Steps`, and an object is read
for at most :data:`MAX_OBJECT_CHARS` characters. A ``render(`` call that never closes
costs at most that, once per call, and calls looked at are capped, found or not.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from typing import Final

if sys.version_info >= (3, 11):
    possessive = re
else:  # possessive quantifiers came to the standard re in 3.11; regex has them for 3.10
    import regex as possessive

from scrapy_captcha.detect._scan import Steps

#: characters one options object may span
MAX_OBJECT_CHARS: Final = 5000
#: render/execute/init calls looked at per page, whether they turn out to be widgets or not
MAX_CALLS: Final = 200
#: candidate elements one render call may target (a loop over several)
MAX_TARGETS: Final = 8
#: characters before a call searched for the element an expression target names
_LOOKBEHIND: Final = 2000

#: ``render(``, then the API it belongs to read backwards from there: a pattern with a
#: literal prefix runs the fast search loop, where an alternation of API names would
#: test every position of the script.
_RENDER_START: Final = re.compile(r"render\s*\(\s*")
_RENDER_API_REVERSED: Final = re.compile(
    r"\s*\.\s*(?:(?P<e>esirpretne\s*\.\s*ahctpacerg)|(?P<g>ahctpacerg)|(?P<t>elitsnrut)"
    r"|(?P<h>ahctpach))"
)
_REVERSED_APIS: Final = {
    "e": "grecaptcha.enterprise",
    "g": "grecaptcha",
    "t": "turnstile",
    "h": "hcaptcha",
}
_EXECUTE_START: Final = re.compile(r"grecaptcha\s*\.\s*(?:enterprise\s*\.\s*)?execute\s*\(\s*")
_GEETEST_START: Final = re.compile(r"initGeetest4\s*\(\s*")
_QUOTED: Final = re.compile(r"""(['"`])(?P<v>[^'"`\\\n]{0,300})\1""")
#: A target expression: a name path with calls and indexes (``document.getElementById(
#: 'reset-ts')``, ``slots[i]``, ``$('#x')[0]``); possessive, so a mismatch never backtracks.
_EXPR: Final = possessive.compile(
    r"""[\w$]++(?:\s*+(?:\.\s*+[\w$]++|\[[^\[\]\n]{0,200}+\]"""
    r"""|\((?:[^()'"\n]|'[^'\n]{0,200}+'|"[^"\n]{0,200}+"){0,200}+\))){0,20}+"""
)
COMMA: Final = re.compile(r"\s*,\s*")
#: An element looked up by a literal, or by a variable (a loop over candidates).
_LOOKUP: Final = re.compile(
    r"""(?P<how>getElementById|getElementsByClassName|querySelectorAll|querySelector"""
    r"""|(?<![\w$])(?:\$|jQuery))\s*\(\s*"""
    r"""(?:(?P<q>['"])(?P<arg>[^'"]{1,200})(?P=q)|(?P<var>[A-Za-z_$][\w$]*)\s*[),\]])"""
)
#: An array literal of strings (the candidates a loop looks up).
_STRING_ARRAY: Final = re.compile(r"""\[\s*(?:(['"])[^'"\n]{1,200}\1\s*,?\s*){1,16}\]""")
_ARRAY_ITEM: Final = re.compile(r"""(['"])(?P<v>[^'"\n]{1,200})\1""")

#: site key shapes per API family, for calls whose API script is not in the page
SITEKEY_SHAPES: Final = {
    "turnstile": re.compile(r"0x4[A-Za-z0-9_-]{20,}"),
    "grecaptcha": re.compile(r"6L[A-Za-z0-9_-]{38}"),
    "hcaptcha": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "mtcaptcha": re.compile(r"MTPublic-[A-Za-z0-9_-]{4,}"),
}

#: Captcha API scripts, as written in a ``src`` or in an inline script that injects them.
_API_URL: Final = re.compile(
    r"""//[\w.-]{1,100}/(?:recaptcha/(?:api|enterprise)\.js"""
    r"""|turnstile/v0/api\.js|1/api\.js|v4/gt4\.js|load\?captcha_id=)"""
    r"""[^\s'"`<>\\]{0,500}(?:['"]\s*\+\s*(?P<var>[A-Za-z_$][\w$.]{0,100}))?""",
)


@dataclass(frozen=True, slots=True)
class Call:
    """One ``render(target, {options})``, ``execute(key, {options})`` or
    ``initGeetest4({options})`` call."""

    api: str  # "turnstile", "grecaptcha", "grecaptcha.enterprise", "hcaptcha" or "geetest"
    #: the target (render: a selector or id; execute: the site key) when written literally
    literal: str | None
    #: the elements an expression target was looked up by, as CSS selectors
    looked_up: tuple[str, ...]
    options: str
    at: int
    #: the expression the target is, when it is not a literal (a widget id variable...)
    expression: str | None = None
    #: index after the options object
    end: int = 0


def _object_pattern(depth: int) -> str:
    """A JS object literal nested at most ``depth`` deep, as a regex: strings (with their
    escapes), comments and nested objects are atoms, every repetition possessive, so a
    match or a failure costs one pass in C over the characters, never a backtrack."""
    strings = r"""'(?:[^'\\\n]|\\.)*+'|"(?:[^"\\\n]|\\.)*+"|`(?:[^`\\]|\\.)*+`"""
    comments = r"//[^\n]*+|/\*(?:[^*]|\*(?!/))*+\*/"
    atoms = r"""[^{}'"`/]++|/"""
    inner = r"(?!)"
    for _ in range(depth):
        inner = r"\{(?:" + "|".join((strings, comments, atoms, inner)) + r")*+\}"
    return inner


#: nesting an options object may have (callbacks with blocks inside blocks)
MAX_DEPTH: Final = 10
_OBJECT: Final = possessive.compile(_object_pattern(MAX_DEPTH), possessive.S)
_STRING_OR_OBJECT: Final = possessive.compile(
    r"""(?P<s>'(?:[^'\\\n]|\\.)*+'|"(?:[^"\\\n]|\\.)*+"|`(?:[^`\\]|\\.)*+`)"""
    r"|(?P<o>" + _object_pattern(MAX_DEPTH - 1) + ")",
    possessive.S,
)


def balanced(text: str, start: int, steps: Steps | None = None) -> tuple[str, int] | None:
    """The inside of the ``{...}`` opening at ``start`` and the index after it, skipping
    strings, comments and nested braces; None when it does not close within
    MAX_OBJECT_CHARS (or nests deeper than MAX_DEPTH, or the page's budget is spent).
    One regex match in C: a step per call and per KB read."""
    if start >= len(text) or text[start] != "{":
        return None
    end = min(len(text), start + MAX_OBJECT_CHARS)
    if steps is not None and not steps.take(1 + (end - start) // 1024):
        return None
    m = _OBJECT.match(text, start, end)
    if m is None:
        return None
    return text[start + 1 : m.end() - 1], m.end()


@functools.lru_cache(maxsize=256)
def _top_level(options: str) -> str:
    """``options`` with nested objects blanked out: their keys are not the widget's."""
    return _STRING_OR_OBJECT.sub(
        lambda m: m.group() if m.group("s") is not None else " " * len(m.group()), options
    )


def option(options: str, *names: str, steps: Steps | None = None) -> str | None:
    """A string-valued top-level option (``sitekey: 'x'``, ``"action": "y"``)."""
    top = _top_level(options)
    for name in names:
        key = rf"""(?:^|[\s,{{])['"]?{re.escape(name)}['"]?\s*:\s*"""
        m = re.search(key + r"""(['"`])(?P<v>[^'"`]{0,300})\1""", top)
        if m:
            return m.group("v")
    return None


def option_expression(options: str, name: str, steps: Steps | None = None) -> str | None:
    """The unquoted expression a top-level option is set to (``sitekey: SITE_KEY``,
    ``sitekey: cfg.siteKey``), or None."""
    top = _top_level(options)
    m = re.search(
        rf"""(?:^|[\s,{{])['"]?{re.escape(name)}['"]?\s*:\s*(?P<v>[A-Za-z_$][\w$.]{{0,200}})""",
        top,
    )
    return m.group("v") if m else None


def option_flag(options: str, name: str, steps: Steps | None = None) -> str | None:
    """A top-level option's value whatever its type, as text (``true``, ``'v3'``, ``3``)."""
    value = option(options, name, steps=steps)
    if value is not None:
        return value
    top = _top_level(options)
    m = re.search(rf"""(?:^|[\s,{{])['"]?{re.escape(name)}['"]?\s*:\s*(?P<v>[\w.]{{1,20}})""", top)
    return m.group("v") if m else None


def _lookups(script: str, start: int, end: int) -> tuple[str, ...]:
    """The CSS selectors of the element(s) an expression target was looked up by: the
    last lookup before (or inside) the call; a lookup by a variable reads the candidates
    from the last array of strings before it."""
    last = None
    for last in _LOOKUP.finditer(script, start, end):  # noqa: B007 (the last one)
        pass
    if last is None:
        return ()
    how = last.group("how")

    def css(value: str) -> str:
        if how == "getElementById":
            return value if value.startswith("#") else f"#{value}"
        if how == "getElementsByClassName":
            return ".".join(["", *value.split()])
        return value

    if last.group("arg") is not None:
        return (css(last.group("arg")),)
    arrays = list(_STRING_ARRAY.finditer(script, start, last.start()))
    if not arrays:
        return ()
    items = _ARRAY_ITEM.finditer(script, arrays[-1].start(), arrays[-1].end())
    return tuple(css(m.group("v")) for m in items)[:MAX_TARGETS]


def _render_api(script: str, at: int) -> str | None:
    """The API a ``render(`` at ``at`` is called on (``turnstile.render(``...), if any."""
    m = _RENDER_API_REVERSED.match(script[max(0, at - 48) : at][::-1])
    return _REVERSED_APIS[m.lastgroup] if m is not None and m.lastgroup else None


def _calls(pattern: re.Pattern[str], script: str, steps: Steps, limit: int) -> list[Call]:
    found: list[Call] = []
    render = pattern is _RENDER_START
    for examined, m in enumerate(pattern.finditer(script)):
        if examined >= MAX_CALLS or len(found) >= limit or not steps.take():
            break
        api = _render_api(script, m.start()) if render else "grecaptcha"
        if api is None:
            continue
        pos, literal, expression = m.end(), None, None
        looked_up: tuple[str, ...] = ()
        quoted = _QUOTED.match(script, pos)
        if quoted:
            literal, pos = quoted.group("v"), quoted.end()
        else:
            expr = _EXPR.match(script, pos)
            if expr is None:
                continue
            expression, pos = expr.group(), expr.end()
            # The element is looked up in the call itself or shortly before it.
            looked_up = _lookups(script, max(0, m.start() - _LOOKBEHIND), pos)
        comma = COMMA.match(script, pos)
        if comma is None:
            continue
        inside = balanced(script, comma.end(), steps)
        if inside is None:
            continue
        found.append(Call(api, literal, looked_up, inside[0], m.start(), expression, inside[1]))
    return found


def render_calls(script: str, steps: Steps, limit: int) -> list[Call]:
    return _calls(_RENDER_START, script, steps, limit)


def execute_calls(script: str, steps: Steps, limit: int) -> list[Call]:
    return _calls(_EXECUTE_START, script, steps, limit)


def geetest_calls(script: str, steps: Steps, limit: int) -> list[Call]:
    """``initGeetest4({captchaId: ...}, callback)``: GeeTest v4's only entry point."""
    found: list[Call] = []
    for examined, m in enumerate(_GEETEST_START.finditer(script)):
        if examined >= MAX_CALLS or len(found) >= limit or not steps.take():
            break
        inside = balanced(script, m.end(), steps)
        if inside is not None:
            found.append(Call("geetest", None, (), inside[0], m.start(), None, inside[1]))
    return found


@dataclass(frozen=True, slots=True)
class ApiUrl:
    """A captcha API script URL written in an inline script (injected), and the variable
    it is concatenated with (``'...api.js?render=' + SITE_KEY``), if any."""

    url: str
    variable: str | None


def api_urls(script: str, steps: Steps) -> list[ApiUrl]:
    """Captcha API URLs an inline script mentions (the first few dozen)."""
    found: list[ApiUrl] = []
    for m in _API_URL.finditer(script):
        if len(found) >= 64 or not steps.take():
            break
        url = m.group()
        if m.group("var"):
            url = url[: url.rfind(m.group("var"))].rstrip(" +'\"")
        found.append(ApiUrl(url, m.group("var")))
    return found


def api_mentioned(text: str) -> set[str]:
    """Captcha APIs whose script URL appears in inline script (loaded by injection)."""
    found = set()
    if "challenges.cloudflare.com/turnstile" in text:
        found.add("turnstile")
    if re.search(r"/recaptcha/(?:api|enterprise)\.js", text):
        found.add("grecaptcha")
    if "hcaptcha.com/1/api.js" in text:
        found.add("hcaptcha")
    if "geetest.com" in text:
        found.add("geetest")
    if "mtcaptcha.com" in text or "mtcaptcha.min.js" in text:
        found.add("mtcaptcha")
    if "friendly-challenge" in text or "friendlycaptcha" in text:
        found.add("friendly")
    return found
