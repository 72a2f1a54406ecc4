"""What a parsed page declares about captcha widgets, read in a fixed number of passes:
the captcha API scripts it loads (tags, lazy loaders' attributes, injected URLs), its
inline script (bounded), the site-key literals in it, and the v3 keys; plus the small
element helpers every widget reader shares.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from parsel import Selector

from scrapy_captcha.detect._page import ANSWER_FIELD, Page
from scrapy_captcha.detect._scan import Steps
from scrapy_captcha.detect._script_config import KeyLiteral, key_literals, resolve
from scrapy_captcha.detect._scripts import SITEKEY_SHAPES, Call, api_mentioned, api_urls

#: Widgets found on one page.
MAX_WIDGETS: Final = 50


#: Elements carrying a site key looked at on one page, widgets or not.
MAX_ELEMENTS: Final = 2 * MAX_WIDGETS


#: Captcha API script tags (``src`` and lazy-loading attributes) looked at on one page.
MAX_API_SCRIPTS: Final = 64


#: Widget iframes looked at on one page.
MAX_IFRAMES: Final = 16


#: Inline script text looked at for render/execute calls, per page.
MAX_SCRIPT_CHARS: Final = 512 * 1024


_SKIP_TAGS: Final = frozenset({"pre", "code", "template", "textarea", "xmp", "noscript"})


#: Attributes lazy loaders keep a script's URL in until they load it (WP Rocket, lazy-load
#: plugins, LiteSpeed), besides ``src``.
_SRC_ATTRS: Final = ("src", "data-src", "data-rocket-src", "data-lazy-src", "data-litespeed-src")


_API_WORDS: Final = ("captcha", "turnstile", "geetest", "friendly")


#: (``/descendant::x[...][position() <= N]``: one context node and a positional last
#: predicate, so libxml2 neither merges per-node results nor keeps more than N.)
_API_SCRIPTS: Final = etree.XPath(
    "/descendant::script["
    + " or ".join(
        f"contains(concat({', '.join('@' + a for a in _SRC_ATTRS)}), '{w}')" for w in _API_WORDS
    )
    + f"][position() <= {MAX_API_SCRIPTS}]/@*["
    + " or ".join(f"name()='{a}'" for a in _SRC_ATTRS)
    + "]",
    smart_strings=False,
)


_INLINE: Final = etree.XPath("/descendant::script[not(@src)]/text()", smart_strings=False)


_RECAPTCHA_API: Final = re.compile(
    r"(?:google\.com|recaptcha\.net|gstatic\.com)/recaptcha/(api|enterprise)\.js", re.I
)


_TURNSTILE_API: Final = re.compile(r"challenges\.cloudflare\.com/turnstile/", re.I)


_HCAPTCHA_API: Final = re.compile(r"hcaptcha\.com/1/api\.js", re.I)


_GEETEST_API: Final = re.compile(r"geetest\.com/(?:v4/gt4\.js|load\?)", re.I)


_MTCAPTCHA_API: Final = re.compile(r"mtcaptcha(?:\.com|\.min\.js)", re.I)


_FRIENDLY_API: Final = re.compile(r"friendly-challenge|friendlycaptcha", re.I)


#: Family of each key shape (an hCaptcha UUID counts only with hCaptcha on the page).
_FAMILY_BY_SHAPE: Final = (
    ("grecaptcha", SITEKEY_SHAPES["grecaptcha"]),
    ("turnstile", SITEKEY_SHAPES["turnstile"]),
    ("mtcaptcha", SITEKEY_SHAPES["mtcaptcha"]),
    ("hcaptcha", SITEKEY_SHAPES["hcaptcha"]),
)


def family_of(key: str) -> str | None:
    """The API family a site key's shape belongs to, if it has a telling shape."""
    for family, shape in _FAMILY_BY_SHAPE:
        if shape.fullmatch(key):
            return family
    return None


class Facts:
    """What a parsed page declares, read in a fixed number of passes."""

    def __init__(self, page: Page) -> None:
        steps = self.steps = page.steps
        sel = page.selector
        root = sel.root
        steps.pass_()
        title = sel.xpath("normalize-space(/descendant::title[1])").get() or ""
        self.title = title.strip() or None
        steps.pass_()
        srcs = [s for s in _API_SCRIPTS(root) if isinstance(s, str)] if is_tree(root) else []
        steps.pass_()
        texts = _INLINE(root) if is_tree(root) else []
        inline, size = [], 0
        for text in texts:
            if not isinstance(text, str) or not steps.take():
                continue
            inline.append(text)
            size += len(text) + 1
            if size >= MAX_SCRIPT_CHARS:
                break
        self.inline = "\n".join(inline)[:MAX_SCRIPT_CHARS]
        steps.pass_()
        self.injected = api_urls(self.inline, steps)
        self.urls = [*srcs, *(u.url for u in self.injected)]
        steps.pass_()
        self.keys: list[KeyLiteral] = key_literals(self.inline, steps)
        steps.pass_()
        self.loaded = api_mentioned(self.inline)
        self.recaptcha_urls: list[tuple[str, str | None]] = []
        for url in srcs:
            self._loads(url, None)
        for injected in self.injected:
            self._loads(injected.url, injected.variable)
        self.executes: list[Call] = []
        self.calls: list[tuple[int, int]] = []
        self.enterprise = (
            any(_RECAPTCHA_API.search(u) and "enterprise" in u.lower() for u in self.urls)
            or "grecaptcha.enterprise" in self.inline
        )
        #: the reCAPTCHA API loaded from www.recaptcha.net (tasks' ``apiDomain``)
        self.api_domain = (
            "www.recaptcha.net"
            if any("recaptcha.net" in url.lower() for url, _ in self.recaptcha_urls)
            else None
        )
        #: v3 keys: ``render=KEY`` of a reCAPTCHA API URL (or a variable holding one)
        self.v3_keys: dict[str, str] = {}
        for url, variable in self.recaptcha_urls:
            render = parse_qs(urlsplit(url).query).get("render", [""])[0]
            if variable and not render and url.rstrip().endswith("render="):
                render = resolve(variable, self.keys, SITEKEY_SHAPES["grecaptcha"]) or ""
            if SITEKEY_SHAPES["grecaptcha"].fullmatch(render) and render not in self.v3_keys:
                self.v3_keys[render] = url
            if len(self.v3_keys) >= MAX_WIDGETS:
                break

    def _loads(self, url: str, variable: str | None) -> None:
        m = _RECAPTCHA_API.search(url)
        if m:
            self.loaded.add("grecaptcha")
            self.recaptcha_urls.append((url, variable))
        if _TURNSTILE_API.search(url):
            self.loaded.add("turnstile")
        if _HCAPTCHA_API.search(url):
            self.loaded.add("hcaptcha")
        if _GEETEST_API.search(url):
            self.loaded.add("geetest")
        if _MTCAPTCHA_API.search(url):
            self.loaded.add("mtcaptcha")
        if _FRIENDLY_API.search(url):
            self.loaded.add("friendly")


def is_tree(root: object) -> bool:
    return hasattr(root, "getroottree")


def in_skipped(el: Selector, steps: Steps) -> bool:
    """Inside ``<pre>``, ``<code>``, ``<template>``...: shown or kept, never rendered."""
    root = el.root
    if not hasattr(root, "iterancestors"):
        return False
    for ancestor in root.iterancestors():
        if not steps.take():
            return True  # (out of budget: not looked at, not a widget)
        if ancestor.tag in _SKIP_TAGS:
            return True
    return False


def classes_of(el: Selector) -> set[str]:
    return set((el.attrib.get("class") or "").split())


def is_button(el: Selector) -> bool:
    tag = getattr(el.root, "tag", "")
    kind = (el.attrib.get("type") or "").lower()
    return tag == "button" or (tag == "input" and kind in ("submit", "image", "button"))


def has_contact_form(page: Page) -> bool:
    page.steps.pass_()
    return bool(page.xpath("/descendant::form[contains(@class, 'wpcf7-form')][1]"))


def v3_form(page: Page) -> tuple[Selector | None, str]:
    """The form a v3 token goes into: the one holding an empty hidden captcha field."""
    page.steps.pass_()
    for inp in page.xpath(
        "/descendant::input[@type='hidden' or @type='HIDDEN'][@name][not(@value) or @value='']"
        f"[ancestor::form][position() <= {MAX_ELEMENTS}]"
    ):
        if not page.steps.take():
            break
        name = inp.attrib["name"]
        if ANSWER_FIELD.search(name) or name.lower() in ("token", "captcha_token"):
            return inp, name
    return None, "g-recaptcha-response"
