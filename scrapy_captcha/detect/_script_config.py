"""Site keys kept in script configuration: every key-shaped string literal of a page's
inline script with the name it is assigned to, what a variable expression holds, and the
v3 action a page keeps in configuration (Contact Form 7's object, or the arguments older
versions pass to an inline function). Bounded like ``_scripts.py``: one regex pass per
kind of marker, a step per match."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from scrapy_captcha.detect._scan import Steps
from scrapy_captcha.detect._scripts import COMMA, balanced, option

#: site-key-shaped string literals looked at per page
MAX_KEY_LITERALS: Final = 200


#: characters before a key literal searched for the name it is assigned to
_NAME_LOOKBEHIND: Final = 120


#: A quoted string of one of the shapes: one pass finds every key literal of a script.
_KEY_LITERAL: Final = re.compile(
    r"""(?P<q>['"`])(?P<key>6L[A-Za-z0-9_-]{38}|0x4[A-Za-z0-9_-]{20,60}"""
    r"""|MTPublic-[A-Za-z0-9_-]{4,60}"""
    r"""|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?P=q)"""
)


#: ``name =`` / ``name:`` / ``"name":`` right before a key literal, read backwards (a
#: match at the start of the reversed text: linear, where a search for ``...$`` is not).
_ASSIGNED_REVERSED: Final = re.compile(r"""\s*[=:]\s*['"]?(?P<name>[\w$-]{1,80})""")


#: A key literal passed as the first argument of a call (``})('KEY', {...})``): older
#: Contact Form 7 hands its site key and v3 actions to an inline function this way.
_ARGUMENT_OF: Final = re.compile(r"""\(\s*$""")


#: Names under which configuration objects keep a site key.
KEY_NAMES: Final = re.compile(
    r"(?:^|[_-])(?:site[_-]?key|sitekey|public[_-]?key|captcha[_-]?key)$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class KeyLiteral:
    """A site-key-shaped string in script, and the name it is assigned to (if any)."""

    key: str
    name: str | None
    at: int
    end: int


def key_literals(script: str, steps: Steps) -> list[KeyLiteral]:
    """Every site-key-shaped string literal of the script (the first
    :data:`MAX_KEY_LITERALS`), with the variable or property it is assigned to."""
    found: list[KeyLiteral] = []
    for m in _KEY_LITERAL.finditer(script):
        if len(found) >= MAX_KEY_LITERALS or not steps.take():
            break
        before = script[max(0, m.start() - _NAME_LOOKBEHIND) : m.start()][::-1]
        named = _ASSIGNED_REVERSED.match(before)
        name = named.group("name")[::-1] if named else None
        found.append(KeyLiteral(m.group("key"), name, m.start(), m.end()))
    return found


def resolve(expression: str | None, keys: list[KeyLiteral], shape: re.Pattern[str]) -> str | None:
    """The key a variable or property expression holds (``SITE_KEY``, ``cfg.siteKey``,
    ``window.CONFIG.recaptcha.key``: its last name), if a literal of ``shape`` is assigned
    to that name in the page."""
    if not expression:
        return None
    name = re.split(r"[.\[\]'\"]+", expression.strip(".[]'\""))[-1] if expression else ""
    for literal in keys:
        if literal.name == name and shape.fullmatch(literal.key):
            return literal.key
    return None


def configured_action(
    script: str, sitekey: str, *, contact_form: bool, keys: list[KeyLiteral], steps: Steps
) -> str | None:
    """A v3 action kept in configuration: Contact Form 7's ``wpcf7_recaptcha`` object or
    the actions object older versions pass to an inline function with the site key
    (``contactform`` on a page with its form, else ``homepage``), or any object literal
    holding the site key and an ``action``."""
    wanted = "contactform" if contact_form else "homepage"
    cf7 = re.search(r"wpcf7_recaptcha\s*=\s*", script)
    if cf7:
        action = _cf7_action(script, cf7.end(), wanted, steps)
        if action:
            return action
    for literal in keys:
        if literal.key != sitekey or not steps.take():
            continue
        # (older Contact Form 7) ``})( 'KEY', {"homepage": ..., "contactform": ...} );``
        comma = COMMA.match(script, literal.end)
        if comma is not None and _ARGUMENT_OF.search(script[max(0, literal.at - 40) : literal.at]):
            action = _cf7_action(script, comma.end(), wanted, steps)
            if action:
                return action
        opening = script.rfind("{", max(0, literal.at - 300), literal.at)
        if opening == -1:
            continue
        inside = balanced(script, opening, steps)
        if inside is not None:
            action = option(inside[0], "action", steps=steps)
            if action:
                return action
    return None


def _cf7_action(script: str, at: int, wanted: str, steps: Steps) -> str | None:
    inside = balanced(script, at, steps)
    if inside is None:
        return None
    try:
        config = json.loads("{" + inside[0] + "}")
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    actions = config.get("actions", config)
    if not isinstance(actions, dict) or wanted not in actions:
        return None
    value = actions.get(wanted)
    return value if isinstance(value, str) and value else None


def object_around(script: str, literal: KeyLiteral, steps: Steps) -> str | None:
    """The object literal a key literal is a property of (its nearest ``{`` within a few
    hundred characters before it, closing after it), or None."""
    opening = script.rfind("{", max(0, literal.at - 300), literal.at)
    if opening == -1:
        return None
    inside = balanced(script, opening, steps)
    if inside is None or inside[1] <= literal.end:
        return None
    return inside[0]
