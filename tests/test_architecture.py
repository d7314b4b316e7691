"""The package's layers import one way only: the application uses the search, the search uses the
engine, storage, cache and data, and nothing imports a layer above its own (lazy imports
inside functions included). The tests mirror the package: each module has its test file."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "jaxsweep"
TESTS = Path(__file__).parent
END_TO_END = TESTS / "e2e"  # the real CLI across modules: no module of its own
# Higher imports lower or equal, never the reverse. Within a layer, no cycle (checked below).
RANK = {"errors": 0, "config": 0, "data": 1, "cache": 2, "engine": 3, "storage": 3, "search": 4}
RANK |= {"app": 5, "__init__": 6, "__main__": 6}
MAX_LINES = 300


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("jaxsweep")
            ):
                found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("jaxsweep")}
        graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def test_no_layer_imports_a_layer_above_it() -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in _imports().items()
        for target in targets
        if name != "jaxsweep" and RANK[_layer(target)] > RANK[_layer(name)]
    ]
    assert not upward


def test_modules_import_each_other_without_a_cycle() -> None:
    graph = {
        name: {t for t in ts if not name.startswith(t + ".")} for name, ts in _imports().items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name not in done:
            for target in graph[name]:
                visit(target, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_every_module_is_short_and_every_subpackage_says_what_it_holds() -> None:
    long = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
    for init in PACKAGE.rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), init


def _test_file(module: Path) -> Path:
    """Where a module's tests live: ``tests/<layer>/test_<module>.py``, as the package is laid out
    (a package's own code, in its ``__init__.py``, in ``test_init.py``)."""
    relative = module.relative_to(PACKAGE)
    name = "init" if relative.stem == "__init__" else relative.stem
    return TESTS / relative.parent / f"test_{name}.py"


def test_every_module_has_its_test_file_and_every_test_file_its_module() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__")]
    untested = sorted(str(m.relative_to(PACKAGE)) for m in modules if not _test_file(m).is_file())
    assert not untested  # each needs its tests/<layer>/test_<module>.py
    homes = {_test_file(m) for m in PACKAGE.rglob("*.py")}
    in_layers = [
        p for p in TESTS.rglob("test_*.py") if p.parent != TESTS and END_TO_END not in p.parents
    ]
    orphans = sorted(str(p.relative_to(TESTS)) for p in in_layers if p not in homes)
    assert not orphans  # a test file in a layer's folder is named after a module of that layer
    for folder in {p.parent for p in TESTS.rglob("test_*.py")}:
        assert (folder / "__init__.py").is_file(), folder  # tests import tests.conftest
