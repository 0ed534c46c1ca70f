"""The layer rule of DESIGN.md: a layer imports only from layers below it, the library never
imports the web layer, and no two modules import each other, however indirectly.

Every import counts, also those inside functions: a lazy import that runs back up a layer is
still a circle in the design, only hidden from Python's import machinery.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "gisgrid"

# bottom to top; the ground floor holds the modules every layer may use. errors lies under
# the rest of it: a ground-floor rule (times, bbox) raises InvalidInput like any other layer;
# numbers lies under the rest too: bbox and times may read numbers through it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors"),
    ("numbers",),
    ("settings", "vocab", "crs", "taxonomy", "times", "bbox", "paging", "sql", "media"),
    ("store",),
    ("access",),
    ("assign",),
    ("io",),
    ("query",),
    ("incidents",),
    ("tiles",),
    ("analysis",),
    ("planning",),
    ("synth",),
    ("cli",),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    """gisgrid/tiles/raster.py -> gisgrid.tiles.raster; a package is named by its folder."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from gisgrid.tiles import raster` imports the module gisgrid.tiles.raster, and
            # takes no name from the package itself
            subs = [f"{node.module}.{a.name}" for a in node.names]
            if all(s in MODULES for s in subs):
                out += [(node.lineno, s) for s in subs]
            else:
                out.append((node.lineno, node.module))
    return out


def layer_of(module: str) -> str:
    """The layer a gisgrid module lives in: its sub-package, or the ground-floor module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    """Module -> the gisgrid modules it imports (names that are not modules are dropped)."""
    return {
        mod: {m for _, m in imports_of(path) if m in MODULES and m != mod}
        for mod, path in MODULES.items()
    }


def test_every_layer_is_known() -> None:
    unknown = sorted({layer_of(m) for m in MODULES} - set(RANK))
    assert not unknown, f"modules in no layer of LAYERS: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_imports_only_from_below(module: str) -> None:
    here = layer_of(module)
    wrong = []
    for line, target in imports_of(MODULES[module]):
        if target == "api" or target.startswith("api."):
            wrong.append(f"line {line}: {target} (the library never imports the web layer)")
        elif target.startswith("gisgrid.") and target in MODULES:
            there = layer_of(target)
            if there != here and RANK[there] > RANK[here]:
                wrong.append(f"line {line}: {target} ({there} is above {here})")
            if here != there and RANK[there] == RANK[here] and here != "__init__":
                wrong.append(f"line {line}: {target} ({there} is beside {here})")
    assert not wrong, f"{module} imports upwards:\n" + "\n".join(wrong)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    found = cycles(graph())
    assert not found, f"modules that import each other: {found}"


def test_the_checks_catch_what_they_name() -> None:
    # the rule is only as good as its checker: a circle and an upward import must be seen
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert RANK["store"] < RANK["tiles"] < RANK["analysis"] < RANK["cli"]
    assert layer_of("gisgrid.tiles.raster") == "tiles" and layer_of("gisgrid.crs") == "crs"
