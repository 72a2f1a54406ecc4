"""The services table, generated from the profiles themselves so it cannot drift: per
service and task kind, the task type sent (proxyless and proxy-bound), how a proxy is
carried, the report (refund) endpoint, the list price; per service, every documented
error code and what the add-on does with it.

``service_matrix()`` gives the rows (the docs render them); ``service_matrix_markdown()``
a Markdown rendering of both tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scrapy_captcha._kinds import CLOUDFLARE, PROXY_BOUND_WALLS
from scrapy_captcha.services._profiles_base import Provider
from scrapy_captcha.services._solutions import ERROR_ACTIONS
from scrapy_captcha.services._task_fields import TASK_KINDS

_PROXY_FORMS = {
    "url": "proxy: scheme://user:pass@host:port",
    "split": "proxyType/proxyAddress/proxyPort/proxyLogin/proxyPassword",
    "colon": "proxy: [type:]host:port:user:pass",
}


@dataclass(frozen=True)
class ServiceRow:
    """One service and task kind: what the add-on sends and what it can get back."""

    service: str
    kind: str
    #: the task type sent (None: the service has no task for the kind)
    task_type: str | None
    #: the proxy-bound task type (Cloudflare and DataDome tasks always are; others with
    #: CAPTCHA_TOKEN_PROXY), or None
    proxy_task_type: str | None
    #: how that task carries the proxy, or None
    proxy_form: str | None
    #: the report (refund) endpoint for a result the site refused, or None
    report: str | None
    #: USD per solved task (the profile's list price), or None
    price: float | None
    #: why the service cannot take the kind, where its documents say
    cannot: str | None = None


@dataclass(frozen=True)
class ErrorRow:
    """One error code a service documents, and what the add-on does with it."""

    service: str
    code: str
    reason: str
    family: str
    action: str
    #: the service is not asked for that task kind again (the chain's next one is)
    moves_kind: bool = False


def _proxy_form(provider: Provider, kind: str) -> str | None:
    form = _PROXY_FORMS.get(provider.proxy_format, provider.proxy_format)
    if kind == CLOUDFLARE and provider.name == "anti-captcha":
        return form.replace("proxyType/", "")  # (its AntiBotCookieTask names no type)
    return form


def service_rows(providers: Mapping[str, type[Provider]]) -> list[ServiceRow]:
    """A row per service and task kind (every kind, with or without a task)."""
    rows: list[ServiceRow] = []
    for name, cls in providers.items():
        profile = cls()
        for kind in TASK_KINDS:
            task_type = profile.types.get(kind)
            proxied = (
                task_type
                if kind in PROXY_BOUND_WALLS and task_type
                else profile.proxy_task_types.get(kind)
            )
            price = profile.prices.get(kind)
            rows.append(
                ServiceRow(
                    service=name,
                    kind=kind,
                    task_type=task_type,
                    proxy_task_type=proxied,
                    proxy_form=_proxy_form(profile, kind) if proxied else None,
                    report=profile.report_method(kind) if task_type else None,
                    price=float(price) if price is not None and task_type else None,
                    cannot=profile.cannot.get(kind),
                )
            )
    return rows


def error_rows(providers: Mapping[str, type[Provider]]) -> list[ErrorRow]:
    """A row per service and documented error code."""
    rows: list[ErrorRow] = []
    for name, cls in providers.items():
        profile = cls()
        for code in profile.error_codes:
            reason, family = profile.classify(code)
            moves = code in profile.kind_refusals
            action = ERROR_ACTIONS.get(reason, "a new task, within CAPTCHA_MAX_ATTEMPTS")
            if moves:
                action += "; the next service of the chain takes that kind"
            rows.append(ErrorRow(name, code, reason, family, action, moves))
    return rows


def render_markdown(services: list[ServiceRow], errors: list[ErrorRow]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"${value * 1000:g}/1000"
        return str(value).replace("|", "\\|")

    out = [
        "| service | kind | task type | proxy-bound type | proxy fields | refund | price |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in services:
        kind_type = r.task_type or (f"none: {r.cannot}" if r.cannot else None)
        out.append(
            "| "
            + " | ".join(
                cell(v)
                for v in (
                    r.service,
                    r.kind,
                    kind_type,
                    r.proxy_task_type,
                    r.proxy_form,
                    r.report,
                    r.price,
                )
            )
            + " |"
        )
    out += ["", "| service | error code | reason | family | what the add-on does |"]
    out.append("|---|---|---|---|---|")
    for e in errors:
        out.append(
            "| "
            + " | ".join(cell(v) for v in (e.service, e.code, e.reason, e.family, e.action))
            + " |"
        )
    return "\n".join(out) + "\n"
