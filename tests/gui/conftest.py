"""Qt test settings: offscreen platform, a private settings folder, garbage collected on the GUI thread, the
window fixture. Only the GUI tests load this file, so ``tests/core`` never imports Qt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pytest  # noqa: E402
import torch  # noqa: E402


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


def _uses_qt(request) -> bool:
    return bool({"qtbot", "qapp"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def gui_thread_collector(request):
    """For every Qt test, garbage is collected on the GUI thread only, as in the studio (gui/collector.py);
    afterwards no job may still run, and the core's tests get CPython's automatic collection back."""
    if not _uses_qt(request):
        yield
        return
    request.getfixturevalue("qapp")
    from ddpm_studio.gui import collector
    from ddpm_studio.gui.jobs import runner as jobs

    collector.install()
    torch_threads = torch.get_num_threads()
    yield
    torch.set_num_threads(torch_threads)  # the window lowers it to leave a core to the GUI
    left = jobs.running_jobs()
    if left:
        jobs.runner().join_all()
    collector.uninstall()
    assert not left, f"jobs left running: {[job.name for job in left]}"


# ---------------------------------------------------------------------------------------------- GUI fixtures
@pytest.fixture
def messages(monkeypatch) -> list[str]:
    """QMessageBox.warning and .question (answered Ok: e.g. Continue's lr-horizon note) recorded instead of shown,
    so no test blocks on a modal dialog."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []

    def record(_parent, _title, text, *_args, **_kwargs):
        shown.append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", record)
    monkeypatch.setattr(QMessageBox, "question", record)
    return shown


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, messages):
    """The studio's main window, shown offscreen; closed (its jobs stopped and joined) after the test."""
    from ddpm_studio.gui import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


@pytest.fixture
def dialog(qtbot, tmp_path):
    """The Compare dialog with its presenter (which runs the comparison it asks for), shown; closed after the test,
    which stops and joins its job."""
    from ddpm_studio.gui.dialogs.compare import CompareDialog
    from ddpm_studio.gui.jobs import setup as workers
    from ddpm_studio.gui.presenters.compare import ComparePresenter

    widget = CompareDialog(None, "moons", str(tmp_path / "compare"))
    ComparePresenter(widget)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.close()
    assert workers.running_threads() == [], "a worker QThread was left running"
