"""The studio trains on the CPU threads ``ddpm-studio train`` would choose (issue 32: the studio at CLI speed).

Images get the free cores (their steps run in kernels that release the GIL), points one thread, and the count is
that of the job's own thread: the GUI thread and later jobs keep the studio's own count.
"""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from ddpm_studio.core import threads as threads_module
from ddpm_studio.core.threads import training_threads
from ddpm_studio.core.training.trainer import Trainer

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

from gui_helpers import TIMEOUT_MS, make_tiny  # noqa: E402


def test_training_threads_follow_the_kind_and_the_free_cores():
    assert training_threads("points", "cpu", None).threads == 1
    assert training_threads("points", "cpu", 3).threads == 3  # --threads wins
    assert training_threads("images", "cuda", None).threads == threads_module.free_cores().threads


def test_the_studio_trains_images_on_the_free_cores_and_points_on_one(qtbot, window, monkeypatch):
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "load_average", lambda: 0.0)  # a quiet two-core machine
    seen: list[int] = []
    real_step = Trainer._train_step

    def spy(self):
        seen.append(torch.get_num_threads())  # on the job's thread, where the step runs
        return real_step(self)

    monkeypatch.setattr(Trainer, "_train_step", spy)
    gui_threads = torch.get_num_threads()

    window.setup.select_builtin("digits")
    make_tiny(window, steps=2, preview_every=0)
    window.setup.batchSpin.setValue(8)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training and len(seen) == 2, timeout=TIMEOUT_MS)
    assert seen == [2, 2]
    assert torch.get_num_threads() == gui_threads  # the GUI thread keeps its own count

    seen.clear()
    window.setup.select_builtin("moons")
    make_tiny(window, steps=3, preview_every=0)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training and len(seen) == 3, timeout=TIMEOUT_MS)
    assert seen == [1, 1, 1]
