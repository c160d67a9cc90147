"""Settings every test shares, Qt-free: a small thread count, deterministic seeds.

Qt lives only in ``tests/gui/conftest.py``. ``DDPM_STUDIO_BLOCK_QT=1`` makes PySide6, pyqtgraph, superqt and their
kin unimportable before any test module loads (``sys.modules[name] = None``), which is how the README's test command
runs ``tests/core``: the numeric core and the CLI must work on a machine without Qt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy", "PyQt5", "PyQt6", "pytestqt")
if os.environ.get("DDPM_STUDIO_BLOCK_QT") == "1":
    for _name in QT_MODULES:
        sys.modules[_name] = None  # type: ignore[assignment]  # "import PySide6" now raises ImportError

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module of tiny networks (use it with ``pytest.mark.usefixtures``): on two shared
    cores a second intra-op thread only fights the others and the GUI thread (thousands of tiny ops run ~8x
    slower, not faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
