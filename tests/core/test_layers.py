"""The numeric core never imports Qt: it must import with PySide6 and pyqtgraph made unimportable."""

import pkgutil
import subprocess
import sys

import ddpm_studio.core

SCRIPT = r"""
import builtins, importlib, importlib.abc, pkgutil, sys
QT = ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6', 'shiboken6', 'qtpy', 'superqt')

class BlockQt(importlib.abc.MetaPathFinder):
    # on sys.meta_path it refuses every way of importing Qt: import statements, importlib, __import__
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in QT:
            raise ImportError('Qt is blocked in the core: ' + name)
        return None

sys.meta_path.insert(0, BlockQt())
import ddpm_studio.core
names = [m.name for m in pkgutil.walk_packages(ddpm_studio.core.__path__, 'ddpm_studio.core.')]
for name in names:
    importlib.import_module(name)
# the headless CLI too, with every subcommand's parser built (they import their modules lazily)
import ddpm_studio.cli
ddpm_studio.cli.build_parser()
leaked = sorted(m for m in sys.modules if m.split('.')[0] in QT)
assert not leaked, leaked
print(len(names))
"""


def test_every_core_module_and_the_cli_import_without_qt():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = len(list(pkgutil.walk_packages(ddpm_studio.core.__path__, "ddpm_studio.core.")))
    assert int(result.stdout.strip()) == expected >= 4


def test_the_qt_block_does_block_qt():
    """The guard itself can fail: with it in place, importing the GUI raises."""
    script = SCRIPT.split("import ddpm_studio.core\n")[0] + "import ddpm_studio.gui.app\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Qt is blocked" in result.stderr


# ------------------------------------------------------------------------------ the import-linter contract
def _lint_imports(tree) -> subprocess.CompletedProcess:
    import shutil

    lint = shutil.which("lint-imports")
    if lint is None:
        import pytest

        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([lint, "--no-cache"], cwd=tree, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(tree)})


def test_the_layers_contract_holds_and_a_core_module_importing_the_gui_breaks_it(tmp_path):
    """``lint-imports`` passes on the tree as it is, and fails once a core module imports the GUI (a copy of the
    package with one planted import), naming the contract."""
    import shutil
    from pathlib import Path

    root = Path(ddpm_studio.core.__file__).parents[2]
    for tree, plant in ((tmp_path / "clean", False), (tmp_path / "planted", True)):
        tree.mkdir()
        shutil.copytree(root / "ddpm_studio", tree / "ddpm_studio", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(root / "pyproject.toml", tree / "pyproject.toml")
        if plant:
            schedule = tree / "ddpm_studio" / "core" / "process" / "schedule.py"
            schedule.write_text(schedule.read_text() + "\nfrom ddpm_studio.gui import style  # noqa: E402,F401\n")
        result = _lint_imports(tree)
        if plant:
            assert result.returncode != 0
            assert "The core never imports the GUI" in result.stdout and "BROKEN" in result.stdout
        else:
            assert result.returncode == 0, result.stdout[-2000:]
