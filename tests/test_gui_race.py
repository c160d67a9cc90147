"""The Race dock driven through the real window: Race… opens it, Race runs every lane to the end on a worker,
the slider scrubs all lanes to one noise level, and a bad choice is explained in place."""

from __future__ import annotations

import math

import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from ddpm_studio.gui import MainWindow, workers

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]
TIMEOUT_MS = 60_000


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *_a, **_k: QMessageBox.StandardButton.Ok)
    threads = torch.get_num_threads()
    win = MainWindow(settings=QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    torch.set_num_threads(threads)
    assert workers.running_threads() == []


def trained(qtbot, win: MainWindow) -> MainWindow:
    s = win.setup
    s.timestepsSpin.setValue(100)
    s.stepsSpin.setValue(30)
    s.batchSpin.setValue(64)
    s.previewEverySpin.setValue(0)
    win.trajectory.autoSampleCheck.setChecked(False)
    qtbot.mouseClick(win.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.training and win.trainer is not None and win.trainer.step == 30,
                    timeout=TIMEOUT_MS)
    return win


def test_race_runs_every_lane_and_scrubs_them_by_noise_level(qtbot, window):
    win = trained(qtbot, window)
    assert not win.race.isVisible()
    qtbot.mouseClick(win.trajectory.raceButton, Qt.MouseButton.LeftButton)
    assert win.race.isVisible() and win.race.objectName() == "raceDock"
    win.race.methodCombos[3].setCurrentIndex(0)  # three lanes: ancestral, ddim, dpmpp_2m (karras)
    win.race.nfeSpin.setValue(8)
    win.race.samplesSpin.setValue(200)
    assert win.race.startButton.isEnabled()
    qtbot.mouseClick(win.race.startButton, Qt.MouseButton.LeftButton)
    assert win.sampling and not win.trainButton.isEnabled()  # nothing trains while the race reads the model
    qtbot.waitUntil(lambda: not win.race_runner.running, timeout=TIMEOUT_MS)
    frames = win.race._frames
    assert [len(lane) for lane in frames] == [8, 8, 8]
    assert all(lane[-1].final and math.isinf(lane[-1].log_snr) for lane in frames)
    assert "SW" in win.race.scoresLabel.text() and "off-support" in win.race.scoresLabel.text()
    assert all("SW" in top.plot.titleLabel.text for top, _ in win.race._panels)
    # distances to the reference are drawn, one curve per lane
    assert [len(c.getData()[0]) for c in win.race._curves] == [8, 8, 8]
    # the slider's middle is one noise level: every lane shows its last state no noisier than it
    win.race.raceSlider.setValue(500)
    level = win.race.level()
    for lane, frame in zip(frames, win.race.shown_frames()):
        assert frame is not None and frame.log_snr <= level
        assert lane[lane.index(frame) + 1].log_snr > level
    win.race.raceSlider.setValue(0)  # the noisy end: every lane shows a state, one of them its very first
    shown = win.race.shown_frames()
    assert all(f is not None for f in shown) and min(f.nfe for f in shown) == 1


def test_a_bad_race_is_explained_and_cannot_start(qtbot, window):
    win = trained(qtbot, window)
    win.open_race()
    for combo in win.race.methodCombos[1:]:
        combo.setCurrentIndex(0)
    assert not win.race.startButton.isEnabled()
    assert "2 to 4" in win.race.messageLabel.text()
    win.race.methodCombos[1].setCurrentIndex(win.race.methodCombos[1].findData("ddim"))
    win.race.nfeSpin.setValue(150)  # T = 100: DDIM cannot spend 150 evaluations
    assert not win.race.startButton.isEnabled() and "network evaluations" in win.race.messageLabel.text()


def test_closing_during_a_race_stops_it(qtbot, window):
    win = trained(qtbot, window)
    win.open_race()
    win.race.nfeSpin.setValue(99)
    win.race.samplesSpin.setValue(2000)
    qtbot.mouseClick(win.race.startButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(win.race._frames), timeout=TIMEOUT_MS)
    win.close()
    assert workers.running_threads() == []
