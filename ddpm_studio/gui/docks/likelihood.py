"""The Likelihood dock: the exact variational bound of the current model, term by term as it is computed.

Public API (objectName ``likelihoodDock``):

- ``set_source(pipeline_provider, data_provider)``: two callables the dock calls on the GUI thread when the user
  presses "Compute bound"; they must be cheap. ``pipeline_provider()`` returns the :class:`DiffusionPipeline` of
  the EMA weights (``trainer.pipeline()``) or None; ``data_provider()`` returns held-out examples in model space,
  shape (N, *data_shape) (``trainer.dataset.heldout``), or None.
- ``set_busy(busy, reason="")``: True while the weights may change or no model is there (training, opening a
  run); disables the button, shows ``reason`` as its tooltip, and cancels a computation in progress.
- ``compute()`` / ``cancel()``: what the button does; ``running`` says whether a computation is in progress.
- ``clear()``: forget the plotted bound (a new or discarded model); ``flush()``: redraw now (screenshots).
- ``shutdown()``: cancel and wait for the worker thread (call from the main window's ``closeEvent``).
- The dock starts nothing itself: it emits ``computeRequested(pipeline, x0)``, ``cancelRequested``,
  ``forgetRequested`` and ``shutdownRequested``, and its presenter
  (:class:`~ddpm_studio.gui.presenters.bound.BoundPresenter`) runs the job and calls back ``job_started``,
  ``job_refused``, ``show_progress``, ``show_result``, ``show_cancelled``, ``show_failure`` and ``job_ended``.
- ``result``: the last :class:`BoundResult` (None before one finished, or after a cancel).
- Signals: ``message(str)`` status text, ``failed(str)`` a one-line error, ``boundComputed(BoundResult)``.

Controls: ``computeBoundButton`` (reads "Cancel" while running), ``boundExamplesSpin``, ``boundProgressBar``,
``boundLogYCheck``, the plot ``likelihoodPlot`` and the labels ``boundRunningLabel`` and ``boundSummaryLabel``.

The plot puts each term at its paper subscript: L_0 (the decoder) at t = 0, L_t for t = 1..T-1 and the prior L_T
at t = T, so the per-timestep curve fills in from the right while the worker runs (it goes from t = T-1 down).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.analysis.bound import BOUND_BATCH_SIZE, BoundProgress, BoundResult
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.gui.docks.likelihood_text import LEGEND, hidden_terms_note, running_text, summary_html
from ddpm_studio.gui.style import (
    ERROR_TEXT_COLOR,
    HINT_TEXT_COLOR,
    MARKER_COLOR,
    SAMPLE_COLOR,
    SNR_COLOR,
    WrapLabel,
    fit_axis_label,
    legend_html,
)
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.redraw import RedrawThrottle

#: Held-out examples the bound averages by default (two forward-pass batches).
DEFAULT_EXAMPLES = 2 * BOUND_BATCH_SIZE
MAX_EXAMPLES = 100_000
#: Up to this T every term gets a dot, not only the line.
DOTS_UP_TO_T = 100
COMPUTE_TEXT = "Compute bound"
CANCEL_TEXT = "Cancel"
IDLE_HINT = "Press “Compute bound” to evaluate every term of the bound on held-out data."

PipelineProvider = Callable[[], DiffusionPipeline | None]
DataProvider = Callable[[], torch.Tensor | None]


class LikelihoodDock(QDockWidget):
    """``likelihoodPlot`` of the per-timestep terms of the bound, a running total, and the final split."""

    message = Signal(str)
    failed = Signal(str)
    boundComputed = Signal(object)  # BoundResult
    computeRequested = Signal(object, object)  # DiffusionPipeline, x0 (N, *data_shape) CPU float32 copy
    cancelRequested = Signal()
    forgetRequested = Signal()  # a new model: stop the computation and ignore what it still sends
    shutdownRequested = Signal()  # the window closes: stop and join

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Likelihood", parent)
        self.setObjectName("likelihoodDock")
        self._pipeline_provider: PipelineProvider | None = None
        self._data_provider: DataProvider | None = None
        self._running = self._stopping = False  # as the presenter reports them
        self._busy = False
        self._terms = np.full(0, np.nan)
        self._prior = math.nan
        self._partial = math.nan
        self._done = 0
        self._unit = ""
        self._step: int | None = None
        self.result: BoundResult | None = None

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        controls = QHBoxLayout()
        self.computeBoundButton = QPushButton(COMPUTE_TEXT, objectName="computeBoundButton")
        self.computeBoundButton.setToolTip(
            "Evaluate L_T, every L_{t-1} and L_0 on held-out data with the EMA "
            "weights (T forward passes per batch of 256 examples)."
        )
        controls.addWidget(self.computeBoundButton)
        controls.addWidget(QLabel("examples"))
        self.boundExamplesSpin = QSpinBox(objectName="boundExamplesSpin")
        self.boundExamplesSpin.setRange(1, MAX_EXAMPLES)
        self.boundExamplesSpin.setValue(DEFAULT_EXAMPLES)
        self.boundExamplesSpin.setToolTip(
            "Held-out examples to average (all of them if the held-out set is "
            "smaller); the standard error shrinks as 1/√N."
        )
        controls.addWidget(self.boundExamplesSpin)
        self.boundLogYCheck = QCheckBox("log y", objectName="boundLogYCheck")
        self.boundLogYCheck.setChecked(True)
        controls.addWidget(self.boundLogYCheck)
        self.boundProgressBar = QProgressBar(objectName="boundProgressBar")
        self.boundProgressBar.setRange(0, 1)
        self.boundProgressBar.setValue(0)
        self.boundProgressBar.setFormat("%v / %m")  # short: "timesteps" made the text wrap in a narrow bar
        self.boundProgressBar.setToolTip("Timesteps done / T")
        controls.addWidget(self.boundProgressBar, 1)
        layout.addLayout(controls)

        # the legend sits above the plot: inside it would cover the curve, which fills the view as t runs
        legend = WrapLabel(legend_html(LEGEND), objectName="boundLegendLabel")
        legend.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(legend)
        # a "(x0.001)" on a log axis misleads, and a crowded decade's labels overlap: the tidy axis has neither
        self.likelihoodPlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.likelihoodPlot.setObjectName("likelihoodPlot")
        self.likelihoodPlot.setLabel("bottom", "timestep t")
        self._label_axis(None)
        self.likelihoodPlot.showGrid(x=True, y=True, alpha=0.2)
        self.likelihoodPlot.setLogMode(y=True)
        self.termsCurve = self.likelihoodPlot.plot(pen=pg.mkPen(SAMPLE_COLOR, width=2), connect="finite",
                                                   symbolSize=5, symbolBrush=pg.mkBrush(SAMPLE_COLOR), symbolPen=None)
        self.decoderPoint = self.likelihoodPlot.plot(
            pen=None, symbol="s", symbolSize=9, symbolBrush=pg.mkBrush(SNR_COLOR), symbolPen=None
        )
        self.priorPoint = self.likelihoodPlot.plot(
            pen=None, symbol="d", symbolSize=11, symbolBrush=pg.mkBrush(MARKER_COLOR), symbolPen=None
        )
        layout.addWidget(self.likelihoodPlot, 1)

        self.boundRunningLabel = WrapLabel(objectName="boundRunningLabel")
        self.boundRunningLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        layout.addWidget(self.boundRunningLabel)
        self.boundSummaryLabel = WrapLabel(objectName="boundSummaryLabel")
        self.boundSummaryLabel.setTextFormat(Qt.TextFormat.RichText)
        self.boundSummaryLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.boundSummaryLabel.setWordWrap(True)
        layout.addWidget(self.boundSummaryLabel)
        self.setWidget(body)

        self._throttle = RedrawThrottle(self._redraw, self)
        self.computeBoundButton.clicked.connect(self._toggle)
        self.boundLogYCheck.toggled.connect(self._set_log)
        self._show_summary(IDLE_HINT)
        self._update_controls()

    # ------------------------------------------------------------------ public API
    @property
    def running(self) -> bool:
        return self._running

    def set_source(self, pipeline_provider: PipelineProvider | None, data_provider: DataProvider | None) -> None:
        """Where the model and the held-out data come from (see the module docstring); None disables the dock."""
        self._pipeline_provider = pipeline_provider
        self._data_provider = data_provider
        self._update_controls()

    def set_busy(self, busy: bool, reason: str = "") -> None:
        """Disable computing (e.g. while training changes the weights); cancels a computation in progress."""
        self._busy = busy
        if busy and self._running:
            self.cancel()
        self.computeBoundButton.setToolTip(reason if busy and reason else self._button_tip())
        self._update_controls()

    def compute(self) -> None:
        """Start computing the bound with the providers' current model and data; a message says why not."""
        if self.running or self._busy:
            return
        pipeline = self._pipeline_provider() if self._pipeline_provider is not None else None
        if pipeline is None:
            self._refuse("No trained model yet: train a model or open a run first.")
            return
        data = self._data_provider() if self._data_provider is not None else None
        if data is None or data.shape[0] == 0:
            self._refuse("No held-out data: open the run together with the data it was trained on.")
            return
        if tuple(data.shape[1:]) != tuple(pipeline.data_shape):
            self._refuse(
                f"The held-out data has items of shape {tuple(data.shape[1:])}, the model expects "
                f"{tuple(pipeline.data_shape)}: open the run with the data it was trained on."
            )
            return
        x0 = data[: self.boundExamplesSpin.value()].detach().to("cpu", torch.float32, copy=True)
        self._start(pipeline, x0)

    def cancel(self) -> None:
        """Ask the worker to stop after the timestep it is on; the terms done so far stay on the plot."""
        if self._running and not self._stopping:
            self._stopping = True
            self.cancelRequested.emit()
            self._update_controls()
            self.message.emit("Cancelling the bound after the current timestep…")

    def shutdown(self) -> None:
        """Cancel and wait until the job has ended (the window is closing)."""
        self.shutdownRequested.emit()

    def clear(self) -> None:
        """Forget the plotted terms and the summary (e.g. a new model); a running computation is cancelled and
        whatever it still hands over is ignored, so no stale term of the old model stays on the plot."""
        if self._running:
            self.forgetRequested.emit()
            self._running = self._stopping = False
            self._update_controls()
        self._terms = np.full(0, np.nan)
        self._prior = self._partial = math.nan
        self._done = 0
        self.result = None
        self.boundProgressBar.setRange(0, 1)
        self.boundProgressBar.setValue(0)
        self.boundRunningLabel.clear()
        self.likelihoodPlot.enableAutoRange()
        self._show_summary(IDLE_HINT)
        self._throttle.flush()

    def flush(self) -> None:
        """Redraw now (before a screenshot)."""
        self._throttle.flush()

    # ------------------------------------------------------------------ the worker
    def _toggle(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.compute()

    def _refuse(self, text: str) -> None:
        self._show_summary(text, error=True)
        self.message.emit(text)

    def _start(self, pipeline: DiffusionPipeline, x0: torch.Tensor) -> None:
        T = pipeline.diffusion.num_timesteps
        self._terms = np.full(T, np.nan)
        self._prior = self._partial = math.nan
        self._done = 0
        self._unit = "bits/dim" if pipeline.kind == "images" else "nats/dim"
        self._step = pipeline.step
        self.result = None
        self.boundProgressBar.setRange(0, T)
        self.boundProgressBar.setValue(0)
        self._label_axis(self._unit)
        self.likelihoodPlot.setXRange(0, T, padding=0.02)  # the whole axis at once: the terms fill it from the right
        self._show_summary(f"Computing the bound on {x0.shape[0]:,} held-out examples, T = {T:,}…")
        self.boundRunningLabel.setText("")
        self.computeRequested.emit(pipeline, x0)  # the presenter answers with job_started or job_refused

    # ------------------------------------------------------------------ what the presenter reports
    def job_started(self) -> None:
        self._running, self._stopping = True, False
        self._update_controls()
        self._throttle.flush()
        self.message.emit(f"Computing the bound over {len(self._terms):,} timesteps…")

    def job_refused(self, text: str) -> None:
        self._refuse(text)

    def show_progress(self, records: Sequence[BoundProgress]) -> None:
        for record in records:
            if 0 <= record.t < len(self._terms):
                self._terms[record.t] = record.term
            self._done = max(self._done, record.done)
            self._partial = record.partial
        self._throttle.request()

    def show_result(self, result: BoundResult) -> None:
        self.result = result
        self._terms = np.asarray(result.terms, dtype=float)
        self._prior = result.prior
        self._partial = result.per_dim
        self._done = result.num_timesteps
        if math.isfinite(result.per_dim):
            self._show_summary(summary_html(result, self._step))
            self.message.emit(f"Bound: {result.per_dim:.4g} {result.unit} on {result.num_examples:,} examples.")
            self.boundComputed.emit(result)
        else:
            text = (
                "The bound is not finite (the network produced NaN or inf): train longer or with a lower "
                "learning rate, then compute it again."
            )
            self._show_summary(text, error=True)
            self.failed.emit(text)
        self._throttle.flush()

    def show_cancelled(self, done: int, total: int) -> None:
        self._show_summary(f"Cancelled after {done:,} of {total:,} timesteps; the terms computed so far are plotted.")
        self.message.emit("Bound computation cancelled.")
        self._throttle.flush()

    def show_failure(self, text: str) -> None:
        self._show_summary(f"The bound could not be computed: {text}", error=True)
        self.failed.emit(text)

    def job_ended(self) -> None:
        self._running = self._stopping = False
        self._update_controls()
        self._throttle.flush()

    # ------------------------------------------------------------------ display
    def _button_tip(self) -> str:
        return (
            "Cancel after the current timestep"
            if self.running
            else "Evaluate L_T, every L_{t-1} and L_0 on held-out data with the EMA weights "
            "(T forward passes per batch of 256 examples)."
        )

    def _update_controls(self) -> None:
        running = self.running
        self.computeBoundButton.setText(CANCEL_TEXT if running else COMPUTE_TEXT)
        stopping = running and self._stopping
        can_start = not self._busy and self._pipeline_provider is not None and self._data_provider is not None
        self.computeBoundButton.setEnabled(not stopping if running else can_start)
        if not self._busy:
            self.computeBoundButton.setToolTip(self._button_tip())
        self.boundExamplesSpin.setEnabled(not running)

    def _show_summary(self, text: str, error: bool = False) -> None:
        self.boundSummaryLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR};" if error else "")
        self.boundSummaryLabel.setText(text)

    def _set_log(self, on: bool) -> None:
        self.likelihoodPlot.setLogMode(y=on)
        self._throttle.flush()

    def _label_axis(self, unit: str | None) -> None:
        """"term (nats/dim)": the legend above names the terms; short, so a low plot shows the whole label."""
        self.likelihoodPlot.setLabel("left", f"term ({unit})" if unit else "term")
        fit_axis_label(self.likelihoodPlot)

    @staticmethod
    def _set_point(item: pg.PlotDataItem, t: float, value: float) -> None:
        if math.isfinite(value):
            item.setData([t], [value])
        else:
            item.setData([], [])

    def _redraw(self) -> None:
        T = len(self._terms)
        log = self.boundLogYCheck.isChecked()
        terms = self._terms.copy()
        hidden = ""
        if log:  # the log axis cannot show a term <= 0 (L_0 of 2-D points is often negative)
            hidden = hidden_terms_note(terms, self._prior)
            terms[terms <= 0] = np.nan
        t = np.arange(T, dtype=float)
        if np.isfinite(terms[1:]).any():  # NaN marks a term not computed yet (or hidden): a gap in the line
            dots = T <= DOTS_UP_TO_T
            self.termsCurve.setData(
                t[1:],
                terms[1:],
                symbol="o" if dots else None,  # size and colour were set once: the look may have scaled them
            )
        else:
            self.termsCurve.setData([], [])
        self._set_point(self.decoderPoint, 0.0, terms[0] if T else math.nan)
        self._set_point(self.priorPoint, float(T), self._prior if not (log and self._prior <= 0) else math.nan)
        self.boundProgressBar.setValue(self._done)
        if T and self._done:
            self.boundRunningLabel.setText(running_text(T, self._done, self._partial, self._unit, hidden))
