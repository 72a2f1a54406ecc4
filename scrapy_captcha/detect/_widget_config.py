"""Widgets a plugin keeps in configuration for its own script to render: a key in a script
object under a ``siteKey`` / ``site_key`` / ``public_key`` name, or in a
``data-*-site-key`` / ``data-*-public-key`` attribute; a widget when that API is on the
page or the page has a container for it."""

from __future__ import annotations

import re
from typing import Final

from parsel import Selector

from scrapy_captcha.detect._markers import window
from scrapy_captcha.detect._page import Page
from scrapy_captcha.detect._scan import Steps
from scrapy_captcha.detect._script_config import KEY_NAMES, object_around
from scrapy_captcha.detect._scripts import option, option_flag
from scrapy_captcha.detect._widget import Found
from scrapy_captcha.detect._widget_facts import (
    MAX_ELEMENTS,
    Facts,
    classes_of,
    family_of,
    in_skipped,
    v3_form,
)

#: Attributes other than ``data-sitekey`` that hold a key (``data-recaptcha-public-key``,
#: ``data-turnstile-site-key``), looked for only where the bytes show one.
#: ``key=`` in the bytes, then the attribute name read backwards from there: the names of
#: attributes other than ``data-sitekey`` that hold a key (``data-recaptcha-public-key``,
#: ``data-turnstile-site-key``), so that only those are asked of the parsed page (asking
#: for "any attribute whose name contains..." costs a pass over every attribute).
_KEY_EQUALS: Final = re.compile(rb"key\s*=")


_KEY_ATTR_REVERSED: Final = re.compile(rb"(?:yek[-_]etis|yek-?cilbup)[\w-]{0,60}")


_MAX_KEY_ATTR_NAMES: Final = 8


_HINT_ATTRS: Final = ("data-size", "data-version", "data-type")


#: Words in a container's class or id that say which widget a script renders into it.
_CONTAINER_WORDS: Final = {
    "grecaptcha": ("recaptcha",),
    "turnstile": ("turnstile",),
    "hcaptcha": ("hcaptcha", "h-captcha"),
    "mtcaptcha": ("mtcaptcha",),
}


def configured_widgets(page: Page, facts: Facts, found: Found) -> None:
    """6. Keys a plugin keeps in configuration (a script object under a ``siteKey`` /
    ``site_key`` / ``public_key`` name, or a ``data-*-site-key`` / ``data-*-public-key``
    attribute) for its own script to render: a widget when that API is on the page or the
    page has a container for it."""
    steps = facts.steps
    # (a) attributes other than data-sitekey, by the names the bytes show
    names = _key_attribute_names(page, steps)
    if names:
        steps.pass_()
        test = " or ".join(f"@{n}" for n in names)
        for el in page.xpath(f"/descendant::*[{test}][position() <= {MAX_ELEMENTS}]"):
            if not steps.take() or found.full:
                break
            if in_skipped(el, steps):
                continue
            for name, value in el.attrib.items():
                if name not in names:
                    continue
                key = value.strip()
                family = family_of(key)
                if family is None or found.has_key(key):
                    continue
                if family == "hcaptcha" and "hcaptcha" not in name.lower() + " ".join(
                    classes_of(el)
                ):
                    continue
                hints = " ".join(v for n, v in el.attrib.items() if n in _HINT_ATTRS).lower()
                _add_configured(page, facts, found, family, key, el, hints, None)
    # (b) script configuration objects
    for literal in facts.keys:
        if found.full or not steps.take():
            break
        if literal.name is None or not KEY_NAMES.search(literal.name):
            continue
        if any(start <= literal.at < end for start, end in facts.calls):
            continue  # (a render or execute call's own option: judged with the call)
        key = literal.key
        family = family_of(key)
        if family is None or found.has_key(key):
            continue
        container = _container(page, family, steps)
        if family not in facts.loaded and container is None:
            continue
        if family == "hcaptcha" and "hcaptcha" not in literal.name.lower() + " ".join(
            facts.loaded
        ):
            continue
        config = object_around(facts.inline, literal, steps) or ""
        hints = " ".join(
            v
            for n in ("version", "type", "size", "recaptcha_type", "recaptchaType", "invisible")
            if (v := option_flag(config, n, steps)) is not None
        ).lower()
        if "invisible" in (option_flag(config, "invisible", steps) or ""):
            hints += " invisible"
        if (option_flag(config, "invisible", steps) or "").lower() == "true":
            hints += " invisible"
        action = option(config, "action", steps=steps) if config else None
        _add_configured(page, facts, found, family, key, container, hints, action)


def _key_attribute_names(page: Page, steps: Steps) -> list[str]:
    """Names of attributes that hold a site key under another name than ``data-sitekey``,
    as the page's bytes write them (the first few)."""
    data, end = window(page)
    names: list[str] = []
    for examined, m in enumerate(_KEY_EQUALS.finditer(data, 0, end)):
        if examined >= 4 * MAX_ELEMENTS or not steps.take():
            break
        before = data[max(0, m.start() - 80) : m.start() + 3][::-1]
        named = _KEY_ATTR_REVERSED.match(before)
        if named is None:
            continue
        name = named.group()[::-1].decode("ascii", "replace").lower()
        if re.fullmatch(r"[a-z][\w-]*", name) and name != "data-sitekey" and name not in names:
            names.append(name)
            if len(names) >= _MAX_KEY_ATTR_NAMES:
                break
    return names


def _add_configured(
    page: Page,
    facts: Facts,
    found: Found,
    family: str,
    key: str,
    container: Selector | None,
    hints: str,
    action: str | None,
) -> None:
    form = page.enclosing_form(container)
    if family == "turnstile":
        found.turnstile(key, form, field=None, action=action, cdata=None)
    elif family == "mtcaptcha":
        found.mtcaptcha(key, form)
    elif family == "hcaptcha":
        found.hcaptcha(key, form, invisible="invisible" in hints)
    else:
        v3 = "v3" in hints or hints.split()[:1] == ["3"] or "score" in hints
        if v3 and form is None:
            field_el, _ = v3_form(page)
            form = page.enclosing_form(field_el)
        found.recaptcha(
            key,
            form,
            action=action if v3 else None,
            invisible=v3 or "invisible" in hints,
            version="v3" if v3 else "v2",
        )


def _container(page: Page, family: str, steps: Steps) -> Selector | None:
    """The element a plugin's script renders ``family``'s widget into: the first whose
    class or id names it (``<div class="plugin-recaptcha">``), outside code samples."""
    cache: dict[str, Selector | None] = page.memo.setdefault("containers", {})
    if family in cache:
        return cache[family]
    steps.pass_()
    words = _CONTAINER_WORDS.get(family, ())
    lower = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"
    test = " or ".join(
        f"contains(translate(@class, {lower}), '{w}') or contains(translate(@id, {lower}), '{w}')"
        for w in words
    )
    found = None
    if test:
        for el in page.xpath(f"/descendant::*[not(self::script)][{test}][position() <= 8]"):
            if not in_skipped(el, steps):
                found = el
                break
    cache[family] = found
    return found
