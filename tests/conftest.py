"""Shared test settings: Qt offscreen, a small thread count, deterministic seeds, a private settings folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def private_settings_folder(tmp_path_factory) -> Iterator[Path]:
    """Every QSettings the tests create, in this process or in a studio they start, lives in a temporary folder.

    A window made without a settings object (the benchmarks' studio runs) would otherwise write the user's real
    ~/.config/DDPM Studio/ddpm-studio.conf. QSettings.setPath covers this process; XDG_CONFIG_HOME covers child
    processes on Linux (where Qt's native settings format is an INI file under it).
    """
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("config")
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(folder)
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield folder
    if previous is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = previous
