"""The tabs of the "What the network learned" dock: each a small view with its controls, fed by the runner.

- :class:`FieldView` (2-D): a heat map of ||network - ideal|| on a grid, the network's arrows (red) and the ideal
  denoiser's (black, a toggle) over it, and the trajectory's points at the slider's t (coloured by requested
  class for a conditional run, whose field is the guided one of the chosen class and w: M34, M38).
- :class:`ErrorView`: the network's mean distance to the ideal denoiser against t.
- :class:`MemorizationView` (images): each sample beside its nearest training image, the copy rate, and the
  ideal denoiser's own samples.
- :class:`DensityView` (2-D): log p_theta(x) by the probability-flow ODE as a heat map, and its held-out mean
  beside the variational bound.

No maths here: the arrays arrive computed; the views only scale arrows to the grid and lay out images.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.gui.style import (
    MARKER_COLOR,
    PREDICTION_COLOR,
    SAMPLE_COLOR,
    SteadyLabel,
    WrapLabel,
    class_brushes,
    pin_axes,
    spin_box,
)
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.sample_panel import SamplePanel

IDEAL_COLOR = (20, 20, 20)
#: The longest arrow is drawn this many grid cells long (arrows are scaled together, network and ideal alike).
ARROW_CELLS = 0.9
#: Arrow heads: two strokes this share of the arrow's length, this many degrees off its direction.
HEAD_SHARE, HEAD_ANGLE = 0.3, 25.0
#: The heat map of the difference: white (the network matches the optimum) to purple (far from it).
DIFFERENCE_MAP = pg.ColorMap([0.0, 0.5, 1.0], [(255, 255, 255), (196, 170, 225), (88, 40, 140)])
PAIR_GAP = 2
#: The density's shades span this many nats below its peak (lower values share the darkest shade).
DENSITY_SPAN = 12.0
COPY_MARK, NEW_MARK = (214, 39, 40), (215, 215, 215)


def arrow_segments(points: np.ndarray, vectors: np.ndarray, scale: float) -> np.ndarray:
    """Line pairs for ``connect='pairs'``: a shaft and two head strokes per arrow, (6 * N, 2)."""
    tips = points + scale * vectors
    back = points - tips
    angle = math.radians(HEAD_ANGLE)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    left, right = tips + HEAD_SHARE * back @ rot.T, tips + HEAD_SHARE * back @ rot
    out = np.empty((6 * len(points), 2))
    out[0::6], out[1::6], out[2::6], out[3::6], out[4::6], out[5::6] = points, tips, tips, left, tips, right
    return out


def _image_rect(bounds, shape) -> pg.QtCore.QRectF:
    """The rectangle whose pixel centres are the grid points over ``bounds``."""
    x0, x1, y0, y1 = bounds
    ny, nx = shape
    dx, dy = (x1 - x0) / (nx - 1), (y1 - y0) / (ny - 1)
    return pg.QtCore.QRectF(x0 - dx / 2, y0 - dy / 2, x1 - x0 + dx, y1 - y0 + dy)


class _HeatPlot:
    """A plot with a row-major heat map and its colour bar (used by the field and the density)."""

    def __init__(self, view: pg.GraphicsLayoutWidget, cmap: pg.ColorMap, label: str) -> None:
        self.plot = view.ci.addPlot(row=0, col=0)
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        pin_axes(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bar = pg.ColorBarItem(colorMap=cmap, interactive=False, width=12, label=label)
        self.bar.setImageItem(self.image)
        view.ci.addItem(self.bar, row=0, col=1)

    def show(self, values: np.ndarray, bounds, levels: tuple[float, float]) -> None:
        self.image.setImage(values, autoLevels=False)
        self.image.setRect(_image_rect(bounds, values.shape))
        self.bar.setLevels(levels)
        self.plot.setRange(xRange=bounds[:2], yRange=bounds[2:], padding=0.0)


def labelled_spin(row: QHBoxLayout, label: str, name: str, values: tuple[int, int, int], tip: str) -> QSpinBox:
    """A label and a spin box (minimum, maximum, value) added to ``row``."""
    spin = spin_box(name, *values, tip)
    row.addWidget(QLabel(label))
    row.addWidget(spin)
    return spin


class _RunRow(QHBoxLayout):
    """A Start/Stop button, a progress bar and the spin boxes before them."""

    def __init__(self, prefix: str, start_text: str) -> None:
        super().__init__()
        self.start_text = start_text
        self.button = QPushButton(start_text, objectName=f"{prefix}Button")
        self.progress = QProgressBar(objectName=f"{prefix}Progress")
        self.progress.setMaximumWidth(160)
        self.progress.setVisible(False)

    def finish(self) -> None:
        self.addWidget(self.button)
        self.addWidget(self.progress)
        self.addStretch(1)

    def set_running(self, running: bool) -> None:
        self.button.setText("Stop" if running else self.start_text)
        self.progress.setVisible(running)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)


Spin = tuple[str, str, tuple[int, int, int], str]  # label, objectName, (minimum, maximum, value), tooltip


class _RunView(QWidget):
    """A tab with a run row (two spin boxes, a Start/Stop button, progress) above its view.

    Signals:
        requested(int, int): the button was pressed with the two spin boxes' values.
    """

    requested = Signal(int, int)

    def __init__(self, name: str, start_text: str, first: Spin, second: Spin) -> None:
        super().__init__(objectName=f"{name}Tab")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(2, 2, 2, 2)
        self.run = _RunRow(name, start_text)
        self.first, self.second = (labelled_spin(self.run, *spin) for spin in (first, second))
        self.run.finish()
        self.body.addLayout(self.run)
        self.run.button.clicked.connect(lambda: self.requested.emit(self.first.value(), self.second.value()))


class FieldView(QWidget):
    """Network and ideal arrows over the heat map of their difference, with the trajectory's points."""

    settingsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="fieldTab")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.quantityCombo = QComboBox(objectName="fieldQuantityCombo")
        self.quantityCombo.addItem("arrows: x̂₀ − x", "x0")
        self.quantityCombo.addItem("arrows: score ∇log q_t", "score")
        self.quantityCombo.setToolTip("x̂₀ − x: where each denoiser would move a point; the score: Tweedie's "
                                      "(√ᾱ x̂₀ − x) / (1 − ᾱ), which grows as t falls.")
        row.addWidget(self.quantityCombo)
        self.idealCheck = QCheckBox("ideal arrows", objectName="fieldIdealCheck")
        self.idealCheck.setChecked(True)
        self.idealCheck.setToolTip("Also draw the ideal denoiser's arrows (black): the exact optimum for the "
                                   "training points (MATH.md M30).")
        row.addWidget(self.idealCheck)
        self.sizeSpin = labelled_spin(row, "grid", "fieldSizeSpin", (6, 64, 20), "Arrows per side.")
        row.addStretch(1)
        layout.addLayout(row)
        self.fieldPlot = pg.GraphicsLayoutWidget()
        self.fieldPlot.setObjectName("fieldPlot")
        self.heat = _HeatPlot(self.fieldPlot, DIFFERENCE_MAP, "‖network − ideal‖")
        self.networkArrows = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(PREDICTION_COLOR, width=1.4))
        self.idealArrows = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(IDEAL_COLOR, width=1.0))
        self.points = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*SAMPLE_COLOR, 110))
        for item in (self.idealArrows, self.networkArrows, self.points):
            self.heat.plot.addItem(item)
        layout.addWidget(self.fieldPlot, 1)
        self.fieldLabel = SteadyLabel("Switch on “Field” in the Trajectory dock, then scrub its slider.",
                                      objectName="fieldLabel", lines=2)
        self.fieldPlot.setToolTip("A class-conditional run shows the guided field of the Trajectory dock's class and "
                                  "w: the network's (1 + w) ε(x, c) − w ε(x, ∅) (M34) beside the ideal denoiser's, "
                                  "of the class's and of all training points, combined alike (M38).")
        layout.addWidget(self.fieldLabel)
        self.shown = None
        self.quantityCombo.currentIndexChanged.connect(self.settingsChanged)
        self.sizeSpin.valueChanged.connect(self.settingsChanged)
        self.idealCheck.toggled.connect(lambda on: self.idealArrows.setVisible(on))

    def show_field(self, field) -> None:
        """A :class:`~ddpm_studio.gui.presenters.learned.FieldDisplay`: heat map, arrows (one scale for both)."""
        self.shown = field
        n = field.difference.shape[0]
        cell = (field.bounds[1] - field.bounds[0]) / (n - 1)
        longest = max(float(np.linalg.norm(field.network, axis=1).max()),
                      float(np.linalg.norm(field.ideal, axis=1).max()), 1e-12)
        scale = ARROW_CELLS * cell / longest
        top = float(field.difference.max())
        self.heat.show(field.difference, field.bounds, (0.0, top if top > 0 else 1.0))
        self.networkArrows.setData(arrow_segments(field.points, field.network, scale))
        self.idealArrows.setData(arrow_segments(field.points, field.ideal, scale))
        what = "x̂₀ − x" if field.quantity == "x0" else "score"
        caption, title = guide_caption(field.request)
        self.heat.plot.setTitle(title, size="8pt")
        self.fieldLabel.setText(f"{caption}t = {field.t + 1:,} · {what}: network red, ideal black (×{scale:.2g}) · "
                                f"shade: their distance, max {top:.3g}")

    def show_points(self, points: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """Points (N, 2); with ``labels`` (N,) each coloured by the class it was asked for."""
        if points is None:
            self.points.setData(pos=np.zeros((0, 2)))
            return
        keep = np.isfinite(points).all(axis=1)
        if labels is not None and len(labels) == len(points):
            self.points.setData(pos=points[keep], brush=class_brushes(labels[keep], alpha=150))
        else:
            self.points.setData(pos=points[keep], brush=pg.mkBrush(*SAMPLE_COLOR, 110))


def guide_caption(request) -> tuple[str, str | None]:
    """(the caption's first words, the plot's title) for a field (a :class:`~ddpm_studio.gui.presenters.learned.
    FieldRequest`): which class and w a conditional run's arrows are guided by, or that "all" is the unguided
    field; ("", None) for an unconditional run."""
    if not request.conditional:
        return "", None
    if request.label is None:
        return "All classes, unguided: the null class ε(x, ∅), w unused · ", "unconditional field (all classes)"
    # short: a long title widens the aspect-locked plot's box; what guidance is: MATH.md M34, M38, the tooltip
    return (f"Class {request.class_name}, w = {request.guidance:.2f} · ",
            f"guided to {request.class_name}, w = {request.guidance:g}")


class ErrorView(_RunView):
    """The network-to-ideal mean distance against t, with the trajectory's t marked."""

    def __init__(self) -> None:
        super().__init__("error", "Measure",
                         ("timesteps", "errorCountSpin", (2, 200, 20), "Timesteps spread over 1..T."),
                         ("examples", "errorProbeSpin", (1, 10_000, 256),
                          "Training examples noised by q(x_t | x_0) at each t."))
        self.countSpin, self.probeSpin = self.first, self.second
        layout = self.body
        self.errorPlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.errorPlot.setObjectName("errorPlot")
        self.errorPlot.setLabel("bottom", "t")
        self.errorPlot.setLabel("left", "E‖x̂₀ − x̂₀*‖")
        self.curve = self.errorPlot.plot([], [], pen=pg.mkPen(PREDICTION_COLOR, width=2), symbol="o",
                                         symbolSize=5, symbolBrush=PREDICTION_COLOR)
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(MARKER_COLOR, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        self.errorPlot.addItem(self.marker, ignoreBounds=True)
        layout.addWidget(self.errorPlot, 1)
        self.errorLabel = SteadyLabel("How far the network's x̂₀ lies from the ideal denoiser's, on noised "
                                      "training examples: press Measure.", objectName="errorLabel")
        layout.addWidget(self.errorLabel)
        self.values: dict[int, float] = {}

    def begin(self) -> None:
        self.values = {}
        self.curve.setData([], [])

    def add_point(self, t: int, error: float) -> None:
        self.values[t] = error
        ts = sorted(self.values)
        self.curve.setData(ts, [self.values[k] for k in ts])
        worst = max(self.values, key=self.values.get)
        self.errorLabel.setText(f"{len(ts)} timesteps: largest distance {self.values[worst]:.3g} at t = {worst:,}, "
                                f"smallest {min(self.values.values()):.3g} (model space)")

    def mark(self, t: int) -> None:
        self.marker.setVisible(t >= 0)
        if t >= 0:
            self.marker.setValue(t)


class MemorizationView(_RunView):
    """Samples beside their nearest training images (copies framed red), and the ideal denoiser's samples."""

    def __init__(self) -> None:
        super().__init__("memorization", "Draw and compare",
                         ("samples", "memorizationCountSpin", (2, 256, 16), "Samples to draw."),
                         ("steps", "memorizationStepsSpin", (1, 1000, 100),
                          "Network evaluations per sample (respaced ancestral sampling)."))
        self.countSpin, self.stepsSpin = self.first, self.second
        layout = self.body
        self.memorizationView = pg.GraphicsLayoutWidget()
        self.memorizationView.setObjectName("memorizationView")
        self.pairs = SamplePanel(self.memorizationView.ci.addPlot(row=0, col=0), SAMPLE_COLOR)
        self.ideal = SamplePanel(self.memorizationView.ci.addPlot(row=0, col=1), SAMPLE_COLOR)
        self.pairs.plot.setTitle("sample | nearest training image", size="8pt")
        self.ideal.plot.setTitle("ideal denoiser", size="8pt")
        for panel, width in ((self.pairs, 2000), (self.ideal, 900)):
            panel.axes_allowed = False
            panel.set_kind("images")
            panel.plot.setPreferredWidth(width)
        layout.addWidget(self.memorizationView, 1)
        self.copyRateLabel = WrapLabel("Draw samples and find each one's nearest training image.",
                                       objectName="copyRateLabel")
        layout.addWidget(self.copyRateLabel)
        self.num_pairs = 0

    def show_result(self, result) -> None:
        """A :class:`~ddpm_studio.gui.presenters.learned.MemorizationDisplay`."""
        samples, nearest = result.samples, result.nearest
        if samples.shape[-1] == 1:
            samples, nearest = np.repeat(samples, 3, axis=-1), np.repeat(nearest, 3, axis=-1)
        count, height = samples.shape[0], samples.shape[1]
        gap = np.empty((count, height, PAIR_GAP, 3), dtype=np.uint8)
        gap[:] = np.where(result.copies[:, None, None, None], COPY_MARK, NEW_MARK)
        self.pairs.show_images(np.concatenate([samples, gap, nearest], axis=2))
        self.ideal.show_images(result.ideal)
        self.num_pairs = count
        copies = int(result.copies.sum())
        self.copyRateLabel.setText(
            f"Copy rate {100 * result.copy_rate:.0f} % ({copies} of {count} samples, red bar: nearest training "
            f"image closer than {result.ratio:.2g} × the second nearest, MATH.md M31) · median d₁/d₂ "
            f"{result.nn_ratio_median:.2f} · {result.num_train:,} training images · the ideal denoiser copies "
            f"{100 * result.ideal_copy_rate:.0f} %: what a perfect fit of the training objective draws")


class DensityView(_RunView):
    """log p_theta(x) on a grid and, on held-out points, the ODE's -log p beside the bound."""

    def __init__(self) -> None:
        super().__init__("density", "Compute", ("grid", "densitySizeSpin", (8, 128, 40), "Grid points per side."),
                         ("ODE levels", "densityLevelsSpin", (2, 100_000, 100),
                          "Trained noise levels the ODE solver visits (2K − 1 network evaluations; at most T)."))
        self.sizeSpin, self.levelsSpin = self.first, self.second
        layout = self.body
        self.densityPlot = pg.GraphicsLayoutWidget()
        self.densityPlot.setObjectName("densityPlot")
        self.heat = _HeatPlot(self.densityPlot, pg.colormap.get("viridis"), "log p(x)")
        self.heldout = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(255, 255, 255, 150))
        self.heat.plot.addItem(self.heldout)
        layout.addWidget(self.densityPlot, 1)
        self.densityLabel = WrapLabel("The exact log-density of the probability-flow ODE (MATH.md M32) on a grid, "
                                      "and on held-out points beside the bound: press Compute.",
                                      objectName="densityLabel")
        layout.addWidget(self.densityLabel)

    def show_result(self, result) -> None:
        """A :class:`~ddpm_studio.gui.presenters.learned.DensityDisplay`."""
        log_p = result.log_p
        finite = log_p[np.isfinite(log_p)]
        high = float(finite.max()) if finite.size else 0.0
        low = high - DENSITY_SPAN  # far from the data log p falls by thousands of nats: the shades go to the shape
        self.heat.show(np.clip(np.nan_to_num(log_p, nan=low, neginf=low), low, None), result.bounds, (low, high))
        self.heldout.setData(pos=result.heldout)
        gap = result.bound_nats_per_dim - result.ode_nats_per_dim
        note = ("the bound sits above, as it must for the chain" if gap >= 0 else
                "the ODE's flow is not the chain the bound bounds, so it may sit below (MATH.md M32)")
        if result.ode_error is None:  # too few levels to halve (K < 4)
            solver = f"no solver error bar at K = {result.ode_levels}"
        else:  # a solver error, not a sampling one: say which, and that it is conservative (M32)
            solver = (f"± {result.ode_error:.2g} (solver: K = {result.ode_levels} against {result.ode_levels // 2} "
                      f"levels, ≈ 3× the K error once converged)")
        self.densityLabel.setText(
            f"Held-out ({len(result.heldout)} points): ODE −log p {result.ode_nats_per_dim:.4g} nats/dim {solver} · "
            f"bound {result.bound_nats_per_dim:.4g} ± {result.bound_stderr:.2g} · gap {gap:+.3g} nats/dim: {note}. "
            f"Shades: the top {DENSITY_SPAN:g} nats of log p; white dots: the held-out points")
