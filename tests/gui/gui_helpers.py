"""Helpers the GUI tests share (fixtures live in conftest.py): tiny settings and waits on the real window."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ddpm_studio.core.compare import CompareRow
from ddpm_studio.gui import MainWindow

TIMEOUT_MS = 30_000


def make_tiny(win: MainWindow, steps: int = 40, preview_every: int = 10) -> None:
    """Small, fast settings: T = 100, batch 64, a loss point every 5 steps."""
    s = win.setup
    s.timestepsSpin.setValue(100)
    s.stepsSpin.setValue(steps)
    s.batchSpin.setValue(64)
    s.logEverySpin.setValue(5)
    s.previewEverySpin.setValue(preview_every)
    s.previewCountSpin.setValue(64)
    win.trajectory.autoSampleCheck.setChecked(False)


def train_until(qtbot, win: MainWindow, points: int) -> None:
    qtbot.mouseClick(win.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.loss.point_count >= points, timeout=TIMEOUT_MS)


def stop_and_wait(qtbot, win: MainWindow) -> None:
    qtbot.mouseClick(win.stopButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.training and not win.sampling, timeout=TIMEOUT_MS)


def sample_and_wait(qtbot, win: MainWindow, steps: int = 20, count: int = 200) -> None:
    win.trajectory.sampleStepsSpin.setValue(steps)
    win.trajectory.numSamplesSpin.setValue(count)
    qtbot.mouseClick(win.trajectory.sampleButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.sampling and win.store is not None, timeout=TIMEOUT_MS)


def row_with_far_off(count: int, samples: int = 409) -> CompareRow:
    """A finished eps/simple row as issue 13 saw it: ``count`` far-off samples of ``samples``."""
    return CompareRow(
        name="eps/simple",
        parameterization="eps",
        variance="fixed_large",
        loss="simple",
        steps=300,
        status="ok",
        final_loss=0.25,
        bound=0.85,
        bound_unit="nats/dim",
        prior=0.0,
        diffusion=0.8,
        decoder=0.05,
        jacobian=0.0,
        score=0.1024,
        floor=0.0994,
        metric="sliced_wasserstein",
        train_seconds=5.5,
        eval_seconds=20.0,
        run_dir="/nowhere",
        samples_png=None,
        far_off_count=count,
        far_off=count / samples,
        score_all=1.996 if count else 0.1024,
    )
