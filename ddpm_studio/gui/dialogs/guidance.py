"""The guidance sweep (Trajectory → Sweep w…): one x_T sampled at several classifier-free guidance scales w side by
side, with the fidelity / diversity trade-off plotted against w (MATH.md M34).

The work is :func:`ddpm_studio.core.analysis.guidance_sweep.iter_guidance_sweep` run as a job
(:mod:`ddpm_studio.gui.jobs.guidance_sweep`) by its presenter (:mod:`ddpm_studio.gui.presenters.guidance_sweep`);
this dialog only asks (``runRequested(scales)``, ``stopRequested``) and draws what the presenter hands it
(``begin``, ``show_progress``, ``add_row``, ``show_end``, ``show_failure``, ``job_ended``).
Widgets: ``guidanceSweepDialog``, ``guidanceScalesEdit``, ``sweepRunButton``, ``sweepView`` (a
panel per w), ``tradeoffPlot`` and ``sweepStatusLabel``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ddpm_studio.core.analysis.guidance_sweep import SWEEP_GUIDANCE, GuidanceProgress
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.guidance import GuidanceError, parse_guidance_list, row_length
from ddpm_studio.gui.display import SweepDisplayRow, SweepEnded
from ddpm_studio.gui.style import PREDICTION_COLOR, SAMPLE_COLOR, SteadyLabel, pin_axes
from ddpm_studio.gui.trajectory_store import scatter_bounds
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.sample_panel import SamplePanel

#: Colours of the trade-off plot's two curves.
ACCURACY_COLOR = SAMPLE_COLOR
SCORE_COLOR = PREDICTION_COLOR


class GuidanceSweepDialog(QDialog):
    """Same x_T, several w: a panel per w above the trade-off plot (accuracy on the asked class, quality score)."""

    runRequested = Signal(object)  # the scales w, a list of floats
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guidanceSweepDialog")
        self.setWindowTitle("Guidance sweep")
        self._running = False  # as the presenter reports it
        self.rows: list[SweepDisplayRow] = []
        self._source: tuple | None = None
        layout = QVBoxLayout(self)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("w ="))
        self.scalesEdit = QLineEdit(",".join(f"{w:g}" for w in SWEEP_GUIDANCE), objectName="guidanceScalesEdit")
        self.scalesEdit.setToolTip("Guidance scales, comma-separated (0: the conditional model).")
        controls.addWidget(self.scalesEdit, 1)
        self.runButton = QPushButton("Run", objectName="sweepRunButton")
        self.runButton.clicked.connect(self._run_or_stop)
        controls.addWidget(self.runButton)
        layout.addLayout(controls)
        self.statusLabel = SteadyLabel("", objectName="sweepStatusLabel")
        layout.addWidget(self.statusLabel)
        self.sweepView = pg.GraphicsLayoutWidget()
        self.sweepView.setObjectName("sweepView")
        layout.addWidget(self.sweepView, 3)
        self.tradeoffPlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom", "right")})
        self.tradeoffPlot.setObjectName("tradeoffPlot")
        plot = self.tradeoffPlot.getPlotItem()
        pin_axes(plot)
        plot.setLabel("bottom", "guidance scale w")
        plot.setLabel("left", "share of the asked class")
        plot.setYRange(0.0, 1.0)
        plot.addLegend(offset=(-10, -10))  # bottom right: accuracy runs along the top, the score climbs
        self._accuracy = plot.plot([], [], pen=pg.mkPen(ACCURACY_COLOR, width=2), symbol="o",
                                   symbolBrush=ACCURACY_COLOR, name="accuracy (left)")
        # the score has its own scale: a second view box on the right axis
        self._score_box = pg.ViewBox()
        plot.showAxis("right")
        plot.scene().addItem(self._score_box)
        plot.getAxis("right").linkToView(self._score_box)
        self._score_box.setXLink(plot)
        self._score = pg.PlotDataItem([], [], pen=pg.mkPen(SCORE_COLOR, width=2), symbol="s", symbolBrush=SCORE_COLOR)
        self._floor = pg.InfiniteLine(angle=0, pen=pg.mkPen((120, 120, 120), style=pg.QtCore.Qt.PenStyle.DashLine))
        self._score_box.addItem(self._score)
        self._score_box.addItem(self._floor)
        plot.legend.addItem(self._score, "score (right; dashed: real data)")
        plot.vb.sigResized.connect(lambda: self._score_box.setGeometry(plot.vb.sceneBoundingRect()))
        layout.addWidget(self.tradeoffPlot, 2)
        self.resize(980, 640)

    # ------------------------------------------------------------------ control
    def configure(self, pipeline: Callable[[], DiffusionPipeline], kind: str, dataset: DataSet | None,
                  label: int | None, label_text: str, settings: dict, seed: int) -> None:
        """What the next Run samples: the model, its data, the class (None: all) and the Trajectory's sampler."""
        self._source = (pipeline, kind, dataset, label, settings, seed)
        what = "one row per class" if label is None else f"class {label_text}"
        self.statusLabel.setText(f"{what} · {settings['method']}, {settings['num_steps']} NFE · "
                                 "the same x_T at every w. Press Run.")

    @property
    def source(self) -> tuple | None:
        """(pipeline provider, kind, dataset, label, sampler settings, seed) of the next Run, or None."""
        return self._source

    @property
    def running(self) -> bool:
        return self._running

    def _run_or_stop(self) -> None:
        if self._running:
            self.stopRequested.emit()
            return
        if self._source is None:
            return
        try:
            scales = parse_guidance_list(self.scalesEdit.text())
        except GuidanceError as error:
            self.statusLabel.setText(str(error))
            return
        self.runRequested.emit(scales)  # the presenter answers with begin() or refuse()

    def refuse(self, text: str) -> None:
        self.statusLabel.setText(text)

    def begin(self, scales: list[float], kind: str, reference: np.ndarray | None) -> None:
        """A sweep started: one empty panel per w; reference: training points to draw behind 2-D samples."""
        self._running = True
        self.runButton.setText("Stop")
        self.rows = []
        self.sweepView.clear()
        self._panels: list[SamplePanel] = []
        for column, w in enumerate(scales):
            panel = SamplePanel(self.sweepView.ci.addPlot(row=0, col=column, title=f"w = {w:g}"), SAMPLE_COLOR)
            panel.axes_allowed = False
            panel.set_kind(kind)
            if reference is not None:
                panel.set_reference(reference, scatter_bounds(reference))
            self._panels.append(panel)
        self._accuracy.setData([], [])
        self._score.setData([], [])

    # ------------------------------------------------------------------ what the presenter reports
    def show_progress(self, item: GuidanceProgress) -> None:
        self.statusLabel.setText(f"w = {item.guidance:g}: step {item.index} of {item.num_steps} "
                                 f"({item.row + 1} of {item.num_rows})")

    def add_row(self, row: SweepDisplayRow) -> None:
        panel = self._panels[len(self.rows)]
        self.rows.append(row)
        if panel.kind == "images":
            panel.show_images(row.samples, row_length(row.labels))
        else:
            panel.show_points(row.samples, row.labels)
        ws = [r.guidance for r in self.rows]
        self._accuracy.setData(ws, [r.accuracy for r in self.rows])
        self._score.setData(ws, [r.score for r in self.rows])
        if math.isfinite(row.floor):
            self._floor.setValue(row.floor)
        finite = [v for r in self.rows for v in (r.score, r.floor) if math.isfinite(v)]
        if finite:
            self._score_box.setYRange(0.0, max(finite) * 1.1)

    def show_end(self, ended: SweepEnded) -> None:
        self.tradeoffPlot.getPlotItem().setLabel("right", ended.metric)
        table = ", ".join(f"w = {r.guidance:g}: {r.accuracy:.0%} / {r.score:.3g}" for r in self.rows)
        head = "Stopped" if ended.stopped else "Accuracy / score"
        self.statusLabel.setText(f"{head}: {table}" if table else head)

    def show_failure(self, message: str) -> None:
        self.statusLabel.setText(f"The sweep stopped: {message}")

    def job_ended(self) -> None:
        self._running = False
        self.runButton.setText("Run")

    def closeEvent(self, event) -> None:
        if self._running:
            self.stopRequested.emit()
        super().closeEvent(event)
