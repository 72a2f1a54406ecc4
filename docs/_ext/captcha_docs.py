"""References generated from the code, so the docs cannot drift from it.

- ``.. setting:: NAME`` and ``:setting:`NAME``` (as Scrapy's and scrapy-zyte-api's docs):
  an anchor per setting that any page links to; a reference to a setting that does not
  exist is a broken reference, an error under ``sphinx-build -W -n``.
- ``.. captcha-settings::``: every ``CAPTCHA_*`` setting, from the registry in
  ``scrapy_captcha._registry`` (name, type, default, meaning: one source).
- ``.. captcha-stats::``: every stat, from ``scrapy_captcha._stats.STATS`` (checked
  against the stats the code really sets by ``tests/test_docs.py``).
- ``.. captcha-services::`` (the kind x service overview), ``.. captcha-service::
  NAME`` (one service's task types, proxies, refunds and prices) and ``..
  captcha-service-errors:: NAME`` (its documented errors and what the add-on does): from
  the profiles themselves (``scrapy_captcha.services.providers.service_matrix`` and
  ``service_errors``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _literal(value: Any) -> str:
    if value is None:
        return "``None``"
    if value == "":
        return '``""``'
    return f"``{value!r}``"


def _cell(value: Any) -> str:
    """One table cell: a name as literal, None as a dash."""
    if value is None:
        return "—"
    return f"``{value}``"


def _price(value: float | None) -> str:
    return "—" if value is None else f"${value * 1000:g} / 1000"


class _Generated(SphinxDirective):
    """A directive whose reStructuredText is generated from the code."""

    has_content = False

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        source = self.get_source_info()[0]
        content = StringList()
        for line in self.lines():
            content.append(line, source)
        # (with titles: the settings and services references are sections, in the toc)
        nested_parse_with_titles(self.state, content, container, self.content_offset)
        return list(container.children)


def _table(header: list[str], rows: list[list[str]], widths: str | None = None) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1"]
    if widths:
        out.append(f"   :widths: {widths}")
    out.append("")
    for row in [header, *rows]:
        out.append(f"   * - {row[0]}")
        out += [f"     - {cell}" for cell in row[1:]]
    return [*out, ""]


class SettingsDirective(_Generated):
    def lines(self) -> list[str]:
        from scrapy_captcha._registry import SETTINGS

        out: list[str] = []
        for setting in SETTINGS.values():
            secret = " Never shown in errors or logs (it may hold a secret)."
            out += [
                f".. setting:: {setting.name}",
                "",
                setting.name,
                "-" * len(setting.name),
                "",
                f"Type: ``{setting.type}``. Default: {_literal(setting.default)}."
                + (secret if setting.secret else ""),
                "",
                setting.doc,
                "",
            ]
        return out


class StatsDirective(_Generated):
    def lines(self) -> list[str]:
        from scrapy_captcha._stats import STATS

        rows = [[f"``captcha/{name}``", meaning] for name, meaning in STATS.items()]
        return _table(["stat", "meaning"], rows, "35 65")


class ServicesDirective(_Generated):
    """The kind x service overview: the task type each service gets for each kind."""

    def lines(self) -> list[str]:
        from scrapy_captcha.services.providers import PROVIDERS, service_matrix

        rows = service_matrix()
        kinds = list(dict.fromkeys(r.kind for r in rows))
        by = {(r.kind, r.service): r for r in rows}
        table = [
            [f"``{kind}``", *[_cell(by[kind, name].task_type) for name in PROVIDERS]]
            for kind in kinds
        ]
        return _table(["kind", *PROVIDERS], table)


class ServiceDirective(_Generated):
    """One service's rows: task types, proxies, refunds, prices (and why not, where it
    has no task)."""

    required_arguments = 1

    def lines(self) -> list[str]:
        from scrapy_captcha.services.providers import service_matrix

        name = self.arguments[0]
        rows = [r for r in service_matrix() if r.service == name]
        if not rows:
            raise self.error(f"no service {name!r}")
        table = []
        notes = []
        for r in rows:
            table.append(
                [
                    f"``{r.kind}``",
                    _cell(r.task_type),
                    _cell(r.proxy_task_type),
                    _cell(r.proxy_form),
                    _cell(r.report),
                    _price(r.price),
                ]
            )
            if r.cannot:
                notes.append(f"- ``{r.kind}``: {r.cannot}.")
        out = _table(
            ["kind", "task type", "proxy-bound task type", "proxy fields", "refund", "price"],
            table,
        )
        return out + ([*notes, ""] if notes else [])


class ServiceErrorsDirective(_Generated):
    required_arguments = 1

    def lines(self) -> list[str]:
        from scrapy_captcha.services.providers import service_errors

        name = self.arguments[0]
        rows = [
            [f"``{e.code}``", f"``{e.reason}``", e.family, e.action]
            for e in service_errors()
            if e.service == name
        ]
        if not rows:
            raise self.error(f"no service {name!r}")
        return _table(
            ["error code", "reason", "family", "what the add-on does"], rows, "30 20 10 40"
        )


class ServiceSectionsDirective(_Generated):
    """A section per built-in service: its rows and its errors."""

    option_spec: ClassVar[dict[str, Any]] = {"level": directives.unchanged}

    def lines(self) -> list[str]:
        from scrapy_captcha.services.providers import PROVIDERS

        underline = self.options.get("level", "-")
        out: list[str] = []
        for name, cls in PROVIDERS.items():
            title = f"{name}"
            out += [
                f".. _service-{name}:",
                "",
                title,
                underline * len(title),
                "",
                f"Base URL: ``{cls.base_url}``.",
                "",
                f".. captcha-service:: {name}",
                "",
                "Errors it documents:",
                "",
                f".. captcha-service-errors:: {name}",
                "",
            ]
        return out


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_crossref_type(
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
    app.add_directive("captcha-settings", SettingsDirective)
    app.add_directive("captcha-stats", StatsDirective)
    app.add_directive("captcha-services", ServicesDirective)
    app.add_directive("captcha-service", ServiceDirective)
    app.add_directive("captcha-service-errors", ServiceErrorsDirective)
    app.add_directive("captcha-service-sections", ServiceSectionsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
