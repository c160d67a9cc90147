"""The race, readable and honest on a 1280 x 720 projector: each lane's score with its bootstrap spread, no ranking
unless the spreads separate the lanes, a lane that can be shown alone, lanes that take the distance plot's room."""

from __future__ import annotations

import pytest
from gui_helpers import TIMEOUT_MS, make_tiny
from PySide6.QtCore import QPointF, Qt

from ddpm_studio.gui.docks.race import ranking_text

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def lane_width(win, lane: int) -> float:
    return win.race._panels[lane][0].plot.sceneBoundingRect().width()


def test_scores_carry_their_spread_and_a_lane_can_be_enlarged(qtbot, window):
    win = window
    make_tiny(win, steps=30, preview_every=0)
    qtbot.mouseClick(win.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.training and win.trainer is not None and win.trainer.step == 30,
                    timeout=TIMEOUT_MS)
    win.resize(1280, 720)
    win.open_race()
    race = win.race
    race.methodCombos[2].setCurrentIndex(0)
    race.methodCombos[3].setCurrentIndex(0)  # two lanes: ancestral and ddim
    race.nfeSpin.setValue(6)
    race.samplesSpin.setValue(300)
    qtbot.mouseClick(race.startButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.race_runner.running, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not win.race_runner.running, timeout=TIMEOUT_MS)
    for top, _bottom in race._panels:  # "SW 0.123 ± 0.01" under each lane's name
        assert "SW" in top.plot.titleLabel.text and "±" in top.plot.titleLabel.text
    verdict = race.scoresLabel.toolTip()
    assert "No ranking" in verdict or "Ranked (the spreads separate them)" in verdict

    qtbot.wait(50)
    both = lane_width(win, 1)
    race.enlarge(1)
    qtbot.wait(50)
    assert race.enlarged == 1 and race.laneCombo.currentText() == "only ddim"
    assert lane_width(win, 1) > 1.7 * both and race._panels[0][0].plot.scene() is None  # ancestral left the view
    race.distanceCheck.setChecked(False)  # the lanes take the distance plot's room
    qtbot.wait(50)
    alone = lane_width(win, 1)
    assert not race.distancePlot.isVisible()
    race.distanceCheck.setChecked(True)
    qtbot.wait(50)
    assert lane_width(win, 1) < alone
    # a double-click on the lone lane shows every lane again, one on a lane shows it alone (the scene's click, as
    # pyqtgraph hands it over)
    race._clicked(DoubleClick(race._panels[1][0].plot.sceneBoundingRect().center()))
    qtbot.wait(50)
    assert race.enlarged is None and race._panels[0][0].plot.scene() is not None
    race._clicked(DoubleClick(race._panels[0][1].plot.sceneBoundingRect().center()))
    assert race.enlarged == 0


class DoubleClick:
    """A left double-click at a scene position, with the parts of pyqtgraph's MouseClickEvent the dock reads."""

    def __init__(self, position: QPointF) -> None:
        self._position = position

    def double(self) -> bool:
        return True

    def button(self) -> Qt.MouseButton:
        return Qt.MouseButton.LeftButton

    def scenePos(self) -> QPointF:  # noqa: N802 (pyqtgraph's name)
        return self._position


def test_the_verdict_ranks_only_separated_lanes():
    labels = ["ancestral", "ddim"]
    apart = [{"score": 2.0, "score_spread": 0.1}, {"score": 1.0, "score_spread": 0.1}]
    assert ranking_text(labels, apart) == "Ranked (the spreads separate them): ddim < ancestral."
    close = [{"score": 1.1, "score_spread": 0.4}, {"score": 1.0, "score_spread": 0.4}]
    assert ranking_text(labels, close).startswith("No ranking: the scores lie within each other's spread")
