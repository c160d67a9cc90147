"""The paths view (Trajectory → Paths…): ODE paths x_1 -> x_0 of up to three runs side by side (issue 28).

DDPM's probability-flow ODE (mapped onto the linear clock, M49), a flow, and a flow after reflow (M56), each from
the same noise, with the straightness under each (M55): the curved DDPM and flow paths beside the nearly straight
reflowed ones are why one or two Euler steps suffice after a reflow. The open run fills its own panel; the others
are run folders chosen here. The dialog only asks (``drawRequested``) and draws what the window hands it.
Widgets: ``pathsDialog``, ``pathsPlot0..2``, ``pathsRunButton0..2``, ``pathsLabel0..2``, ``pathsDrawButton``,
``pathsStatusLabel``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ddpm_studio.gui.display import PathPicture
from ddpm_studio.gui.style import SteadyLabel
from ddpm_studio.gui.widgets.axes import TidyAxisItem

#: The three panels' subjects, left to right.
SLOT_TITLES = ("DDPM (ODE)", "flow", "flow after reflow")
PATH_PEN = (110, 110, 110, 120)
NOISE_COLOR = (150, 170, 200)  # the noise ends, pale: the eye goes to where the paths arrive
END_COLOR = (255, 127, 14)


class PathsDialog(QDialog):
    """Three panels of ODE paths; ``sources[slot]`` is "open run" (None), a run folder (str) or empty."""

    drawRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pathsDialog")
        self.setWindowTitle("Paths from noise to data")
        self.sources: dict[int, str | None] = {}
        self.pictures: dict[int, PathPicture] = {}
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        self.plots: list[pg.PlotWidget] = []
        self.labels: list[QLabel] = []
        self.runButtons: list[QPushButton] = []
        for slot, title in enumerate(SLOT_TITLES):
            plot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
            plot.setObjectName(f"pathsPlot{slot}")
            plot.setTitle(title)
            plot.setAspectLocked(True)
            plot.setMinimumSize(220, 220)
            grid.addWidget(plot, 0, slot)
            label = SteadyLabel("", objectName=f"pathsLabel{slot}")
            label.setWordWrap(True)
            grid.addWidget(label, 1, slot)
            button = QPushButton("Choose run…", objectName=f"pathsRunButton{slot}")
            button.setToolTip(f"A run folder to draw as “{title}”.")
            button.clicked.connect(lambda _checked=False, s=slot: self._choose(s))
            grid.addWidget(button, 2, slot)
            if self.plots:  # one view for the three panels: the same noise, compared at one scale
                plot.setXLink(self.plots[0])
                plot.setYLink(self.plots[0])
            self.plots.append(plot)
            self.labels.append(label)
            self.runButtons.append(button)
        layout.addLayout(grid, 1)
        row = QHBoxLayout()
        self.statusLabel = SteadyLabel("", objectName="pathsStatusLabel")
        self.statusLabel.setWordWrap(True)
        row.addWidget(self.statusLabel, 1)
        self.drawButton = QPushButton("Draw", objectName="pathsDrawButton")
        self.drawButton.setToolTip("Draw each chosen run's ODE paths from one noise draw, and measure their "
                                   "straightness (0 = straight lines, which one Euler step follows exactly).")
        self.drawButton.clicked.connect(self.drawRequested)
        row.addWidget(self.drawButton)
        layout.addLayout(row)
        self.resize(900, 440)

    def set_source(self, slot: int, source: str | None) -> None:
        """Fill panel ``slot`` with the open run (None) or a run folder."""
        self.sources[slot] = source
        self.labels[slot].setText("the open run" if source is None else source)

    def _choose(self, slot: int) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Run folder for “{SLOT_TITLES[slot]}”")
        if folder:
            self.set_source(slot, folder)

    def set_running(self, running: bool) -> None:
        self.drawButton.setEnabled(not running)
        for button in self.runButtons:
            button.setEnabled(not running)
        if running:
            self.statusLabel.setText("Drawing the paths…")

    def show_failure(self, message: str) -> None:
        self.statusLabel.setText(f"Cannot draw the paths: {message}")

    def add_picture(self, picture: PathPicture, reference: np.ndarray | None) -> None:
        """Draw one run's paths (grey), their noise ends (blue) and samples (orange) over the data (faint)."""
        self.pictures[picture.slot] = picture
        plot = self.plots[picture.slot]
        plot.clear()
        if reference is not None:
            plot.plot(reference[:, 0], reference[:, 1], pen=None, symbol="o", symbolSize=2,
                      symbolBrush=(0, 0, 0, 40), symbolPen=None)
        states = picture.states
        for n in range(states.shape[1]):
            plot.plot(states[:, n, 0], states[:, n, 1], pen=pg.mkPen(PATH_PEN, width=1))
        plot.plot(states[0, :, 0], states[0, :, 1], pen=None, symbol="o", symbolSize=4, symbolBrush=NOISE_COLOR,
                  symbolPen=None)
        plot.plot(states[-1, :, 0], states[-1, :, 1], pen=None, symbol="o", symbolSize=5,
                  symbolBrush=END_COLOR, symbolPen=None)
        plot.setTitle(picture.title)
        self.labels[picture.slot].setText(
            f"straightness {picture.straightness:.4f}  ({picture.method}, M55: 0 = straight lines)")

    def finished(self) -> None:
        self.set_running(False)
        if self.pictures:
            # the linked panels show every path of every run: the range of all of them, with a margin
            points = np.concatenate([p.states.reshape(-1, 2) for p in self.pictures.values()])
            points = points[np.isfinite(points).all(axis=1)]  # an untrained run may send a path to infinity
            if len(points):
                low, high = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
                # Python floats: pyqtgraph compares them with float64 limits, which overflow a float32
                self.plots[0].setRange(xRange=(float(low[0]), float(high[0])), yRange=(float(low[1]), float(high[1])),
                                       padding=0.05)
            values = ", ".join(f"{p.title.split(',')[0]} {p.straightness:.4f}"
                               for _, p in sorted(self.pictures.items()))
            self.statusLabel.setText(f"Straightness: {values}. Lines: paths x₁ → x₀ on the linear clock (M49).")

