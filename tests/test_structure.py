"""The backend's layout: every module imports on its own, no import cycle, no import from a higher layer.

The layers (bottom to top; docs/ARCHITECTURE.md draws the same picture). A module may import from its own
layer and the ones below it, never from above, and families of one layer never import each other both ways:

  3  wiring and entry points: api, app, services, runtime, server, cli, __main__, the package itself
  2  the work: dispatch (the outbox), campaigns, contacts, jobs, webhooks, webhooks_out
  1  the parts messages go through: channels, events, communications, accounts, views
  0  ground floor: store, security, config, errors, logs, addresses

Imports under `if TYPE_CHECKING:` do not run, so they are left out: a lower layer may name a type of a higher one
(e.g. `Services`) in annotations.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"

LAYERS: dict[str, int] = {
    "store": 0,
    "security": 0,
    "config": 0,
    "errors": 0,
    "logs": 0,
    "addresses": 0,
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


# Run in a fresh interpreter: each module named after `--alone` is imported with every backend module forgotten
# first (as `python -c "import backend.x"` would), while third-party libraries stay loaded; the ones after
# `--together` are then imported one after the other.
FRESH_IMPORTS = """
import importlib, sys, traceback
failed = []
split = sys.argv.index("--together")
for name in sys.argv[2:split]:
    for loaded in [m for m in sys.modules if m == "backend" or m.startswith("backend.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
for name in sys.argv[split + 1:]:
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def order_sensitive(graph: dict[str, set[str]], modules: Iterable[str]) -> set[str]:
    """The modules whose import may depend on what was imported before them: those on a cycle of the import graph
    once each module also leads to its parent packages (which Python imports first). Off such cycles a module never
    meets a half-initialised one, so the order of imports cannot change whether it imports."""
    with_parents = {module: set(graph.get(module, ())) for module in modules}
    for module, edges in with_parents.items():
        parent = module.rpartition(".")[0]
        if parent in with_parents:
            edges.add(parent)
    return {module for cycle in _cycles(with_parents) for module in cycle}


def test_it_imports_every_backend_module_on_its_own() -> None:
    modules = [m for m in backend_modules() if not m.startswith(NOT_IMPORTABLE_ALONE)]
    assert len(modules) > 80
    alone = sorted(order_sensitive(import_graph(), modules))
    assert "backend.store.models.base" in alone  # a package that imports its modules is one such cycle
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, "--alone", *alone, "--together", *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_order_check_finds_a_package_that_imports_its_own_modules() -> None:
    graph = {"backend.a": {"backend.a.b"}, "backend.a.b": {"backend.c"}, "backend.c": set()}
    assert order_sensitive(graph, graph) == {"backend.a", "backend.a.b"}


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def oversized(root: Path) -> list[str]:
    """Every module of `root` over MAX_MODULE_LINES lines and function over MAX_FUNCTION_LINES (migrations aside)."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = path.relative_to(root.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > MAX_MODULE_LINES:
            found.append(name)
        for node in ast.walk(ast.parse(source)):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.name}")  # type: ignore[attr-defined]
    return found


def test_no_module_is_over_400_lines_and_no_function_over_60() -> None:
    assert oversized(BACKEND) == []


def test_the_size_check_catches_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    package = tmp_path / "backend"
    package.mkdir()
    (package / "long.py").write_text("def f():\n" + "    x = 1\n" * 60, encoding="utf-8")
    (package / "big.py").write_text("x = 1\n" * 401, encoding="utf-8")
    (package / "fine.py").write_text("def f():\n" + "    x = 1\n" * 59, encoding="utf-8")
    assert oversized(package) == ["backend/big.py", "backend/long.py:f"]


def _modules_of(annotation: Any) -> set[str]:
    """The backend modules defining the classes an annotation names (inside unions, lists, a callable's result;
    not a callable's arguments: what it is given is the caller's, not the part's)."""
    if typing.get_origin(annotation) is not None:
        return {m for arg in typing.get_args(annotation) if not isinstance(arg, list) for m in _modules_of(arg)}
    module = getattr(annotation, "__module__", "")
    return {module} if module.startswith("backend.") else set()


def slot_layers() -> dict[str, int]:
    """Each part of `Services` -> the highest layer of the types it holds."""
    from backend.services import Services

    hints = typing.get_type_hints(Services)
    return {
        name: max(LAYERS[family(m)] for m in modules)
        for name, annotation in hints.items()
        if (modules := _modules_of(annotation))
    }


def upward_slot_calls(modules: dict[str, Path], layers: dict[str, int]) -> list[str]:
    """`services.<part>` (or `self.services.<part>`) read in a module of a lower layer than the part's type: a call
    up a layer the import graph does not show."""
    found = []
    for module, path in modules.items():
        layer = LAYERS[family(module)]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or layers.get(node.attr, -1) <= layer:
                continue
            base = node.value
            name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
            if name in ("services", "_services"):
                found.append(f"{module}:{node.lineno} services.{node.attr}")
    return found


def test_it_never_calls_up_a_layer_through_a_part_of_services() -> None:
    layers = slot_layers()
    assert layers["delivery_job"] == 2 and layers["hub"] == 1
    assert upward_slot_calls(backend_modules(), layers) == []


def test_the_slot_check_catches_a_lower_layer_reaching_a_higher_part(tmp_path: Path) -> None:
    source = tmp_path / "communications.py"
    source.write_text("def nudge(services):\n    services.delivery_job.nudge()\n    services.hub.wake()\n")
    assert upward_slot_calls({"backend.communications": source}, {"delivery_job": 2, "hub": 1}) == [
        "backend.communications:2 services.delivery_job"
    ]
