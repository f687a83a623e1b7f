"""The core's rooms stay clear: no import circle in shared/src, no module importing the
command line, no private name imported across modules, front-ends and developer tools in
their wings (read with the standard library's ``ast``; nothing is imported)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: the core's model: what packs and front-ends build on (CONTRACT.md; STYLE.md, 13)
CORE_TOP = {
    "audit",
    "celery_executor",
    "confirm",
    "connections",
    "context",
    "declare",
    "errors",
    "executor",
    "grammar",
    "help",
    "jobs",
    "masking",
    "pack",
    "policy",
    "registry",
    "results",
    "runtime",
    "scripts",
    "search",
    "settings",
    "store",
    "threads",
    "transport",
    "vault",
    "version",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import, top-level or not."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub, "", node.lineno) if sub in modules else (base, alias.name, node.lineno)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _, _ in _imports(name, path, modules):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_imports_the_command_line() -> None:
    importers = [m for m, targets in _graph().items() if "opspack.frontends.cli" in targets]
    assert importers == []


def test_no_private_name_is_imported_across_modules() -> None:
    modules = _modules()
    private = [
        f"{path.relative_to(SRC)}:{line} imports {name} from {target}"
        for module, path in modules.items()
        for target, name, line in _imports(module, path, modules)
        if target.startswith("opspack") and name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def test_the_core_model_does_not_reach_into_its_wings() -> None:
    graph = _graph()
    reaching = [
        f"{m} imports {t}"
        for m, targets in graph.items()
        if m.startswith("opspack.") and m.split(".")[1] in CORE_TOP
        for t in targets
        if t.startswith(("opspack.frontends", "opspack.devtools"))
    ]
    assert reaching == []


@pytest.mark.parametrize("wing", ["frontends", "devtools"])
def test_top_level_holds_only_the_core_model(wing: str) -> None:
    top = {p.stem for p in (SRC / "opspack").glob("*.py")} - {"__init__"}
    assert top <= CORE_TOP, f"modules outside the core model belong in a wing: {sorted(top - CORE_TOP)}"
    assert (SRC / "opspack" / wing / "__init__.py").is_file()
