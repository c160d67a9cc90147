"""Inpainting (Trajectory → Inpaint…, RePaint M57-M59) driven end to end through the real window on a 1024 x 768 and
a 1280 x 720 screen: train a tiny digits model, open the dialog, paint a mask on a digit with the mouse, inpaint,
and check that the Samples dock shows completions whose kept pixels are the digit's, that the trajectory scrubs,
and that the samples export as plain samples do. 2-D: keep x, draw y."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import TIMEOUT_MS, make_tiny
from PySide6.QtCore import QEvent, QPointF, QRect, Qt
from PySide6.QtGui import QMouseEvent, QScreen
from PySide6.QtWidgets import QApplication, QFileDialog

from ddpm_studio.core.sampling import repaint_evaluations
from ddpm_studio.gui.dialogs.inpaint import InpaintDialog
from ddpm_studio.gui.widgets.mask_canvas import MaskCanvas

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

SCREENS = {"1024x768": QRect(0, 0, 1024, 768), "1280x720": QRect(0, 0, 1280, 720)}


def drag(canvas: MaskCanvas, points: list[QPointF]) -> None:
    """Press the left button at the first point, move through the others with it held, release at the last."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, point: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
        event = QMouseEvent(kind, point, canvas.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, event)

    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for point in points[1:]:
        send(QEvent.Type.MouseMove, point, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def train_tiny(qtbot, window, data: str, size: QRect) -> None:
    window.resize(size.width(), size.height())
    window.setup.select_builtin(data)
    qtbot.waitUntil(lambda: not window.busy, timeout=TIMEOUT_MS)
    make_tiny(window, steps=4 if data == "digits" else 40, preview_every=0)
    window.setup.timestepsSpin.setValue(50)
    if data == "digits":
        window.setup.batchSpin.setValue(16)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.has_model and not window.training, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.trajectory.samplingBar.inpaintButton.isEnabled(), timeout=TIMEOUT_MS)


def open_dialog(qtbot, window) -> InpaintDialog:
    bar = window.trajectory.samplingBar
    assert bar.inpaintButton.objectName() == "inpaintButton"
    qtbot.mouseClick(bar.inpaintButton, Qt.MouseButton.LeftButton)
    dialog = window.findChild(InpaintDialog, "inpaintDialog")
    assert dialog is not None and dialog.isVisible()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
def test_paint_a_mask_on_a_digit_inpaint_scrub_and_export(qtbot, window, monkeypatch, tmp_path, screen):
    available = SCREENS[screen]
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(available))
    train_tiny(qtbot, window, "digits", available)
    dialog = open_dialog(qtbot, window)
    # it fits the screen, frame included
    assert dialog.width() <= available.width() - 16 and dialog.height() <= available.height() - 40
    assert dialog.canvas.isVisible() and not dialog.plot.isVisible()
    assert dialog.sourceCombo.currentText() == "training data"
    dialog.itemSpin.setValue(3)
    digit = dialog.image.copy()
    canvas = dialog.canvas
    h, w = canvas.mask.shape
    assert not canvas.mask.any()
    # a stroke along the bottom rows, from left to right
    drag(canvas, [canvas.widget_point(h - 3, col) for col in np.linspace(1, w - 2, 12)])
    painted = canvas.mask.copy()
    assert painted[h - 3].all() and not painted[: h // 2].any()
    # Erase takes a dab back
    dialog.eraseButton.click()
    drag(canvas, [canvas.widget_point(h - 3, w // 2)])
    assert canvas.mask.sum() < painted.sum()
    dialog.eraseButton.click()
    qtbot.mouseClick(dialog.halfButtons["bottom"], Qt.MouseButton.LeftButton)
    assert canvas.mask[h // 2 :].all() and not canvas.mask[: h // 2].any()
    dialog.countSpin.setValue(8)
    dialog.stepsSpin.setValue(10)
    dialog.jumpSpin.setValue(3)
    dialog.resampleSpin.setValue(2)
    evaluations = repaint_evaluations(10, 3, 2)
    assert f"{evaluations:,} network evaluations" in dialog.costLabel.text()
    qtbot.mouseClick(dialog.inpaintButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.sampling and window.store is not None and window.store.complete,
                    timeout=TIMEOUT_MS)
    store = window.store
    assert store.num_steps == evaluations and len(store) == evaluations + 1  # x_T and every evaluation
    window.samples_dock.flush()
    shown = window.samples_dock.samples
    assert shown is not None and shown.caption.startswith("Final samples: RePaint, 10 steps")
    assert shown.data.shape == (8, *digit.shape)
    keep = ~canvas.mask
    for image in shown.data:
        assert np.array_equal(image[keep], digit[keep])  # the kept pixels are the digit's, exactly
    assert not all(np.array_equal(image, digit) for image in shown.data)
    # the trajectory scrubs: its noise level goes down, and back up at each jump (M59)
    slider = window.trajectory.timestepSlider
    assert slider.isEnabled() and slider.maximum() == len(store) - 1
    levels = []
    for value in range(slider.maximum() + 1):
        slider.setValue(value)
        levels.append(window.trajectory.current_frame().t_state)
    assert levels[0] == 50 and levels[-1] == 0
    assert any(b > a for a, b in zip(levels, levels[1:]))
    # export as plain samples: the grid PNG and the arrays (samples and trajectory)
    for key, name in (("grid", "inpainted.png"), ("npz", "inpainted.npz")):
        path = tmp_path / name
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, p=path, **_k: (str(p), ""))
        window.export(key)
        qtbot.waitUntil(lambda p=path: p.exists() and not window.jobs.running("export"), timeout=TIMEOUT_MS)
    with np.load(tmp_path / "inpainted.npz") as saved:
        arrays = {name: saved[name] for name in saved.files}
    assert any(np.array_equal(a, shown.data) for a in arrays.values())
    dialog.close()


def test_2d_keep_x_draw_y(qtbot, window, monkeypatch):
    available = SCREENS["1024x768"]
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(available))
    train_tiny(qtbot, window, "moons", available)
    dialog = open_dialog(qtbot, window)
    assert dialog.plot.isVisible() and not dialog.canvas.isVisible()
    dialog.valueSpin.setValue(0.25)
    assert float(dialog.line.value()) == pytest.approx(0.25)
    dialog.line.setValue(0.5)  # dragging the line moves the value
    assert dialog.valueSpin.value() == pytest.approx(0.5)
    dialog.countSpin.setValue(200)
    dialog.stepsSpin.setValue(20)
    qtbot.mouseClick(dialog.inpaintButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.sampling and window.store is not None and window.store.complete,
                    timeout=TIMEOUT_MS)
    window.samples_dock.flush()
    shown = window.samples_dock.samples
    assert shown.data.shape == (200, 2)
    assert np.allclose(shown.data[:, 0], 0.5, atol=1e-5)  # x kept
    assert shown.data[:, 1].std() > 0  # y drawn
    assert "x = 0.5 kept" in shown.caption
    dialog.close()
