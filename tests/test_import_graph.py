"""The package import graph: layers import only downwards.

Nodes are the box's areas (``box.<pkg>`` or ``box.<module>``), ``drivers``, ``sim``,
``firmware_tools`` and any top-level package added later. Every import counts, also those
inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

TOPS = ("box", "drivers", "sim", "firmware_tools", "vision", "ingest")
ABOVE_ALL = {"box.cli", "box.__main__"}  # the entry points: nothing imports them
RUNTIME_USERS = {"box.cli", "box.__main__", "box.bench"}  # who may run a box (box.runtime)


def _node(module: str) -> str:
    parts = module.split(".")
    return f"box.{parts[1]}" if parts[0] == "box" and len(parts) > 1 else parts[0]


def _is_module(module: str) -> bool:
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            found.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                anchor = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                base = ".".join(anchor + ([n.module] if n.module else []))
            for a in n.names:  # ``from box import paths`` imports box.paths
                sub = f"{base}.{a.name}"
                found.add(sub if _is_module(sub) else base)
    return {m for m in found if m.split(".")[0] in TOPS}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for top in TOPS:
        for path in sorted((REPO / top).rglob("*.py")) if (REPO / top).is_dir() else []:
            parts = path.relative_to(REPO).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            src = _node(module)
            graph.setdefault(src, set())
            for imported in _imports(path, module):
                dst = _node(imported)
                if dst not in (src, "box"):  # box/__init__ holds only the version
                    graph[src].add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_graph_has_no_cycle() -> None:
    graph = package_graph()
    assert {"box.core", "box.alarms", "box.store", "box.web", "drivers", "sim"} <= set(graph)
    found = cycles(graph)
    detail = [
        f"{c}: " + "; ".join(f"{a} -> {b}" for a in c for b in sorted(graph[a]) if b in c)
        for c in found
    ]
    assert not found, "import cycles between packages:\n" + "\n".join(detail)


def test_the_core_imports_nothing_else_of_the_box() -> None:
    assert package_graph()["box.core"] == set()


def test_nothing_below_imports_the_cli_or_the_daemon() -> None:
    graph = package_graph()
    wrong = [
        f"{src} -> {dst}"
        for src, dsts in graph.items()
        for dst in dsts
        if (dst in ABOVE_ALL and src not in ABOVE_ALL)
        or (dst == "box.runtime" and src not in RUNTIME_USERS)
    ]
    assert not wrong, wrong


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
