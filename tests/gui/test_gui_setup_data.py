"""The studio meets the user's data and folders: a batch that does not fit, a non-empty save folder, defaults.

Driven through the real main window (fixtures from conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import TIMEOUT_MS, make_tiny
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from ddpm_studio.gui.paths import default_compare_folder, documents_folder

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


@pytest.fixture
def forty_images(tmp_path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def test_a_small_folder_lowers_the_batch_with_a_note_and_a_larger_batch_is_a_problem(qtbot, window, forty_images):
    setup = window.setup
    window.load_data_path(str(forty_images))
    qtbot.waitUntil(lambda: setup.data_spec() == str(forty_images) and not window.jobs.busy, timeout=TIMEOUT_MS)
    assert setup.kind() == "images"
    # 40 images hold out 4: the images' default batch of 64 becomes 36, and the panel says so
    assert setup.batchSpin.value() == 36 and setup.config().train.batch_size == 36
    assert setup.valid and window.trainButton.isEnabled()
    assert setup.messageLabel.text() == "Batch size lowered from 64 to 36: pictures has only 36 training items."
    # asking for more afterwards is explained before Train, not after it
    setup.batchSpin.setValue(50)
    assert not setup.valid and not window.trainButton.isEnabled()
    assert setup.messageLabel.text() == ("Cannot train: Batch size 50 is larger than the 36 training items of "
                                         "pictures: choose at most 36.")
    setup.batchSpin.setValue(36)
    assert setup.valid and window.trainButton.isEnabled()
    # other data gets the batch size back that was lowered for this folder only
    setup.select_builtin("digits")
    assert setup.batchSpin.value() == 64 and setup.messageLabel.text() == ""


def test_saving_into_a_folder_that_holds_files_is_refused_and_touches_nothing(
    qtbot, window, messages, tmp_path, monkeypatch
):
    make_tiny(window, steps=10, preview_every=0)
    qtbot.mouseClick(window.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.training, timeout=TIMEOUT_MS)
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("my work")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(target))
    window.saveAction.trigger()
    qtbot.waitUntil(lambda: bool(messages) and not window.jobs.busy, timeout=TIMEOUT_MS)
    assert "holds 1 item(s) such as 'chapter1.tex'" in messages[0] and "empty folder" in messages[0]
    assert sorted(p.name for p in target.iterdir()) == ["chapter1.tex"]
    assert (target / "chapter1.tex").read_text() == "my work"
    assert window.trainer.run_dir is None  # still unsaved: the next Save asks again
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(empty))
    window.saveAction.trigger()
    qtbot.waitUntil(lambda: (empty / "config.json").is_file() and not window.jobs.busy, timeout=TIMEOUT_MS)


def test_the_comparison_offers_an_absolute_folder_whatever_the_working_directory(
    qtbot, window, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    window.compareAction.trigger()
    dialog = window._compare
    qtbot.waitUntil(dialog.isVisible, timeout=TIMEOUT_MS)
    shown = Path(dialog.compareOutEdit.text())
    assert shown.is_absolute()
    assert shown.parent == documents_folder() / "DDPM Studio" and shown.name.startswith("compare")
    dialog.close()


def test_the_default_comparison_folder_sits_next_to_the_run_or_the_last_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_compare_folder(tmp_path / "runs" / "moons") == str(tmp_path / "runs" / "compare")
    assert default_compare_folder(None, str(tmp_path / "exports")) == str(tmp_path / "exports" / "compare")
    assert default_compare_folder("runs/moons") == str(tmp_path / "runs" / "compare")  # made absolute
    assert default_compare_folder(None, "") == str(documents_folder() / "DDPM Studio" / "compare")


def test_the_setup_dock_shows_the_points_defaults_of_issue_16(qtbot, window):
    # the dock reads config.default_config: early stop on for points (greyed out and off for images), and the
    # cosine decay and Fourier input of the points default come along in the run config
    setup = window.setup
    setup.select_builtin("gaussians25")
    assert setup.earlyStopCheck.isEnabled() and setup.earlyStopCheck.isChecked()
    config = setup.config()
    assert config.train.early_stop and config.train.lr_schedule == "cosine" and config.model.fourier_bands == 6
    setup.earlyStopCheck.setChecked(False)
    assert setup.config().train.early_stop is False
    setup.select_builtin("digits")
    assert not setup.earlyStopCheck.isEnabled() and setup.config().train.early_stop is False
