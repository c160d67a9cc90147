"""The window on small screens and a projector: sizing, nothing cut off, tidy axes, presentation mode, safe glyphs.

A small screen is faked by patching ``QScreen.availableGeometry`` (the offscreen platform's screen is 800 x 800).
"Fully visible" is checked from geometry: a widget inside its parent, no two siblings overlapping, a form field
inside the scroll area's viewport, a rotated axis label no longer than its axis.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRect, QSettings, QSize
from PySide6.QtGui import QAction, QImage, QPainter, QScreen
from PySide6.QtWidgets import QAbstractButton, QComboBox, QMenu, QMessageBox, QWidget

from ddpm_studio.gui import MainWindow
from ddpm_studio.gui.docks.loss import LossDock
from ddpm_studio.gui.jobs import setup as workers
from ddpm_studio.gui.widgets.axes import TidyAxisItem, thin_labels
from ddpm_studio.gui.window.screen_fit import FRAME_ALLOWANCE, PREFERRED_SIZE, fits, fitted_geometry, with_frame

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

SMALL_SCREENS = [QRect(0, 0, 1366, 768), QRect(0, 0, 1280, 720), QRect(0, 0, 1024, 768)]
#: Characters every platform's UI font draws: printable ASCII and the ellipsis of "Export…".
SAFE_TEXT = {chr(c) for c in range(0x20, 0x7F)} | {"…"}


@pytest.fixture(autouse=True)
def no_leaked_threads():
    yield
    assert workers.running_threads() == [], "a worker QThread was left running"


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *_args, **_kwargs: QMessageBox.StandardButton.Ok)


def fake_screen(monkeypatch, available: QRect) -> None:
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(available))


def open_window(qtbot, settings: QSettings) -> MainWindow:
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(50)  # the default dock split is applied once the window is laid out
    return win


def drawn_tick_labels(axis: pg.AxisItem) -> list[tuple[float, float, str]]:
    """(start, end, text) along the axis of every tick label the axis draws now, in the axis's pixels."""
    image = QImage(4, 4, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    vertical = axis.orientation in ("left", "right")
    return sorted((r.top(), r.bottom(), t) if vertical else (r.left(), r.right(), t) for r, _f, t in texts)


def assert_no_overlap(spans: list[tuple[float, float, str]]) -> None:
    for (_s0, end, first), (start, _e1, second) in zip(spans, spans[1:]):
        assert end <= start, f"tick labels {first!r} and {second!r} overlap"


def rotated_label_fits(plot: pg.PlotWidget, side: str = "left") -> bool:
    axis = plot.getPlotItem().getAxis(side)
    return axis.label.isVisible() and axis.label.boundingRect().width() <= axis.height()


# ---------------------------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("available", SMALL_SCREENS + [QRect(1920, 28, 1366, 740)])
def test_the_window_shrinks_to_a_small_screen_and_its_frame_fits(available):
    geometry = fitted_geometry(available)
    assert fits(geometry, available)
    assert with_frame(geometry).size() == geometry.size() + FRAME_ALLOWANCE
    assert geometry.width() < PREFERRED_SIZE.width() and geometry.height() < PREFERRED_SIZE.height()
    assert not fits(geometry.adjusted(0, 0, 1, 0), available)  # as large as the screen allows


def test_a_large_screen_gets_the_preferred_size_centred():
    available = QRect(0, 0, 1920, 1080)
    geometry = fitted_geometry(available)
    assert geometry.size() == PREFERRED_SIZE
    frame = with_frame(geometry)
    assert abs(frame.center().x() - available.center().x()) <= 1
    assert abs(frame.center().y() - available.center().y()) <= 1


@pytest.mark.parametrize("available", SMALL_SCREENS, ids=["1366x768", "1280x720", "1024x768"])
def test_nothing_is_cut_off_on_a_small_screen(qtbot, settings, monkeypatch, available):
    fake_screen(monkeypatch, available)
    win = open_window(qtbot, settings)
    assert fits(win.geometry(), available), win.geometry()
    assert win.minimumSizeHint().width() <= win.width() and win.minimumSizeHint().height() <= win.height()

    # the Setup form: every field lies wholly inside the scroll area's viewport (no sideways scrolling needed)
    viewport = win.setup.widget().viewport()
    for field in win.setup.widget().widget().findChildren(QWidget):
        if field.isVisible() and isinstance(field, (QComboBox, QAbstractButton)) or field.objectName().endswith(
                "Spin"):
            box = QRect(field.mapTo(viewport, field.rect().topLeft()), field.size())
            assert box.left() >= 0 and box.right() < viewport.width(), field.objectName()

    # the Samples caption has the lines a long caption needs at the dock's width
    caption = win.samples_dock.captionLabel
    caption.setText("Final samples: ddim, 50 steps, η = 0.5, after 3,000 training steps  ·  1000 samples")
    assert caption.heightForWidth(caption.width()) <= caption.height()

    # rotated axis labels no longer than their axes; the likelihood's once a bound gave it a unit
    win.likelihood._label_axis("bits/dim")
    win.likelihood.raise_()
    qtbot.wait(20)
    for plot in (win.loss.lossPlot, win.schedule.schedulePlot, win.schedule.snrPlot, win.likelihood.likelihoodPlot):
        assert rotated_label_fits(plot), plot.objectName()

    # inside each visible dock, no widget leaves its parent and no two neighbours overlap
    for dock in win.docks:
        if dock.visibleRegion().isEmpty():
            continue
        assert win.rect().contains(QRect(dock.mapTo(win, dock.rect().topLeft()), dock.size())), dock.objectName()
        body = dock.widget()
        children = [w for w in body.children() if isinstance(w, QWidget) and w.isVisible()]
        for i, first in enumerate(children):
            assert body.rect().contains(first.geometry()), (dock.objectName(), first.objectName())
            for second in children[i + 1:]:
                assert not first.geometry().intersects(second.geometry()), (first.objectName(), second.objectName())
    win.close()


def test_a_restored_geometry_is_kept_only_if_it_fits(qtbot, settings, monkeypatch):
    available = QRect(0, 0, 1280, 720)
    fake_screen(monkeypatch, QRect(0, 0, 1920, 1080))
    big = open_window(qtbot, settings)  # saved at 1500 x 920 on a large screen
    big.close()
    fake_screen(monkeypatch, available)
    small = open_window(qtbot, settings)  # the same settings on a projector: refitted
    assert fits(small.geometry(), available)
    # (Qt's own restoreGeometry also clamps to the real offscreen screen, so the rule is driven directly here)
    small.setGeometry(QRect(10, 40, 1250, 560))
    small._fit_to_screen(restored=True)
    assert small.geometry() == QRect(10, 40, 1250, 560)  # it fits: the user's place is kept
    small.setGeometry(QRect(0, 0, 1500, 920))
    small._fit_to_screen(restored=True)
    assert small.geometry() == fitted_geometry(available)
    small.close()


# ---------------------------------------------------------------------------------------------- axes
@pytest.fixture
def loss_dock(qtbot) -> LossDock:
    dock = LossDock()
    qtbot.addWidget(dock)
    dock.resize(470, 260)
    dock.show()
    qtbot.waitExposed(dock)
    return dock


def digits_like_records(count: int = 60) -> list[dict]:
    """A loss falling from 0.6 to 0.03, like the digits' (the padded range stays below 1: pyqtgraph's SI range)."""
    losses = np.geomspace(0.6, 0.03, count)
    return [{"step": 10 * (i + 1), "loss": float(v), "mse": float(v), "vlb": float(v)} for i, v in enumerate(losses)]


def test_the_loss_axis_shows_losses_without_an_si_multiplier(qtbot, loss_dock):
    loss_dock.add_records(digits_like_records())
    loss_dock.flush()
    qtbot.wait(20)
    axis = loss_dock.lossPlot.getPlotItem().getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and "(x" not in axis.labelString()
    labels = [text for _s, _e, text in drawn_tick_labels(axis)]
    assert labels, "no tick labels drawn"
    for text in labels:  # "0.1", "0.05", ... never "100", "50"; superscript forms ("10⁻²") are below 1 too
        assert text.startswith(("0.", "1", "10")) and text not in {"100", "200", "500"}, text
    assert rotated_label_fits(loss_dock.lossPlot)


@pytest.mark.parametrize("low, high", [(0.25, 1.05), (0.04, 0.9), (1e-5, 2e3), (0.5, 0.9)])
def test_log_tick_labels_never_overlap(qtbot, loss_dock, low, high):
    plot = loss_dock.lossPlot
    plot.setFixedHeight(150)
    plot.getPlotItem().setYRange(np.log10(low), np.log10(high), padding=0)
    qtbot.wait(20)
    spans = drawn_tick_labels(plot.getPlotItem().getAxis("left"))
    assert len(spans) >= 2
    assert_no_overlap(spans)


def test_thinning_keeps_the_first_label_of_a_clash():
    from PySide6.QtCore import QRectF

    specs = [(QRectF(0, 50, 20, 10), 0, "1"), (QRectF(0, 55, 20, 10), 0, "0.9"), (QRectF(0, 80, 20, 10), 0, "0.5")]
    assert [text for _r, _f, text in thin_labels(specs, vertical=True)] == ["1", "0.5"]


def test_tidy_axis_ranks_decades_before_two_and_five():
    axis = TidyAxisItem("left")
    levels = axis.logTickValues(-1.2, 0.1, 200, [])
    assert levels[0][1] == [-1.0, 0.0]
    assert np.allclose(sorted(levels[1][1]), np.log10([0.2, 0.5]))


# ---------------------------------------------------------------------------------------------- presentation
def test_presentation_mode_enlarges_text_and_marks_and_toggles_back(qtbot, settings):
    win = open_window(qtbot, settings)
    action = win.findChild(QAction, "presentationAction")
    assert action is not None and action.isCheckable() and not action.isChecked()
    assert action in win.menuBar().actions()[2].menu().actions()  # View
    axis = win.loss.lossPlot.getPlotItem().getAxis("left")
    caption = win.samples_dock.captionLabel
    smooth = win.loss._smooth
    scatter = win.samples_dock._points
    before = (caption.font().pointSizeF(), smooth.opts["pen"].widthF(), scatter.opts["size"],
              axis.fixedWidth, win.trajectory.playButton.font().pointSizeF())

    action.trigger()
    assert settings.value("view/presentation", type=bool)
    assert caption.font().pointSizeF() > before[0]
    assert axis.style["tickFont"] is not None and axis.style["tickFont"].pointSizeF() > before[0]
    assert "font-size" in axis.labelStyle
    assert smooth.opts["pen"].widthF() == 2 * before[1]
    assert scatter.opts["size"] > before[2]
    assert axis.fixedWidth > before[3]
    assert win.trajectory.playButton.font().pointSizeF() == before[4]  # controls keep their size

    action.trigger()
    assert not settings.value("view/presentation", type=bool)
    after = (caption.font().pointSizeF(), smooth.opts["pen"].widthF(), scatter.opts["size"],
             axis.fixedWidth, win.trajectory.playButton.font().pointSizeF())
    assert after == before
    assert axis.style["tickFont"] is None and "font-size" not in axis.labelStyle
    action.trigger()
    win.close()

    again = open_window(qtbot, settings)  # remembered
    assert again.presentationAction.isChecked()
    assert again.samples_dock.captionLabel.font().pointSizeF() > before[0]
    again.close()


def test_the_loss_pen_keeps_its_presentation_width_when_the_series_style_changes(qtbot, settings):
    win = open_window(qtbot, settings)
    win.presentationAction.trigger()
    width = win.loss._smooth.opts["pen"].widthF()
    win.loss.bandsCheck.setChecked(True)
    win.loss.flush()
    assert win.loss._smooth.opts["pen"].widthF() == width
    win.presentationAction.trigger()
    win.close()


# ---------------------------------------------------------------------------------------------- glyphs
def menu_texts(menu: QMenu) -> list[str]:
    texts = []
    for action in menu.actions():
        texts.append(action.text())
        if action.menu() is not None:
            texts.extend(menu_texts(action.menu()))
    return texts


def test_buttons_and_menus_use_only_characters_every_font_has(qtbot, settings):
    win = open_window(qtbot, settings)
    win.trajectory.playButton.setEnabled(True)
    win.trajectory.playButton.setChecked(True)  # "Pause" while playing
    texts = [button.text() for button in win.findChildren(QAbstractButton)]
    for action in win.menuBar().actions():
        texts.append(action.text())
        texts.extend(menu_texts(action.menu()))
    win.trajectory.playButton.setChecked(False)
    bad = {text: sorted(set(text) - SAFE_TEXT) for text in texts if set(text) - SAFE_TEXT}
    assert not bad, bad
    assert not win.trajectory.playButton.icon().isNull() and not win.pauseButton.icon().isNull()
    assert win.stopButton.icon().actualSize(QSize(16, 16)).width() > 0
    win.close()
