"""The package's imports point one way: a static import graph built from the source (ast) has no cycle.

Edges are the imports of `optimum_hywia` modules, relative or absolute, including the implicit import of each
parent package's `__init__` from outside that package. Imports under `if TYPE_CHECKING:` are left out (they never run). Imports inside
functions are allowed only where they are not needed to break a cycle: with them added as edges the graph must
still be acyclic, so an import moved into a function to dodge a cycle fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "optimum_hywia"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST) -> list[tuple[ast.stmt, bool]]:
    """Every import statement with whether it runs at module level (not inside a function), TYPE_CHECKING skipped."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def targets(module: str, node: ast.stmt) -> set[str]:
    """Our modules an import statement loads, with the parent packages Python loads first."""
    is_package = MODULES[module].name == "__init__.py"
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    elif node.level == 0:
        names = {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    else:
        base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        stem = ".".join(base + ([node.module] if node.module else []))
        names = {stem} | {f"{stem}.{alias.name}" for alias in node.names}
    loaded = set()
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            if ".".join(parts[:end]) in MODULES:
                loaded.add(".".join(parts[:end]))
    # the packages holding the importer are already being imported when it runs (a package's `__init__` importing
    # its own submodules is no cycle)
    return {name for name in loaded if name != module and not module.startswith(name + ".")}


def graph(include_function_level: bool) -> dict[str, set[str]]:
    edges = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node, module_level in imports(ast.parse(path.read_text(), str(path))):
            if module_level or include_function_level:
                edges[name] |= targets(name, node)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_built_from_the_source():
    edges = graph(include_function_level=False)
    assert len(MODULES) > 40
    assert "optimum_hywia.allocation.budget" in edges["optimum_hywia.allocation.strategies"]
    assert "optimum_hywia.importance" in edges["optimum_hywia.hywia.views"]  # the parent package's __init__
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("include_function_level", [False, True], ids=["module-level", "with-function-level"])
def test_no_import_cycle(include_function_level):
    cycle = find_cycle(graph(include_function_level))
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("module", ["optimum_hywia.registry", "optimum_hywia.version", "optimum_hywia.errors"])
def test_the_bottom_layer_imports_nothing_of_ours(module):
    assert graph(include_function_level=True)[module] == set()


def test_the_configuration_does_not_import_the_scoring_stack():
    edges = graph(include_function_level=True)
    assert edges["optimum_hywia.configuration"] <= {
        "optimum_hywia.registry", "optimum_hywia.version", "optimum_hywia.errors", "optimum_hywia.text_sources",
        "optimum_hywia.config_sections", "optimum_hywia.config_fields",
    }
    assert edges["optimum_hywia.config_sections"] <= {
        "optimum_hywia.config_fields", "optimum_hywia.errors", "optimum_hywia.text_sources"
    }
    assert edges["optimum_hywia.config_fields"] <= {"optimum_hywia.errors", "optimum_hywia.text_sources"}
    assert edges["optimum_hywia.text_sources"] == {"optimum_hywia.errors"}


@pytest.mark.parametrize("package", ["allocation", "surgery", "training"])
def test_the_pipeline_folders_never_import_the_method(package):
    edges = graph(include_function_level=True)
    importers = [name for name in edges if name == f"{PACKAGE}.{package}" or name.startswith(f"{PACKAGE}.{package}.")]
    assert importers, f"{package}/ holds no module"
    for name in importers:
        method = {target for target in edges[name] if target == f"{PACKAGE}.hywia" or target.startswith(f"{PACKAGE}.hywia.")}
        assert not method, f"{name} imports {sorted(method)}"


def test_the_method_builds_on_the_pipeline_folders():
    edges = graph(include_function_level=False)
    assert "optimum_hywia.allocation.budget" in edges["optimum_hywia.hywia.views"]
    assert "optimum_hywia.surgery.masks" in edges["optimum_hywia.hywia.train"]
