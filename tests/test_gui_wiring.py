"""The likelihood dock and the compare dialog, reached through the real main window."""

from __future__ import annotations

import math

import pytest
from gui_helpers import TIMEOUT_MS, make_tiny, stop_and_wait, train_until
from PySide6.QtCore import Qt

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def test_bound_is_disabled_while_training_and_computes_after(qtbot, window):
    dock = window.likelihood
    assert not dock.computeBoundButton.isEnabled()  # no model yet
    # long enough to still run at the second loss update (training updates arrive at 2 Hz)
    make_tiny(window, steps=600)
    window.setup.timestepsSpin.setValue(30)
    train_until(qtbot, window, 2)
    assert not dock.computeBoundButton.isEnabled()  # training changes the weights it would read
    qtbot.waitUntil(lambda: not window.training, timeout=TIMEOUT_MS)
    assert dock.computeBoundButton.isEnabled()
    dock.boundExamplesSpin.setValue(32)
    qtbot.mouseClick(dock.computeBoundButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert math.isfinite(dock.result.per_dim) and len(dock.result.terms) == 30


def test_compare_action_opens_the_dialog_and_closing_the_window_closes_it(qtbot, window):
    assert window.compareAction.isEnabled()
    window.compareAction.trigger()
    dialog = window._compare
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT_MS)
    assert dialog.objectName() == "compareDialog"
    make_tiny(window, steps=200)
    train_until(qtbot, window, 1)
    assert not window.compareAction.isEnabled()
    stop_and_wait(qtbot, window)
    assert window.compareAction.isEnabled()
