"""Sphinx configuration: the Scrapy ecosystem's layout (as Scrapy's and scrapy-zyte-api's
docs), with the references generated from the code (``_ext/captcha_docs.py``).

Build: ``sphinx-build -W -n docs docs/_build/html`` (a warning or a broken reference is an
error; ``.ci/run`` builds it so).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from scrapy_captcha import __version__  # noqa: E402

project = "scrapy-captcha"
author = "scrapy-captcha developers"
copyright = "2026, scrapy-captcha developers"
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
    "captcha_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples"]
# No network here or in CI: no inventories are fetched, so references into Scrapy, Twisted
# and the standard library are plain text (nitpick_ignore_regex below); every reference
# inside these docs must resolve (sphinx-build -W -n).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(scrapy|twisted|treq|parsel|typing|typing_extensions|collections|abc)\b.*"),
    (r"py:.*", r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|None)"),
    (r"py:.*", r"(Any|Self|Final|ClassVar|Mapping|Callable|Iterable|Awaitable|Coroutine)"),
    (r"py:.*", r"(Exception|ValueError|BaseException|Response|Request|Spider|Crawler)"),
    (r"py:.*", r"(Headers|Selector|BaseSettings|Settings|TextResponse|Deferred|IO)"),
    (r"py:.*", r"(urllib|http|pathlib|Path|datetime|logging)\b.*"),
    # internals a public signature names: not documented (they may change)
    (r"py:.*", r"(scrapy_captcha\.(\w+\.)*_\w+.*|_T|_K|_V|_S|T)"),
    (r"py:.*", r"(Root|FormRef|RedisShelf|TaskNote|scrapy_captcha\.(routes\.)?store\.TaskNote)"),
    # (string annotations of dataclass fields, as autodoc reads them)
    (r"py:.*", r"'.*"),
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "sphinx_rtd_theme"
html_title = f"scrapy-captcha {release}"
html_static_path: list[str] = []
myst_heading_anchors = 3
