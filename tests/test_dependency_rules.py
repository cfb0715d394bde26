"""The dependency rules of shared/DESIGN.md, checked from the imports themselves.

Every ``import`` counts, at module level and inside functions alike: an import moved into
a function still ties the two modules together. A failure names the file, the line and
the rule.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mailworker"
STAGES = ("ingest", "outbound", "ledger", "group")
# The modules that sit on top and wire the stages together (DESIGN.md: "the CLI and the
# service loop sit on top and wire them"). Everything else directly in mailworker/ is core.
WIRING = {"mailworker.cli", "mailworker.service", "mailworker.service_cli", "mailworker.demo",
          "mailworker.__main__", "mailworker.staff_actions"}


@dataclass(frozen=True)
class Import:
    source: str        # importing module, e.g. mailworker.ingest.pipeline
    target: str        # imported module (the deepest one that exists), or a foreign name
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(modules: dict[str, Path]) -> list[Import]:
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                # "from . import cli" names a module; "from .x import f" names x.
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix
                           for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("mailworker"):
                    while target not in modules and "." in target:
                        target = target.rpartition(".")[0]
                found.append(Import(name, target, path, node.lineno))
    return found


MODULES = _modules()
IMPORTS = _imports(MODULES)


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in STAGES else None


def _is_core(module: str) -> bool:
    return module.startswith("mailworker") and _stage(module) is None and module not in WIRING


def _violations(rule) -> list[str]:
    return [f"{i.where()}: {i.source} imports {i.target}" for i in IMPORTS if rule(i)]


def test_the_import_graph_is_read():
    # A guard against a check that cannot fail: the graph really holds the known edges.
    assert len(MODULES) > 50
    assert any(i.source == "mailworker.service" and i.target.startswith("mailworker.ingest")
               for i in IMPORTS)
    assert any(i.source == "mailworker.ingest.pipeline" and i.target == "mailworker.models"
               for i in IMPORTS)


def test_ingest_and_outbound_never_import_each_other():
    assert _violations(lambda i: {_stage(i.source), _stage(i.target)} == {"ingest", "outbound"}) \
        == []


def test_ledger_imports_no_other_stage():
    assert _violations(lambda i: _stage(i.source) == "ledger"
                       and _stage(i.target) in ("ingest", "outbound", "group")) == []


def test_merkle_imports_only_the_standard_library():
    merkle = "mailworker.ledger.merkle"
    assert merkle in MODULES
    assert _violations(lambda i: i.source == merkle and i.target != "__future__"
                       and i.target.split(".")[0] not in sys.stdlib_module_names) == []


def test_group_and_the_mail_stages_meet_only_in_the_database():
    assert _violations(lambda i: {_stage(i.source), _stage(i.target)} in
                       ({"group", "ingest"}, {"group", "outbound"})) == []


def test_the_core_never_imports_a_stage():
    assert _violations(lambda i: _is_core(i.source) and _stage(i.target) is not None) == []


def test_no_module_imports_the_wiring_except_the_wiring():
    assert _violations(lambda i: i.target in WIRING and i.source not in WIRING
                       and i.target != "mailworker.__main__") == []


def _cycles() -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and i.target != i.source:
            graph.setdefault(i.source, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:              # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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


def test_no_import_cycles():
    assert _cycles() == []


@pytest.mark.parametrize("rule, source, target", [
    ("core", "mailworker.status", "mailworker.ledger.status"),
    ("stages", "mailworker.ingest.pipeline", "mailworker.outbound.sender"),
])
def test_the_rules_see_a_violation(rule, source, target):
    """The same predicates flag a made-up import of the kind DESIGN.md forbids."""
    i = Import(source, target, PACKAGE / "x.py", 1)
    if rule == "core":
        assert _is_core(i.source) and _stage(i.target) == "ledger"
    else:
        assert {_stage(i.source), _stage(i.target)} == {"ingest", "outbound"}
