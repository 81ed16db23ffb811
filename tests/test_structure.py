"""The layout's rules, read from the source: imports point server -> service ->
extension only, no import cycle, no class over 200 lines, no function over 80."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flask_fanout"
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def _base(name: str, node: ast.ImportFrom) -> str:
    """The absolute module of ``from <base> import ...`` in module ``name``."""
    if not node.level:
        return node.module or ""
    package = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
    kept = package[: len(package) - node.level + 1]
    return ".".join([*kept, node.module] if node.module else kept)


def _reexports(package: str) -> dict[str, str]:
    """What a package's ``__init__`` takes from its modules: name -> module."""
    if MODULES.get(package, Path()).name != "__init__.py":
        return {}
    found = {}
    for node in TREES[package].body:
        if isinstance(node, ast.ImportFrom):
            base = _base(package, node)
            for alias in node.names:
                module = f"{base}.{alias.name}"
                found[alias.asname or alias.name] = module if module in MODULES else base
    return found


def _imports(name: str) -> set[str]:
    """The flask_fanout modules ``name`` imports, a package's re-exports followed to
    the module that defines them; a module's own parent packages are left out
    (Python imports them first, whatever the module says)."""
    found: set[str] = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.ImportFrom):
            base = _base(name, node)
            reexports = _reexports(base)
            for alias in node.names:
                module = f"{base}.{alias.name}"
                found.add(module if module in MODULES else reexports.get(alias.name, base))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {
        target
        for target in found
        if target in MODULES and target != name and not name.startswith(target + ".")
    }


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> int:
    if name.startswith("flask_fanout.server"):
        return 2
    if name.startswith("flask_fanout.service"):
        return 1
    return 0


def test_imports_point_from_server_to_service_to_extension_only() -> None:
    upward = [(a, b) for a, targets in GRAPH.items() for b in targets if _layer(b) > _layer(a)]
    assert upward == []


def test_there_is_no_import_cycle() -> None:
    edges = GRAPH
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(edges[node]):
            visit(target, [*path, node])
        done.add(node)

    for name in sorted(edges):
        visit(name, [])
    assert cycles == []


@pytest.mark.parametrize(
    ("kind", "limit"),
    [
        (ast.ClassDef, MAX_CLASS_LINES),
        ((ast.FunctionDef, ast.AsyncFunctionDef), MAX_FUNCTION_LINES),
    ],
)
def test_no_class_or_function_is_longer_than_its_limit(
    kind: type | tuple[type, ...], limit: int
) -> None:
    too_long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, kind) and node.end_lineno and node.end_lineno - node.lineno + 1 > limit
    ]
    assert too_long == []


def test_the_graph_sees_the_layers() -> None:
    """The checks above are only as good as the graph: it must see real edges."""
    assert "flask_fanout.service.startup" in GRAPH["flask_fanout.server.cli"]
    assert "flask_fanout.extension" in GRAPH["flask_fanout.service.app"]
    assert "flask_fanout.outcome" in GRAPH["flask_fanout.gather"]
