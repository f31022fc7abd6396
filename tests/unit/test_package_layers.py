"""The package layering of ostiary, read from the source with ast.

Every import counts: module level, inside functions and under TYPE_CHECKING, because
each one is a dependency a reader (and the type checker) must follow. A node is a
top-level package (``ostiary.oauth``) or a top-level module (``ostiary.services``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "ostiary"


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted
    node: str  # importing top-level package or module
    target: str  # imported module, dotted and absolute
    names: tuple[str, ...]  # for "from target import a, b": a and b (modules or attributes)
    where: str  # path:line

    @property
    def candidates(self) -> tuple[str, ...]:
        """The target and, because "from ostiary.storage import tables" names a module
        rather than an attribute, each name under it."""
        return (self.target, *(f"{self.target}.{name}" for name in self.names))

    @property
    def target_nodes(self) -> set[str]:
        nodes = set()
        for dotted in self.candidates:
            parts = dotted.split(".")
            if parts[0] == "ostiary" and len(parts) > 1:
                nodes.add(parts[1])
        # "from ostiary import services": only the named module is a dependency.
        return nodes if self.target != "ostiary" else {n for n in nodes if n in NODES}

    def __str__(self) -> str:
        if self.names:
            return f"{self.where}: from {self.target} import {', '.join(self.names)}"
        return f"{self.where}: import {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str, is_package: bool, found: ast.ImportFrom) -> str:
    if not found.level:
        return found.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (found.level - 1)]
    return ".".join(base + ([found.module] if found.module else []))


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        parts = module.split(".")
        node = parts[1] if len(parts) > 1 else ""
        where = path.relative_to(SRC.parent).as_posix()
        for item in ast.walk(ast.parse(path.read_text(), str(path))):
            line = f"{where}:{getattr(item, 'lineno', 0)}"
            if isinstance(item, ast.Import):
                found += [Import(module, node, alias.name, (), line) for alias in item.names]
            elif isinstance(item, ast.ImportFrom):
                base = _absolute(module, path.name == "__init__.py", item)
                names = tuple(alias.name for alias in item.names)
                found.append(Import(module, node, base, names, line))
    return tuple(found)


def _internal_edges() -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in imports():
        for target in imp.target_nodes - {imp.node, ""}:
            if imp.node:
                edges[imp.node, target].append(imp)
    return edges


def _cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
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


def test_the_scan_sees_imports_of_every_kind() -> None:
    # A scan that silently found nothing would pass every rule below.
    seen = {imp.target for imp in imports() if imp.module == "ostiary.services"}
    assert "ostiary.settings" in seen
    assert "ostiary.settings" in seen
    assert len({imp.module for imp in imports()}) > 200


def test_no_import_cycles_between_packages() -> None:
    edges = _internal_edges()
    report = []
    for component in _cycles(edges):
        report.append("cycle: " + " ".join(component))
        members = set(component)
        for (a, b), found in sorted(edges.items()):
            if a in members and b in members:
                report += [f"  {a} -> {b}: {imp}" for imp in found]
    assert not report, "\n".join(report)


NODES = sorted(
    {p.stem for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    - {"__init__"}
)

# Lowest first; a node may import its own layer's nodes (without cycles) and lower ones.
LAYERS: list[set[str]] = [
    {"domain", "clock", "errors", "strict_json", "settings", "crypto", "cache", "resource"},
    {"storage", "gateway"},
    {"keys"},
    {"tokens"},
    {"accounts", "federation", "oauth", "oidc", "events", "limits"},
    {"services"},
    {"web", "admin", "scim", "cli", "portable", "observability", "retention"},
    {"settings_doc", "__main__"},
]
LAYER_OF = {node: depth for depth, layer in enumerate(LAYERS) for node in layer}
# The server's packages: storage and everything above it, the gateway aside.
SERVER = tuple(
    sorted(n for n, d in LAYER_OF.items() if d >= LAYER_OF["storage"] and n != "gateway")
)
WEB_FRAMEWORKS = ("starlette", "fastapi")


def test_every_package_has_a_layer() -> None:
    assert sorted(set(NODES) - set(LAYER_OF)) == []


def test_no_package_imports_a_higher_layer() -> None:
    upward = sorted(
        f"{a} (layer {LAYER_OF[a]}) -> {b} (layer {LAYER_OF[b]}): {imp}"
        for (a, b), found in _internal_edges().items()
        if LAYER_OF.get(a, 0) < LAYER_OF.get(b, 0)
        for imp in found
    )
    assert upward == [], "\n".join(upward)


def _ostiary(*nodes: str) -> tuple[str, ...]:
    return tuple(f"ostiary.{n}" for n in nodes)


# (rule, importing nodes, forbidden import prefixes)
RULES = [
    pytest.param(
        "domain holds plain types: it imports nothing from ostiary but itself",
        ("domain",),
        _ostiary(*(n for n in NODES if n != "domain")),
        id="domain",
    ),
    pytest.param(
        "the resource kit and the gateway run without the server",
        ("resource", "gateway"),
        (*_ostiary(*SERVER), "sqlalchemy"),
        id="resource-gateway",
    ),
    pytest.param(
        "protocol code is pure: no web framework, no SQL",
        ("oauth", "oidc", "tokens", "keys", "domain"),
        (*WEB_FRAMEWORKS, "sqlalchemy"),
        id="protocol-pure",
    ),
    pytest.param(
        "nothing outside storage reads the table definitions",
        tuple(n for n in NODES if n != "storage"),
        ("ostiary.storage.tables",),
        id="tables-in-storage",
    ),
]


def _matches(imp: Import, prefixes: tuple[str, ...]) -> bool:
    return any(
        dotted == p or dotted.startswith(p + ".") for dotted in imp.candidates for p in prefixes
    )


@pytest.mark.parametrize(("rule", "nodes", "forbidden"), RULES)
def test_layering_rule(rule: str, nodes: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    broken = sorted(
        {str(imp) for imp in imports() if imp.node in nodes and _matches(imp, forbidden)}
    )
    assert broken == [], f"{rule}:\n" + "\n".join(broken)


# Outside storage/ nothing writes SQL: no table objects, no SQL expressions.  The
# engine itself is handled by the composition root, the database commands of the
# CLI and the pool/tracing instrumentation, which may name its type (and the URL
# helpers) but build no query.
ENGINE_ONLY = ("sqlalchemy.ext.asyncio", "sqlalchemy.engine", "sqlalchemy.exc")
ENGINE_HOLDERS = {
    "ostiary.services",
    "ostiary.cli.backup",
    "ostiary.cli.context",
    "ostiary.cli.failures",
    "ostiary.observability.metrics",
    "ostiary.observability.tracing",
    "ostiary.observability.wiring",
}


def _sql_imports() -> dict[str, list[Import]]:
    found: dict[str, list[Import]] = defaultdict(list)
    for imp in imports():
        if imp.node == "storage":
            continue
        if _matches(imp, ("ostiary.storage.tables",)):
            found[imp.module].append(imp)
        elif _matches(imp, ("sqlalchemy",)):
            if imp.module in ENGINE_HOLDERS and _matches(imp, ENGINE_ONLY):
                continue
            found[imp.module].append(imp)
    return found


def test_sql_stays_inside_storage() -> None:
    report = [str(imp) for found in _sql_imports().values() for imp in found]
    assert report == [], "SQL outside storage/:\n" + "\n".join(report)
