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


def _trained_then_bound(qtbot, window, examples: int = 2048):
    """A tiny model with T = 1000 (so the bound takes a while), then the bound started on it."""
    make_tiny(window, steps=10)
    window.setup.scheduleCombo.setCurrentIndex(window.setup.scheduleCombo.findData("cosine"))
    window.setup.timestepsSpin.setValue(1000)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.trainer is not None and not window.training, timeout=TIMEOUT_MS)
    dock = window.likelihood
    dock.boundExamplesSpin.setValue(examples)
    qtbot.mouseClick(dock.computeBoundButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock._done > 0, timeout=TIMEOUT_MS)  # mid-computation
    return dock


def test_training_waits_for_a_cancelled_bound(qtbot, window):
    """The bound reads the EMA weights training updates in place: Train stops it and starts once it has ended."""
    dock = _trained_then_bound(qtbot, window)
    assert window.jobs.running("bound")
    window.setup.stepsSpin.setValue(40)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    train = window.jobs.job("train")
    assert train is not None and window.training
    started_beside_bound = train.started_running and window.jobs.running("bound")
    assert not started_beside_bound
    qtbot.waitUntil(lambda: not window.jobs.running("bound"), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: train.started_running or not window.training, timeout=TIMEOUT_MS)
    assert not dock.running
    stop_and_wait(qtbot, window)


def test_new_run_leaves_no_stale_terms_of_a_cancelled_bound(qtbot, window):
    dock = _trained_then_bound(qtbot, window)
    window.newAction.trigger()
    assert dock._terms.size == 0 and dock.result is None and not dock.running
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=TIMEOUT_MS)
    qtbot.wait(100)  # whatever the cancelled job handed over has been delivered (and must be ignored)
    assert dock._terms.size == 0 and dock.result is None
