"""The layering the ARCHITECTURE.md page describes, checked on the source: imports form a DAG,
data flows server -> pipelines -> models, and the platform knows no workflow."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "models", "pipelines")
WORKFLOWS = ("pipelines.text", "pipelines.video", "pipelines.catalogue")
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules `path` imports anywhere (module level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


GRAPH = {name: _imports(path, _sources()) for name, path in _sources().items()}


def test_module_imports_form_no_cycle() -> None:
    # a package's __init__ is not an edge to its modules: only what the code names counts
    graph = {name: {d for d in deps if d != name} for name, deps in GRAPH.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [
        ("models", ("pipelines", "server")),
        ("pipelines", ("server",)),
        ("pipelines.platform", WORKFLOWS),
    ],
)
def test_layers_import_only_downwards(importer: str, forbidden: tuple[str, ...]) -> None:
    upward = sorted(
        f"{name} -> {dep}"
        for name, deps in GRAPH.items()
        if name == importer or name.startswith(importer + ".")
        for dep in deps
        if any(dep == f or dep.startswith(f + ".") for f in forbidden)
    )
    assert not upward


def test_only_the_storage_layer_touches_a_database_driver() -> None:
    drivers = {"sqlite3", "sqlalchemy", "alembic"}
    touching = sorted(
        name
        for name, path in _sources().items()
        if not name.startswith("pipelines.platform.storage")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for module in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        if module.split(".")[0] in drivers
    )
    assert not touching


def test_modules_stay_small() -> None:
    long = {
        name: n
        for name, p in _sources().items()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
