"""Find captcha widgets (Turnstile, reCAPTCHA, hCaptcha, GeeTest v4, MTCaptcha, Friendly
Captcha) and captcha images in HTML pages.

Pure functions of one response, like ``_detection.py``: no I/O. A widget is the real thing
a browser would render: an element carrying a site key, a captcha API script together with
the call that renders or executes it, a plugin's configuration with the key its script
renders, or the widget's own iframe on an already rendered page. Prose about reCAPTCHA,
escaped code samples, markup inside ``<pre>``/``<code>``/``<template>``/``<textarea>`` and
scripts that merely mention the words are not widgets.

Bounded by construction: a byte scan decides whether a page is parsed at all; a parsed page
costs a fixed number of passes in C (XPath queries, one regex per kind of marker over the
inline script) and a bounded number of Python steps (:class:`~scrapy_captcha._scan.Steps`):
elements, calls and script tags are looked at up to a cap whether they turn out to be
widgets or not. Pages above :data:`THREAD_BYTES` can be read off the reactor thread with
:func:`find_widgets_async`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from parsel import Selector
from scrapy.http import Response

from scrapy_captcha._kinds import (
    FRIENDLY_CAPTCHA,
    GEETEST_V4,
    HCAPTCHA,
    MTCAPTCHA,
    RECAPTCHA_ENTERPRISE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    TURNSTILE,
)
from scrapy_captcha._markers import has_widget_markers, window
from scrapy_captcha._page import (
    ANSWER_FIELD,
    FormRef,
    Page,
    html_page,
    targets,
)
from scrapy_captcha._scan import Steps
from scrapy_captcha._scripts import (
    KEY_NAMES,
    SITEKEY_SHAPES,
    Call,
    KeyLiteral,
    api_mentioned,
    api_urls,
    configured_action,
    execute_calls,
    geetest_calls,
    key_literals,
    object_around,
    option,
    option_expression,
    option_flag,
    render_calls,
    resolve,
)

__all__ = ["MAX_WIDGETS", "THREAD_BYTES", "Widget", "find_widgets", "find_widgets_async"]

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
#: Pages with more bytes than this are better read in a thread (:func:`find_widgets_async`):
#: parsing alone costs about 10 ms per 700 KB.
THREAD_BYTES: Final = 256 * 1024

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
_IFRAMES: Final = (
    "/descendant::iframe[contains(@src, 'recaptcha/') or contains(@src, '/turnstile/')"
    " or contains(@src, 'hcaptcha.com') or contains(@data-src, 'recaptcha/')]"
    f"[position() <= {MAX_IFRAMES}]"
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

_RECAPTCHA_API: Final = re.compile(
    r"(?:google\.com|recaptcha\.net|gstatic\.com)/recaptcha/(api|enterprise)\.js", re.I
)
_TURNSTILE_API: Final = re.compile(r"challenges\.cloudflare\.com/turnstile/", re.I)
_HCAPTCHA_API: Final = re.compile(r"hcaptcha\.com/1/api\.js", re.I)
_GEETEST_API: Final = re.compile(r"geetest\.com/(?:v4/gt4\.js|load\?)", re.I)
_MTCAPTCHA_API: Final = re.compile(r"mtcaptcha(?:\.com|\.min\.js)", re.I)
_FRIENDLY_API: Final = re.compile(r"friendly-challenge|friendlycaptcha", re.I)
_GEETEST_ID: Final = re.compile(r"[0-9a-f]{32}")
#: Family of each key shape (an hCaptcha UUID counts only with hCaptcha on the page).
_FAMILY_BY_SHAPE: Final = (
    ("grecaptcha", SITEKEY_SHAPES["grecaptcha"]),
    ("turnstile", SITEKEY_SHAPES["turnstile"]),
    ("mtcaptcha", SITEKEY_SHAPES["mtcaptcha"]),
    ("hcaptcha", SITEKEY_SHAPES["hcaptcha"]),
)
#: Words in a container's class or id that say which widget a script renders into it.
_CONTAINER_WORDS: Final = {
    "grecaptcha": ("recaptcha",),
    "turnstile": ("turnstile",),
    "hcaptcha": ("hcaptcha", "h-captcha"),
    "mtcaptcha": ("mtcaptcha",),
}


@dataclass(frozen=True, slots=True)
class Widget:
    """One captcha widget on a page, described as precisely as a solver task needs."""

    kind: str
    sitekey: str
    page_url: str
    response_field: str
    action: str | None = None
    cdata: str | None = None
    version: str = ""  # "v2" / "v3" for reCAPTCHA (Enterprise is either)
    invisible: bool = False
    enterprise: bool = False
    form: FormRef | None = None
    page_title: str | None = field(default=None, repr=False)
    #: reCAPTCHA ``data-s`` / render ``s``: Enterprise's ``enterprisePayload.s``
    s: str | None = field(default=None, repr=False)

    @property
    def task_key(self) -> str:
        """The provider task this widget needs (a key of ``Provider.task_types``)."""
        if self.kind == RECAPTCHA_ENTERPRISE:
            return f"recaptcha_{self.version or 'v2'}_enterprise"
        if self.kind == RECAPTCHA_V2_INVISIBLE:
            return RECAPTCHA_V2
        return self.kind


def family_of(key: str) -> str | None:
    """The API family a site key's shape belongs to, if it has a telling shape."""
    for family, shape in _FAMILY_BY_SHAPE:
        if shape.fullmatch(key):
            return family
    return None


# -- what the page loads ------------------------------------------------------------------


class _Facts:
    """What a parsed page declares, read in a fixed number of passes."""

    def __init__(self, page: Page) -> None:
        steps = self.steps = page.steps
        sel = page.selector
        root = sel.root
        steps.pass_()
        title = sel.xpath("normalize-space(/descendant::title[1])").get() or ""
        self.title = title.strip() or None
        steps.pass_()
        srcs = [s for s in _API_SCRIPTS(root) if isinstance(s, str)] if _is_tree(root) else []
        steps.pass_()
        texts = _INLINE(root) if _is_tree(root) else []
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


def _is_tree(root: object) -> bool:
    return hasattr(root, "getroottree")


def _in_skipped(el: Selector, steps: Steps) -> bool:
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


def _classes(el: Selector) -> set[str]:
    return set((el.attrib.get("class") or "").split())


def _is_button(el: Selector) -> bool:
    tag = getattr(el.root, "tag", "")
    kind = (el.attrib.get("type") or "").lower()
    return tag == "button" or (tag == "input" and kind in ("submit", "image", "button"))


# -- widgets ----------------------------------------------------------------------------


def find_widgets(response: Response | Page) -> list[Widget]:
    """Every captcha widget on an HTML page, in the order they were declared (elements,
    iframes, render calls, configuration, then v3 scripts). Returns ``[]`` quickly for
    pages without widget markup."""
    page = html_page(response)
    if page is None or not has_widget_markers(page):
        return []
    facts = _Facts(page)
    found = _Found(page, facts)
    _element_widgets(page, facts, found)
    _iframe_widgets(page, facts, found)
    _rendered_widgets(page, facts, found)
    _geetest_widgets(page, facts, found)
    _v3_widgets(page, facts, found)
    _configured_widgets(page, facts, found)
    return found.widgets


async def find_widgets_async(response: Response | Page) -> list[Widget]:
    """:func:`find_widgets`, in a thread for pages above :data:`THREAD_BYTES` that carry
    widget markers (parsing and XPath release the GIL), inline otherwise. Works under
    either reactor; the Page it fills is used by one thread at a time."""
    page = html_page(response)
    if page is None:
        return []
    if len(page.response.body) <= THREAD_BYTES or not has_widget_markers(page):
        return find_widgets(page)
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet.threads import deferToThread

    return await maybe_deferred_to_future(deferToThread(find_widgets, page))


def _element_widgets(page: Page, facts: _Facts, found: _Found) -> None:
    """1. Elements carrying a site key (``data-sitekey``)."""
    steps = facts.steps
    loaded = facts.loaded
    steps.pass_()
    for el in page.xpath(f"/descendant::*[@data-sitekey][position() <= {MAX_ELEMENTS}]"):
        if not steps.take() or found.full:
            break
        if _in_skipped(el, steps):
            continue
        key = (el.attrib.get("data-sitekey") or "").strip()
        if not key:
            continue
        attr = el.attrib.get
        classes = _classes(el)
        form = page.enclosing_form(el)
        invisible = (attr("data-size") or "").lower() == "invisible"
        shape = family_of(key)
        if "frc-captcha" in classes:
            found.friendly(key, form, field=attr("data-solution-field-name"))
        elif (
            "cf-turnstile" in classes
            or "wpforms-turnstile" in classes
            or shape == "turnstile"
            or (key.startswith("0x") and "turnstile" in loaded)
        ):
            # (WPForms renders Turnstile into a div.g-recaptcha: the key's shape decides)
            found.turnstile(
                key,
                form,
                field=attr("data-response-field-name"),
                action=attr("data-action") or None,
                cdata=attr("data-cdata") or None,
            )
        elif "g-recaptcha" in classes or ("grecaptcha" in loaded and shape == "grecaptcha"):
            action = attr("data-action") or None
            # Google's "bind to a button": invisible v2, or v3 when it names an action.
            button = _is_button(el)
            found.recaptcha(
                key,
                form,
                action=action,
                invisible=invisible or button,
                version="v3" if button and action else "v2",
                s=attr("data-s") or None,
            )
        elif "h-captcha" in classes or "hcaptcha" in loaded:
            found.hcaptcha(key, form, invisible=invisible)
        elif "mtcaptcha" in classes or shape == "mtcaptcha":
            found.mtcaptcha(key, form)


def _iframe_widgets(page: Page, facts: _Facts, found: _Found) -> None:
    """2. Already rendered pages: the widget's own iframe, its key in the URL."""
    steps = facts.steps
    steps.pass_()
    frames = list(page.xpath(_IFRAMES))
    # (a reCAPTCHA "anchor" says the size; its challenge "bframe" only repeats the key)
    frames.sort(key=lambda f: "bframe" in (f.attrib.get("src") or ""))
    for frame in frames:
        if not steps.take() or found.full:
            break
        if _in_skipped(frame, steps):
            continue
        src = (frame.attrib.get("src") or frame.attrib.get("data-src") or "").strip()
        parts = urlsplit(src)
        query = parse_qs(parts.query)
        form = page.enclosing_form(frame)
        if "/recaptcha/" in parts.path:
            key = query.get("k", [""])[0]
            if not SITEKEY_SHAPES["grecaptcha"].fullmatch(key) or found.has_key(key):
                continue
            size = query.get("size", [""])[0].lower()
            found.recaptcha(
                key,
                form,
                action=None,
                invisible=size == "invisible",
                enterprise="/enterprise/" in parts.path or None,
            )
        elif "hcaptcha.com" in parts.netloc:
            fragment = parse_qs(parts.fragment)
            key = (fragment.get("sitekey") or query.get("sitekey") or [""])[0]
            if SITEKEY_SHAPES["hcaptcha"].fullmatch(key) and not found.has_key(key):
                size = (fragment.get("size") or [""])[0].lower()
                found.hcaptcha(key, form, invisible=size == "invisible")
        elif "/turnstile/" in parts.path:
            key = next(
                (s for s in parts.path.split("/") if SITEKEY_SHAPES["turnstile"].fullmatch(s)),
                "",
            )
            if key and not found.has_key(key):
                found.turnstile(key, form, field=None, action=None, cdata=None)


def _rendered_widgets(page: Page, facts: _Facts, found: _Found) -> None:
    """3. Widgets rendered from script: a call whose target exists on the page, with the
    API loaded (a tag, a lazy tag, an injection) or, from a bundle, a site key of the API's
    shape; the key written in the call or held by a variable defined elsewhere."""
    steps = facts.steps
    steps.pass_()
    executes = execute_calls(facts.inline, steps, MAX_WIDGETS)
    facts.executes = executes
    steps.pass_()
    renders = render_calls(facts.inline, steps, MAX_WIDGETS)
    facts.calls = [(c.at, c.end) for c in (*executes, *renders)]
    for call in renders:
        if found.full:
            break
        family = "grecaptcha" if call.api.startswith("grecaptcha") else call.api
        opts = call.options
        shape = SITEKEY_SHAPES[family]
        rendered = option(opts, "sitekey", steps=steps) or resolve(
            option_expression(opts, "sitekey", steps), facts.keys, shape
        )
        if not rendered or not (family in facts.loaded or shape.fullmatch(rendered)):
            continue
        if call.literal:
            elements = targets(page, call.literal)[:1]
        else:
            # A loop over candidates renders into every one that exists.
            elements = [e for css in call.looked_up for e in targets(page, css)]
        for target in elements[:8]:
            if not steps.take():
                break
            form = page.enclosing_form(target)
            if family == "turnstile":
                found.turnstile(
                    rendered,
                    form,
                    field=option(opts, "response-field-name", "responseFieldName", steps=steps),
                    action=option(opts, "action", steps=steps),
                    cdata=option(opts, "cData", "cdata", steps=steps),
                )
            elif family == "grecaptcha":
                size = (option(opts, "size", steps=steps) or "").lower()
                found.recaptcha(
                    rendered,
                    form,
                    action=option(opts, "action", steps=steps),
                    # Rendered onto a button: the invisible integration.
                    invisible=size == "invisible" or _is_button(target),
                    enterprise=True if call.api.endswith("enterprise") else None,
                    s=option(opts, "s", steps=steps),
                )
            else:
                found.hcaptcha(rendered, form)


def _geetest_widgets(page: Page, facts: _Facts, found: _Found) -> None:
    """4. GeeTest v4: ``initGeetest4({captchaId})``, or its loader URL with the id."""
    steps = facts.steps
    if "initGeetest4" not in facts.inline and "geetest" not in facts.loaded:
        return
    steps.pass_()
    ids: list[tuple[str, str | None]] = []
    for call in geetest_calls(facts.inline, steps, MAX_WIDGETS):
        captcha_id = option(call.options, "captchaId", "captcha_id", steps=steps)
        if captcha_id and _GEETEST_ID.fullmatch(captcha_id):
            ids.append((captcha_id, option(call.options, "product", steps=steps)))
    for url in facts.urls:
        captcha_id = parse_qs(urlsplit(url).query).get("captcha_id", [""])[0]
        if _GEETEST_ID.fullmatch(captcha_id):
            ids.append((captcha_id, None))
    for captcha_id, product in ids:
        if not found.has_key(captcha_id):
            found.add(
                Widget(
                    kind=GEETEST_V4,
                    sitekey=captcha_id,
                    page_url=page.url,
                    response_field="",
                    invisible=product == "bind",
                    form=None,
                    page_title=facts.title,
                )
            )


def _v3_widgets(page: Page, facts: _Facts, found: _Found) -> None:
    """5. reCAPTCHA v3: ``api.js?render=KEY`` (a key, not "explicit"; in a tag, a lazy tag
    or an injected URL), executed with an action (literal, or kept in configuration)."""
    steps = facts.steps
    executes = facts.executes
    contact_form: bool | None = None
    field_el: Selector | None = None
    field_name = ""
    looked = False
    for render, src in facts.v3_keys.items():
        if found.full or not steps.take():
            break
        if found.has_key(render):  # (an element or render call declared it already)
            continue
        if not looked:
            looked = True
            contact_form = _has_contact_form(page)
            field_el, field_name = _v3_form(page)
        action = _v3_action(facts, render, executes, contact_form=bool(contact_form))
        is_enterprise = "enterprise" in src.lower()
        found.add(
            Widget(
                kind=RECAPTCHA_ENTERPRISE if is_enterprise else RECAPTCHA_V3,
                sitekey=render,
                page_url=page.url,
                response_field=field_name,
                action=action,
                version="v3",
                invisible=True,
                enterprise=is_enterprise,
                form=page.enclosing_form(field_el),
                page_title=facts.title,
            )
        )


def _v3_action(
    facts: _Facts, key: str, executes: Iterable[Call], *, contact_form: bool
) -> str | None:
    for call in executes:
        if call.literal in (None, key):
            action = option(call.options, "action", steps=facts.steps)
            if action:
                return action
    return configured_action(
        facts.inline, key, contact_form=contact_form, keys=facts.keys, steps=facts.steps
    )


def _configured_widgets(page: Page, facts: _Facts, found: _Found) -> None:
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
            if _in_skipped(el, steps):
                continue
            for name, value in el.attrib.items():
                if name not in names:
                    continue
                key = value.strip()
                family = family_of(key)
                if family is None or found.has_key(key):
                    continue
                if family == "hcaptcha" and "hcaptcha" not in name.lower() + " ".join(
                    _classes(el)
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
    facts: _Facts,
    found: _Found,
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
            field_el, _ = _v3_form(page)
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
    cache: dict[str, Selector | None] = page.__dict__.setdefault("_containers", {})
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
            if not _in_skipped(el, steps):
                found = el
                break
    cache[family] = found
    return found


def _has_contact_form(page: Page) -> bool:
    page.steps.pass_()
    return bool(page.xpath("/descendant::form[contains(@class, 'wpcf7-form')][1]"))


def _v3_form(page: Page) -> tuple[Selector | None, str]:
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


class _Found:
    """The widgets of one page, without duplicates, built alike whatever declared them."""

    def __init__(self, page: Page, facts: _Facts) -> None:
        self.page, self.facts, self.title = page, facts, facts.title
        self.widgets: list[Widget] = []
        self._seen: set[tuple[str, str, int | None]] = set()
        self._keys: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.widgets) >= MAX_WIDGETS

    def has_key(self, key: str) -> bool:
        return key in self._keys

    def add(self, widget: Widget) -> None:
        ident = (widget.kind, widget.sitekey, widget.form.index if widget.form else None)
        if ident not in self._seen and not self.full:
            self._seen.add(ident)
            self._keys.add(widget.sitekey)
            self.widgets.append(widget)

    def turnstile(
        self,
        key: str,
        form: FormRef | None,
        *,
        field: str | None,
        action: str | None,
        cdata: str | None,
    ) -> None:
        self.add(
            Widget(
                kind=TURNSTILE,
                sitekey=key,
                page_url=self.page.url,
                response_field=field or "cf-turnstile-response",
                action=action,
                cdata=cdata,
                form=form,
                page_title=self.title,
            )
        )

    def hcaptcha(self, key: str, form: FormRef | None, *, invisible: bool = False) -> None:
        self.add(
            Widget(
                kind=HCAPTCHA,
                sitekey=key,
                page_url=self.page.url,
                response_field="h-captcha-response",
                invisible=invisible,
                form=form,
                page_title=self.title,
            )
        )

    def mtcaptcha(self, key: str, form: FormRef | None) -> None:
        self.add(
            Widget(
                kind=MTCAPTCHA,
                sitekey=key,
                page_url=self.page.url,
                response_field="mtcaptcha-verifiedtoken",
                form=form,
                page_title=self.title,
            )
        )

    def friendly(self, key: str, form: FormRef | None, *, field: str | None) -> None:
        self.add(
            Widget(
                kind=FRIENDLY_CAPTCHA,
                sitekey=key,
                page_url=self.page.url,
                response_field=field or "frc-captcha-solution",
                form=form,
                page_title=self.title,
            )
        )

    def recaptcha(
        self,
        key: str,
        form: FormRef | None,
        *,
        action: str | None,
        invisible: bool,
        enterprise: bool | None = None,
        version: str = "v2",
        s: str | None = None,
    ) -> None:
        facts = self.facts
        enterprise = facts.enterprise if enterprise is None else enterprise
        if key in facts.v3_keys:
            # A key the API was loaded with (render=KEY) is a v3 key, however rendered:
            # its token comes from execute(), with the action given there.
            version = "v3"
            action = action or _v3_action(
                facts,
                key,
                facts.executes,
                contact_form=False,
            )
        if enterprise:
            kind = RECAPTCHA_ENTERPRISE
        elif version == "v3":
            kind = RECAPTCHA_V3
        else:
            kind = RECAPTCHA_V2_INVISIBLE if invisible else RECAPTCHA_V2
        self.add(
            Widget(
                kind=kind,
                sitekey=key,
                page_url=self.page.url,
                response_field="g-recaptcha-response",
                action=action,
                version=version,
                invisible=invisible or version == "v3",
                enterprise=enterprise,
                form=form,
                page_title=self.title,
                s=s,
            )
        )
