"""The HTML side of captcha pages: forms (and whether one is a gate), captcha images,
``data:`` URLs. Pure functions of one response, shared by widget detection and the
image flow."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote_to_bytes, urljoin

from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse

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
ANSWER_FIELD: Final = re.compile(r"captcha|recaptcha|turnstile|respkey|resp-key|resp_key", re.I)


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
class CaptchaImage:
    """A captcha image on a page: either its URL (to fetch in the page's session) or the
    bytes of a ``data:`` URL, and the form and field its answer goes into."""

    page_url: str
    field_name: str
    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    form: FormRef | None = None


# -- helpers ---------------------------------------------------------------------------


def html_page(response: Response) -> TextResponse | None:
    if not isinstance(response, TextResponse):
        return None
    ctype = (response.headers.get("Content-Type") or b"").lower()
    if ctype and b"html" not in ctype and b"xml" not in ctype:
        return None
    return response


def page_forms(sel: Selector) -> SelectorList[Selector]:
    return sel.xpath("//form")


def form_ref(response: TextResponse, form: Selector, index: int) -> FormRef:
    needs: list[str] = []
    for inp in form.xpath(".//input|.//textarea"):
        tag = inp.root.tag if hasattr(inp.root, "tag") else ""
        name = inp.attrib.get("name") or ""
        if not name or ANSWER_FIELD.search(name) or "disabled" in inp.attrib:
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


def enclosing_form(response: TextResponse, el: Selector | None) -> FormRef | None:
    if el is None:
        return None
    forms = page_forms(response.selector)
    found = el.xpath("ancestor-or-self::form[1]")
    if not found:
        # A button or input may name its form by id, outside the form element.
        form_id = el.attrib.get("form")
        if not form_id:
            return None
        found = forms.xpath(f"self::*[@id={xpath_literal(form_id)}]")
        if not found:
            return None
    root = found[0].root
    for i, candidate in enumerate(forms):
        if candidate.root is root:
            return form_ref(response, candidate, i)
    return None


def xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat('" + value.replace("'", "',\"'\",'") + "')"


def by_target(response: TextResponse, target: str | None) -> Selector | None:
    """The element a render call targets ('#id', '.class' or a bare id)."""
    if not target:
        return None
    try:
        found = (
            response.css(target)
            if target[0] in "#.["
            else response.xpath(f"//*[@id={xpath_literal(target)}]")
        )
    except Exception:  # an expression we cannot read as CSS
        return None
    return found[0] if found else None


# -- images -----------------------------------------------------------------------------


def find_image(response: Response, selector: str, field_name: str) -> CaptchaImage | None:
    """The captcha image ``selector`` (CSS, or XPath when it starts with ``/`` or ``(``)
    matches, and the form whose ``field_name`` takes its answer: the image's enclosing form,
    else the form holding ``field``. ``None`` when the page has no such image."""
    page = html_page(response)
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
    form = None if isinstance(img.root, str) else enclosing_form(page, img)
    if form is None:
        holder = page.xpath(f"//form//*[@name={xpath_literal(field_name)}]")
        form = enclosing_form(page, holder[0]) if holder else None
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
