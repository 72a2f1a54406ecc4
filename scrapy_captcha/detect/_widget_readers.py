"""The widget readers: each reads one way a page declares widgets, in document order,
spending from the page's budget (elements, iframes, render calls, GeeTest v4, v3 scripts,
plugin configuration)."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from scrapy_captcha._kinds import GEETEST_V4, RECAPTCHA_ENTERPRISE, RECAPTCHA_V3
from scrapy_captcha.detect._page import FormRef, Page, targets
from scrapy_captcha.detect._script_config import resolve
from scrapy_captcha.detect._scripts import (
    SITEKEY_SHAPES,
    execute_calls,
    geetest_calls,
    option,
    option_expression,
    render_calls,
)
from scrapy_captcha.detect._widget import Found, v3_action
from scrapy_captcha.detect._widget_facts import (
    MAX_ELEMENTS,
    MAX_IFRAMES,
    MAX_WIDGETS,
    Facts,
    classes_of,
    family_of,
    has_contact_form,
    in_skipped,
    is_button,
    v3_form,
)

_IFRAMES: Final = (
    "/descendant::iframe[contains(@src, 'recaptcha/') or contains(@src, '/turnstile/')"
    " or contains(@src, 'hcaptcha.com') or contains(@data-src, 'recaptcha/')]"
    f"[position() <= {MAX_IFRAMES}]"
)


_GEETEST_ID: Final = re.compile(r"[0-9a-f]{32}")
#: GeeTest v4's callback placing the widget: ``captcha.appendTo('#box')``
_GEETEST_TARGET: Final = re.compile(r"""\.appendTo\(\s*['"]([^'"\\]{1,100})['"]""")


def element_widgets(page: Page, facts: Facts, found: Found) -> None:
    """1. Elements carrying a site key (``data-sitekey``)."""
    steps = facts.steps
    loaded = facts.loaded
    steps.pass_()
    for el in page.xpath(f"/descendant::*[@data-sitekey][position() <= {MAX_ELEMENTS}]"):
        if not steps.take() or found.full:
            break
        if in_skipped(el, steps):
            continue
        key = (el.attrib.get("data-sitekey") or "").strip()
        if not key:
            continue
        attr = el.attrib.get
        classes = classes_of(el)
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
            button = is_button(el)
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


def iframe_widgets(page: Page, facts: Facts, found: Found) -> None:
    """2. Already rendered pages: the widget's own iframe, its key in the URL."""
    steps = facts.steps
    steps.pass_()
    frames = list(page.xpath(_IFRAMES))
    # (a reCAPTCHA "anchor" says the size; its challenge "bframe" only repeats the key)
    frames.sort(key=lambda f: "bframe" in (f.attrib.get("src") or ""))
    for frame in frames:
        if not steps.take() or found.full:
            break
        if in_skipped(frame, steps):
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


def rendered_widgets(page: Page, facts: Facts, found: Found) -> None:
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
                    invisible=size == "invisible" or is_button(target),
                    enterprise=True if call.api.endswith("enterprise") else None,
                    s=option(opts, "s", steps=steps),
                )
            else:
                found.hcaptcha(rendered, form)


def geetest_widgets(page: Page, facts: Facts, found: Found) -> None:
    """4. GeeTest v4: ``initGeetest4({captchaId})``, or its loader URL with the id."""
    steps = facts.steps
    if "initGeetest4" not in facts.inline and "geetest" not in facts.loaded:
        return
    steps.pass_()
    ids: list[tuple[str, str | None, FormRef | None]] = []
    for call in geetest_calls(facts.inline, steps, MAX_WIDGETS):
        captcha_id = option(call.options, "captchaId", "captcha_id", steps=steps)
        if captcha_id and _GEETEST_ID.fullmatch(captcha_id):
            # (its callback appends the widget to an element: the form that holds it)
            after = _GEETEST_TARGET.search(facts.inline, call.at, call.at + 2048)
            where = targets(page, after.group(1))[:1] if after else []
            form = page.enclosing_form(where[0]) if where else None
            ids.append((captcha_id, option(call.options, "product", steps=steps), form))
    for url in facts.urls:
        captcha_id = parse_qs(urlsplit(url).query).get("captcha_id", [""])[0]
        if _GEETEST_ID.fullmatch(captcha_id):
            ids.append((captcha_id, None, None))
    for captcha_id, product, form in ids:
        if not found.has_key(captcha_id):
            found.widget(GEETEST_V4, captcha_id, "", form, invisible=product == "bind")


def v3_widgets(page: Page, facts: Facts, found: Found) -> None:
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
            contact_form = has_contact_form(page)
            field_el, field_name = v3_form(page)
        action = v3_action(facts, render, executes, contact_form=bool(contact_form))
        is_enterprise = "enterprise" in src.lower()
        found.widget(
            RECAPTCHA_ENTERPRISE if is_enterprise else RECAPTCHA_V3,
            render,
            field_name,
            page.enclosing_form(field_el),
            action=action,
            version="v3",
            invisible=True,
            enterprise=is_enterprise,
            api_domain="www.recaptcha.net" if "recaptcha.net" in src.lower() else None,
        )
