"""A 10-image subset of the digits: the batch size and the data preview follow the subset, not the whole set."""

from __future__ import annotations

import pytest
from gui_helpers import TIMEOUT_MS
from PySide6.QtCore import Qt

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def preview_count(window) -> int:
    window.samples_dock.flush()
    shown = window.samples_dock.samples
    return 0 if shown is None else len(shown)


def test_a_ten_image_subset_lowers_the_batch_and_previews_those_ten(qtbot, window):
    setup = window.setup
    window.resize(1024, 768)
    setup.select_builtin("digits")
    qtbot.waitUntil(lambda: preview_count(window) == 64 and not window.busy, timeout=TIMEOUT_MS)
    assert setup.batchSpin.value() == 64
    setup.subsetSpin.setValue(10)
    assert setup.batchSpin.value() == 10 and setup.valid
    assert setup.messageLabel.text() == "Batch size lowered from 64 to 10: training on a subset of 10 items."
    qtbot.waitUntil(lambda: preview_count(window) == 10 and not window.busy, timeout=TIMEOUT_MS)
    assert window.samples_dock.captionLabel.text().startswith("Training data, not samples: 10 of 10 digits")
    setup.subsetSpin.setValue(40)  # the size lowered for 10 comes back, then fits 40
    assert setup.batchSpin.value() == 40
    setup.subsetSpin.setValue(0)
    assert setup.batchSpin.value() == 64 and setup.messageLabel.text() == ""
    qtbot.waitUntil(lambda: preview_count(window) == 64 and not window.busy, timeout=TIMEOUT_MS)

    setup.subsetSpin.setValue(10)
    setup.timestepsSpin.setValue(10)
    setup.stepsSpin.setValue(2)
    setup.previewEverySpin.setValue(0)
    window.trajectory.autoSampleCheck.setChecked(False)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.trainer is not None and not window.training, timeout=TIMEOUT_MS)
    assert len(window.trainer.dataset.train) == 10 and window.trainer.config.train.batch_size == 10
