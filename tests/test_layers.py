"""The import graph of compressae_pg/, read with ``ast``: no circles, and every arrow points down a floor.

The floors, from the ground up:

1. the ground floor: the modules at the package's top level (``_codes``, ``_wire``, ``model``, ``registry``,
   ``server``, ``errors``, ...), which the rest share;
2. the stages, in the order the data goes, each importing only the stages before it (and the ground
   floor): ``training``, ``columns``, ``fill``, ``search``, ``evaluation``;
3. the front doors: ``cli``, ``sqlalchemy``, ``alembic`` and the package's ``__init__``.

Within a floor (or a stage) modules may import each other, as long as no import circles back.

Every ``import`` statement counts: at the top of a module, under ``TYPE_CHECKING``, and inside a
function. An import inside a function keeps torch (or a heavy module) out of a process that does not
need it, but it is still an arrow that the module depends on; every such import in the package points
down, so the rule needs no exception. ``from X import name`` is an arrow to ``X.name`` when that is a
module, else to ``X``; the package's dynamic ``import_module`` of its public names (a front door) is not
an ``import`` statement and is not read.

The tests follow one rule of their own: no test module imports another (what tests share lives in
``tests/support/`` and ``tests/fixtures/``).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "compressae_pg"
STAGES = ("training", "columns", "fill", "search", "evaluation")
FRONT_DOORS = ("cli", "sqlalchemy", "alembic")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def floor(module: str) -> int:
    """0 for the ground floor, 1.. for each stage in order, then the front doors."""
    part = module.split(".")[1] if "." in module else None
    if part is None or part in FRONT_DOORS:
        return len(STAGES) + 1
    return STAGES.index(part) + 1 if part in STAGES else 0


def imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in it."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports(m) for m in MODULES}


def test_the_graph_is_read():
    assert sum(map(len, GRAPH.values())) > 150
    assert {"compressae_pg._codes", "compressae_pg._vectors"} <= GRAPH["compressae_pg.model"]
    assert "compressae_pg.fill.queue" in GRAPH["compressae_pg.fill.state"]  # an import inside a function
    assert "compressae_pg.model" in GRAPH["compressae_pg.search.codes"]  # under TYPE_CHECKING, and inside a method
    assert [floor(m) for m in ("compressae_pg._wire", "compressae_pg.columns.indexes", "compressae_pg.evaluation.run",
                               "compressae_pg.cli.parser", "compressae_pg")] == [0, 2, 5, 6, 6]


def test_every_import_points_down_or_along_a_floor():
    up = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets if floor(b) > floor(a))
    assert not up, "imports that climb a floor (move what they need down):\n" + "\n".join(up)


def test_no_modules_import_each_other_in_a_circle():
    circles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for target in sorted(GRAPH[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert not circles, "import circles:\n" + "\n".join(circles)


TESTS = Path(__file__).resolve().parent


def imported(node: ast.AST) -> list[str]:
    """The modules an import statement names: ``import a.b`` → a.b; ``from .x import y`` → x and x.y."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module or "", *(f"{node.module or ''}.{a.name}" for a in node.names)]
    return []


def test_no_test_module_imports_another():
    paths = list(TESTS.rglob("test_*.py"))
    found = [f"{path.relative_to(TESTS)}: {name}" for path in paths for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             for name in imported(node) if any(part.startswith("test_") for part in name.split("."))]
    assert len(paths) > 40 and found == []
