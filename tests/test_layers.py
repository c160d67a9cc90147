"""The numeric core never imports Qt: it must import with PySide6 and pyqtgraph made unimportable."""

import pkgutil
import subprocess
import sys

import ddpm_studio.core

SCRIPT = r"""
import builtins, importlib, pkgutil, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6', 'shiboken6', 'qtpy'):
        raise ImportError('Qt is blocked in the core: ' + name)
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import ddpm_studio.core
names = [m.name for m in pkgutil.walk_packages(ddpm_studio.core.__path__, 'ddpm_studio.core.')]
for name in names:
    importlib.import_module(name)
import ddpm_studio.cli
print(len(names))
"""


def test_every_core_module_imports_without_qt():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = len(list(pkgutil.walk_packages(ddpm_studio.core.__path__, "ddpm_studio.core.")))
    assert int(result.stdout.strip()) == expected >= 4
