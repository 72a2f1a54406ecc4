"""Gate forms, filled and submitted as a browser would: pure functions of the page.

Built on ``form2request`` (what Scrapy points to since ``FormRequest.from_response`` was
deprecated): every other field kept, the first submit button clicked, the answer in
every field a browser's script would fill.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from form2request import form2request
from scrapy import Request

from scrapy_captcha._kinds import HCAPTCHA

if TYPE_CHECKING:
    from scrapy_captcha.detect._page import FormRef, Page
    from scrapy_captcha.detect._widgets import Widget
    from scrapy_captcha.services._solutions import TokenSolution

_RESP_KEY_FIELD = re.compile(r"resp[-_]?key", re.I)
_TOKEN_FIELD = re.compile(r"captcha|turnstile", re.I)


def token_fields(
    widget: Widget,
    token: str,
    resp_key: str | None = None,
    answer: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What a browser submits for a solved widget: its response field (hCaptcha fills
    ``g-recaptcha-response`` too) and ``respKey`` when the solver returned one; a
    multi-field ``answer`` (GeeTest v4's five fields) as it is."""
    if answer:
        return dict(answer)
    fields = {widget.response_field: token}
    if widget.kind == HCAPTCHA:
        fields.setdefault("g-recaptcha-response", token)
    if resp_key:
        fields["respKey"] = resp_key
    return fields


def submission_fields(
    page: Page, form: FormRef, widget: Widget, token: TokenSolution
) -> dict[str, str]:
    """The token in every field a browser would fill: the widget's response field, empty
    hidden captcha fields the page's script fills (v3 sites name their own), hCaptcha's
    second field, and ``respKey`` where the solver returned one."""
    fields = token_fields(widget, token.token, answer=token.fields)
    resp_key_set = False
    forms = page.forms()
    if form.index < len(forms):
        for inp in forms[form.index].xpath(".//input[@name]"):
            name = inp.attrib["name"]
            if inp.attrib.get("value") or (inp.attrib.get("type") or "").lower() != "hidden":
                continue
            if _RESP_KEY_FIELD.search(name):
                if token.resp_key:
                    fields[name] = token.resp_key
                    resp_key_set = True
            elif _TOKEN_FIELD.search(name):
                fields.setdefault(name, token.token)
    if token.resp_key and not resp_key_set:
        fields["respKey"] = token.resp_key
    return fields


def submit_form(
    page: Page,
    form_index: int,
    formdata: dict[str, str],
    headers: dict[str, str],
    **kwargs: Any,
) -> Request:
    """The ``form_index``-th form of the page submitted with ``formdata``; ``kwargs`` go
    to the Request (callback, meta, priority...)."""
    form = page.forms()[form_index]
    data = form2request(form, formdata)
    return Request(
        data.url,
        method=data.method,
        headers={**dict(data.headers), **headers},
        body=data.body,
        **kwargs,
    )


def why_not_submitted(widget: Widget) -> str | None:
    """Why "submit" mode leaves a widget unsolved (reported only), or None.

    A form with fields to fill, or a content page's form (an add-to-cart guarded by a v3
    script), is the spider's to submit. A reCAPTCHA v3 script outside any form gates
    nothing: sites load it on every page, and a token per page would be money thrown
    away ("token" mode asks for it explicitly)."""
    form = widget.form
    if form is not None:
        if form.needs_input:
            return "needs_input"
        if not form.is_gate:
            return "not_a_gate"
        return None
    if widget.version == "v3":
        return "no_form"
    return None
