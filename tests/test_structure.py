"""The backend's layout: every module imports on its own, no import cycle, no import from a higher layer.

The layers (bottom to top; docs/ARCHITECTURE.md draws the same picture). A module may import from its own
layer and the ones below it, never from above, and families of one layer never import each other both ways:

  3  wiring and entry points: api, app, services, runtime, server, cli, __main__, the package itself
  2  the work: dispatch (the outbox), campaigns, contacts, jobs, webhooks, webhooks_out, sequences
  1  the parts messages go through: channels, events, communications, accounts, views
  0  ground floor: store, security, config, errors, logs

Imports under `if TYPE_CHECKING:` do not run, so they are left out: a lower layer may name a type of a higher one
(e.g. `Services`) in annotations.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"

LAYERS: dict[str, int] = {
    "store": 0,
    "security": 0,
    "config": 0,
    "errors": 0,
    "logs": 0,
    "channels": 1,
    "events": 1,
    "communications": 1,
    "accounts": 1,
    "views": 1,
    "audience": 1,
    "dispatch": 2,
    "campaigns": 2,
    "contacts": 2,
    "jobs": 2,
    "webhooks": 2,
    "media": 1,
    "webhooks_out": 2,
    "conversations": 2,
    "sequences": 2,
    "api": 3,
    "app": 3,
    "services": 3,
    "runtime": 3,
    "server": 3,
    "cli": 3,
    "__main__": 3,
    "": 3,
}
#: modules that are not imported on their own: Alembic loads the migrations, `python -m backend` runs __main__.
NOT_IMPORTABLE_ALONE = ("backend.store.migrations.", "backend.__main__")


def backend_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(BACKEND.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def family(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(module: str, path: Path) -> list[str]:
    """Every backend name `module` imports when it runs (function-level imports too)."""
    names: list[str] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return [name for name in names if name == "backend" or name.startswith("backend.")]


def import_graph() -> dict[str, set[str]]:
    modules = backend_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in _imported_names(module, path):
            while name not in modules:
                name = name.rpartition(".")[0]
            if name != module:
                graph[module].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
            connect(node)
    return found


def test_it_places_every_backend_family_in_a_layer() -> None:
    unplaced = sorted({family(m) for m in backend_modules()} - LAYERS.keys())
    assert unplaced == [], f"add {unplaced} to LAYERS here and to the picture in docs/ARCHITECTURE.md"


def test_it_has_no_import_cycle_between_modules() -> None:
    assert _cycles(import_graph()) == []


def test_it_has_no_import_cycle_between_families() -> None:
    families: dict[str, set[str]] = defaultdict(set)
    for module, targets in import_graph().items():
        families[family(module)] |= {family(t) for t in targets if family(t) != family(module)}
    assert _cycles(families) == []


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if LAYERS[family(target)] > LAYERS[family(module)]
    )


def test_it_never_imports_from_a_higher_layer() -> None:
    assert upward_imports(import_graph()) == []


def test_the_checks_catch_a_cycle_and_an_upward_import_but_not_a_type_only_import(tmp_path: Path) -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert upward_imports({"backend.store.db": {"backend.api.core", "backend.config"}}) == [
        "backend.store.db -> backend.api.core"
    ]
    source = tmp_path / "example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from backend.store import db\n"
        "if TYPE_CHECKING:\n    from backend.services import Services\n"
        "def later() -> None:\n    import backend.api.core\n",
        encoding="utf-8",
    )
    assert _imported_names("backend.store.example", source) == ["backend.store.db", "backend.api.core"]


# Run in a fresh interpreter: for each module, every backend module is forgotten first, so each is imported on
# its own (as `python -c "import backend.x"` would) while third-party libraries stay loaded (seconds, not minutes).
FRESH_IMPORTS = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "backend" or m.startswith("backend.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_it_imports_every_backend_module_on_its_own() -> None:
    modules = [m for m in backend_modules() if not m.startswith(NOT_IMPORTABLE_ALONE)]
    assert len(modules) > 80
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, *modules], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
