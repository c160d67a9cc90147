"""The studio's conditional generation (M34): Setup's conditionalCheck, the Trajectory dock's classCombo and
guidanceSlider, sampling that honours them, and the guidance sweep dialog."""

from __future__ import annotations

import numpy as np
from gui_helpers import TIMEOUT_MS, make_tiny, sample_and_wait
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from ddpm_studio.core.process.guidance import class_rows


def _choose(qtbot, win, name: str) -> None:
    win.setup.select_builtin(name)
    qtbot.waitUntil(lambda: win.setup.data_spec() == name and name in win.setup._data_classes, timeout=TIMEOUT_MS)


def test_the_conditional_check_follows_the_data_labels(qtbot, window) -> None:
    _choose(qtbot, window, "swissroll")
    assert not window.setup.conditionalCheck.isEnabled()
    assert window.setup.config().model.num_classes is None
    _choose(qtbot, window, "ring")
    check = window.setup.conditionalCheck
    assert check.isEnabled() and not check.isChecked()
    check.setChecked(True)
    assert window.setup.config().model.num_classes == 8
    _choose(qtbot, window, "swissroll")
    assert not check.isEnabled() and not check.isChecked()


def test_a_conditional_run_samples_the_class_and_guidance_chosen(qtbot, window) -> None:
    _choose(qtbot, window, "ring")
    window.setup.conditionalCheck.setChecked(True)
    make_tiny(window, steps=20, preview_every=0)
    bar = window.trajectory.samplingBar
    assert not bar.classRow.isVisibleTo(window)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training and window.session.trainer is not None, timeout=TIMEOUT_MS)
    assert bar.classRow.isVisibleTo(window)
    assert bar.classCombo.count() == 9 and bar.classCombo.currentData() is None  # "all", then 0..7
    bar.guidanceSlider.setValue(bar.guidanceSlider.value() - 4)  # one whole step of w down from 3
    assert bar.guidanceLabel.text() == "w = 2.00"
    sample_and_wait(qtbot, window, steps=10, count=16)
    store = window.trajectory.store
    assert store.labels.tolist() == class_rows(8, 2).tolist() and store.columns == 2
    window.samples_dock.flush()
    assert "a row per class, w = 2" in window.samples_dock.captionLabel.text()
    keys = [label.text for _marker, label in window.samples_dock.classLegend.items]
    assert keys == [f"mode {k} ({45 * k}°)" for k in range(8)] and bar.classCombo.itemText(3) == "mode 2 (90°)"
    bar.classCombo.setCurrentIndex(bar.classCombo.findData(5))
    sample_and_wait(qtbot, window, steps=10, count=6)
    assert np.array_equal(window.trajectory.store.labels, np.full(6, 5))
    window.samples_dock.flush()
    assert "class 5: mode 5 (225°), w = 2" in window.samples_dock.captionLabel.text()  # the data's name for it
    # the sweep: one x_T at each w, a panel per w and a point per w on the trade-off plot
    qtbot.mouseClick(bar.sweepButton, Qt.MouseButton.LeftButton)
    dialog = window.findChild(QDialog, "guidanceSweepDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.scalesEdit.setText("0, 4")
    qtbot.mouseClick(dialog.runButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT_MS)
    assert [row.guidance for row in dialog.rows] == [0.0, 4.0]
    assert all(np.array_equal(row.labels, np.full(6, 5)) for row in dialog.rows)
    assert len(dialog._panels) == 2 and len(dialog._accuracy.getData()[0]) == 2
    assert dialog.statusLabel.text().startswith("Accuracy / score: w = 0:")
    dialog.scalesEdit.setText("0, -1")
    qtbot.mouseClick(dialog.runButton, Qt.MouseButton.LeftButton)
    assert not dialog.running and "0..50" in dialog.statusLabel.text()
    dialog.close()
    # a new run forgets the classes
    window.new_run()
    assert not bar.classRow.isVisibleTo(window)


def test_the_caption_names_the_class_where_the_data_names_it() -> None:
    from ddpm_studio.gui.jobs.sampling import sampling_caption

    moons = ("upper", "lower")
    assert sampling_caption(20, labels=[1, 1], guidance=3.0, class_names=moons).endswith("class 1: lower, w = 3")
    digits = tuple(str(d) for d in range(10))
    assert sampling_caption(20, labels=[7], guidance=1.0, class_names=digits).endswith("class 7, w = 1")
    assert sampling_caption(20, labels=[0, 1], class_names=moons).endswith("a row per class, w = 0")
    assert sampling_caption(20, labels=[4], class_names=None).endswith("class 4, w = 0")
    # the method's own label stays in front (a class name once took its place: "None, 50 steps")
    assert sampling_caption(50, method="ddim", labels=[0], guidance=3.0, class_names=moons) == (
        "DDIM, 50 steps, η = 0, class 0: upper, w = 3")
