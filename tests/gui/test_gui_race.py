"""The Race dock driven through the real window: Race… opens it, Race runs every lane to the end on a worker,
the slider scrubs all lanes to one noise level, and a bad choice is explained in place."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from ddpm_studio.gui import MainWindow
from ddpm_studio.gui.jobs import setup as workers

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


def test_a_flow_run_added_races_beside_the_ddpm_run_from_the_same_noise(qtbot, window, tmp_path):
    """Race dock → "Add a run…": a flow run trained elsewhere on the same data races its own samplers in the
    last two lanes beside the open DDPM run's two (issue 28); a run of other data is refused in one message."""
    from ddpm_studio.core.config import default_config
    from ddpm_studio.core.training.trainer import Trainer

    config = default_config("moons", "points", "flow")
    config.train.steps, config.train.batch_size, config.train.early_stop = 30, 64, False
    config.train.preview_every = 0
    for _ in Trainer(config, run_dir=tmp_path / "flowrun").train():
        pass
    win = trained(qtbot, window)
    win.open_race()
    race = win.race
    assert race.findChild(type(race.lanes.otherRunButton), "raceOtherRunButton").isEnabled()
    assert not any(combo.isVisible() for combo in race.runCombos)  # one run: no run to choose yet
    win.add_race_run(str(tmp_path / "flowrun"))
    qtbot.waitUntil(lambda: race.lanes.other_run is not None, timeout=TIMEOUT_MS)
    assert all(combo.isVisible() for combo in race.runCombos)
    assert [combo.currentText() for combo in race.runCombos] == ["this run", "this run", "flowrun", "flowrun"]
    # the flow lanes offer the flow's samplers, the DDPM lanes DDPM's
    flow_methods = {race.methodCombos[3].itemData(i) for i in range(race.methodCombos[3].count())}
    assert "euler" in flow_methods and "ancestral" not in flow_methods
    assert race.methodCombos[0].findData("ancestral") >= 0 and race.methodCombos[0].findData("euler") < 0
    race.nfeSpin.setValue(8)
    race.samplesSpin.setValue(200)
    assert race.startButton.isEnabled(), race.messageLabel.text()
    qtbot.mouseClick(race.startButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.race_runner.running, timeout=TIMEOUT_MS)
    assert [len(lane) for lane in race._frames] == [8, 8, 8, 8]
    assert race._labels == ["ancestral", "ddim", "flowrun: midpoint", "flowrun: dpmpp_2m"]  # the flow lanes 3, 4
    assert all(lane[-1].final for lane in race._frames)

    # a run of images beside a 2-D run: refused in one message, the added run stays
    digits = default_config("digits", "images")
    digits.train.steps, digits.train.batch_size, digits.train.preview_every = 2, 8, 0
    digits.model.preset, digits.data.image_size = "tiny", 8
    for _ in Trainer(digits, run_dir=tmp_path / "digitsrun").train():
        pass
    said = []
    win._show_error = lambda title, message: said.append(message)
    win.add_race_run(str(tmp_path / "digitsrun"))
    qtbot.waitUntil(lambda: bool(said), timeout=TIMEOUT_MS)
    assert "same data" in said[0] and race.lanes.other_run[0] == "flowrun"


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


# ---------------------------------------------------------------------------- the dock alone, on crafted frames
def crafted_race(qtbot, size=(600, 300)):
    """A RaceDock fed four image lanes by hand (no model): lane k's frame at log SNR level L is a batch of 16
    uniform images of grey 10 * k + L (distinct per lane and level), on the lanes' own level grids."""
    from ddpm_studio.core.analysis.race import Runner
    from ddpm_studio.gui.docks.race import RaceDock
    from ddpm_studio.gui.presenters.race import RaceDisplayFrame

    dock = RaceDock()
    qtbot.addWidget(dock)
    dock.resize(*size)
    dock.show()
    qtbot.waitExposed(dock)
    runners = [Runner("ancestral"), Runner("ddim"), Runner("dpmpp_2m", "karras"), Runner("heun", "karras")]
    grids = [[-5.0, -1.0, 3.0, 4.5, 9.0], [-5.0, 0.0, 3.5, 9.0], [-12.0, -5.5, 2.0, 6.0, 10.0], [-9.0, 1.0, 10.0]]
    dock.begin(runners, "images", None)
    for lane, grid in enumerate(grids):
        for nfe, level in enumerate([*grid, math.inf], start=1):
            grey = 10 * lane + (200 if math.isinf(level) else int(level) + 20)
            batch = np.full((16, 16, 16, 1), grey, dtype=np.uint8)
            dock.add_frame(RaceDisplayFrame(lane, nfe, level, batch, batch, 0.1, math.isinf(level)))
    score = {"score": 1234.0, "confidence": 0.875, "coverage": 0.8, "floor": 26.1}  # an images race's scores
    dock.finish([dict(score) for _ in runners], stopped=False)
    return dock, grids


def test_race_lanes_show_the_frame_at_the_slider_level_unhidden_by_their_titles(qtbot):
    """Every lane's x_t panel shows the frame picked at the slider's level, between the lanes' grid points too,
    and no line of a title (the lane's name and its final scores) is drawn over the lane's panel."""
    dock, grids = crafted_race(qtbot)
    dock.raceSlider.setValue(600)  # level -5 + 0.6 * (10 - (-5)) = 4: between grid points of every lane
    qtbot.waitUntil(lambda: dock._panels[0][0].image.image is not None)
    assert dock.level() == pytest.approx(4.0)
    qtbot.wait(100)
    for lane, ((top, bottom), grid) in enumerate(zip(dock._panels, grids)):
        level = max(v for v in grid if v <= 4.0)
        grey = 10 * lane + int(level) + 20
        for panel in (top, bottom):
            shown = panel.image.image
            assert shown is not None and panel.image.isVisible()
            tiles = shown[shown != 255]  # the grid's white padding aside
            assert set(np.unique(tiles).tolist()) == {grey}
            view = panel.plot.getViewBox().sceneBoundingRect()
            assert view.height() >= 20 and view.width() >= 20
            assert view.contains(panel.image.sceneBoundingRect().center())
        assert "Fréchet" in top.plot.titleLabel.text
        text = title_text_rect(top.plot)
        # the title's text ends above the panel it names, and before the next lane's title begins
        assert text.bottom() <= top.plot.getViewBox().sceneBoundingRect().top() + 1
        if lane + 1 < len(dock._panels):
            assert text.right() <= title_text_rect(dock._panels[lane + 1][0].plot).left() + 1
        # the whole lane lies inside the widget: neither row is clipped at its bottom
        assert bottom.plot.sceneBoundingRect().bottom() <= dock.raceView.viewport().height() + 1
        # x_t and x0_hat at one scale: their views are (nearly) equally tall, the title aside
        heights = [p.plot.getViewBox().sceneBoundingRect().height() for p in (top, bottom)]
        assert abs(heights[0] - heights[1]) <= 0.1 * max(heights)


def title_text_rect(plot):
    """The scene rectangle of a plot title's inked text (its document's margins, blank, left out)."""
    item = plot.titleLabel.item
    margin = item.document().documentMargin()
    return item.mapRectToScene(item.boundingRect().adjusted(margin, margin, -margin, -margin))


def settle(seconds: float) -> None:
    """Process events for ``seconds`` as an application's loop does, idle between them (not qtbot.wait)."""
    import time

    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def test_no_tab_bar_of_a_hidden_dock_is_drawn_over_the_window(qtbot, tmp_path):
    """The Race and What-the-network-learned docks start hidden in tab groups: no tab bar naming a hidden dock
    may be drawn on the window (Qt left a stale "Trajectory | Race" bar over the Race dock's slider, seen in
    every race screenshot), and opening the race shows exactly one bar with its tab."""
    from PySide6.QtWidgets import QDockWidget, QTabBar

    win = MainWindow(settings=QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat))
    win.show()  # shown as a user's window is (no waitExposed): the stale bar appears on the first layouts
    settle(1.0)

    def shown_bars():
        return [bar for bar in win.findChildren(QTabBar) if bar.isVisible() and win.rect().intersects(bar.geometry())]

    def check() -> None:
        hidden = {dock.windowTitle() for dock in win.findChildren(QDockWidget) if not dock.isVisible()}
        for bar in shown_bars():
            tabs = {bar.tabText(i) for i in range(bar.count())}
            assert not tabs & hidden, f"a tab bar {sorted(tabs)} is drawn for hidden docks {sorted(tabs & hidden)}"

    try:
        check()
        win.open_race()
        settle(0.3)
        check()
        assert sum("Race" in {bar.tabText(i) for i in range(bar.count())} for bar in shown_bars()) == 1
    finally:
        win.close()
    assert workers.running_threads() == []
