"""The Schedule dock: β_t, ᾱ_t, √ᾱ_t and the SNR against t for the settings on screen (MATH.md M1-M3).

``schedulePlot`` shows ᾱ_t and √ᾱ_t on the left axis and β_t on its own right axis (β is tiny for most of a
linear schedule); the SNR plot below shares t and uses a log axis. A red line marks the timestep the trajectory
slider is on. Tables come from :mod:`ddpm_studio.core.process.schedule`; this dock only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QDockWidget, QVBoxLayout, QWidget

from ddpm_studio.core import choices
from ddpm_studio.core.process.flow import FLOW_TICKS, make_flow
from ddpm_studio.core.process.schedule import alpha_bar_from_betas, make_betas, signal_to_noise
from ddpm_studio.gui.style import (
    ALPHA_BAR_COLOR,
    BETA_COLOR,
    ERROR_TEXT_COLOR,
    MARKER_COLOR,
    SNR_COLOR,
    SQRT_ALPHA_BAR_COLOR,
    WrapLabel,
    fit_axis_label,
    legend_html,
)
from ddpm_studio.gui.widgets.axes import TidyAxisItem

#: The two plots go side by side once the dock is this much wider than tall (a short bottom row on a small
#: screen), and back one above the other below the second ratio (a gap, so the switch cannot oscillate).
SIDE_BY_SIDE_ASPECT = (1.25, 1.05)


DDPM_LEGEND = legend_html([
    (ALPHA_BAR_COLOR, "line", "ᾱ_t"), (SQRT_ALPHA_BAR_COLOR, "line", "√ᾱ_t"), (BETA_COLOR, "line", "β_t (right axis)"),
])


class ScheduleDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Schedule", parent)
        self.setObjectName("scheduleDock")
        self.schedule_name = ""
        self.num_timesteps = 0
        self.alpha_bar_T: float | None = None
        self.marker_t: int | None = None

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        # the legend sits above the plots: inside, it covered the curves where alpha_bar and beta cross
        self.legendLabel = WrapLabel(DDPM_LEGEND, objectName="scheduleLegendLabel")
        self.legendLabel.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.legendLabel)
        # side by side to start with: the default layout gives the dock a wide, short place, and the window's
        # first layout must not be held to the taller minimum of the stacked plots
        self._plots = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        layout.addLayout(self._plots, 1)

        tidy = {side: TidyAxisItem(side) for side in ("left", "right", "bottom")}
        self.schedulePlot = pg.PlotWidget(axisItems=tidy)
        self.schedulePlot.setObjectName("schedulePlot")
        plot = self.schedulePlot.getPlotItem()
        plot.setLabel("bottom", "t")
        plot.setLabel("left", "ᾱ_t, √ᾱ_t")
        fit_axis_label(self.schedulePlot)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setYRange(0.0, 1.0, padding=0.02)
        self._alpha_bar = plot.plot(pen=pg.mkPen(ALPHA_BAR_COLOR, width=2))
        self._sqrt_alpha_bar = plot.plot(pen=pg.mkPen(SQRT_ALPHA_BAR_COLOR, width=2))
        # β_t on a second view box tied to the right axis (pyqtgraph's MultiplePlotAxes recipe)
        self._beta_view = pg.ViewBox()
        plot.showAxis("right")
        plot.scene().addItem(self._beta_view)
        plot.getAxis("right").linkToView(self._beta_view)
        # orange ticks instead of a rotated label, which a narrow dock would clip at the window's edge
        plot.getAxis("right").setTextPen(pg.mkPen(BETA_COLOR))
        plot.getAxis("right").setPen(pg.mkPen(BETA_COLOR))
        self._beta_view.setXLink(plot)
        self._beta = pg.PlotCurveItem(pen=pg.mkPen(BETA_COLOR, width=2))
        self._beta_view.addItem(self._beta)
        plot.vb.sigResized.connect(self._sync_views)
        self._marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(MARKER_COLOR, width=1.5))
        plot.addItem(self._marker)
        self._plots.addWidget(self.schedulePlot, 1)

        self.snrPlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.snrPlot.setObjectName("snrPlot")
        snr = self.snrPlot.getPlotItem()
        snr.setLabel("bottom", "t")
        snr.setLabel("left", "SNR(t)")
        fit_axis_label(self.snrPlot)
        self.snrPlot.setToolTip("Signal-to-noise ratio SNR(t) = ᾱ_t / (1 − ᾱ_t), on a log axis (M3).")
        snr.setLogMode(y=True)
        snr.showGrid(x=True, y=True, alpha=0.2)
        snr.setXLink(plot)
        self._snr = snr.plot(pen=pg.mkPen(SNR_COLOR, width=2))
        self._snr_marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(MARKER_COLOR, width=1.5))
        snr.addItem(self._snr_marker)
        self._plots.addWidget(self.snrPlot, 1)

        self.summaryLabel = WrapLabel(objectName="scheduleSummary")
        layout.addWidget(self.summaryLabel)
        self.setWidget(body)
        self.set_marker(None)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        size = event.size()
        side_by_side = size.width() > SIDE_BY_SIDE_ASPECT[1 if self.side_by_side else 0] * size.height()
        direction = QBoxLayout.Direction.LeftToRight if side_by_side else QBoxLayout.Direction.TopToBottom
        if self._plots.direction() != direction:
            self._plots.setDirection(direction)
            for index, stretch in enumerate((3, 2) if not side_by_side else (1, 1)):
                self._plots.setStretch(index, stretch)

    @property
    def side_by_side(self) -> bool:
        """Whether the two plots are laid out in a row (a wide, short dock)."""
        return self._plots.direction() == QBoxLayout.Direction.LeftToRight

    def _sync_views(self) -> None:
        plot = self.schedulePlot.getPlotItem()
        self._beta_view.setGeometry(plot.vb.sceneBoundingRect())
        self._beta_view.linkedViewChanged(plot.vb, self._beta_view.XAxis)

    def set_schedule(self, name: str, num_timesteps: int) -> None:
        """Redraw for this schedule and T (cheap: a few float64 tables of length T)."""
        if (name, num_timesteps) == (self.schedule_name, self.num_timesteps):
            return
        self.schedule_name, self.num_timesteps = name, num_timesteps
        self.legendLabel.setText(DDPM_LEGEND)
        try:
            betas = make_betas(name, num_timesteps)
        except ValueError as exc:
            for curve in (self._alpha_bar, self._sqrt_alpha_bar, self._beta, self._snr):
                curve.setData([], [])
            self.alpha_bar_T = None
            self.summaryLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR};")
            self.summaryLabel.setText(str(exc))
            return
        alpha_bar = alpha_bar_from_betas(betas)
        snr = signal_to_noise(alpha_bar)
        t = np.arange(1, num_timesteps + 1, dtype=np.float64)
        alpha_bar_np = alpha_bar.numpy()
        self._alpha_bar.setData(t, alpha_bar_np)
        self._sqrt_alpha_bar.setData(t, np.sqrt(alpha_bar_np))
        self._beta.setData(t, betas.numpy())
        self._snr.setData(t, snr.numpy())
        self._beta_view.enableAutoRange(axis=pg.ViewBox.YAxis)
        self.schedulePlot.getPlotItem().setXRange(0, num_timesteps, padding=0.01)
        self.alpha_bar_T = float(alpha_bar[-1])
        self.summaryLabel.setStyleSheet("")
        self.summaryLabel.setText(
            f"{name} schedule, T = {num_timesteps:,}:  ᾱ_T = {self.alpha_bar_T:.3g}  "
            f"(√ᾱ_T = {self.alpha_bar_T ** 0.5:.3g} of the data is left at t = T),  "
            f"β_1 = {float(betas[0]):.3g},  β_T = {float(betas[-1]):.3g}"
        )
        self._sync_views()

    def set_flow_path(self, path: str) -> None:
        """Draw a flow's path (M47) on the records' clock of FLOW_TICKS ticks: alpha_t (the signal's scale) and
        sigma_t (the noise's, right axis), with the VP abar and SNR of the same state (M49) on the left and below,
        so a flow run reads on the axes of a DDPM run."""
        if ("flow:" + path, FLOW_TICKS) == (self.schedule_name, self.num_timesteps):
            return
        self.schedule_name, self.num_timesteps = "flow:" + path, FLOW_TICKS
        flow = make_flow(path)
        ticks = np.arange(0, FLOW_TICKS + 1, dtype=np.float64)
        time = torch.from_numpy(ticks / FLOW_TICKS)
        alpha, sigma = flow.path.alpha(time).numpy(), flow.path.sigma(time).numpy()
        abar = alpha**2 / (alpha**2 + sigma**2)
        self._alpha_bar.setData(ticks, abar)
        self._sqrt_alpha_bar.setData(ticks, alpha)
        self._beta.setData(ticks, sigma)
        inside = (ticks > 0) & (ticks < FLOW_TICKS)  # the SNR is infinite at t = 0 and 0 at t = 1 (linear path)
        self._snr.setData(ticks[inside], (alpha[inside] / sigma[inside]) ** 2)
        self._beta_view.enableAutoRange(axis=pg.ViewBox.YAxis)
        self.schedulePlot.getPlotItem().setXRange(0, FLOW_TICKS, padding=0.01)
        self.alpha_bar_T = float(abar[-1])
        label = choices.find(choices.FLOW_PATHS, path)
        self.legendLabel.setText(legend_html([
            (ALPHA_BAR_COLOR, "line", "VP ᾱ of the same SNR"), (SQRT_ALPHA_BAR_COLOR, "line", "α_t"),
            (BETA_COLOR, "line", "σ_t (right axis)"),
        ]))
        self.summaryLabel.setStyleSheet("")
        self.summaryLabel.setText(
            f"flow on the {label.label if label else path} path, x_t = α_t x₀ + σ_t ε with t = tick / {FLOW_TICKS:,}"
            f" (t = 1 is pure noise); ᾱ is the VP ᾱ of a state with the same signal-to-noise ratio (M49)"
        )
        self._sync_views()

    def set_marker(self, t: int | None) -> None:
        """Mark paper timestep ``t`` (0..T; 0 is the clean data); None or a negative t hides the marker."""
        t = None if t is None or t < 0 else t
        self.marker_t = t
        for line in (self._marker, self._snr_marker):
            line.setVisible(t is not None)
            if t is not None:
                line.setValue(t)
