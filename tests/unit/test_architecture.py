"""The layering docs/ARCHITECTURE.md describes, checked on the source: no import cycle between
packages (function-local imports count: they hide a cycle, they do not remove it), nothing below
the interfaces imports the ``Mesh`` facade, and no route or command decides access itself."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "meshfabric"
#: what may use the facade: the package itself, the interfaces and the facade
INTERFACES = {"api", "cli", "ui", "mesh", "__init__"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str | None:
    """The top-level part of meshfabric a module belongs to (``access``, ``mesh``, ``errors`` …)."""
    parts = module.split(".")
    if parts[0] != "meshfabric":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    """Modules imported anywhere in the file, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def _graph() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        module = _module(path)
        src = _package(module)
        for name in _imports(path):
            dst = _package(name)
            if src and dst and dst != src and src != "__init__" and dst != "__init__":
                graph[src][dst].add(module)
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected sets of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_packages() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    detail = [f"{a} -> {b} ({', '.join(sorted(graph[a][b]))})" for c in cycles for a in c for b in graph[a] if b in c]
    assert not cycles, "import cycles between packages:\n" + "\n".join(detail)


def test_only_the_interfaces_use_the_mesh_facade() -> None:
    users = {m for pkg, targets in _graph().items() if pkg not in INTERFACES
             for m in targets.get("mesh", set())}
    assert not users, f"services must receive what they use, not the Mesh: {sorted(users)}"


@pytest.mark.parametrize("folder", ["api", "cli", "ui"])
def test_interfaces_decide_no_access(folder: str) -> None:
    """Routes and commands pass the principal on; the services ask the access layer."""
    import re

    deciding = re.compile(r"visible_products\(|\.decide\(|\.authorize\(|permission_level\(|sees_values\(|"
                          r"\.acting\(|^\s*(el)?if\b[^\n]*\.is_admin\b")
    offenders = [f"{p.name}:{n}: {line.strip()}" for p in sorted((SRC / folder).glob("*.py"))
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if deciding.search(line)]
    assert not offenders, offenders
