"""Issue 27 part 4: Continue to a longer total says, before it trains, what happens to the cosine lr horizon."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from gui_helpers import TIMEOUT_MS  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from ddpm_studio.core.config import default_config  # noqa: E402
from ddpm_studio.core.training.resume import lr_horizon_change  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer  # noqa: E402


def _opened_run(qtbot, window, tmp_path):
    """A 20-step headless points run (cosine decay, the points default) opened in the studio, asked for 30."""
    config = default_config("moons", "points")
    config.diffusion.num_timesteps = 100
    config.train.steps, config.train.batch_size, config.train.log_every = 20, 64, 5
    config.train.preview_every, config.train.early_stop = 0, False
    run_dir = tmp_path / "run"
    for _event in Trainer(config, run_dir=run_dir).train():
        pass
    window.open_run(str(run_dir))
    qtbot.waitUntil(lambda: window.trainer is not None and not window.jobs.busy, timeout=TIMEOUT_MS)
    window.setup.stepsSpin.setValue(30)
    assert window.trainButton.text() == "Continue"
    return config


def test_continue_shows_the_cosine_horizon_rule(qtbot, window, messages, tmp_path):
    config = _opened_run(qtbot, window, tmp_path)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training, timeout=TIMEOUT_MS)
    note = lr_horizon_change(config, 30, 20)
    assert note is not None and messages == [note.describe()]  # the core's words, shown before training
    assert "it now decays to 0 at step 30" in messages[0]
    assert window.trainer.step == 30


def test_cancelling_the_note_trains_nothing(qtbot, window, monkeypatch, tmp_path):
    _opened_run(qtbot, window, tmp_path)
    monkeypatch.setattr(QMessageBox, "question", lambda *_args, **_kwargs: QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    assert not window.training and window.trainer.step == 20
