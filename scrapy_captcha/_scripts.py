"""Captcha widgets declared in script, read as a browser would run it (without running it).

Pure functions of the page's inline script text. Why not one regex: real pages pass
options with nested braces (``callback: function (t) {...}``), guard ``render`` behind
``if (document.getElementById(...))`` or loop over zero elements, load the API by script
injection or from a bundle, and keep a v3 action in configuration rather than in a literal
``execute`` call. Every scan here is bounded (calls looked at, characters per object).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

#: characters one options object may span
MAX_OBJECT_CHARS: Final = 5000
#: characters before a call searched for the element an expression target names
_LOOKBEHIND: Final = 2000

_API: Final = r"(?P<api>turnstile|grecaptcha\s*\.\s*enterprise|grecaptcha|hcaptcha)"
_RENDER_START: Final = re.compile(_API + r"\s*\.\s*render\s*\(\s*")
_EXECUTE_START: Final = re.compile(r"grecaptcha\s*\.\s*(?:enterprise\s*\.\s*)?execute\s*\(\s*")
_QUOTED: Final = re.compile(r"""(['"`])(?P<v>[^'"`\\\n]{0,300})\1""")
_EXPR: Final = re.compile(r"[\w$.\[\]'\"()]{1,200}")
_LOOKUP: Final = re.compile(
    r"""(?:getElementById\s*\(\s*(['"])(?P<id>[^'"]{1,200})\1"""
    r"""|querySelector(?:All)?\s*\(\s*(['"])(?P<sel>[^'"]{1,200})\3)"""
)

#: site key shapes per API family, for calls whose API script is not in the page
SITEKEY_SHAPES: Final = {
    "turnstile": re.compile(r"0x4[A-Za-z0-9_-]{20,}"),
    "grecaptcha": re.compile(r"6L[A-Za-z0-9_-]{38}"),
    "hcaptcha": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One ``render(target, {options})`` or ``execute(key, {options})`` call."""

    api: str  # "turnstile", "grecaptcha", "grecaptcha.enterprise" or "hcaptcha"
    #: the target (render: a selector or id; execute: the site key) when written literally
    literal: str | None
    #: the element an expression target was looked up by, as a CSS selector, if found
    looked_up: str | None
    options: str
    at: int


def balanced(text: str, start: int) -> tuple[str, int] | None:
    """The inside of the ``{...}`` opening at ``start`` and the index after it, skipping
    strings and nested braces; None when it does not close within MAX_OBJECT_CHARS."""
    if start >= len(text) or text[start] != "{":
        return None
    depth, i, end = 0, start, min(len(text), start + MAX_OBJECT_CHARS)
    quote: str | None = None
    while i < end:
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def _top_level(options: str) -> str:
    """``options`` with nested objects blanked out: their keys are not the widget's."""
    out, i = [], 0
    while i < len(options):
        if options[i] == "{":
            inner = balanced(options, i)
            if inner is None:
                break
            out.append(" " * (inner[1] - i))
            i = inner[1]
        else:
            out.append(options[i])
            i += 1
    return "".join(out)


def option(options: str, *names: str) -> str | None:
    """A string-valued top-level option (``sitekey: 'x'``, ``"action": "y"``)."""
    top = _top_level(options)
    for name in names:
        key = rf"""(?:^|[\s,{{])['"]?{re.escape(name)}['"]?\s*:\s*"""
        m = re.search(key + r"""(['"`])(?P<v>[^'"`]{0,300})\1""", top)
        if m:
            return m.group("v")
    return None


def _calls(pattern: re.Pattern[str], script: str, limit: int) -> list[Call]:
    found: list[Call] = []
    for m in pattern.finditer(script):
        if len(found) >= limit:
            break
        api = re.sub(r"\s", "", m.groupdict().get("api") or "grecaptcha")
        pos, literal, looked_up = m.end(), None, None
        quoted = _QUOTED.match(script, pos)
        if quoted:
            literal, pos = quoted.group("v"), quoted.end()
        else:
            expr = _EXPR.match(script, pos)
            if expr is None:
                continue
            pos = expr.end()
            # The element is looked up in the call itself or shortly before it.
            lookups = list(_LOOKUP.finditer(script, max(0, m.start() - _LOOKBEHIND), pos))
            if lookups:
                last = lookups[-1]
                looked_up = f"#{last.group('id')}" if last.group("id") else last.group("sel")
        comma = re.compile(r"\s*,\s*").match(script, pos)
        if comma is None:
            continue
        inside = balanced(script, comma.end())
        if inside is None:
            continue
        found.append(Call(api, literal, looked_up, inside[0], m.start()))
    return found


def render_calls(script: str, limit: int) -> list[Call]:
    return _calls(_RENDER_START, script, limit)


def execute_calls(script: str, limit: int) -> list[Call]:
    return _calls(_EXECUTE_START, script, limit)


def configured_action(script: str, sitekey: str, *, contact_form: bool) -> str | None:
    """A v3 action kept in configuration: Contact Form 7's ``wpcf7_recaptcha`` object
    (``contactform`` on a page with its form, else ``homepage``), or any object literal
    holding the site key and an ``action``."""
    cf7 = re.search(r"wpcf7_recaptcha\s*=\s*", script)
    if cf7:
        inside = balanced(script, cf7.end())
        if inside is not None:
            try:
                config = json.loads("{" + inside[0] + "}")
            except ValueError:
                config = {}
            actions = config.get("actions") if isinstance(config, dict) else None
            if isinstance(actions, dict):
                wanted = "contactform" if contact_form else "homepage"
                value = actions.get(wanted)
                if isinstance(value, str) and value:
                    return value
    for m in re.finditer(re.escape(sitekey), script):
        opening = script.rfind("{", max(0, m.start() - 300), m.start())
        if opening == -1:
            continue
        inside = balanced(script, opening)
        if inside is not None:
            action = option(inside[0], "action")
            if action:
                return action
    return None


def api_mentioned(text: str) -> set[str]:
    """Captcha APIs whose script URL appears in inline script (loaded by injection)."""
    found = set()
    if "challenges.cloudflare.com/turnstile" in text:
        found.add("turnstile")
    if re.search(r"/recaptcha/(?:api|enterprise)\.js", text):
        found.add("grecaptcha")
    if "hcaptcha.com/1/api.js" in text:
        found.add("hcaptcha")
    return found
