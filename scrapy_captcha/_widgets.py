"""Find captcha widgets (Turnstile, reCAPTCHA, hCaptcha) and captcha images in HTML pages.

Pure functions of one response, like ``detection.py``: no I/O. A widget is the real thing
a browser would render: an element carrying a site key, or a captcha API script together
with the call that renders or executes it. Prose about reCAPTCHA, escaped code samples,
markup inside ``<pre>``/``<code>``/``<template>``/``<textarea>`` and scripts that merely
mention the words are not widgets. A cheap byte scan runs first, so most pages never get
parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, urlsplit

from parsel import Selector
from scrapy.http import Response

from scrapy_captcha._kinds import (
    HCAPTCHA,
    RECAPTCHA_ENTERPRISE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    TURNSTILE,
)
from scrapy_captcha._page import (
    ANSWER_FIELD,
    FormRef,
    Page,
    by_target,
    html_page,
)
from scrapy_captcha._scripts import (
    SITEKEY_SHAPES,
    api_mentioned,
    configured_action,
    execute_calls,
    option,
    render_calls,
)

__all__ = ["Widget", "find_widgets"]

#: Widgets (elements with a site key, render calls) looked at on one page.
MAX_WIDGETS: Final = 50
#: Every widget carries a site key: as ``data-sitekey``, as a render call's ``sitekey``
#: option, in a configuration object, or (reCAPTCHA v3) in the API script's URL
#: (``/recaptcha/api.js?render=KEY``, also when injected). Two exact byte searches decide
#: whether a page is parsed at all: about 0.1 ns per byte, and the words "captcha" or
#: "Turnstile" in prose never cost a parse.
_MARKUP: Final = (b"sitekey", b"recaptcha/")
#: Inline script text looked at for render/execute calls, per page.
MAX_SCRIPT_CHARS: Final = 512 * 1024

_SKIP_ANCESTORS: Final = "ancestor::*[self::pre or self::code or self::template or self::textarea or self::xmp or self::noscript]"  # noqa: E501

_RECAPTCHA_API: Final = re.compile(
    r"(?:google\.com|recaptcha\.net|gstatic\.com)/recaptcha/(api|enterprise)\.js", re.I
)
_TURNSTILE_API: Final = re.compile(r"challenges\.cloudflare\.com/turnstile/", re.I)
_HCAPTCHA_API: Final = re.compile(r"hcaptcha\.com/1/api\.js", re.I)


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
    #: reCAPTCHA loaded from www.recaptcha.net (tasks' ``apiDomain``), else None
    api_domain: str | None = field(default=None, repr=False)

    @property
    def task_key(self) -> str:
        """The provider task this widget needs (a key of ``Provider.task_types``)."""
        if self.kind == RECAPTCHA_ENTERPRISE:
            return f"recaptcha_{self.version or 'v2'}_enterprise"
        if self.kind == RECAPTCHA_V2_INVISIBLE:
            return RECAPTCHA_V2
        return self.kind


# -- helpers ----------------------------------------------------------------------------


def _has_markers(body: bytes) -> bool:
    return any(m in body for m in _MARKUP)


def _classes(el: Selector) -> set[str]:
    return set((el.attrib.get("class") or "").split())


def _v3_form(page: Page) -> tuple[Selector | None, str]:
    """The form a v3 token goes into: the one holding an empty hidden captcha field."""
    for inp in page.xpath(
        "//form//input[@type='hidden' or @type='HIDDEN'][@name][not(@value) or @value='']"
    ):
        name = inp.attrib["name"]
        if ANSWER_FIELD.search(name) or name.lower() in ("token", "captcha_token"):
            return inp, name
    return None, "g-recaptcha-response"


# -- widgets ----------------------------------------------------------------------------


def find_widgets(response: Response | Page) -> list[Widget]:
    """Every captcha widget on an HTML page, in document order (element widgets first,
    then script-rendered ones). Returns ``[]`` quickly for pages without widget markup."""
    page = html_page(response)
    if page is None or not _has_markers(page.head()):
        return []
    sel = page.selector
    title = (sel.xpath("normalize-space(//title)").get() or "").strip() or None
    srcs = [s for s in sel.xpath("//script/@src").getall() if s]
    apis = [(s, m.group(1).lower()) for s in srcs if (m := _RECAPTCHA_API.search(s))]
    recaptcha_srcs = [s for s, _ in apis]
    inline = "\n".join(sel.xpath("//script[not(@src)]/text()").getall())[:MAX_SCRIPT_CHARS]
    loaded = api_mentioned(inline)  # (APIs loaded by script injection)
    if recaptcha_srcs:
        loaded.add("grecaptcha")
    if any(_TURNSTILE_API.search(s) for s in srcs):
        loaded.add("turnstile")
    if any(_HCAPTCHA_API.search(s) for s in srcs):
        loaded.add("hcaptcha")
    enterprise = any(api == "enterprise" for _, api in apis) or "grecaptcha.enterprise" in inline
    net = any("recaptcha.net" in s.lower() for s in recaptcha_srcs)
    found = _Found(page, title, "www.recaptcha.net" if net else None)

    # 1. Elements carrying a site key.
    elements = f"(//*[@data-sitekey][not({_SKIP_ANCESTORS})])[position() <= {MAX_WIDGETS}]"
    for el in sel.xpath(elements):
        key = (el.attrib.get("data-sitekey") or "").strip()
        if not key:
            continue
        attr = el.attrib.get
        classes = _classes(el)
        form = page.enclosing_form(el)
        invisible = (attr("data-size") or "").lower() == "invisible"
        if "cf-turnstile" in classes or (key.startswith("0x") and "turnstile" in loaded):
            found.turnstile(
                key,
                form,
                field=attr("data-response-field-name"),
                action=attr("data-action") or None,
                cdata=attr("data-cdata") or None,
            )
        elif "g-recaptcha" in classes or ("grecaptcha" in loaded and key.startswith("6L")):
            action = attr("data-action") or None
            # Google's "bind to a button": invisible v2, or v3 when it names an action.
            button = _is_button(el)
            found.recaptcha(
                key,
                form,
                action=action,
                invisible=invisible or button,
                version="v3" if button and action else "v2",
                enterprise=enterprise,
                s=attr("data-s") or None,
            )
        elif "h-captcha" in classes or "hcaptcha" in loaded:
            found.hcaptcha(key, form, invisible=invisible)

    # 2. Widgets rendered from script: a call whose target exists on the page, with the
    # API loaded (a tag, an injection) or, from a bundle, a site key of the API's shape.
    for call in render_calls(inline, MAX_WIDGETS):
        family = "grecaptcha" if call.api.startswith("grecaptcha") else call.api
        rendered = option(call.options, "sitekey")
        if not rendered or not (family in loaded or SITEKEY_SHAPES[family].fullmatch(rendered)):
            continue
        target = by_target(page, call.literal or call.looked_up)
        if target is None:
            continue  # guarded by a missing element, or a loop over none: nothing renders
        form = page.enclosing_form(target)
        opts = call.options
        if family == "turnstile":
            found.turnstile(
                rendered,
                form,
                field=option(opts, "response-field-name", "responseFieldName"),
                action=option(opts, "action"),
                cdata=option(opts, "cData", "cdata"),
            )
        elif family == "grecaptcha":
            found.recaptcha(
                rendered,
                form,
                action=option(opts, "action"),
                invisible=(option(opts, "size") or "").lower() == "invisible",
                enterprise=enterprise or call.api.endswith("enterprise"),
                s=option(opts, "s"),
            )
        else:
            found.hcaptcha(rendered, form)

    # 3. reCAPTCHA v3: api.js?render=KEY (a key, not "explicit"), executed with an action
    # (literal, or kept in configuration).
    element_keys = {w.sitekey for w in found.widgets}
    executes = execute_calls(inline, MAX_WIDGETS)
    for src in recaptcha_srcs:
        render = parse_qs(urlsplit(src).query).get("render", [""])[0]
        if len(render) < 20 or render in element_keys:  # "explicit", "onload" or a widget's
            continue
        action = next(
            (
                a
                for c in executes
                if c.literal in (None, render) and (a := option(c.options, "action"))
            ),
            None,
        ) or configured_action(inline, render, contact_form=_has_contact_form(page))
        is_enterprise = "enterprise" in src.lower()
        field_el, field_name = _v3_form(page)
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
                page_title=title,
                api_domain="www.recaptcha.net" if "recaptcha.net" in src.lower() else None,
            )
        )
    return found.widgets


def _is_button(el: Selector) -> bool:
    tag = getattr(el.root, "tag", "")
    kind = (el.attrib.get("type") or "").lower()
    return tag == "button" or (tag == "input" and kind in ("submit", "image", "button"))


def _has_contact_form(page: Page) -> bool:
    return bool(page.xpath("(//form[contains(@class, 'wpcf7-form')])[1]"))


class _Found:
    """The widgets of one page, without duplicates, built alike whatever declared them."""

    def __init__(self, page: Page, title: str | None, api_domain: str | None = None) -> None:
        self.page, self.title = page, title
        self.api_domain = api_domain
        self.widgets: list[Widget] = []
        self._seen: set[tuple[str, str, int | None]] = set()

    def add(self, widget: Widget) -> None:
        ident = (widget.kind, widget.sitekey, widget.form.index if widget.form else None)
        if ident not in self._seen:
            self._seen.add(ident)
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

    def recaptcha(
        self,
        key: str,
        form: FormRef | None,
        *,
        action: str | None,
        invisible: bool,
        enterprise: bool,
        version: str = "v2",
        s: str | None = None,
    ) -> None:
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
                api_domain=self.api_domain,
            )
        )
