"""Digits training gives feedback in seconds: speed and ETA between log lines (heartbeat batches), and an early
preview picture long before the first scheduled one at step 500."""

from __future__ import annotations

import pytest
from gui_helpers import TIMEOUT_MS, stop_and_wait
from PySide6.QtCore import Qt

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def test_speed_eta_and_an_early_preview_within_seconds(qtbot, window):
    window.resize(1280, 720)
    setup = window.setup
    setup.select_builtin("digits")
    qtbot.waitUntil(lambda: not window.busy, timeout=TIMEOUT_MS)
    setup.timestepsSpin.setValue(50)
    setup.stepsSpin.setValue(2000)
    setup.logEverySpin.setValue(100_000)  # no log line during the test: only heartbeats can give the speed
    assert setup.previewEverySpin.value() == 500
    setup.previewCountSpin.setValue(4)
    window.trajectory.autoSampleCheck.setChecked(False)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    status = window.loss.statusLabel

    def shows_speed() -> bool:
        window.loss.flush()
        return "steps/s" in status.text() and "ETA" in status.text()

    qtbot.waitUntil(shows_speed, timeout=TIMEOUT_MS)
    assert window.loss.point_count == 0  # the speed came from heartbeats alone

    def early_preview() -> bool:
        window.samples_dock.flush()
        shown = window.samples_dock.samples
        return shown is not None and shown.caption.startswith("Early preview at step")

    qtbot.waitUntil(early_preview, timeout=TIMEOUT_MS)
    assert window.samples_dock.samples.step < 250 and len(window.samples_dock.samples) == 4
    stop_and_wait(qtbot, window)
