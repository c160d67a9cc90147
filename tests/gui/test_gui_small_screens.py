"""A 1024 x 768 and a 1280 x 720 projector, normal and in presentation mode: every dock usable (it scrolls, nothing is
squeezed below its minimum or cut off), and presentation mode gives the pictures the room, not only larger text.

A small screen is faked by patching ``QScreen.availableGeometry`` (the offscreen platform's screen is 800 x 800).
"""

from __future__ import annotations

import pytest
from gui_helpers import TIMEOUT_MS
from PySide6.QtCore import QRect, QSettings
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QComboBox, QMessageBox, QScrollArea, QStyle, QStyleOptionComboBox

from ddpm_studio.gui import MainWindow
from ddpm_studio.gui.window.screen_fit import fits
from ddpm_studio.gui.window.stage import STAGE_TILES

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

SCREENS = {"1024x768": QRect(0, 0, 1024, 768), "1280x720": QRect(0, 0, 1280, 720)}


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat)


def open_on(qtbot, monkeypatch, settings, available: QRect) -> MainWindow:
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(available))
    monkeypatch.setattr(QMessageBox, "warning", lambda *_args, **_kwargs: QMessageBox.StandardButton.Ok)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(50)
    return win


def assert_every_dock_usable(win: MainWindow) -> None:
    """Each shown dock lies in the window, and its body is at least its minimum size (what does not fit scrolls)."""
    assert fits(win.geometry(), win.screen().availableGeometry()), win.geometry()
    assert win.minimumSizeHint().width() <= win.width() and win.minimumSizeHint().height() <= win.height()
    for dock in win.docks:
        if dock.visibleRegion().isEmpty():
            continue
        assert win.rect().contains(QRect(dock.mapTo(win, dock.rect().topLeft()), dock.size())), dock.objectName()
        scroll = dock.widget()
        assert isinstance(scroll, QScrollArea), dock.objectName()
        body, least = scroll.widget(), scroll.widget().minimumSizeHint()
        assert body.width() >= least.width() and body.height() >= least.height(), dock.objectName()
        # the scroll bars reach every part of the body
        assert scroll.horizontalScrollBar().maximum() >= body.width() - scroll.viewport().width()
        assert scroll.verticalScrollBar().maximum() >= body.height() - scroll.viewport().height()


@pytest.mark.parametrize("presentation", [False, True], ids=["normal", "presentation"])
@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
def test_every_dock_is_usable_on_a_small_projector(qtbot, monkeypatch, settings, screen, presentation):
    win = open_on(qtbot, monkeypatch, settings, SCREENS[screen])
    if presentation:
        win.presentationAction.trigger()
    qtbot.wait(300)  # the docks' sizes and then their scroll bars settle
    assert_every_dock_usable(win)
    # the reverse process and the samples never need a sideways scroll, on the stage or off it
    for dock in (win.trajectory, win.samples_dock):
        assert not dock.widget().horizontalScrollBar().isVisible(), dock.objectName()
    # nor does the Setup form (its fields go under their labels on a narrow dock)
    setup = win.setup.widget()
    for field in setup.widget().findChildren(type(win.setup.datasetCombo)):
        if not field.isVisibleTo(setup):  # the other process's rows are hidden (Setup's process combo)
            continue
        box = field.mapTo(setup.viewport(), field.rect().topRight())
        assert box.x() < setup.viewport().width(), field.objectName()
    # the learned-variance settings read whole: "learned: between β̃_t and β_t", "hybrid: L_simple + 0.001 L_vlb"
    for combo in setup.widget().findChildren(QComboBox):
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                             QStyle.SubControl.SC_ComboBoxEditField, combo)
        for index in range(combo.count()):
            text = combo.itemText(index)
            assert combo.fontMetrics().horizontalAdvance(text) <= field.width(), (combo.objectName(), text)
    win.close()


def tile_pixels(win: MainWindow) -> float:
    """On-screen width in pixels of one image of the Samples grid."""
    view = win.samples_dock.samplesView.getPlotItem().getViewBox()
    width = win.samples_dock._shown(win.samples_dock.samples).shape[2]
    return width / view.viewPixelSize()[0]


@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
def test_presentation_mode_enlarges_the_pictures_and_gives_the_layout_back(qtbot, monkeypatch, settings, screen):
    win = open_on(qtbot, monkeypatch, settings, SCREENS[screen])
    win.setup.select_builtin("digits")  # the training images are previewed in Samples before any model exists
    qtbot.waitUntil(lambda: win.samples_dock.samples is not None and not win.busy, timeout=TIMEOUT_MS)
    win.samples_dock.flush()
    qtbot.wait(50)
    normal_tile, shown = tile_pixels(win), len(win.samples_dock._shown(win.samples_dock.samples))
    trajectory = win.trajectory.trajectoryView.size()
    setup_area = win.dockWidgetArea(win.setup)

    win.presentationAction.trigger()
    qtbot.wait(100)
    win.samples_dock.flush()
    qtbot.wait(50)
    assert shown == 64 and len(win.samples_dock._shown(win.samples_dock.samples)) == STAGE_TILES
    assert tile_pixels(win) > 1.8 * normal_tile  # 4 x 4 instead of 8 x 8, in a larger dock
    staged = win.trajectory.trajectoryView.size()
    assert staged.width() * staged.height() > 1.3 * trajectory.width() * trajectory.height()
    assert win.setup in win.tabifiedDockWidgets(win.loss)  # Setup waits in a tab under the pictures

    win.presentationAction.trigger()
    qtbot.wait(100)
    win.samples_dock.flush()
    qtbot.wait(50)
    assert win.dockWidgetArea(win.setup) == setup_area and not win.tabifiedDockWidgets(win.setup)
    assert len(win.samples_dock._shown(win.samples_dock.samples)) == 64
    assert abs(tile_pixels(win) - normal_tile) < 0.5
    win.close()


@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
def test_status_message_and_trajectory_hint_fit_a_small_projector(qtbot, monkeypatch, settings, screen):
    """A long status message is shortened with "…" before the permanent labels (it was cut mid-word under
    "device:"), and the empty trajectory's hint wraps inside its panel (it ran off both sides at 1024 px)."""
    win = open_on(qtbot, monkeypatch, settings, SCREENS[screen])
    qtbot.wait(200)
    assert win.trajectory._hint.isVisible() and win.trajectory.hint_fits()

    status = win.statusBar()
    text = "Continued from step 600 of runs/moons: " + "training resumes where it stopped, " * 6
    status.showMessage(text, 0)
    qtbot.wait(50)
    assert status.currentMessage() == text and status.toolTip() == text  # callers and the tooltip: the whole text
    shown = status.elided_message()
    assert shown.endswith("…") and text.startswith(shown[:-1])
    rect = status.message_rect()
    assert status.fontMetrics().horizontalAdvance(shown) <= rect.width()
    assert rect.right() < win.deviceLabel.geometry().left()
    status.showMessage("Saved.", 0)
    assert status.elided_message() == "Saved."
    win.close()
