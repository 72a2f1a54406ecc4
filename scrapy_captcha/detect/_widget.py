"""A captcha widget as a solver task needs it, and the collector that builds the widgets
of one page alike whatever declared them (an element, an iframe, a render call, a plugin's
configuration, a v3 script)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy_captcha._kinds import (
    FRIENDLY_CAPTCHA,
    HCAPTCHA,
    MTCAPTCHA,
    RECAPTCHA_ENTERPRISE,
    RECAPTCHA_V2,
    RECAPTCHA_V2_INVISIBLE,
    RECAPTCHA_V3,
    TURNSTILE,
)
from scrapy_captcha.detect._script_config import configured_action
from scrapy_captcha.detect._scripts import Call, option
from scrapy_captcha.detect._widget_facts import MAX_WIDGETS, Facts

if TYPE_CHECKING:
    from scrapy_captcha.detect._page import FormRef, Page


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


def v3_action(
    facts: Facts, key: str, executes: Iterable[Call], *, contact_form: bool
) -> str | None:
    for call in executes:
        if call.literal in (None, key):
            action = option(call.options, "action", steps=facts.steps)
            if action:
                return action
    return configured_action(
        facts.inline, key, contact_form=contact_form, keys=facts.keys, steps=facts.steps
    )


class Found:
    """The widgets of one page, without duplicates, built alike whatever declared them."""

    def __init__(self, page: Page, facts: Facts) -> None:
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

    def widget(
        self, kind: str, key: str, field: str, form: FormRef | None, **details: Any
    ) -> None:
        """Add a widget of this page: its URL and title are the page's."""
        self.add(
            Widget(
                kind=kind,
                sitekey=key,
                page_url=self.page.url,
                response_field=field,
                form=form,
                page_title=self.title,
                **details,
            )
        )

    def turnstile(
        self,
        key: str,
        form: FormRef | None,
        *,
        field: str | None,
        action: str | None,
        cdata: str | None,
    ) -> None:
        field = field or "cf-turnstile-response"
        self.widget(TURNSTILE, key, field, form, action=action, cdata=cdata)

    def hcaptcha(self, key: str, form: FormRef | None, *, invisible: bool = False) -> None:
        self.widget(HCAPTCHA, key, "h-captcha-response", form, invisible=invisible)

    def mtcaptcha(self, key: str, form: FormRef | None) -> None:
        self.widget(MTCAPTCHA, key, "mtcaptcha-verifiedtoken", form)

    def friendly(self, key: str, form: FormRef | None, *, field: str | None) -> None:
        self.widget(FRIENDLY_CAPTCHA, key, field or "frc-captcha-solution", form)

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
            action = action or v3_action(
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
        self.widget(
            kind,
            key,
            "g-recaptcha-response",
            form,
            action=action,
            version=version,
            invisible=invisible or version == "v3",
            enterprise=enterprise,
            s=s,
            api_domain=facts.api_domain,
        )
