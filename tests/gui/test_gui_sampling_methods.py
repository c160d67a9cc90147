"""The Trajectory dock's sampler choices driven through the real window: every core method and spacing is offered,
the chosen pair reaches the sampler (the trajectory's timesteps are that method's grid), and a number of network
evaluations a method cannot use is one status-bar line, not a traceback or a dialog."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt

from ddpm_studio.core import choices
from ddpm_studio.core.sampling import METHODS, SPACINGS

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

from gui_helpers import TIMEOUT_MS, make_tiny  # noqa: E402


def _select(combo, name: str) -> None:
    index = combo.findData(name)
    assert index >= 0, name
    combo.setCurrentIndex(index)


def _trained(qtbot, window):
    make_tiny(window, steps=10, preview_every=0)  # T = 100
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training and window.trainer is not None, timeout=TIMEOUT_MS)
    return window


def test_every_core_method_and_spacing_is_offered_with_its_label(window):
    dock = window.trajectory
    assert dock.methodCombo.objectName() == "methodCombo" and dock.spacingCombo.objectName() == "spacingCombo"
    offered = [dock.methodCombo.itemData(i) for i in range(dock.methodCombo.count())]
    assert offered == list(METHODS) and {"ancestral", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "heun"} <= set(offered)
    assert [dock.spacingCombo.itemData(i) for i in range(dock.spacingCombo.count())] == list(SPACINGS)
    assert dock.methodCombo.itemText(offered.index("dpmpp_2m")) == choices.find(choices.METHODS, "dpmpp_2m").label
    assert "network evaluations" in dock.sampleStepsSpin.toolTip().lower()
    assert "NFE" in dock.sampleStepsSpin.toolTip()
    _select(dock.methodCombo, "ddim")
    assert dock.etaSpin.isEnabled()
    _select(dock.methodCombo, "dpmpp_2m")
    assert not dock.etaSpin.isEnabled()  # eta is DDIM's alone


def test_dpmpp_2m_on_karras_samples_with_that_grid(qtbot, window, messages):
    win = _trained(qtbot, window)
    dock = win.trajectory
    _select(dock.methodCombo, "dpmpp_2m")
    _select(dock.spacingCombo, "karras")
    nfe = 12
    dock.sampleStepsSpin.setValue(nfe)
    dock.numSamplesSpin.setValue(50)
    qtbot.mouseClick(dock.sampleButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.sampling and win.store is not None, timeout=TIMEOUT_MS)
    store = win.store
    assert len(store) == nfe + 1  # x_T, then one frame per network evaluation
    fed = [store.frame(i).t_fed for i in range(1, len(store))]
    assert all(store.frame(i).num_steps == nfe for i in range(len(store)))
    # the Karras grid (rho = 7 in sigma, Karras et al. 2022 eq. 5) crowds the low-noise end: written here from
    # the equation, independently of the core's spacing code, on the run's T = 100 schedule
    abar = win.session.trainer.diffusion.alphas_cumprod.double()
    sigma = ((1 - abar) / abar).sqrt()
    # sigma_max capped at Karras et al.'s 80 (Table 1; sigma_T = 221 here), the top point moved to t = T (x_T)
    lo, hi = float(sigma[0]) ** (1 / 7), min(float(sigma[-1]), 80.0) ** (1 / 7)
    wanted = [(hi + i / (nfe - 1) * (lo - hi)) ** 7 for i in range(nfe)]
    nearest = [int((sigma.log() - math.log(w)).abs().argmin()) + 1 for w in wanted]
    nearest[0] = 100
    assert fed[0] == 100 and fed[-1] == 1  # starts at the top trained t and ends at t = 1 (paper numbering)
    assert fed == sorted(fed, reverse=True) and len(set(fed)) == nfe
    assert sum(abs(a - b) for a, b in zip(fed, nearest, strict=True)) <= nfe  # repeats pushed apart by one
    # linspace at the same NFE would feed evenly spaced t: the grid really is Karras'
    assert fed[-2] - fed[-1] < (fed[0] - fed[-1]) / (nfe - 1)
    assert "DPM-Solver++(2M)" in store.caption and "Karras" in store.caption
    assert messages == []


def test_an_nfe_the_method_cannot_use_is_a_status_message(qtbot, window, messages):
    win = _trained(qtbot, window)
    dock = win.trajectory
    _select(dock.methodCombo, "dpmpp_2m")
    dock.sampleStepsSpin.setValue(150)  # the spin reaches Heun's 2T - 1; DPM-Solver++ uses at most T = 100
    assert dock.sampleStepsSpin.value() == 150
    qtbot.mouseClick(dock.sampleButton, Qt.MouseButton.LeftButton)
    text = win.statusBar().currentMessage()
    assert not win.sampling and win.store is None
    assert "DPM-Solver++(2M)" in text and "1..100" in text and "150" in text
    assert messages == []  # a line in the status bar, no dialog
    _select(dock.methodCombo, "heun")  # Heun can spend 150 evaluations on 100 trained timesteps
    dock.numSamplesSpin.setValue(20)
    qtbot.mouseClick(dock.sampleButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.sampling and win.store is not None, timeout=TIMEOUT_MS)
    assert win.store.frame(len(win.store) - 1).num_steps == 150
