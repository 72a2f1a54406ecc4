"""Find captcha widgets (Turnstile, reCAPTCHA, hCaptcha) and captcha images in HTML pages.

Pure functions of one response, like ``detection.py``: no I/O. A widget is the real thing
a browser would render: an element carrying a site key, or a captcha API script together
with the call that renders or executes it. Prose about reCAPTCHA, escaped code samples,
markup inside ``<pre>``/``<code>``/``<template>``/``<textarea>`` and scripts that merely
mention the words are not widgets. A cheap byte scan runs first, so most pages never get
parsed here.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, unquote_to_bytes, urljoin, urlsplit

from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse

__all__ = [
    "HCAPTCHA",
    "IMAGE",
    "KINDS",
    "RECAPTCHA_ENTERPRISE",
    "RECAPTCHA_V2",
    "RECAPTCHA_V2_INVISIBLE",
    "RECAPTCHA_V3",
    "TURNSTILE",
    "CaptchaImage",
    "FormRef",
    "Widget",
    "find_image",
    "find_widgets",
]

TURNSTILE: Final = "turnstile"
RECAPTCHA_V2: Final = "recaptcha_v2"
RECAPTCHA_V2_INVISIBLE: Final = "recaptcha_v2_invisible"
RECAPTCHA_V3: Final = "recaptcha_v3"
RECAPTCHA_ENTERPRISE: Final = "recaptcha_enterprise"
HCAPTCHA: Final = "hcaptcha"
IMAGE: Final = "image"
#: Widget kinds, as used in CAPTCHA_WIDGETS, stats and ``captcha_result["kind"]``.
KINDS: Final = (
    TURNSTILE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    RECAPTCHA_ENTERPRISE,
    HCAPTCHA,
    IMAGE,
)

#: Only this many leading body bytes are scanned for widget markers.
MAX_SCAN_BYTES: Final = 2 * 1024 * 1024
#: Inline script text looked at for render/execute calls, per page.
MAX_SCRIPT_CHARS: Final = 512 * 1024

#: Every widget needs a class (``g-recaptcha``, ``h-captcha``, ``cf-turnstile``) or an API
#: script URL holding one of these (class names and URL paths are case-sensitive, written
#: in lower case). Two exact byte searches: about 0.8 µs per KB of page.
_MARKERS: Final = (b"captcha", b"turnstile")
_SKIP_ANCESTORS: Final = "ancestor::*[self::pre or self::code or self::template or self::textarea or self::xmp or self::noscript]"  # noqa: E501

_RECAPTCHA_API: Final = re.compile(
    r"(?:google\.com|recaptcha\.net|gstatic\.com)/recaptcha/(api|enterprise)\.js", re.I
)
_TURNSTILE_API: Final = re.compile(r"challenges\.cloudflare\.com/turnstile/", re.I)
_HCAPTCHA_API: Final = re.compile(r"hcaptcha\.com/1/api\.js", re.I)
_Q: Final = r"""['"`]"""
#: grecaptcha[.enterprise].execute(KEY_OR_EXPR, {action: 'x'})
_EXECUTE: Final = re.compile(
    r"grecaptcha\s*\.\s*(enterprise\s*\.\s*)?execute\s*\(\s*"
    rf"(?:{_Q}(?P<key>[\w-]{{20,64}}){_Q}|[\w$.\[\]'\"]+)\s*,\s*\{{(?P<opts>[^{{}}]{{0,400}})\}}",
)
_OPT: Final = r"""['"]?{name}['"]?\s*:\s*(['"`])(?P<v>[^'"`]{{0,200}})\1"""
#: turnstile.render(target, {...}) and grecaptcha[.enterprise].render(target, {...})
_RENDER: Final = re.compile(
    r"(?P<api>turnstile|grecaptcha\s*\.\s*enterprise|grecaptcha|hcaptcha)\s*\.\s*render\s*\(\s*"
    rf"(?:{_Q}(?P<target>[^'\"`]{{1,200}}){_Q}|[\w$.\[\]'\"()]+)\s*,\s*\{{(?P<opts>[^{{}}]{{0,1000}})\}}",
)
_TEXTLIKE: Final = frozenset(
    {"", "text", "email", "password", "search", "tel", "url", "number", "date", "month"}
)
#: A gate page shows little besides its form ("verify you are human, then continue"): a
#: page with more visible text than this outside the widget's form is a content page whose
#: form (an add-to-cart, a comment box) must not be submitted on the spider's behalf.
GATE_MAX_TEXT: Final = 2000
_OUTSIDE_TEXT: Final = (
    "//body//text()[not(ancestor::form) and not(ancestor::script) and not(ancestor::style)"
    " and not(ancestor::noscript) and not(ancestor::template)]"
)

#: Names of fields that hold a captcha answer: never counted as "needs user input".
_ANSWER_FIELD: Final = re.compile(r"captcha|recaptcha|turnstile|respkey|resp-key|resp_key", re.I)


@dataclass(frozen=True, slots=True)
class FormRef:
    """The form a widget sits in. ``index`` counts the page's ``<form>`` elements in
    document order (``FormRequest.from_response(formnumber=...)``). ``needs_input`` names
    the visible empty fields a person would have to fill besides the captcha, and
    ``page_text`` counts the visible characters of the page outside any form. A form with
    nothing to fill on a page with little else is a *gate* ("verify you are human, then
    continue")."""

    index: int
    action: str
    method: str
    id: str | None = None
    needs_input: tuple[str, ...] = ()
    page_text: int = 0

    @property
    def is_gate(self) -> bool:
        return not self.needs_input and self.page_text <= GATE_MAX_TEXT


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

    @property
    def task_key(self) -> str:
        """The provider task this widget needs (a key of ``Provider.task_types``)."""
        if self.kind == RECAPTCHA_ENTERPRISE:
            return f"recaptcha_{self.version or 'v2'}_enterprise"
        if self.kind == RECAPTCHA_V2_INVISIBLE:
            return RECAPTCHA_V2
        return self.kind


@dataclass(frozen=True, slots=True)
class CaptchaImage:
    """A captcha image on a page: either its URL (to fetch in the page's session) or the
    bytes of a ``data:`` URL, and the form and field its answer goes into."""

    page_url: str
    field_name: str
    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    form: FormRef | None = None


# -- helpers ----------------------------------------------------------------------------


def _html(response: Response) -> TextResponse | None:
    if not isinstance(response, TextResponse):
        return None
    ctype = (response.headers.get("Content-Type") or b"").lower()
    if ctype and b"html" not in ctype and b"xml" not in ctype:
        return None
    return response


def _has_markers(body: bytes) -> bool:
    head = memoryview(body)[:MAX_SCAN_BYTES].tobytes() if len(body) > MAX_SCAN_BYTES else body
    return any(m in head for m in _MARKERS)


def _opt(opts: str, *names: str) -> str | None:
    for name in names:
        m = re.search(_OPT.format(name=re.escape(name)), opts)
        if m:
            return m.group("v")
    return None


def _classes(el: Selector) -> set[str]:
    return set((el.attrib.get("class") or "").split())


def _forms(sel: Selector) -> SelectorList[Selector]:
    return sel.xpath("//form")


def _form_ref(response: TextResponse, form: Selector, index: int) -> FormRef:
    needs: list[str] = []
    for inp in form.xpath(".//input|.//textarea"):
        tag = inp.root.tag if hasattr(inp.root, "tag") else ""
        name = inp.attrib.get("name") or ""
        if not name or _ANSWER_FIELD.search(name) or "disabled" in inp.attrib:
            continue
        if "readonly" in inp.attrib or inp.attrib.get("aria-hidden") == "true":
            continue
        if tag == "textarea":
            if not "".join(inp.xpath("text()").getall()).strip():
                needs.append(name)
            continue
        if (inp.attrib.get("type") or "").lower() in _TEXTLIKE and not inp.attrib.get("value"):
            needs.append(name)
    outside = sum(len(t.strip()) for t in response.xpath(_OUTSIDE_TEXT).getall())
    return FormRef(
        index=index,
        action=response.urljoin(form.attrib.get("action") or response.url),
        method=(form.attrib.get("method") or "GET").upper(),
        id=form.attrib.get("id"),
        needs_input=tuple(dict.fromkeys(needs)),
        page_text=outside,
    )


def _enclosing_form(response: TextResponse, el: Selector | None) -> FormRef | None:
    if el is None:
        return None
    forms = _forms(response.selector)
    found = el.xpath("ancestor-or-self::form[1]")
    if not found:
        # A button or input may name its form by id, outside the form element.
        form_id = el.attrib.get("form")
        if not form_id:
            return None
        found = forms.xpath(f"self::*[@id={_xpath_literal(form_id)}]")
        if not found:
            return None
    root = found[0].root
    for i, candidate in enumerate(forms):
        if candidate.root is root:
            return _form_ref(response, candidate, i)
    return None


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat('" + value.replace("'", "',\"'\",'") + "')"


def _by_target(response: TextResponse, target: str | None) -> Selector | None:
    """The element a render call targets ('#id', '.class' or a bare id)."""
    if not target:
        return None
    try:
        found = (
            response.css(target)
            if target[0] in "#.["
            else response.xpath(f"//*[@id={_xpath_literal(target)}]")
        )
    except Exception:  # an expression we cannot read as CSS
        return None
    return found[0] if found else None


def _v3_form(response: TextResponse) -> tuple[Selector | None, str]:
    """The form a v3 token goes into: the one holding an empty hidden captcha field."""
    for inp in response.xpath(
        "//form//input[@type='hidden' or @type='HIDDEN'][@name][not(@value) or @value='']"
    ):
        name = inp.attrib["name"]
        if _ANSWER_FIELD.search(name) or name.lower() in ("token", "captcha_token"):
            return inp, name
    return None, "g-recaptcha-response"


# -- widgets ----------------------------------------------------------------------------


def find_widgets(response: Response) -> list[Widget]:
    """Every captcha widget on an HTML page, in document order (element widgets first,
    then script-rendered ones). Returns ``[]`` quickly for pages without markers."""
    page = _html(response)
    if page is None or not _has_markers(page.body):
        return []
    sel = page.selector
    title = (sel.xpath("normalize-space(//title)").get() or "").strip() or None
    srcs = [s for s in sel.xpath("//script/@src").getall() if s]
    apis = [(s, m.group(1).lower()) for s in srcs if (m := _RECAPTCHA_API.search(s))]
    recaptcha_srcs = [s for s, _ in apis]
    enterprise_api = any(api == "enterprise" for _, api in apis)
    inline = "\n".join(sel.xpath("//script[not(@src)]/text()").getall())[:MAX_SCRIPT_CHARS]
    enterprise = enterprise_api or "grecaptcha.enterprise" in inline
    has_turnstile_api = any(_TURNSTILE_API.search(s) for s in srcs)
    has_hcaptcha_api = any(_HCAPTCHA_API.search(s) for s in srcs)

    found: list[Widget] = []
    seen: set[tuple[str, str, int | None]] = set()

    def add(widget: Widget) -> None:
        ident = (widget.kind, widget.sitekey, widget.form.index if widget.form else None)
        if ident not in seen:
            seen.add(ident)
            found.append(widget)

    def build(
        family: str,
        key: str,
        form: FormRef | None,
        *,
        field: str | None = None,
        action: str | None = None,
        cdata: str | None = None,
        invisible: bool = False,
        is_enterprise: bool = False,
    ) -> None:
        """One widget of a family, whether declared by an element or a render call."""
        if family == TURNSTILE:
            widget = Widget(
                kind=TURNSTILE,
                sitekey=key,
                page_url=page.url,
                response_field=field or "cf-turnstile-response",
                action=action,
                cdata=cdata,
                form=form,
                page_title=title,
            )
        elif family == HCAPTCHA:
            widget = Widget(
                kind=HCAPTCHA,
                sitekey=key,
                page_url=page.url,
                response_field="h-captcha-response",
                invisible=invisible,
                form=form,
                page_title=title,
            )
        else:
            widget = Widget(
                kind=RECAPTCHA_ENTERPRISE
                if is_enterprise
                else (RECAPTCHA_V2_INVISIBLE if invisible else RECAPTCHA_V2),
                sitekey=key,
                page_url=page.url,
                response_field="g-recaptcha-response",
                action=action,
                version="v2",
                invisible=invisible,
                enterprise=is_enterprise,
                form=form,
                page_title=title,
            )
        add(widget)

    # 1. Elements carrying a site key.
    for el in sel.xpath(f"//*[@data-sitekey][not({_SKIP_ANCESTORS})]"):
        key = (el.attrib.get("data-sitekey") or "").strip()
        if not key:
            continue
        attr = el.attrib.get
        classes = _classes(el)
        form = _enclosing_form(page, el)
        invisible = (attr("data-size") or "").lower() == "invisible"
        if "cf-turnstile" in classes or (key.startswith("0x") and has_turnstile_api):
            build(
                TURNSTILE,
                key,
                form,
                field=attr("data-response-field-name"),
                action=attr("data-action") or None,
                cdata=attr("data-cdata") or None,
            )
        elif "g-recaptcha" in classes or (recaptcha_srcs and key.startswith("6L")):
            build(
                "recaptcha",
                key,
                form,
                action=attr("data-action") or None,
                invisible=invisible,
                is_enterprise=enterprise,
            )
        elif "h-captcha" in classes or has_hcaptcha_api:
            build(HCAPTCHA, key, form, invisible=invisible)

    # 2. Widgets rendered from script: only with the matching API script on the page.
    for m in _RENDER.finditer(inline):
        api = re.sub(r"\s", "", m.group("api"))
        opts = m.group("opts")
        rendered_key = _opt(opts, "sitekey")
        if not rendered_key:
            continue
        form = _enclosing_form(page, _by_target(page, m.group("target")))
        if api == "turnstile" and has_turnstile_api:
            build(
                TURNSTILE,
                rendered_key,
                form,
                field=_opt(opts, "response-field-name", "responseFieldName"),
                action=_opt(opts, "action"),
                cdata=_opt(opts, "cData", "cdata"),
            )
        elif api.startswith("grecaptcha") and recaptcha_srcs:
            build(
                "recaptcha",
                rendered_key,
                form,
                action=_opt(opts, "action"),
                invisible=(_opt(opts, "size") or "").lower() == "invisible",
                is_enterprise=enterprise or api.endswith("enterprise"),
            )
        elif api == "hcaptcha" and has_hcaptcha_api:
            build(HCAPTCHA, rendered_key, form)

    # 3. reCAPTCHA v3: api.js?render=KEY (a key, not "explicit"), executed with an action.
    element_keys = {w.sitekey for w in found}
    for src in recaptcha_srcs:
        render = parse_qs(urlsplit(src).query).get("render", [""])[0]
        if len(render) < 20 or render in element_keys:  # "explicit", "onload" or a widget's
            continue
        action = None
        for m in _EXECUTE.finditer(inline):
            if m.group("key") in (None, render):
                action = _opt(m.group("opts"), "action")
                if action:
                    break
        is_enterprise = "enterprise" in src.lower()
        field_el, field_name = _v3_form(page)
        add(
            Widget(
                kind=RECAPTCHA_ENTERPRISE if is_enterprise else RECAPTCHA_V3,
                sitekey=render,
                page_url=page.url,
                response_field=field_name,
                action=action,
                version="v3",
                invisible=True,
                enterprise=is_enterprise,
                form=_enclosing_form(page, field_el),
                page_title=title,
            )
        )
    return found


# -- images -----------------------------------------------------------------------------


def find_image(response: Response, selector: str, field_name: str) -> CaptchaImage | None:
    """The captcha image ``selector`` (CSS, or XPath when it starts with ``/`` or ``(``)
    matches, and the form whose ``field_name`` takes its answer: the image's enclosing form,
    else the form holding ``field``. ``None`` when the page has no such image."""
    page = _html(response)
    if page is None:
        return None
    try:
        found = page.xpath(selector) if selector[:1] in ("/", "(") else page.css(selector)
    except Exception as exc:
        raise ValueError(f"captcha image selector {selector!r} is not valid: {exc}") from None
    if not found:
        return None
    img = found[0]
    src = (img.attrib.get("src") or img.attrib.get("data-src") or "").strip()
    if not src and isinstance(img.root, str):  # the selector picked the attribute itself
        src = img.root.strip()
    if not src:
        return None
    form = None if isinstance(img.root, str) else _enclosing_form(page, img)
    if form is None:
        holder = page.xpath(f"//form//*[@name={_xpath_literal(field_name)}]")
        form = _enclosing_form(page, holder[0]) if holder else None
    if src.lower().startswith("data:"):
        return CaptchaImage(page.url, field_name, data=decode_data_url(src), form=form)
    return CaptchaImage(page.url, field_name, url=urljoin(page.url, src), form=form)


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded)."""
    header, sep, payload = url.partition(",")
    if not sep:
        raise ValueError("malformed data: URL (no comma)")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("malformed data: URL (bad base64)") from None
    return unquote_to_bytes(payload)
