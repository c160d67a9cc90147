"""One light theme for every plot: pyqtgraph options, the palette and the redraw rate.

Docks take their colours from here so the same quantity looks the same everywhere (samples are always blue,
the reference data always a faint grey, the timestep marker always red).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QPushButton, QSizePolicy, QSpinBox, QStyle, QWidget

from ddpm_studio.core.training.previews import CLASS_RGB

#: Redraws happen at most this often (the issue's ~30 Hz): workers may emit faster, docks coalesce.
REDRAW_INTERVAL_MS = 33

SAMPLE_COLOR = (31, 119, 180)  # samples, x_t
PREDICTION_COLOR = (214, 39, 40)  # x0_hat
FORWARD_COLOR = (44, 160, 44)  # q(x_t | x_0)
REFERENCE_COLOR = (205, 205, 205, 160)  # the training data behind a scatter
#: One colour per requested class of a conditional model's 2-D samples: the CLI's PNG colours (tab10).
CLASS_COLORS = tuple(tuple(int(v) for v in rgb) for rgb in CLASS_RGB)
RAW_LOSS_COLOR = (31, 119, 180, 90)
SMOOTH_LOSS_COLOR = (8, 48, 107)
BETA_COLOR = (255, 127, 14)
ALPHA_BAR_COLOR = (44, 160, 44)
SQRT_ALPHA_BAR_COLOR = (148, 103, 189)
SNR_COLOR = (23, 190, 207)
MARKER_COLOR = (214, 39, 40)
ERROR_TEXT_COLOR = "#b00020"
HINT_TEXT_COLOR = "#555555"

_configured = False


def configure_pyqtgraph() -> None:
    """White plots with black text, antialiased curves, and numpy's (row, column) order for images."""
    global _configured
    if _configured:
        return
    # numpy imports numpy.ma lazily (np.unique / np.percentile, e.g. for a scatter's bounds). With PySide6's
    # import hook that costs ~35 ms, which would land on the GUI thread the moment training starts.
    importlib.import_module("numpy.ma")
    pg.setConfigOptions(imageAxisOrder="row-major", background="w", foreground="k", antialias=True)
    _configured = True


#: Fixed axis sizes (pixels): see :func:`pin_axes`.
LEFT_AXIS_WIDTH = 46
BOTTOM_AXIS_HEIGHT = 30


#: Pixels a plot needs above and below its view box besides the bottom axis (layout margins, tick overhang).
AXIS_LABEL_ROOM = 14


def fit_axis_label(plot_widget: pg.PlotWidget, axis: str = "left") -> None:
    """Keep ``plot_widget`` at least as tall as its rotated ``axis`` label (pyqtgraph clips a longer one).

    The presentation look calls this again after it enlarges the label's font.
    """
    plot = plot_widget.getPlotItem()
    label = plot.getAxis(axis).label
    bottom = plot.getAxis("bottom")
    bottom_height = max(bottom.fixedHeight or 0, bottom.minimumHeight()) if bottom.isVisible() else 0
    needed = label.boundingRect().width() + bottom_height + AXIS_LABEL_ROOM
    plot_widget.setMinimumHeight(math.ceil(needed))
    plot_widget.setProperty("fittedLabelAxis", axis)


def pin_axes(plot: pg.PlotItem, left: int = LEFT_AXIS_WIDTH, bottom: int = BOTTOM_AXIS_HEIGHT) -> None:
    """Give a plot's left and bottom axes a fixed size.

    pyqtgraph sizes an axis to its widest tick label, so a new range can resize the view box. With an
    aspect-locked view that is a feedback loop: the narrower box changes the range, the new labels widen the
    axis back, and the plot relayouts and repaints ~80 times a second (measured: the Samples view of a 2-D run,
    600 training steps, 1,829 repaints). A fixed size also keeps a live loss plot from jittering sideways.
    """
    plot.getAxis("left").setWidth(left)
    plot.getAxis("bottom").setHeight(bottom)


class SteadyLabel(QLabel):
    """A label whose text changes while work runs (step counts, captions) and never resizes its neighbours.

    A new text changes a label's size hint; in a dock that relayouts the dock and the main window, and every
    plot that moved by a pixel repaints (measured: a preview caption repainted the Schedule dock's two plots).
    This label takes the width its layout gives it and clips what does not fit; the whole text is its tooltip.
    With ``lines`` > 1 it wraps words within that many lines of its font (its height follows a font change,
    e.g. the presentation look, but never a text change).
    """

    def __init__(self, *args, lines: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lines = lines
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(1)
        self.setToolTip(self.text())
        if lines > 1:
            self.setWordWrap(True)
            # a text longer than its lines is clipped at the end, not at both (a narrow dock: 1024 x 768)
            self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self._fix_height()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def _fix_height(self) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(self._lines * self.fontMetrics().lineSpacing() + margins.top() + margins.bottom())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and self._lines > 1:
            self._fix_height()


class WrapLabel(QLabel):
    """A word-wrapped label that asks for the height its text needs at the width it has.

    A dock's minimum size ignores height-for-width: a wrapped label reported the two lines it needs when wide,
    got them in a low dock, and its third line was drawn over the plot above it (the Likelihood summary at
    1280 x 720). This label's minimum height follows its width, so the window gives the dock room instead.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setWordWrap(True)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        if self.width() > 0 and self.text():
            hint.setHeight(max(hint.height(), self.heightForWidth(self.width())))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()


#: Marks a legend row can draw before an entry's text (glyphs every platform's fonts have: box drawing, shapes).
LEGEND_MARKS = {"line": "━━", "dash": "╍╍", "square": "■", "diamond": "◆"}


def legend_html(entries: Sequence[tuple[tuple[int, ...], str, str]]) -> str:
    """Rich text for a legend set above a plot, where it never covers the data: (colour, mark, text) per entry.

    ``mark`` is a key of :data:`LEGEND_MARKS`. Entries are joined by non-breaking gaps, so a narrow label wraps
    between entries, never inside one.
    """
    parts = []
    for color, mark, text in entries:
        alpha = color[3] / 255 if len(color) > 3 else 1.0  # a translucent curve's colour as it shows on white
        hex_color = "#" + "".join(f"{round(255 - alpha * (255 - c)):02x}" for c in color[:3])
        parts.append(f'<span style="white-space: nowrap"><span style="color: {hex_color}">{LEGEND_MARKS[mark]}</span>'
                     f"&nbsp;{text}</span>")
    return " &nbsp; ".join(parts)


#: Standard icons for media buttons: drawn by the style, so no font needs a glyph for them (U+23F8 "pause" is
#: missing from DejaVu Sans and shows as an empty box there).
MEDIA_ICONS = {
    "play": QStyle.StandardPixmap.SP_MediaPlay,
    "pause": QStyle.StandardPixmap.SP_MediaPause,
    "stop": QStyle.StandardPixmap.SP_MediaStop,
}


def set_media_button(button: QPushButton, icon: str, text: str) -> None:
    """Show a style-drawn play / pause / stop icon beside plain text on ``button``."""
    button.setIcon(button.style().standardIcon(MEDIA_ICONS[icon]))
    button.setText(text)


def band_colors(num_bands: int) -> list[tuple[int, int, int]]:
    """Distinct colours from early t (dark) to late t (bright) for the per-band loss curves."""
    cmap = pg.colormap.get("viridis")
    colors = []
    for k in range(num_bands):
        color = cmap.map(k / max(1, num_bands - 1), mode="qcolor")
        colors.append((color.red(), color.green(), color.blue()))
    return colors


#: Characters a long combo asks room for; longer entries are elided in the closed combo (its list shows them whole).
COMBO_CHARACTERS = 13


def compact_combos(body: QWidget, characters: int = COMBO_CHARACTERS) -> None:
    """Every combo under ``body`` whose longest entry is wider than ``characters`` asks for only that many, so a
    row of controls fits a small screen; shorter combos keep their size."""
    for combo in body.findChildren(QComboBox):
        if combo.sizeAdjustPolicy() == QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon:
            continue  # compact already
        natural = combo.sizeHint().width()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(characters)
        if combo.sizeHint().width() >= natural:  # (the contents length is a floor in every policy: undo it too)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContentsOnFirstShow)
            combo.setMinimumContentsLength(0)
        # a combo caches its minimum size hint once laid out, and a policy change does not clear it: a style
        # change does
        QApplication.sendEvent(combo, QEvent(QEvent.Type.StyleChange))


def spin_box(name: str, low: int, high: int, value: int, tip: str) -> QSpinBox:
    """An integer spin box with its objectName, range, starting value and tooltip, in one call."""
    spin = QSpinBox(objectName=name)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def class_brushes(labels: np.ndarray, alpha: int = 200) -> list:
    """One brush per point, coloured by its requested class (:data:`CLASS_COLORS`), for a scatter's ``brush``."""
    brushes = [pg.mkBrush(*color, alpha) for color in CLASS_COLORS]
    return [brushes[int(label) % len(brushes)] for label in labels]
