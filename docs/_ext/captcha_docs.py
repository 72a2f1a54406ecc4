"""References generated from the code, so the docs cannot drift from it.

- ``.. setting:: NAME`` and ``:setting:`NAME``` (as Scrapy's and scrapy-zyte-api's docs):
  an anchor per setting that any page links to.
- ``.. captcha-settings::``: every ``CAPTCHA_*`` setting, from the registry in
  ``scrapy_captcha._registry`` (name, type, default, meaning: one source).
- ``.. captcha-stats::``: every stat, from ``scrapy_captcha._stats.STATS`` (checked
  against the stats the code really sets by ``tests/test_docs.py``).
- ``.. captcha-services::`` and ``.. captcha-service-errors::``: the services matrix,
  from the profiles themselves (``scrapy_captcha.providers.service_matrix``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _literal(value: Any) -> str:
    if value is None:
        return "``None``"
    if value == "":
        return '``""``'
    return f"``{value!r}``"


class _Generated(SphinxDirective):
    """A directive whose reStructuredText is generated from the code."""

    has_content = False

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.section() if False else nodes.container()
        source = self.get_source_info()[0]
        content = StringList()
        for line in self.lines():
            content.append(line, source)
        self.state.nested_parse(content, self.content_offset, container)
        return list(container.children)


class SettingsDirective(_Generated):
    def lines(self) -> list[str]:
        from scrapy_captcha._registry import SETTINGS

        out: list[str] = []
        for setting in SETTINGS.values():
            out += [
                f".. setting:: {setting.name}",
                "",
                setting.name,
                "-" * len(setting.name),
                "",
                f"Type: ``{setting.type}``. Default: {_literal(setting.default)}."
                + (
                    " Never echoed in errors or logs (it may hold a secret)."
                    if setting.secret
                    else ""
                ),
                "",
                setting.doc,
                "",
            ]
        return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append(f"   * - {row[0]}")
        out += [f"     - {cell}" for cell in row[1:]]
    return [*out, ""]


class StatsDirective(_Generated):
    def lines(self) -> list[str]:
        from scrapy_captcha._stats import STATS

        rows = [[f"``captcha/{name}``", meaning] for name, meaning in STATS.items()]
        return _table(["stat", "meaning"], rows)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_crossref_type(
        directivename="setting", rolename="setting", indextemplate="pair: %s; setting"
    )
    app.add_directive("captcha-settings", SettingsDirective)
    app.add_directive("captcha-stats", StatsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
