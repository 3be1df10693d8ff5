"""The house's layers: cleaners/ (pure functions) <- db/ (all SQL) <- crawler/ (loaders, Scrapy,
CLI). Imports go downward only, no module imports itself back through others, and the floors
stay free of the frameworks above them. Every import counts, also one inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS = {"cleaners": 0, "db": 1, "crawler": 2}
# what each layer must never import (top-level package names)
FORBIDDEN = {
    "cleaners": {"sqlite3", "sqlite_utils", "scrapy", "twisted", "db", "crawler"},
    "db": {"scrapy", "twisted", "crawler"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports (resolved to a module of ours where it names one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in MODULES else base)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_downward_only(name: str) -> None:
    layer = name.split(".")[0]
    for target in GRAPH[name]:
        top = target.split(".")[0]
        assert top not in FORBIDDEN.get(layer, set()), f"{name} imports {target}"
        if top in LAYERS:
            assert LAYERS[top] <= LAYERS[layer], f"{name} imports upward: {target}"


def test_no_import_cycles() -> None:
    edges = {n: {t for t in targets if t in MODULES and t != n} for n, targets in GRAPH.items()}
    # a package's __init__ is not a real dependency of its modules unless it imports them
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_checks_see_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: an import inside a function, from the floor upward, is found."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from crawler.run import Run\n    return Run\n")
    assert "crawler.run" in _imports("cleaners.bad", source)
