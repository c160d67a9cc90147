"""Draw your own 2-D data (Setup → Draw data…), driven through the real window on a 1024 x 768 and a 1280 x 720
screen: strokes, erase, undo, a built-in start, the refusal of a drawing too small, then train, sample and save a
run that keeps its drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import TIMEOUT_MS, make_tiny, sample_and_wait
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from ddpm_studio.core.data.drawn import MIN_DRAWN_POINTS
from ddpm_studio.core.io.run_data import RUN_DATA_DIR
from ddpm_studio.gui.dialogs.draw_data import FOLDER_KEY, DrawDataDialog
from ddpm_studio.gui.widgets.draw_canvas import DrawCanvas

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

SCREENS = [(1024, 768), (1280, 720)]


def drag(canvas: DrawCanvas, points: list[QPoint]) -> None:
    """Press the left button at the first point, move through the others with it held, release at the last (the
    view's viewport gets the events, as from a real mouse)."""
    viewport = canvas.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, point: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
        event = QMouseEvent(kind, QPointF(point), QPointF(viewport.mapToGlobal(point)), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for point in points[1:]:
        send(QEvent.Type.MouseMove, point, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def centre_of(canvas: DrawCanvas) -> QPoint:
    box = canvas.getPlotItem().getViewBox()
    return canvas.mapFromScene(box.mapViewToScene(QPointF(0.0, 0.0)))


def open_dialog(qtbot, window, tmp_path, size) -> DrawDataDialog:
    window.resize(*size)
    window.settings.setValue(FOLDER_KEY, str(tmp_path / "drawn"))
    qtbot.mouseClick(window.setup.drawDataButton, Qt.MouseButton.LeftButton)
    dialog = window.findChild(DrawDataDialog, "drawDataDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.mark.parametrize("size", SCREENS, ids=["1024x768", "1280x720"])
def test_strokes_erase_undo_and_a_built_in_start(qtbot, window, tmp_path, size):
    dialog = open_dialog(qtbot, window, tmp_path, size)
    assert dialog.width() <= size[0] and dialog.height() <= size[1]
    # the moons the Setup dock had chosen are the start
    assert len(dialog.points) == 1000
    qtbot.mouseClick(dialog.clearButton, Qt.MouseButton.LeftButton)
    assert len(dialog.points) == 0 and dialog.countLabel.text() == f"0 points: {MIN_DRAWN_POINTS} more to train"
    canvas, centre = dialog.canvas, centre_of(dialog.canvas)
    dialog.densitySpin.setValue(10)
    drag(canvas, [centre])  # a click is one dab
    assert len(dialog.points) == 10
    drag(canvas, [centre + QPoint(dx, 0) for dx in range(0, 101, 5)])  # a stroke: a dab every half radius
    stroke = len(dialog.points) - 10
    assert 30 <= stroke <= 200 and stroke % 10 == 0
    canvas.flush()
    assert canvas.shown_count == len(dialog.points)
    drawn = dialog.points.copy()
    qtbot.mouseClick(dialog.eraseModeButton, Qt.MouseButton.LeftButton)
    drag(canvas, [centre])
    left = dialog.points
    assert len(left) < len(drawn) and np.all(np.hypot(*left.T) > dialog.radiusSpin.value())
    qtbot.mouseClick(dialog.undoButton, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(dialog.points, drawn)
    dialog.startCombo.setCurrentText("gaussians8")
    qtbot.mouseClick(dialog.loadStartButton, Qt.MouseButton.LeftButton)
    assert len(dialog.points) == 1000
    path = dialog.save_as(str(tmp_path / "mine"))
    assert path == tmp_path / "mine.npy" and np.load(path).shape == (1000, 2)
    dialog.close()


def test_too_few_points_are_refused_then_a_drawing_trains_samples_and_saves_with_its_run(
        qtbot, window, tmp_path, monkeypatch):
    dialog = open_dialog(qtbot, window, tmp_path, SCREENS[0])
    qtbot.mouseClick(dialog.clearButton, Qt.MouseButton.LeftButton)
    canvas, centre = dialog.canvas, centre_of(dialog.canvas)
    drag(canvas, [centre + QPoint(-80, 0)])
    qtbot.mouseClick(dialog.useButton, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.messageLabel.text().startswith(f"Cannot use this drawing: 20 points drawn; a run needs at least "
                                                 f"{MIN_DRAWN_POINTS}")
    dialog.densitySpin.setValue(60)
    for dy in (-60, -20, 20, 60):  # two blobs of strokes
        drag(canvas, [centre + QPoint(dx, dy) for dx in range(-120, -39, 8)])
        drag(canvas, [centre + QPoint(dx, dy) for dx in range(40, 121, 8)])
    count = len(dialog.points)
    assert count >= MIN_DRAWN_POINTS
    qtbot.mouseClick(dialog.useButton, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    setup = window.setup
    qtbot.waitUntil(lambda: setup.data_spec().endswith(".npy") and not window.jobs.busy, timeout=TIMEOUT_MS)
    path = Path(setup.data_spec())
    assert path.parent == tmp_path / "drawn" and np.load(path).shape == (count, 2)
    assert setup.kind() == "points" and setup.valid

    make_tiny(window, steps=20, preview_every=0)
    setup.batchSpin.setValue(32)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.trainer is not None and not window.training, timeout=TIMEOUT_MS)
    assert window.trainer.step == 20 and window.dataset.name == path.name
    assert len(window.dataset.train) + len(window.dataset.heldout) == count
    sample_and_wait(qtbot, window, steps=10, count=100)
    assert window.samples is not None

    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args, **_kwargs: str(run))
    window.save_run()
    qtbot.waitUntil(lambda: (run / "config.json").is_file() and not window.jobs.busy, timeout=TIMEOUT_MS)
    assert (run / RUN_DATA_DIR / path.name).read_bytes() == path.read_bytes()
    # drawing again starts from this drawing
    window.new_run()
    again = window.draw_data()
    np.testing.assert_array_equal(again.points, np.load(path))
    again.close()
