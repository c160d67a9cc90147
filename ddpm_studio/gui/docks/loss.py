"""The Loss dock: the training loss as it streams in, raw and smoothed, optionally per band of t.

Points arrive in batches (a few per redraw) and are appended to growing arrays; the plot is redrawn from a
throttle at most ~30 times a second, with pyqtgraph's downsampling and clipping so a long run stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.gui.style import (
    RAW_LOSS_COLOR,
    SMOOTH_LOSS_COLOR,
    SteadyLabel,
    WrapLabel,
    band_colors,
    fit_axis_label,
    legend_html,
    pin_axes,
)
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.redraw import RedrawThrottle

#: (label in the series combo, record key, y-axis label). The axis label is short: the combo above names the
#: series in full, and a rotated label longer than the plot is tall is cut off (a low dock on a small screen).
SERIES: tuple[tuple[str, str, str], ...] = (
    ("training objective", "loss", "objective"),
    ("MSE (L_simple)", "mse", "MSE"),
    ("bound estimate (per dim)", "vlb", "bound / dim"),
)
BANDS_AXIS_LABEL = "loss per t band"
DEFAULT_NUM_BANDS = 10


def format_duration(seconds: float) -> str:
    """1234.5 -> "0:20:34"; "—" when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _GrowingTable:
    """Rows appended in batches to preallocated numpy columns (amortised doubling), read as views."""

    def __init__(self, width: int) -> None:
        self._data = np.full((256, width), np.nan)
        self.count = 0

    def extend(self, rows: np.ndarray) -> None:
        needed = self.count + len(rows)
        if needed > len(self._data):
            grown = np.full((max(needed, 2 * len(self._data)), self._data.shape[1]), np.nan)
            grown[: self.count] = self._data[: self.count]
            self._data = grown
        self._data[self.count : needed] = rows
        self.count = needed

    def view(self) -> np.ndarray:
        return self._data[: self.count]

    def clear(self) -> None:
        self.count = 0


def smooth(values: np.ndarray, weight: float, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Debiased exponential moving average along axis 0, skipping NaNs (TensorBoard's smoothing slider).

    Args:
        values: (K, C) new rows. weight: in [0, 1); 0 returns the values. state: (2, C) running (sum, norm) from
            a previous call, so a stream can be smoothed batch by batch.
    Returns:
        ((K, C) smoothed rows, (2, C) state to pass next time).
    """
    if state is None:
        state = np.zeros((2, values.shape[1]))
    acc, norm = state[0].copy(), state[1].copy()
    out = np.empty_like(values)
    for k, row in enumerate(values):
        seen = np.isfinite(row)
        acc[seen] = weight * acc[seen] + (1 - weight) * row[seen]
        norm[seen] = weight * norm[seen] + (1 - weight)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.where(norm > 0, acc / norm, np.nan)
    return out, np.stack([acc, norm])


class LossDock(QDockWidget):
    """``lossPlot`` (a PlotWidget) with series, smoothing, log-y and per-band controls, and step / speed / ETA."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Loss", parent)
        self.setObjectName("lossDock")
        self._num_bands = DEFAULT_NUM_BANDS
        self._num_timesteps = 1000
        # columns: step, loss, mse, vlb, band_0..band_{n-1}
        self._table = _GrowingTable(4 + self._num_bands)
        self._smoothed = _GrowingTable(3 + self._num_bands)
        self._smooth_state: np.ndarray | None = None
        self._progress: tuple[int, int, float] = (0, 0, 0.0)
        self._x_total = 0  # the step range the x axis is pinned to (0: follow the data)
        self._drawn_style: tuple[bool, int] | None = None  # (bands shown, series) of the last redraw

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        controls = QHBoxLayout()
        self.seriesCombo = QComboBox(objectName="lossSeriesCombo")
        for label, key, _axis_label in SERIES:
            self.seriesCombo.addItem(label, key)
        self.seriesCombo.setToolTip("Which quantity to plot: the objective being minimised, the simple MSE "
                                    "(M18) or the single-t estimate of the bound (M17).")
        controls.addWidget(self.seriesCombo)
        controls.addWidget(QLabel("smoothing"))
        self.smoothingSpin = QDoubleSpinBox(objectName="smoothingSpin")
        self.smoothingSpin.setRange(0.0, 0.99)
        self.smoothingSpin.setSingleStep(0.05)
        self.smoothingSpin.setValue(0.8)
        controls.addWidget(self.smoothingSpin)
        self.logYCheck = QCheckBox("log y", objectName="logYCheck")
        self.logYCheck.setChecked(True)
        controls.addWidget(self.logYCheck)
        self.bandsCheck = QCheckBox("per t band", objectName="bandsCheck")
        self.bandsCheck.setToolTip("One curve per tenth of the timesteps: which t does the network learn first?")
        controls.addWidget(self.bandsCheck)
        controls.addStretch(1)
        layout.addLayout(controls)

        # the legend sits above the plot: inside it would cover the curves (a falling loss fills the top left)
        self.legendLabel = WrapLabel(objectName="lossLegendLabel")
        self.legendLabel.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.legendLabel)
        # no SI prefix: a loss below 1 would read 40-900 with a "(x0.001)" the narrow plot cuts off
        self.lossPlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.lossPlot.setObjectName("lossPlot")
        self.lossPlot.setLabel("bottom", "training step")
        self.lossPlot.showGrid(x=True, y=True, alpha=0.2)
        self.lossPlot.setLogMode(y=True)
        pin_axes(self.lossPlot.getPlotItem(), left=58, bottom=40)
        self._set_left_label(SERIES[0][2])
        self._raw = self.lossPlot.plot(pen=pg.mkPen(RAW_LOSS_COLOR, width=1))
        self._smooth = self.lossPlot.plot(pen=pg.mkPen(SMOOTH_LOSS_COLOR, width=2))
        self._bands = [
            self.lossPlot.plot(pen=pg.mkPen(color, width=2), connect="finite")
            for color in band_colors(self._num_bands)
        ]
        for item in (self._raw, self._smooth, *self._bands):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        layout.addWidget(self.lossPlot, 1)

        self.statusLabel = SteadyLabel(objectName="lossStatusLabel")
        self.statusLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.statusLabel)
        self.setWidget(body)

        self._throttle = RedrawThrottle(self._redraw, self)
        self.seriesCombo.currentIndexChanged.connect(self._redraw_soon)
        self.smoothingSpin.valueChanged.connect(self._resmooth)
        self.logYCheck.toggled.connect(self._set_log)
        self.bandsCheck.toggled.connect(self._redraw_soon)
        self._update_legend()
        self._update_status()

    # ------------------------------------------------------------------ public API
    @property
    def point_count(self) -> int:
        return self._table.count

    def set_num_timesteps(self, num_timesteps: int) -> None:
        """T, for the band names (band k holds t in the k-th tenth of 1..T)."""
        num_timesteps = max(1, int(num_timesteps))
        if num_timesteps != self._num_timesteps:  # rebuilding the legend relayouts and repaints the plot
            self._num_timesteps = num_timesteps
            self._update_legend()

    def clear(self) -> None:
        self._table.clear()
        self._smoothed.clear()
        self._smooth_state = None
        self._progress = (0, 0, 0.0)
        self._x_total = 0
        self.lossPlot.getPlotItem().enableAutoRange(x=True)
        self._throttle.flush()
        self._update_status()

    def add_records(self, records: Sequence[dict]) -> None:
        """Append loss reports: dicts with step, loss, mse, vlb and bands (``TrainStep.to_record()``)."""
        if not records:
            return
        rows = np.full((len(records), 4 + self._num_bands), np.nan)
        for i, record in enumerate(records):
            rows[i, 0] = record.get("step", np.nan)
            for j, key in enumerate(("loss", "mse", "vlb")):
                value = record.get(key)
                rows[i, 1 + j] = np.nan if value is None else value
            bands = list(record.get("bands") or ())[: self._num_bands]
            rows[i, 4 : 4 + len(bands)] = [np.nan if b is None else b for b in bands]
        self._table.extend(rows)
        smoothed, self._smooth_state = smooth(rows[:, 1:], self.smoothingSpin.value(), self._smooth_state)
        self._smoothed.extend(smoothed)
        step = int(rows[-1, 0]) if np.isfinite(rows[-1, 0]) else self._progress[0]
        self._progress = (step, max(self._progress[1], step), self._progress[2])
        self._throttle.request()

    @property
    def speed(self) -> float:
        """The steps per second last shown (0 before any)."""
        return self._progress[2]

    def set_progress(self, step: int, total: int, steps_per_sec: float) -> None:
        """Step, target and speed for the status line; the x axis spans the run's target while it trains.

        A fixed x range is cheaper to draw than one that grows with every point (pyqtgraph regenerates the
        axis and grid on each range change) and shows how far along the run is.
        """
        self._progress = (step, total, steps_per_sec)
        if total > 0 and total != self._x_total and total >= step:
            self._x_total = total
            self.lossPlot.getPlotItem().setXRange(0, total, padding=0.02)
        self._throttle.request()

    def flush(self) -> None:
        self._throttle.flush()

    # ------------------------------------------------------------------ drawing
    def _redraw_soon(self, *_args) -> None:
        self._update_legend()
        self._throttle.request()

    def _set_log(self, on: bool) -> None:
        self.lossPlot.setLogMode(y=on)
        self._throttle.request()

    def _resmooth(self, *_args) -> None:
        table = self._table.view()
        self._smoothed.clear()
        self._smooth_state = None
        if len(table):
            smoothed, self._smooth_state = smooth(table[:, 1:], self.smoothingSpin.value())
            self._smoothed.extend(smoothed)
        self._throttle.request()

    def _set_left_label(self, text: str) -> None:
        self.lossPlot.setLabel("left", text)
        fit_axis_label(self.lossPlot, "left")

    def _update_legend(self) -> None:
        if self.bandsCheck.isChecked():
            T, n = self._num_timesteps, self._num_bands
            entries = [((0, 0, 0), "dash", "all t (smoothed)")]
            for k, color in enumerate(band_colors(n)):
                entries.append((color, "line", f"t {k * T // n + 1}–{(k + 1) * T // n}"))
        else:
            entries = [(RAW_LOSS_COLOR, "line", "raw"), (SMOOTH_LOSS_COLOR, "line", "smoothed")]
        self.legendLabel.setText(legend_html(entries))

    def _redraw(self) -> None:
        table, smoothed = self._table.view(), self._smoothed.view()
        column = self.seriesCombo.currentIndex()
        steps = table[:, 0]
        show_bands = self.bandsCheck.isChecked()
        if self._drawn_style != (show_bands, column):  # styles and labels only when they change: each costs a relayout
            self._drawn_style = (show_bands, column)
            width = self._smooth.opts["pen"].widthF()  # as the look (normal or presentation) set it
            self._smooth.setPen(pg.mkPen("k", width=width, style=Qt.PenStyle.DashLine) if show_bands
                                else pg.mkPen(SMOOTH_LOSS_COLOR, width=width))
            self._raw.setVisible(not show_bands)
            for item in self._bands:
                item.setVisible(show_bands)
            self._set_left_label(BANDS_AXIS_LABEL if show_bands else SERIES[column][2])
        if not show_bands:
            self._raw.setData(steps, table[:, 1 + column])
        self._smooth.setData(steps, smoothed[:, column])
        if show_bands:
            for k, item in enumerate(self._bands):
                item.setData(steps, smoothed[:, 3 + k])
        self._update_status()

    def _update_status(self) -> None:
        step, total, speed = self._progress
        parts = [f"step {step:,} / {total:,}" if total else f"step {step:,}"]
        table = self._table.view()
        if len(table):  # before the speed: on a narrow dock the end of the line is what gets cut
            parts.append(f"loss {table[-1, 1]:.4g}")
        if speed > 0:
            parts.append(f"{speed:,.1f} steps/s")
            if total > step:
                parts.append(f"ETA {format_duration((total - step) / speed)}")
        if len(table) and self.logYCheck.isChecked() and np.any(table[:, 1 + self.seriesCombo.currentIndex()] <= 0):
            parts.append("(values ≤ 0 are hidden on the log scale)")
        self.statusLabel.setText(" · ".join(parts))
