"""The package's imports point one way: every import, at module level or inside a function, goes
to the same layer or one below, never up; no two modules import each other, even through
others; and no module imports at its bottom (to register something) after its definitions.

The layers, bottom to top (README "Layout"):

    errors, registry, config, seeding, ranks, runtime   (below all)
    data -> learners -> spaces -> teachers, training -> meta, export -> search -> analysis
         -> reports -> cli

Parsed from the source with :mod:`ast` (nothing is imported), so the test also sees imports that
only run inside functions.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "gtnas"

LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "registry", "config", "seeding", "ranks", "runtime"), 0),
    "data": 1,
    "learners": 2,
    "spaces": 3,
    "teachers": 4,
    "training": 4,
    "meta": 5,
    "export": 5,
    "search": 6,
    "analysis": 7,
    "reports": 8,
    "cli": 9,
    "__main__": 9,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (
        PACKAGE.parent / relative / "__init__.py"
    ).is_file()


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported gtnas module, line) for every import in ``path``; ``from P import m`` counts as
    an import of the submodule ``P.m`` where ``m`` is one, else of ``P``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = [
                f"{source}.{a.name}" for a in node.names if is_module(f"{source}.{a.name}")
            ]
            if len(submodules) < len(node.names):
                found.append((source, node.lineno))
            found += [(m, node.lineno) for m in submodules]
    return [(m, line) for m, line in found if m == "gtnas" or m.startswith("gtnas.")]


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # the package's face: its version and GtnasError, nothing above
        return 0
    return LAYERS[parts[1]]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
EDGES = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_top_level_module_has_a_layer() -> None:
    tops = {name.split(".")[1] for name in MODULES if "." in name}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


def test_the_package_face_imports_only_the_errors() -> None:
    assert {m for m, _ in EDGES["gtnas"]} <= {"gtnas.errors"}


def test_no_import_points_up() -> None:
    upward = [
        f"{name}:{line} imports {target} (layer {layer_of(target)} above {layer_of(name)})"
        for name, targets in EDGES.items()
        if name != "gtnas"
        for target, line in targets
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "\n".join(upward)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the graph's strongly connected components of two or more nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, targets in EDGES.items():
        graph[name] |= {t for t, _ in targets if t in MODULES and t != name}
        for target in graph[name]:
            graph.setdefault(target, set())
    assert not strongly_connected(graph)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_after_the_definitions(name: str) -> None:
    body = ast.parse(MODULES[name].read_text()).body
    first_definition = next(
        (i for i, node in enumerate(body) if isinstance(node, ast.FunctionDef | ast.ClassDef)),
        len(body),
    )
    late = [
        node.lineno
        for node in body[first_definition:]
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert not late, f"{name}: module-level imports after its definitions at lines {late}"


# Imports that may wait inside a function: optional extras (a user without them still imports
# gtnas), libraries slow to import that only some commands need, and interpreter internals.
LAZY_ALLOWED = (
    "onnx", "onnxruntime", "ray", "optuna", "matplotlib", "networkx", "resource",
    "numpy._core", "numpy.core", "_codecs",
)  # fmt: skip


def function_level_imports(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every import inside a function or class body of ``path``, outside an
    ``if TYPE_CHECKING`` block."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If | ast.Try):  # a module-level guard is still module level
            top |= {id(inner) for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            module = node.module if isinstance(node, ast.ImportFrom) else names[0]
            found.append(("." * getattr(node, "level", 0) + (module or ""), node.lineno))
    return found


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("gtnas.cli")))
def test_imports_wait_inside_functions_only_for_extras(name: str) -> None:
    # The command-line layer imports each command's machinery when the command runs, so that
    # `gtnas --help` stays fast; below it, an import inside a function hides a dependency.
    late = [
        f"line {line}: {module}"
        for module, line in function_level_imports(MODULES[name])
        if not module.startswith(LAZY_ALLOWED)
    ]
    assert not late, f"{name}: move these imports to the top of the module: {late}"


def test_the_lazy_import_finder_finds_one(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from gtnas.data import load_dataset\n")
    assert function_level_imports(source) == [("gtnas.data", 4)]
