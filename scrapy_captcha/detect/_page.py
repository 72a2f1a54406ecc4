"""The HTML side of captcha pages: forms (and whether one is a gate), captcha images,
``data:`` URLs. Pure functions of one response, shared by widget detection and the
image flow."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_to_bytes, urljoin

from form2request import form2request
from lxml import etree
from parsel import Selector, SelectorList
from parsel.csstranslator import HTMLTranslator
from scrapy.http import Response, TextResponse

from scrapy_captcha.detect._encoding import scan_bytes, sniff_encoding
from scrapy_captcha.detect._scan import Steps

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
_CSS: Final = HTMLTranslator()
#: compiled once, plain strings: no Selector object per text node
_OUTSIDE_TEXT_XPATH: Final = etree.XPath(_OUTSIDE_TEXT, smart_strings=False)

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
    #: the wall it stands for (``amazon``: Amazon's robot check), None for an image a
    #: spider pointed at
    wall: str | None = None


#: Largest captcha image fetched, decoded or uploaded (solvers take a few hundred KB at
#: most; as a ``data:`` URL it still fits the parse window).
MAX_IMAGE_BYTES: Final = 1024 * 1024
#: Only this many leading body bytes are ever scanned or parsed for widgets and forms.
MAX_PARSE_BYTES: Final = 2 * 1024 * 1024
#: Pages up to this size share their parsed tree with the spider (``response.selector``,
#: parsed once for both); a larger page's tree is the add-on's own, freed once it is read.
SHARED_TREE_BYTES: Final = 32 * 1024
#: Forms, and fields per form, looked at on one page.
MAX_FORMS: Final = 200
MAX_FIELDS: Final = 200
#: Distinct render targets (selectors) looked up on one page: each is a pass over the page.
MAX_TARGET_LOOKUPS: Final = 16
#: Elements one target selector may match (a loop over several candidates).
MAX_TARGET_MATCHES: Final = 8


# -- helpers ---------------------------------------------------------------------------


class Page:
    """One HTML response as detection sees it: at most :data:`MAX_PARSE_BYTES` of it,
    parsed at most once, its forms listed once. Why: a hostile page (100 MB, a gzip bomb,
    thousands of forms) must cost bounded work; nothing here is quadratic in its size."""

    def __init__(self, response: TextResponse) -> None:
        self.response = response
        self.url = response.url
        self.truncated = len(response.body) > MAX_PARSE_BYTES
        self._selector: Selector | None = None
        self._forms: list[Selector] | None = None
        self._form_index: dict[Any, int] = {}
        self._refs: dict[int, FormRef] = {}
        self._outside: int | None = None
        self._targets: dict[str, list[Selector]] = {}
        #: the page's budget: every scanner of this page spends from it
        self.steps = Steps()
        #: what the scanners computed once for this page (markers found, containers...)
        self.memo: dict[str, Any] = {}

    def head(self) -> bytes:
        """The scan window as bytes a byte search can read: UTF-16/32 pages re-encoded."""
        return scan_bytes(self.response, MAX_PARSE_BYTES)

    @property
    def selector(self) -> Selector:
        if self._selector is None:
            try:
                if self.truncated:
                    text = self.response.body[:MAX_PARSE_BYTES].decode(
                        sniff_encoding(self.response), "replace"
                    )
                    self._selector = Selector(text=text, type="html", base_url=self.url)
                elif len(self.response.body) > SHARED_TREE_BYTES:
                    # (a tree of our own, gone with this Page: cached on the response, a
                    # large page's tree would live as long as the response, for every
                    # response in flight at once)
                    self._selector = Selector(
                        text=self.response.text, type="html", base_url=self.url
                    )
                else:
                    self._selector = self.response.selector
            except Exception:  # (lxml refuses some hostile documents outright)
                self._selector = Selector(text="<html></html>", type="html")
        return self._selector

    def xpath(self, query: str) -> SelectorList[Selector]:
        return self.selector.xpath(query)

    def css(self, query: str) -> SelectorList[Selector]:
        return self.selector.css(query)

    def urljoin(self, url: str) -> str:
        """``url`` made absolute; as written if no URL parser reads it (the outbound
        policy then refuses it as ``bad_url``)."""
        try:
            return self.response.urljoin(url)
        except ValueError:
            return url

    def forms(self) -> list[Selector]:
        """The page's forms in document order (the first :data:`MAX_FORMS`)."""
        if self._forms is None:
            # (A position limit inside the XPath: no Selector for the forms past it.)
            self._forms = list(self.xpath(f"/descendant::form[position() <= {MAX_FORMS}]"))
            self._form_index = {form.root: i for i, form in enumerate(self._forms)}
        return self._forms

    def outside_text(self) -> int:
        """Visible characters outside any form (computed once per page)."""
        if self._outside is None:
            root = self.selector.root
            texts = _OUTSIDE_TEXT_XPATH(root) if hasattr(root, "xpath") else []
            self._outside = sum(len(t.strip()) for t in texts if isinstance(t, str))
        return self._outside

    def form_ref(self, index: int) -> FormRef:
        ref = self._refs.get(index)
        if ref is None:
            ref = self._refs[index] = _form_ref(self, self.forms()[index], index)
        return ref

    def targets(self, target: str | None) -> list[Selector]:
        """The elements a render call targets ('#id', '.class', a CSS selector or a bare
        id), in document order: at most :data:`MAX_TARGET_MATCHES`, and at most
        :data:`MAX_TARGET_LOOKUPS` distinct lookups per page (each is a pass over it)."""
        if not target:
            return []
        cached = self._targets.get(target)
        if cached is not None:
            return cached
        if len(self._targets) >= MAX_TARGET_LOOKUPS:
            return []
        self.steps.pass_()
        try:
            if target[0] in "#.[" or " " in target.strip():
                query = f"({_css_to_xpath(target)})[position() <= {MAX_TARGET_MATCHES}]"
            else:
                by_id = f"@id={xpath_literal(target)}"
                query = f"/descendant::*[{by_id}][position() <= {MAX_TARGET_MATCHES}]"
            found = list(self.xpath(query))
        except Exception:  # an expression we cannot read as CSS
            found = []
        self._targets[target] = found
        return found

    def enclosing_form(self, el: Selector | None) -> FormRef | None:
        """The form ``el`` sits in, or names with its ``form`` attribute."""
        if el is None:
            return None
        forms = self.forms()
        found: list[Selector] = list(el.xpath("ancestor-or-self::form[1]"))
        if not found:
            # A button or input may name its form by id, outside the form element.
            form_id = el.attrib.get("form")
            if not form_id:
                return None
            found = [f for f in forms if f.attrib.get("id") == form_id][:1]
            if not found:
                return None
        index = self._form_index.get(found[0].root)
        return None if index is None else self.form_ref(index)


def html_page(response: Response | Page) -> Page | None:
    """The bounded HTML view of a response (None for non-HTML); a Page stays itself."""
    if isinstance(response, Page):
        return response
    if not isinstance(response, TextResponse):
        return None
    ctype = (response.headers.get("Content-Type") or b"").lower()
    if ctype and b"html" not in ctype and b"xml" not in ctype:
        return None
    return Page(response)


def _form_ref(page: Page, form: Selector, index: int) -> FormRef:
    needs: list[str] = []
    for inp in form.xpath(f"(.//input|.//textarea)[position() <= {MAX_FIELDS}]"):
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
    return FormRef(
        index=index,
        action=page.urljoin(form.attrib.get("action") or page.url),
        method=(form.attrib.get("method") or "GET").upper(),
        id=form.attrib.get("id"),
        needs_input=tuple(dict.fromkeys(needs)),
        page_text=page.outside_text(),
    )


def xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat('" + value.replace("'", "',\"'\",'") + "')"


def by_target(page: Page, target: str | None) -> Selector | None:
    """The element a render call targets ('#id', '.class' or a bare id)."""
    found = targets(page, target)
    return found[0] if found else None


def targets(page: Page, target: str | None) -> list[Selector]:
    """The elements a render call targets: see :meth:`Page.targets`."""
    return page.targets(target)


def _css_to_xpath(css: str) -> str:
    return str(_CSS.css_to_xpath(css))


# -- images -----------------------------------------------------------------------------


def find_image(response: Response | Page, selector: str, field_name: str) -> CaptchaImage | None:
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
    form = None if isinstance(img.root, str) else page.enclosing_form(img)
    if form is None:
        holder = page.xpath(f"//form//*[@name={xpath_literal(field_name)}]")
        form = page.enclosing_form(holder[0]) if holder else None
    if src.lower().startswith("data:"):
        return CaptchaImage(page.url, field_name, data=decode_data_url(src), form=form)
    try:
        url = urljoin(page.url, src)
    except ValueError:  # (no URL parser reads it: the outbound policy refuses it)
        url = src
    return CaptchaImage(page.url, field_name, url=url, form=form)


class ImageTooLarge(ValueError):
    """A captcha image over :data:`MAX_IMAGE_BYTES`: no solver takes one, and decoding
    or uploading it would cost memory and money for nothing."""


def decode_data_url(url: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded), refused before decoding
    when they would exceed ``max_bytes``."""
    header, sep, payload = url.partition(",")
    if not sep:
        raise ValueError("malformed data: URL (no comma)")
    if header.lower().endswith(";base64"):
        if len(payload) > (max_bytes + 2) // 3 * 4 + 4096:  # (room for whitespace)
            raise ImageTooLarge(f"data: URL image is over {max_bytes} bytes")
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("malformed data: URL (bad base64)") from None
    else:
        if len(payload) > 3 * max_bytes:  # (every byte at most %XX)
            raise ImageTooLarge(f"data: URL image is over {max_bytes} bytes")
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise ImageTooLarge(f"data: URL image is over {max_bytes} bytes")
    return data


def submission_url(page: Page, form_index: int) -> str:
    """Where submitting the ``form_index``-th form sends it (its ``action``, or the
    ``formaction`` of the button a browser would click), as form2request builds it."""
    return str(form2request(page.forms()[form_index]).url)
