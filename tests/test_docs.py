"""The docs cannot drift from the code.

- Stats: every stat the package sets (found in its source with ``ast``) is listed in
  ``scrapy_captcha._stats.STATS`` (the stats reference), and every listed stat is set.
- Examples: every file under ``docs/examples`` is shown in a page (``literalinclude``) and
  run here: settings files through the add-on's start-up checks, spiders as real crawls
  against ``scrapy_captcha.testing.EmulatorStack``, the offline-testing example through
  pytest.
- README: at most 12 KB, its two commands, its ``settings.py`` the tested example, its
  links present.
- Every ``CAPTCHA_*`` name and every ``scrapy_captcha...`` dotted name in README and docs
  exists in the code.
- Release shape: one "Unreleased" section at the top of CHANGELOG.md, dated releases
  below, and a version that agrees.

The settings, services and signals references are generated from the code by
``docs/_ext/captcha_docs.py`` and autodoc; ``sphinx-build -W -n`` runs in ``.ci/run``.

"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scrapy_captcha"
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
README = ROOT / "README.md"

# -- stats -----------------------------------------------------------------------------

#: Context's methods that set a stat (``captcha/<key>``)
STAT_METHODS = ("inc", "add", "set_stat")
#: (module, function) that set ``captcha/<their argument>``: their callers are scanned
WRAPPERS = {
    ("_context.py", "inc"),
    ("_context.py", "add"),
    ("_context.py", "set_stat"),
    ("_store_redis.py", "_inc"),
}
PLACEHOLDER = re.compile(r"<[^<>/]*>")

Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class StatSite:
    stat: str
    where: str


class _Module:
    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def function_of(self, node: ast.AST) -> Function | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, Function):
                return node
        return None


def _modules() -> list[_Module]:
    return [_Module(p) for p in sorted(PACKAGE.rglob("*.py")) if "testing" not in p.parts]


def _literals(node: ast.AST | None) -> set[str] | None:
    """The strings an expression can be, when they are all literals in the source."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body), _literals(node.orelse)
        return body | orelse if body is not None and orelse is not None else None
    return None


def _calls_of(modules: list[_Module], name: str) -> Iterator[tuple[_Module, ast.Call]]:
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called == name:
                    yield module, node


def _param_values(
    modules: list[_Module], func: Function, param: str, depth: int = 0
) -> set[str | None] | None:
    """Every literal value ``param`` of ``func`` takes at the package's calls of it
    (``None`` in the set: a call that leaves it out; followed through ``**kwargs``
    pass-throughs), or None when some call passes something else."""
    args = func.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    declared = param in positional or param in [a.arg for a in args.kwonlyargs]
    if not declared and args.kwarg is None:
        return None
    offset = 1 if positional and positional[0] in ("self", "cls") else 0
    values: set[str | None] = set()
    found = False
    for module, call in _calls_of(modules, func.name):
        found = True
        given: ast.AST | None = None
        for keyword in call.keywords:
            if keyword.arg == param:
                given = keyword.value
        if given is None and param in positional:
            index = positional.index(param) - offset
            if 0 <= index < len(call.args):
                given = call.args[index]
        if given is not None:
            literal = _literals(given)
            if literal is None:
                return None
            values |= literal
            continue
        caller = module.function_of(call)
        if any(k.arg is None for k in call.keywords) and caller is not None and depth < 3:
            # (``**kwargs`` of a wrapper: what its own callers pass)
            passed = _param_values(modules, caller, param, depth + 1)
            if passed is None:
                return None
            values |= passed
        else:
            values.add(None)
    return values if found else None


def _default(func: Function, param: str) -> ast.AST | None:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(
        zip(
            [a.arg for a in positional[len(positional) - len(args.defaults) :]],
            args.defaults,
            strict=True,
        )
    )
    defaults.update(
        {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    )
    return defaults.get(param)


def _render(modules: list[_Module], module: _Module, node: ast.AST) -> list[str] | None:
    """The stat names a key expression stands for: literal parts kept, a formatted part
    expanded to its literal values where all are known, else a ``<placeholder>``."""
    literal = _literals(node)
    if literal is not None:
        return sorted(literal)
    if not isinstance(node, ast.JoinedStr):
        return None
    names = [""]
    func = module.function_of(node)
    for part in node.values:
        if isinstance(part, ast.Constant):
            names = [n + str(part.value) for n in names]
            continue
        assert isinstance(part, ast.FormattedValue)
        expr = part.value
        options: set[str] | None = None
        if isinstance(expr, ast.Name) and func is not None:
            values = _param_values(modules, func, expr.id)
            default = _literals(_default(func, expr.id))
            if values is not None and (None not in values or default is not None):
                options = {v for v in values if v is not None} | (
                    default if None in values and default is not None else set()
                )
        if options is None:
            label = expr.attr if isinstance(expr, ast.Attribute) else getattr(expr, "id", "?")
            options = {f"<{label}>"}
        names = [n + o for n in names for o in sorted(options)]
    return names


def _receiver_is_context(module: _Module, call: ast.Call) -> bool:
    func = call.func
    assert isinstance(func, ast.Attribute)
    target = func.value
    if isinstance(target, ast.Name) and target.id == "self":
        return module.name == "_context.py" or (
            module.name == "_store_redis.py" and func.attr == "_inc"
        )
    last = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return last == "ctx"


@functools.lru_cache(maxsize=1)
def stats_set_by_the_code() -> list[StatSite]:
    """Every stat the package sets, as written at the call (without ``captcha/``); read
    once per session (three tests ask)."""
    modules = _modules()
    sites: list[StatSite] = []
    for module in modules:
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if not node.args:
                continue
            where = f"{module.name}:{node.lineno}"
            func = module.function_of(node)
            in_wrapper = func is not None and (module.name, func.name) in WRAPPERS
            if method in (*STAT_METHODS, "_inc") and _receiver_is_context(module, node):
                if in_wrapper and method != "_inc":
                    continue  # (Context's own helpers calling each other: their callers count)
                names = _render(modules, module, node.args[0])
            elif method in ("inc_value", "set_value"):
                names = _render(modules, module, node.args[0])
                if names is None or not all(n.startswith("captcha/") for n in names):
                    continue
                names = [n.removeprefix("captcha/") for n in names]
                if all(PLACEHOLDER.fullmatch(n) for n in names):
                    assert in_wrapper, f"{where}: sets captcha/<any key>: add it to WRAPPERS"
                    continue
            else:
                continue
            assert names is not None, f"{where}: a stat key the scanner cannot read"
            sites += [StatSite(name, where) for name in names]
    return sites


def _matches(documented: str, stat: str) -> bool:
    """A documented ``<placeholder>`` stands for any part; the code's own placeholder only
    for a documented one."""
    d_parts, s_parts = documented.split("/"), stat.split("/")
    if len(d_parts) != len(s_parts):
        return False
    for d, s in zip(d_parts, s_parts, strict=True):
        if PLACEHOLDER.fullmatch(d):
            continue
        if d != s:
            return False
    return True


def test_the_stats_scanner_finds_what_it_must() -> None:
    """The scanner itself: the forms the package uses are read (a wrapper's f-string, a
    parameter expanded to its callers' literals, a conditional, a store's own helper)."""
    found = {s.stat for s in stats_set_by_the_code()}
    for expected in (
        "unsolved/<reason>",  # Context.give_up's stat="unsolved" default...
        "skipped/<reason>",  # ...and the gate flow's stat="skipped", through **kwargs
        "parked/unauthenticated",  # a conditional argument of a helper
        "parked/oversized",
        "store/fallback",  # RedisStore._inc in a lambda
        "store/evicted",  # inc_value("captcha/...") on Scrapy's stats
        "solve_seconds",  # Context.set_stat inside Context
        "cost/<service>",  # Context.add
    ):
        assert expected in found, expected
    assert not any(s.startswith(("notask", "turnstile", "<")) for s in found), found


def test_every_stat_the_code_sets_is_documented() -> None:
    from scrapy_captcha._stats import STATS

    missing = sorted(
        f"captcha/{s.stat} ({s.where})"
        for s in stats_set_by_the_code()
        if not any(_matches(name, s.stat) for name in STATS)
    )
    assert not missing, f"set but not in scrapy_captcha/_stats.py STATS: {missing}"


def test_every_documented_stat_is_set() -> None:
    from scrapy_captcha._stats import STATS

    sites = stats_set_by_the_code()
    never = sorted(name for name in STATS if not any(_matches(name, s.stat) for s in sites))
    assert not never, f"in STATS but never set: {never}"


# -- examples: settings -----------------------------------------------------------------

#: settings examples: the environment they read
SETTINGS_EXAMPLES = {
    "settings_real.py": {"CAPTCHA_API_KEY": "k3y"},
    "settings_chain.py": {},
    "settings_redis.py": {},
    "settings_scrapy_redis.py": {},
    "settings_manual.py": {},
    "settings_impersonate.py": {},
    "settings_widgets.py": {},
}


def start_up(values: dict[str, Any]) -> Any:
    """What a crawl with these settings meets as it starts: the add-on's root, built
    through Scrapy's own start-up (defaults, validation, components, the chain); a mistake
    raises as it would there."""
    from scrapy.utils.test import get_crawler

    from scrapy_captcha import CaptchaExtension, CaptchaSettings

    crawler = get_crawler(settings_dict=values)
    crawler._apply_settings()
    settings = CaptchaSettings.from_settings(crawler.settings)
    settings.check_solver()
    return CaptchaExtension.of(crawler)


def settings_of(path: Path) -> dict[str, Any]:
    return {k: v for k, v in runpy.run_path(str(path)).items() if k.isupper()}


def test_settings_examples_pass_the_start_up_checks(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # (the default file store lives under .scrapy/)
    for name, env in SETTINGS_EXAMPLES.items():
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        values = settings_of(EXAMPLES / name)
        root = start_up(values)
        assert root.settings.providers, name


def test_the_settings_examples_say_what_they_set(monkeypatch: Any, tmp_path: Path) -> None:
    """A few of their claims, read back from the settings the add-on built."""
    from scrapy_captcha.routes._store_redis import RedisStore

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAPTCHA_API_KEY", "k3y")
    real = start_up(settings_of(EXAMPLES / "settings_real.py"))
    assert real.settings.proxy and real.settings.max_cost == 5.0
    chain = start_up(settings_of(EXAMPLES / "settings_chain.py"))
    assert chain.settings.providers == ("capsolver", "anti-captcha")
    assert chain.settings.close_on_budget
    shared = start_up(settings_of(EXAMPLES / "settings_scrapy_redis.py"))
    assert shared.settings.shared_queue and isinstance(shared.routes.store, RedisStore)
    widgets = start_up(settings_of(EXAMPLES / "settings_widgets.py"))
    assert widgets.settings.widget_mode("recaptcha_v3") == "ignore"


def test_the_provider_example_is_a_provider(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    root = start_up(
        {
            "ADDONS": {"scrapy_captcha.Addon": 500},
            "CAPTCHA_PROVIDER": "my_provider.MySolver",
            "CAPTCHA_API_KEY": "k3y",
        }
    )
    provider = root.accounts.provider_named("my_provider.MySolver")
    assert provider.task_type("cloudflare") == "AntiCloudflareTask"


def test_a_mistake_in_an_example_would_be_caught(monkeypatch: Any, tmp_path: Path) -> None:
    """The start-up check is not a formality: a typo'd example fails it."""
    import pytest

    from scrapy_captcha import ConfigurationError

    monkeypatch.chdir(tmp_path)
    values = settings_of(EXAMPLES / "settings_chain.py")
    values["CAPTCHA_PROVIDERS"] = ["capsolver", "anti-captcha", "capsolvr"]
    with pytest.raises(ConfigurationError, match="did you mean 'capsolver'"):
        start_up(values)
    manual = settings_of(EXAMPLES / "settings_manual.py")
    del manual["SPIDER_MIDDLEWARES"]
    with pytest.raises(ConfigurationError, match="UnsolvedMiddleware"):
        start_up(manual)


# -- examples: crawls -------------------------------------------------------------------


def run_example(
    tmp_path: Path,
    module: str,
    spider: str,
    hosts: dict[str, str],
    args: dict[str, str],
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Crawl with the example spider ``module.spider`` against an EmulatorStack serving
    ``hosts`` (reached through its proxy): a real crawl, in this process (as the other
    crawl tests run), with the settings a user's project would have."""
    from scrapy import signals

    from conftest import InProcessCrawl
    from scrapy_captcha.testing import EmulatorStack

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spider_cls = getattr(importlib.import_module(module), spider)
    items: list[dict[str, Any]] = []
    with EmulatorStack(solve_latency=0.1) as stack:
        for host, mode in hosts.items():
            stack.site.add_host(host, mode)
        crawl = InProcessCrawl(
            spider_cls,
            {
                "ADDONS": {"scrapy_captcha.Addon": 500},
                **stack.scrapy_settings("capsolver"),
                "CAPTCHA_DOMAIN_PROXIES": {h: stack.proxy_a.url for h in hosts},
                "CAPTCHA_CACHE_URL": "memory://",
                "CAPTCHA_POLL_INTERVAL": 0.1,
                "ROBOTSTXT_OBEY": False,
                "TELNETCONSOLE_ENABLED": False,
                "LOG_LEVEL": "INFO",
                **(settings or {}),
            },
        )
        crawl.crawler.signals.connect(
            lambda item, **kwargs: items.append(dict(item)),
            signal=signals.item_scraped,
            weak=False,
        )
        failure = crawl.run(120, **args)
        assert failure is None, f"{failure!r}\n{crawl.log[-4000:]}"
        stats = crawl.crawler.stats.get_stats() if crawl.crawler.stats is not None else {}
        result: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "items": items,
                    "stats": {k: v for k, v in stats.items() if k.startswith("captcha/")},
                    "reason": stats.get("finish_reason"),
                    "tasks": [t.type for t in stack.solver.tasks],
                },
                default=str,
            )
        )
    assert "Traceback" not in crawl.log, crawl.log[-4000:]
    result["log"] = crawl.log
    return result


def test_the_first_crawl_script(tmp_path: Path) -> None:
    """Getting started: the script a user runs first."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "first_crawl.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "solver tasks: 2"  # one clearance for the shop, one gate token
    items = {item["url"]: item for item in map(json.loads, lines[1:])}
    assert items["http://denied.example/product/1"]["unsolved"] == "blocked"
    gate = items["http://gates.example/gate/turnstile/news"]
    assert gate["title"] == "Content news" and gate["captcha"]["submitted"] is True
    for page in ("1", "2"):
        shop = items[f"http://shop.example/product/{page}"]
        assert shop["captcha"]["kind"] == "cloudflare" and shop["captcha"]["solved"] is True
    assert "Traceback" not in proc.stderr


def test_the_shop_spider_takes_unsolved_pages_in_its_errback(tmp_path: Path) -> None:
    result = run_example(
        tmp_path,
        "shop_spider",
        "ShopSpider",
        {"shop.example": "managed", "denied.example": "block_1015"},
        {"urls": "http://shop.example/a,http://denied.example/b"},
    )
    by_url = {item["url"]: item for item in result["items"]}
    assert by_url["http://denied.example/b"] == {
        "url": "http://denied.example/b",
        "unsolved": "blocked",
    }
    assert by_url["http://shop.example/a"]["captcha"]["solved"] is True


def test_the_handled_spider_takes_blocked_pages_in_its_callback(tmp_path: Path) -> None:
    result = run_example(
        tmp_path,
        "handled_spider",
        "HandledSpider",
        {"denied.example": "block_1020", "open.example": "open"},
        {"urls": "http://denied.example/x,http://open.example/y"},
    )
    assert sorted(result["items"], key=lambda i: i["url"]) == [
        {"url": "http://denied.example/x", "lost": "blocked"},
        {"url": "http://open.example/y", "title": "open.example /y"},
    ]


def test_the_login_spider_is_filled_on_submit(tmp_path: Path) -> None:
    from scrapy_captcha.testing import ACCOUNT

    result = run_example(
        tmp_path,
        "login_spider",
        "LoginSpider",
        {"gates.example": "open"},
        {"url": "http://gates.example/account/turnstile/me", **ACCOUNT},
    )
    [item] = result["items"]
    assert item["account"] and "me" in item["account"]
    assert item["captcha"]["filled"] is True and item["captcha"]["kind"] == "turnstile"
    assert result["stats"]["captcha/filled/turnstile"] == 1


def test_the_token_spider_fills_its_own_form(tmp_path: Path) -> None:
    from scrapy_captcha.testing import ACCOUNT

    result = run_example(
        tmp_path,
        "token_spider",
        "TokenSpider",
        {"gates.example": "open"},
        {"url": "http://gates.example/account/recaptcha-v2/me", **ACCOUNT},
    )
    [item] = result["items"]
    assert item["account"] and "me" in item["account"]
    assert result["tasks"] == ["ReCaptchaV2TaskProxyLess"]  # one task: never filled twice
    assert "captcha/filled/recaptcha_v2" not in result["stats"]


def test_the_image_spider_gets_the_page_behind_the_form(tmp_path: Path) -> None:
    result = run_example(
        tmp_path,
        "image_spider",
        "ImageSpider",
        {"gates.example": "open"},
        {"url": "http://gates.example/login/me", "username": "demo", "password": "demo"},
    )
    [item] = result["items"]
    assert item["content"] == "Content behind image captcha me"
    assert item["captcha"]["kind"] == "image" and item["captcha"]["solved"] is True


def test_the_signals_extension_tallies(tmp_path: Path) -> None:
    result = run_example(
        tmp_path,
        "shop_spider",
        "ShopSpider",
        {"shop.example": "managed", "denied.example": "block_1020"},
        {"urls": "http://shop.example/a,http://denied.example/b"},
        {"EXTENSIONS": {"signals_extension.CaptchaTally": 500}},
    )
    assert (
        "captcha tally: solved {'cloudflare by capsolver': 1}, unsolved "
        "{'cloudflare_block: blocked': 1}, $0.0012" in result["log"]
    )


def test_the_offline_testing_example_passes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "test_offline.py"),
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-q",
            "--rootdir",
            str(tmp_path),
            "--basetemp",
            str(tmp_path / "tmp"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


#: every example, and the tests above that run it
TESTED = {
    **dict.fromkeys(SETTINGS_EXAMPLES, "test_settings_examples_pass_the_start_up_checks"),
    "first_crawl.py": "test_the_first_crawl_script",
    "shop_spider.py": "test_the_shop_spider_takes_unsolved_pages_in_its_errback",
    "handled_spider.py": "test_the_handled_spider_takes_blocked_pages_in_its_callback",
    "login_spider.py": "test_the_login_spider_is_filled_on_submit",
    "token_spider.py": "test_the_token_spider_fills_its_own_form",
    "image_spider.py": "test_the_image_spider_gets_the_page_behind_the_form",
    "signals_extension.py": "test_the_signals_extension_tallies",
    "my_provider.py": "test_the_provider_example_is_a_provider",
    "test_offline.py": "test_the_offline_testing_example_passes",
}


def _doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


def test_every_example_is_shown_and_run() -> None:
    examples = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert examples == sorted(TESTED), "an example without a test, or a test without one"
    for test in TESTED.values():
        assert callable(globals()[test])
    shown = "\n".join(p.read_text(encoding="utf-8") for p in _doc_pages())
    for name in examples:
        assert f"literalinclude:: examples/{name}" in shown or (
            f"literalinclude:: ../examples/{name}" in shown
        ), f"docs/examples/{name} is in no page"


def test_every_signal_is_documented() -> None:
    """The signals page documents each signal with autodoc (its ``#:`` comment)."""
    from scrapy_captcha import signals

    page = (DOCS / "reference" / "signals.rst").read_text(encoding="utf-8")
    names = [n for n, v in vars(signals).items() if type(v) is object]
    assert names
    for name in names:
        assert f".. autodata:: scrapy_captcha.signals.{name}\n   :no-value:" in page, name


# -- README ----------------------------------------------------------------------------

DEMO = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
    ".venv/bin/python example_project/demo.py"
)
TESTS = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
)


def test_the_readme_fits_on_a_screen() -> None:
    assert len(README.read_bytes()) <= 12 * 1024


def test_the_readme_has_the_two_commands_and_ci_runs_the_second() -> None:
    text = README.read_text(encoding="utf-8")
    assert f"\n{DEMO}\n" in text and f"\n{TESTS}\n" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    first = next(
        line for line in ci.splitlines() if line and not line.startswith(("#", "set", "cd"))
    )
    assert first == TESTS


def test_the_readme_settings_are_the_tested_example() -> None:
    text = README.read_text(encoding="utf-8")
    example = (EXAMPLES / "settings_real.py").read_text(encoding="utf-8")
    assert f"```python\n{example}```" in text


def test_the_readme_links_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "the README links into the docs"
    for link in local:
        assert (ROOT / link).exists(), link


# -- names in prose ----------------------------------------------------------------------


def _prose() -> dict[str, str]:
    paths = [*_doc_pages(), *DOCS.rglob("*.md")]
    pages = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in paths}
    pages["README.md"] = README.read_text(encoding="utf-8")
    return pages


def test_every_setting_named_in_the_docs_exists() -> None:
    from scrapy_captcha._registry import SETTINGS

    for page, text in _prose().items():
        for name in set(re.findall(r"\bCAPTCHA_[A-Z_]*[A-Z]\b", text)):
            assert name in SETTINGS, f"{page}: {name} is no setting"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.filterwarnings("ignore:scrapy_captcha.*is deprecated:DeprecationWarning")
def test_every_dotted_name_in_the_docs_exists() -> None:
    """``scrapy_captcha.widgets.find_widgets`` was in the README for months."""
    for page, text in _prose().items():
        for dotted in set(re.findall(r"\bscrapy_captcha(?:\.\w+)+", text)):
            assert _resolves(dotted), f"{page}: {dotted} does not exist"


def test_every_file_named_in_the_docs_exists() -> None:
    """Module files (``_routes.py``) and the repository's paths (``tests/test_jobdir.py``)
    named in the docs exist: a module moved or renamed is a docs page to update."""
    modules = {p.name for p in PACKAGE.rglob("*.py")}
    for page, text in _prose().items():
        for name in set(re.findall(r"(?<![\w/.])(_\w+\.py)\b", text)) - {"_something.py"}:
            assert name in modules, f"{page}: {name} is no module of the package"
        for path in set(re.findall(r"\b((?:tests|benchmarks|example_project)/[\w/]+\.py)", text)):
            assert (ROOT / path).exists(), f"{page}: {path} does not exist"


# -- release shape ---------------------------------------------------------------------


def test_version_and_changelog_agree() -> None:
    from packaging.version import Version

    import scrapy_captcha

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]$', pyproject, re.MULTILINE)
    assert 'version = { attr = "scrapy_captcha.__version__" }' in pyproject  # one source
    version = Version(scrapy_captcha.__version__)
    heads = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    released = heads[1:] if heads and heads[0] == "Unreleased" else heads
    assert heads.count("Unreleased") <= 1 and "Unreleased" not in released
    dated = [re.fullmatch(r"(\d+\.\d+\.\d+) \((\d{4}-\d{2}-\d{2})\)", h) for h in released]
    assert all(dated), f"releases are '## X.Y.Z (YYYY-MM-DD)': {released}"
    versions = [Version(m.group(1)) for m in dated if m]
    assert versions == sorted(versions, reverse=True), "newest first"
    if heads and heads[0] == "Unreleased":
        # what is unreleased is a pre-release of a version not released yet
        assert version.is_prerelease or version.is_devrelease, version
        assert all(version > v for v in versions), version
    else:
        assert versions and version == versions[0]
