"""Scrub through training (issue 30, item 2): the Samples dock's ``trainingSlider`` over a run's snapshots, driven
through the real window on a 1024 x 768 and a 1280 x 720 screen: while a tiny moons run trains, after it, and on a
finished run opened from its folder."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import TIMEOUT_MS, make_tiny
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QCheckBox, QSlider

from ddpm_studio.core.config import default_config
from ddpm_studio.core.training.snapshots import read_snapshots
from ddpm_studio.core.training.trainer import Trainer

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

SCREENS = [(1024, 768), (1280, 720)]


def on_screen(monkeypatch, window, size) -> None:
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(0, 0, *size))
    window.resize(*size)


def shown(window) -> np.ndarray:
    dock = window.samples_dock
    dock.flush()
    return dock.samples.data


def scrub_to(qtbot, slider: QSlider, index: int) -> None:
    """Move the slider as a user does: focus it and press Home, then → until it is at ``index``."""
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Home)
    for _ in range(index):
        qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == index


@pytest.mark.parametrize("size", SCREENS, ids=["1024x768", "1280x720"])
def test_scrub_while_training_and_after(qtbot, window, monkeypatch, size):
    on_screen(monkeypatch, window, size)
    make_tiny(window, steps=100, preview_every=0)
    dock, slider = window.samples_dock, window.samples_dock.findChild(QSlider, "trainingSlider")
    assert slider is not None and not slider.isEnabled()
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    # live: the slider's range grows with the snapshots (100 steps: one every 5) and its right end follows them
    qtbot.waitUntil(lambda: slider.maximum() >= 3, timeout=TIMEOUT_MS)
    window.toggle_pause()  # Pause, to scrub mid-run at leisure (the run is this quick)
    qtbot.waitUntil(lambda: window._active_job().paused, timeout=TIMEOUT_MS)
    qtbot.wait(600)  # the last batch of events is delivered
    series = dock.scrubber.snapshots
    assert slider.value() == slider.maximum() and window.training
    scrub_to(qtbot, slider, 1)  # back to the second snapshot while it trains
    assert np.array_equal(shown(window), series[1].samples)
    assert dock.scrubber.stepLabel.text() == f"Training: step {series[1].step:,} of 100"
    assert f"step {series[1].step:,} of 100" in dock.captionLabel.text()
    grown = slider.maximum()
    window.toggle_pause()  # Resume
    qtbot.waitUntil(lambda: slider.maximum() > grown, timeout=TIMEOUT_MS)
    assert slider.value() == 1  # moved back by the user, it stays while the range grows
    qtbot.waitUntil(lambda: not window.training, timeout=4 * TIMEOUT_MS)
    # after: every snapshot the trainer kept, 5, 10, ..., 100; each position shows its own samples
    trainer = window.trainer
    assert [s.step for s in dock.scrubber.snapshots] == trainer.snapshots.steps == list(range(5, 101, 5))
    for index in (0, 11, slider.maximum()):
        slider.setValue(index)
        assert np.array_equal(shown(window), trainer.snapshots.items[index].samples)
    assert not np.array_equal(trainer.snapshots.items[0].samples, trainer.snapshots.items[-1].samples)
    assert dock.scrubber.stepLabel.text() == "Training: step 100 of 100"
    # the x̂₀ picture: what the network predicted half-way down each snapshot's sampler, scrubbed the same way
    x0_check = dock.findChild(QCheckBox, "snapshotX0Check")
    assert x0_check.isEnabled() and not x0_check.isChecked()
    qtbot.mouseClick(x0_check, Qt.MouseButton.LeftButton)
    assert np.array_equal(shown(window), trainer.snapshots.items[-1].x0_hat)
    assert "x̂₀ at evaluation" in dock.captionLabel.text()
    slider.setValue(0)
    assert np.array_equal(shown(window), trainer.snapshots.items[0].x0_hat)
    qtbot.mouseClick(x0_check, Qt.MouseButton.LeftButton)
    assert np.array_equal(shown(window), trainer.snapshots.items[0].samples)
    assert window.rect().contains(QRect(x0_check.mapTo(window, x0_check.rect().topLeft()), x0_check.size()))
    slider.setValue(slider.maximum())
    # the slider row is on screen inside the dock
    assert slider.isVisible() and slider.width() >= 40
    assert window.rect().contains(QRect(slider.mapTo(window, slider.rect().topLeft()), slider.size()))


@pytest.mark.parametrize("size", SCREENS, ids=["1024x768", "1280x720"])
def test_open_a_finished_run_and_scrub(qtbot, window, monkeypatch, tmp_path, size):
    on_screen(monkeypatch, window, size)
    config = default_config("moons", "points")
    config.data.num_points, config.diffusion.num_timesteps = 512, 100
    config.train.steps, config.train.batch_size, config.train.log_every = 30, 64, 5
    config.train.preview_every, config.train.early_stop = 0, False
    run_dir = tmp_path / "run"
    for _event in Trainer(config, run_dir=run_dir).train():
        pass
    window.open_run(str(run_dir))
    qtbot.waitUntil(lambda: window.trainer is not None and not window.jobs.busy, timeout=TIMEOUT_MS)
    dock, slider = window.samples_dock, window.samples_dock.trainingSlider
    stored = read_snapshots(run_dir)
    assert [s.step for s in stored] == [5, 10, 15, 20, 25, 30]
    assert slider.isEnabled() and slider.maximum() == 5 and slider.value() == 5
    assert np.array_equal(shown(window), stored[-1].samples)  # the newest, shown at once
    scrub_to(qtbot, slider, 2)
    assert np.array_equal(shown(window), stored[2].samples)
    assert dock.scrubber.stepLabel.text() == "Training: step 15 of 30"
    # New forgets them
    window.new_run()
    assert dock.scrubber.snapshots == [] and not slider.isEnabled()
