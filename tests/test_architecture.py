"""The layout's promises, checked on the source: the layers (folders) import only
downwards, no import cycle (and no import hidden in a function to dodge one), modules
small enough to read in one sitting, no reaching into another object's underscored
members, internals named as such, the old public module paths still working."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scrapy_captcha

PACKAGE = Path(scrapy_captcha.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """Package modules imported at module level (outside TYPE_CHECKING), and package
    imports made inside functions."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    nested: list[tuple[int, str]] = []
    here = _name(path)

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            package = here.rsplit(".", node.level)[0] if path.name != "__init__.py" else here
            if node.level > 1:
                package = here.rsplit(".", node.level - (path.name == "__init__.py"))[0]
            base = f"{package}.{base}" if base else package
        return [base, *(f"{base}.{a.name}" for a in node.names)]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [n for n in targets(child) if n.startswith("scrapy_captcha")]
                if in_function:
                    nested.extend((child.lineno, n) for n in names[:1])
                else:
                    top.update(names)
            fn = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, in_function or fn)

    visit(tree, False)
    return top, nested


def _graph() -> dict[str, set[str]]:
    names = {_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        top, _ = _imports(path)
        graph[_name(path)] = {n for n in top if n in names and n != _name(path)}
    return graph


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package's __init__ importing its submodules is not a cycle of theirs.
    for name in graph:
        graph[name] = {d for d in graph[name] if not name.startswith(d + ".")}
    done: set[str] = set()
    stack: list[str] = []

    def walk(node: str) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep != "scrapy_captcha":
                walk(dep)
        stack.pop()
        done.add(node)

    for name in sorted(graph):
        walk(name)


def test_no_package_import_inside_a_function() -> None:
    found = [
        f"{_name(path)}:{line} imports {name}"
        for path in MODULES
        for line, name in _imports(path)[1]
    ]
    assert not found, found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines"


def test_no_reaching_into_other_objects_private_members() -> None:
    """``obj._member`` only on ``self``/``cls`` (or a module imported under its own
    private name)."""
    found = []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        modules = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__"):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and (
                owner.id in ("self", "cls") or owner.id in modules
            ):
                continue
            found.append(f"{_name(path)}:{node.lineno} .{attr}")
    assert not found, found


#: The layers, lowest first: a module may import its own layer and those below, never one
#: above (type-only imports included).
LAYERS = ("detect", "services", "policy", "routes", "flows")
#: Modules at the package's top that every layer may import (they import only each other):
#: errors, names, settings, compat, the request state and its route, context, signals.
BASE = {
    "errors",
    "_kinds",
    "settings",
    "_registry",
    "_validate",
    "_options",
    "_compat",
    "_context",
    "_state",
    "_route",
    "signals",
    "_stats",
    "_bounded",
}
#: The top: the add-on, its middlewares and root, the spider API, the watch line, the
#: settings command, and the deprecated module paths. They may import anything; nothing
#: but the top imports them.
TOP = {"", "addon", "middleware", "_root", "api", "_watch", "_commands"}
DEPRECATED = {"providers": "services", "clearance": "routes", "store": "routes"}


def _layer(name: str) -> str:
    parts = name.split(".")[1:]
    if not parts:
        return "top"
    if parts[0] in LAYERS or parts[0] == "testing":
        return parts[0]
    if parts[0] in BASE:
        return "base"
    if parts[0] in TOP or parts[0] in DEPRECATED:
        return "top"
    raise AssertionError(f"{name} is in no layer: add it to a folder, BASE or TOP")


def _every_import(path: Path) -> set[str]:
    """Every package module ``path`` imports, TYPE_CHECKING blocks included."""
    found: set[str] = set()
    here = _name(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = f"{package}.{base}" if base else package
            if base.startswith("scrapy_captcha"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("scrapy_captcha"))
    names = {_name(p) for p in MODULES}
    return {n for n in found if n in names and n != here}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_layers_import_only_downwards(path: Path) -> None:
    here = _name(path)
    mine = _layer(here)
    for other in sorted(_every_import(path)):
        theirs = _layer(other)
        if mine in ("top", "testing") or (theirs == "base" and other != "scrapy_captcha"):
            ok = theirs != "testing" or mine == "testing"
        elif mine == "base":
            ok = theirs == "base"
        elif theirs in LAYERS:
            ok = LAYERS.index(theirs) <= LAYERS.index(mine)
        else:
            ok = False
        assert ok, f"{here} ({mine}) imports {other} ({theirs}): layers import downwards only"


def test_each_folder_says_what_it_owns_and_may_import() -> None:
    for layer in (*LAYERS, "testing"):
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and "May import" in doc, layer


def test_old_public_module_paths_still_work_with_a_warning() -> None:
    import importlib
    import sys

    for old, layer in DEPRECATED.items():
        sys.modules.pop(f"scrapy_captcha.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"scrapy_captcha.{old} is deprecated"):
            module = importlib.import_module(f"scrapy_captcha.{old}")
        new = importlib.import_module(f"scrapy_captcha.{layer}.{old}")
        public = getattr(new, "__all__", None) or [
            n for n in vars(new) if not n.startswith("_") and n in vars(module)
        ]
        assert all(getattr(module, n) is getattr(new, n) for n in public), old


def test_public_surface_is_the_package_root() -> None:
    """Internals are ``_modules``; the names users import are re-exported at the top."""
    public_modules = {
        "addon",
        "api",
        "clearance",
        "errors",
        "middleware",
        "providers",
        "settings",
        "signals",
        "store",
        "testing",
        # the layers' folders (internal: their modules are ``_something``)
        *LAYERS,
    }
    top = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert {n for n in top if not n.startswith("_")} == public_modules
    for name in scrapy_captcha.__all__:
        assert hasattr(scrapy_captcha, name), name
    for name in ("Addon", "ClearanceStore", "Provider", "CaptchaSettings", "solve_widget"):
        assert name in scrapy_captcha.__all__


def test_the_base_knows_the_built_in_services_by_name() -> None:
    """Settings are checked in the base, below the services: by name (_kinds.SERVICES),
    which must be the services' own registry."""
    from scrapy_captcha._kinds import SERVICES
    from scrapy_captcha.services.providers import PROVIDERS

    assert sorted(SERVICES) == sorted(PROVIDERS)
