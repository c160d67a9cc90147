"""No import cycles in ddpm_studio/: every module's imports, read with ``ast`` (function-level ones included,
``if TYPE_CHECKING:`` blocks too: a cycle is a cycle whether or not it runs), form a graph without cycles.

An edge A -> B means module A imports module B (``from pkg import name`` counts as an import of the submodule
``pkg.name`` when there is one, else of ``pkg``). A package's parents, which Python imports first, are not edges:
a package ``__init__`` that re-exports its own submodules is not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ddpm_studio

ROOT = Path(ddpm_studio.__file__).parent
PACKAGE = "ddpm_studio"


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``root`` (a package's name for its __init__)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_modules(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The project modules ``source`` imports anywhere (functions and ``if TYPE_CHECKING:`` blocks too).

    ``import a.b`` imports ``a.b``; ``from X import n`` imports ``X.n`` where that is a module, else ``X``.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif target in modules:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project's modules it imports (never itself)."""
    modules = module_names(root)
    return {
        name: imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", set(modules))
        - {name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


# ------------------------------------------------------------------------------------------------ the checker
def test_the_reader_sees_function_level_and_type_checking_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import ddpm_studio.core.process.losses\n"
        "from .process import schedule\n"
        "from .sampling.steps import SampleStep\n"
        "if TYPE_CHECKING:\n"
        "    from ddpm_studio.core.pipeline import DiffusionPipeline\n"
        "def later():\n"
        "    from ddpm_studio.core.io.runs import atomic_write_bytes\n"
    )
    found = imported_modules(source, "ddpm_studio.core.pipeline", False, set(module_names()))
    assert found == {"ddpm_studio.core.process.losses", "ddpm_studio.core.process.schedule",
                     "ddpm_studio.core.sampling.steps", "ddpm_studio.core.io.runs", "ddpm_studio.core.pipeline"}


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_holds_known_edges():
    graph = import_graph()
    assert "ddpm_studio.core.process.diffusion" in graph["ddpm_studio.core.sampling"]
    assert "ddpm_studio.core.choices" in graph["ddpm_studio.core.process.diffusion"]
    assert len(graph) > 40


# ------------------------------------------------------------------------------------------------ the project
def test_the_core_never_imports_the_sampler_from_the_process():
    graph = import_graph()
    assert not {m for m in graph["ddpm_studio.core.process.diffusion"] if m.startswith("ddpm_studio.core.sampling")}


def test_no_import_cycle_at_all():
    assert cycles(import_graph()) == []


def test_the_cli_commands_import_only_the_common_module():
    """Each command module of ddpm_studio/cli/ reaches the other CLI modules through common.py (or the analyses
    it wires in), never through the package, which imports them all."""
    graph = import_graph()
    commands = [name for name in graph if name.startswith("ddpm_studio.cli.")]
    assert {"ddpm_studio.cli.train", "ddpm_studio.cli.sample", "ddpm_studio.cli.evaluate",
            "ddpm_studio.cli.compare", "ddpm_studio.cli.common"} <= set(commands)
    for name in commands:
        assert "ddpm_studio.cli" not in graph[name], name


def test_no_test_module_imports_another():
    """Shared fixtures live in conftest.py and shared helpers in helper modules (gui_helpers, exact_models):
    importing a test module runs its tests' collection twice and hides where a fixture comes from."""
    tests = Path(__file__).parents[1]
    offenders = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.name} imports {name}" for name in names if name.split(".")[0].startswith("test_")]
    assert not offenders, offenders
