"""The "What the network learned" dock through the real window: the Trajectory dock's Field toggle draws the
network's and the ideal denoiser's arrows at the slider's t from a job, the error over t and the density fill in,
and the memorization panel shows one pair per sample and a copy rate on a tiny digits subset."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import TIMEOUT_MS, sample_and_wait
from PySide6.QtCore import Qt

from ddpm_studio.core.analysis.learned import error_timesteps

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def _train(qtbot, win, steps: int, timesteps: int = 50) -> None:
    s = win.setup
    s.timestepsSpin.setValue(timesteps)
    s.stepsSpin.setValue(steps)
    s.batchSpin.setValue(32)
    s.previewEverySpin.setValue(0)
    win.trajectory.autoSampleCheck.setChecked(False)
    qtbot.mouseClick(win.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.training and win.trainer is not None and win.trainer.step == steps,
                    timeout=TIMEOUT_MS)


def test_field_toggle_draws_arrows_and_difference_at_the_slider_t(qtbot, window):
    win = window
    _train(qtbot, win, 30)
    sample_and_wait(qtbot, win, steps=10, count=100)
    assert not win.learned.isVisible()
    win.trajectory.fieldView.setChecked(True)
    assert win.learned.isVisible() and win.learned.tabs.currentWidget() is win.learned.field
    win.trajectory.timestepSlider.setValue(3)
    field = win.learned.field
    qtbot.waitUntil(lambda: field.shown is not None and not win.learned_runner.running, timeout=TIMEOUT_MS)
    t_state = win.trajectory.current_frame().t_state
    assert field.shown.t == max(0, t_state - 1)
    n = field.sizeSpin.value()
    x, _y = field.networkArrows.getData()
    assert len(x) == 6 * n * n and np.isfinite(x).all()
    assert len(field.idealArrows.getData()[0]) == 6 * n * n
    assert field.heat.image.image.shape == (n, n) and float(field.heat.image.image.max()) > 0
    assert len(field.points.data) == 100  # the trajectory's points at that t
    field.idealCheck.setChecked(False)
    assert not field.idealArrows.isVisible()
    # another t: a new field from a job
    win.trajectory.timestepSlider.setValue(8)
    want = max(0, win.trajectory.current_frame().t_state - 1)
    qtbot.waitUntil(lambda: field.shown.t == want and not win.learned_runner.running, timeout=TIMEOUT_MS)

    error = win.learned.error
    error.countSpin.setValue(5)
    error.probeSpin.setValue(64)
    qtbot.mouseClick(error.run.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "error" not in win.learned_runner.jobs, timeout=TIMEOUT_MS)
    ts, values = error.curve.getData()
    assert list(ts) == [tau + 1 for tau in error_timesteps(50, 5)] and (np.asarray(values) > 0).all()

    density = win.learned.density
    density.sizeSpin.setValue(8)
    density.levelsSpin.setValue(10)
    qtbot.mouseClick(density.run.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "density" not in win.learned_runner.jobs, timeout=TIMEOUT_MS)
    assert density.heat.image.image.shape == (8, 8)
    assert "ODE −log p" in density.densityLabel.text() and "bound" in density.densityLabel.text()
    assert "(solver: K = 10 against 5 levels" in density.densityLabel.text()  # the error bar beside it (M32)
    assert not win.learned.tabs.isTabEnabled(2)  # memorization is for images


def test_memorization_panel_shows_pairs_and_a_copy_rate_on_a_digits_subset(qtbot, window):
    win = window
    combo = win.setup.datasetCombo
    combo.setCurrentIndex([(combo.itemData(i) or {}).get("spec") for i in range(combo.count())].index("digits"))
    win.setup.subsetSpin.setValue(10)
    assert win.setup.config().data.subset == 10
    _train(qtbot, win, 5, timesteps=20)
    assert win.trainer.dataset.train.shape[0] == 10
    win.learned.show()
    assert not win.learned.tabs.isTabEnabled(0)  # the field is for 2-D points
    mem = win.learned.memorization
    mem.countSpin.setValue(6)
    mem.stepsSpin.setValue(5)
    qtbot.mouseClick(mem.run.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "memorization" not in win.learned_runner.jobs, timeout=TIMEOUT_MS)
    assert mem.num_pairs == 6
    assert mem.pairs.image.image is not None and mem.ideal.image.image is not None
    text = mem.copyRateLabel.text()
    assert text.startswith("Copy rate") and "of 6 samples" in text and "10 training images" in text


def test_density_caption_shows_the_solver_error_bar_beside_the_ode_value(qtbot):
    """The ODE's nats/dim carries its K-against-K/2 error bar (M32); below K = 4 the caption says there is none."""
    from ddpm_studio.gui.docks.learned_views import DensityView
    from ddpm_studio.gui.jobs.learned import DensityDisplay

    view = DensityView()
    qtbot.addWidget(view)
    grid, heldout = np.zeros((4, 4)), np.zeros((3, 2), dtype=np.float32)
    view.show_result(DensityDisplay(grid, (0.0, 1.0, 0.0, 1.0), heldout, 1.2345, 1.5, 0.01, 0.0031, 100))
    assert "ODE −log p 1.234 nats/dim ± 0.0031 (solver: K = 100 against 50 levels" in view.densityLabel.text()
    view.show_result(DensityDisplay(grid, (0.0, 1.0, 0.0, 1.0), heldout, 1.2345, 1.5, 0.01, None, 3))
    assert "no solver error bar at K = 3" in view.densityLabel.text()
