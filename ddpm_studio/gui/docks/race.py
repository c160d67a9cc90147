"""The Race dock: 2-4 samplers from the same x_T, side by side, scrubbed together by noise level.

Each lane shows its state x_t (top) and its x0_hat (bottom); one slider (``raceSlider``) moves every lane to the
same noise level (log SNR), not the same step, since the lanes' timestep grids differ. A small plot draws each
lane's RMS distance to the reference (DDIM on every trained timestep from the same x_T) against the network
evaluations spent, and the scores line gives each lane's final quality. The race itself runs in the core
(:mod:`ddpm_studio.core.analysis.race`) on a worker; this dock only shows what it yields.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.analysis.race import Runner, check_race, latest_at
from ddpm_studio.core.analysis.race_spread import SPREAD_KEY, ranking
from ddpm_studio.core.sampling import METHODS, max_num_steps
from ddpm_studio.gui.style import PREDICTION_COLOR, SAMPLE_COLOR, SteadyLabel, spin_box
from ddpm_studio.gui.trajectory_store import scatter_bounds
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.race_lanes import RaceLanes
from ddpm_studio.gui.widgets.redraw import RedrawThrottle
from ddpm_studio.gui.widgets.sample_panel import SamplePanel

LANE_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))
SLIDER_TICKS = 1000
PANEL_MIN_SIZE = 60
RACE_VIEW_MIN_HEIGHT = 140
TITLED_VIEW_MIN = 40
TITLE_SIZE = "8pt"
#: A lane's title (its name, then its final scores, one a line) a size smaller: four lanes side by side in a
#: 1280-pixel window leave each about 85 pixels, which "dpmpp_2m (karras)" at 8 pt overflows into the next.
LANE_TITLE_SIZE = "7pt"
PANEL_PREFERRED_WIDTH = 2000
#: The scores the lanes' line shows (the rest stay in the tooltip): a distance and a share off the data.
SHOWN_SCORES = ("score", "off_support", "confidence", "coverage")
IDLE_TEXT = "pick 2-4 samplers and a budget, then Race"
ALL_LANES = "all lanes"


class RaceDock(QDockWidget):
    """Lane choices, the lanes' panels, the shared noise-level slider and the distance plot.

    Signals:
        raceRequested(object, int, int): the Race button was pressed: (list of Runner, NFE, number of samples).
        stopRequested: the Stop button was pressed.
    """

    raceRequested = Signal(object, int, int)
    stopRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Race", parent)
        self.setObjectName("raceDock")
        self._num_timesteps = 1000
        self._kind = "points"
        self._process = "ddpm"  # the model's process: its samplers fill the lanes' combos
        self._frames: list[list] = []
        self._labels: list[str] = []
        self._titles: list[str] = []
        self._reference: np.ndarray | None = None
        self._bounds: tuple[float, float, float, float] | None = None
        self._level_range = (0.0, 0.0)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        # the lanes' samplers, grids and runs (gui/widgets/race_lanes.py); their combos keep their names here
        self.lanes = RaceLanes()
        self.lanes.changed.connect(self._check)
        self.methodCombos = self.lanes.methodCombos
        self.spacingCombos = self.lanes.spacingCombos
        self.runCombos = self.lanes.runCombos
        layout.addWidget(self.lanes)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Network evaluations"))
        self.nfeSpin = spin_box("raceNfeSpin", 1, 1999, 20,
                                "Every lane spends exactly this many network evaluations (a fair race).")
        self.nfeSpin.valueChanged.connect(self._check)
        controls.addWidget(self.nfeSpin)
        controls.addWidget(QLabel("Samples"))
        self.samplesSpin = QSpinBox(objectName="raceSamplesSpin")
        self.samplesSpin.setRange(1, 20_000)
        self.samplesSpin.setValue(1000)
        controls.addWidget(self.samplesSpin)
        self.startButton = QPushButton("Race", objectName="raceStartButton")
        self.startButton.clicked.connect(self._start)
        controls.addWidget(self.startButton)
        self.stopButton = QPushButton("Stop", objectName="raceStopButton")
        self.stopButton.setEnabled(False)
        self.stopButton.clicked.connect(self.stopRequested)
        controls.addWidget(self.stopButton)
        controls.addStretch(1)
        layout.addLayout(controls)

        self.raceView = pg.GraphicsLayoutWidget()
        self.raceView.setObjectName("raceView")
        self.raceView.setMinimumHeight(RACE_VIEW_MIN_HEIGHT)
        middle = QHBoxLayout()
        middle.addWidget(self.raceView, 3)  # the distance plot sits beside the lanes: height is the scarce side
        layout.addLayout(middle, 1)
        self._panels: list[tuple[SamplePanel, SamplePanel]] = []

        scrub = QHBoxLayout()
        scrub.addWidget(QLabel("noisy"))
        self.raceSlider = QSlider(Qt.Orientation.Horizontal, objectName="raceSlider")
        self.raceSlider.setRange(0, SLIDER_TICKS)
        self.raceSlider.setValue(SLIDER_TICKS)
        self.raceSlider.setToolTip("One noise level for every lane (log SNR): each shows its last state at or "
                                   "below it. Right end: the samples.")
        self.raceSlider.valueChanged.connect(lambda _value: self._throttle.request())
        scrub.addWidget(self.raceSlider, 1)
        scrub.addWidget(QLabel("clean"))
        self.levelLabel = SteadyLabel(IDLE_TEXT, objectName="raceLevelLabel")
        scrub.addWidget(self.levelLabel, 1)
        # one lane as large as the view (also: double-click a lane); the distance plot's room to the lanes
        self.laneCombo = QComboBox(objectName="raceLaneCombo")
        self.laneCombo.addItem(ALL_LANES, None)
        self.laneCombo.setToolTip("Show one lane as large as the view (or double-click a lane; again for all).")
        self.laneCombo.currentIndexChanged.connect(lambda _index: self._lay_out_lanes())
        scrub.addWidget(self.laneCombo)
        self.distanceCheck = QCheckBox("distances", objectName="raceDistanceCheck", checked=True)
        self.distanceCheck.setToolTip("The x̂₀-to-reference plot beside the lanes; off, the lanes take its room.")
        scrub.addWidget(self.distanceCheck)
        layout.addLayout(scrub)

        self.distancePlot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.distancePlot.setObjectName("raceDistancePlot")
        self.distancePlot.setLabel("bottom", "network evaluations")
        self.distancePlot.setLabel("left", "x̂₀ to reference (RMS)")
        self.distancePlot.setLogMode(y=True)
        self.distancePlot.setMinimumWidth(220)
        # curves start high on the left and fall to the right: the lower left corner stays free for the legend
        self._legend = self.distancePlot.addLegend(offset=(10, -10))
        self._curves: list[pg.PlotDataItem] = []
        middle.addWidget(self.distancePlot, 1)

        self.distanceCheck.toggled.connect(self.distancePlot.setVisible)
        self.raceView.scene().sigMouseClicked.connect(self._clicked)

        self.scoresLabel = SteadyLabel("", objectName="raceScoresLabel", lines=2)
        layout.addWidget(self.scoresLabel)
        self.messageLabel = SteadyLabel("", objectName="raceMessageLabel")
        layout.addWidget(self.messageLabel)
        self.setWidget(body)
        self._throttle = RedrawThrottle(self._redraw, self)
        self._running = False
        self._available = False
        self._check()

    # ------------------------------------------------------------------ settings
    def runners(self) -> list[Runner]:
        """The lanes switched on, in order (a lane of an added run carries its pipeline)."""
        return self.lanes.runners()

    def configure(self, kind: str, num_timesteps: int, process: str = "ddpm") -> None:
        """Limits and defaults for a model: 1000 points or 16 images, NFE up to what Heun can use; a flow model
        (``process`` "flow") races the flow's samplers (Euler, Heun, midpoint, DPM-Solver++) on its time grids."""
        self._num_timesteps = num_timesteps
        self._kind = kind
        if process != self._process:
            self._process = process
            self.lanes.set_own_process(process == "flow")
        top = 1000 if process == "flow" else max(max_num_steps(m, num_timesteps) for m in METHODS)
        self.nfeSpin.setMaximum(top)
        self.samplesSpin.setValue(16 if kind == "images" else 1000)
        self._check()

    def set_available(self, available: bool) -> None:
        """Whether a model exists to race (and nothing else holds the machine)."""
        self._available = available
        self._check()

    def set_running(self, running: bool) -> None:
        self._running = running
        self.lanes.set_running(running)
        for widget in (self.nfeSpin, self.samplesSpin):
            widget.setEnabled(not running)
        self.stopButton.setEnabled(running)
        self._check()

    def problem(self) -> str | None:
        """Why the chosen race cannot run, in words, or None."""
        runners = self.runners()
        try:
            check_race(runners, self.nfeSpin.value(), self._num_timesteps, self._process == "flow")
        except ValueError as exc:
            return str(exc)
        return None

    def _check(self, *_args) -> None:
        problem = self.problem()
        self.startButton.setEnabled(self._available and not self._running and problem is None)
        if problem is not None:
            self.messageLabel.setText(f"Cannot race: {problem}.")
        elif not self._available and not self._running:  # while racing the race itself holds the model
            self.messageLabel.setText("Train a model or open a run to race its samplers.")
        else:
            self.messageLabel.setText("")

    def _start(self) -> None:
        if self.problem() is None:
            self.raceRequested.emit(self.runners(), self.nfeSpin.value(), self.samplesSpin.value())

    # ------------------------------------------------------------------ events in
    def begin(self, runners: list[Runner], kind: str, reference: np.ndarray | None) -> None:
        """A new race: one column of panels per lane, empty curves, the training data behind 2-D panels.

        2-D panels frame the data and, once every lane's first state (the noisiest) has arrived, that too:
        the box only grows once, at the start, so scrubbing never makes the view jump.
        """
        self._kind = kind
        self._labels = [r.label for r in runners]
        # a lane's title: the method, its spacing on the next line ("dpmpp_2m (karras)" on one line overflows a
        # quarter of the room four lanes share in a 1280-pixel window)
        self._titles = [f"{r.method}<br>({r.spacing})" for r in runners]
        self._frames = [[] for _ in runners]
        self._reference = reference
        self._bounds = scatter_bounds(reference) if kind == "points" else None
        self._level_range = (0.0, 0.0)
        self.raceView.clear()
        self._panels = []
        for title in self._titles:
            top = SamplePanel(pg.PlotItem(), SAMPLE_COLOR)
            top.set_title(title, LANE_TITLE_SIZE)
            bottom = SamplePanel(pg.PlotItem(), PREDICTION_COLOR)
            for panel in (top, bottom):
                # equal size hints, not the titles' widths, make equal columns that share one scale
                panel.plot.setMinimumSize(PANEL_MIN_SIZE, PANEL_MIN_SIZE)
                panel.plot.setPreferredWidth(PANEL_PREFERRED_WIDTH)
                panel.axes_allowed = False
                panel.set_kind(kind)
                if self._bounds is not None:
                    panel.set_reference(reference, self._bounds)
            self._panels.append((top, bottom))
        self.laneCombo.blockSignals(True)
        self.laneCombo.clear()
        self.laneCombo.addItem(ALL_LANES, None)
        for lane, label in enumerate(self._labels):
            self.laneCombo.addItem(f"only {label}", lane)
        self.laneCombo.blockSignals(False)
        self._lay_out_lanes()
        self.distancePlot.clear()
        self._legend.clear()
        self._curves = []
        for lane, label in enumerate(self._labels):
            pen = pg.mkPen(LANE_COLORS[lane % len(LANE_COLORS)], width=2)
            curve = self.distancePlot.plot([], [], pen=pen, symbol="o", symbolSize=4,
                                           symbolBrush=LANE_COLORS[lane % len(LANE_COLORS)], name=label)
            self._curves.append(curve)
        self.scoresLabel.setText("")
        self.levelLabel.setText("computing the reference…")
        self.raceSlider.setValue(SLIDER_TICKS)

    # ------------------------------------------------------------------ lanes' room
    @property
    def enlarged(self) -> int | None:
        """The lane shown alone, or None when every lane is."""
        return self.laneCombo.currentData()

    def enlarge(self, lane: int | None) -> None:
        """Show only ``lane`` (as large as the view), or every lane (None)."""
        index = self.laneCombo.findData(lane) if lane is not None else 0
        self.laneCombo.setCurrentIndex(max(0, index))

    def _lay_out_lanes(self) -> None:
        """The lanes' columns in the view: every lane, or the enlarged one; the rows' names at the right."""
        view = self.raceView.ci
        view.clear()
        shown = [self.enlarged] if self.enlarged is not None else list(range(len(self._panels)))
        for column, lane in enumerate(shown):
            top, bottom = self._panels[lane]
            view.addItem(top.plot, row=0, col=column)
            view.addItem(bottom.plot, row=1, col=column)
        if shown:  # the rows' meaning, once, at the right: x_t above, x0_hat below
            view.addLabel("x_t", row=0, col=len(shown), angle=90, size=TITLE_SIZE)
            view.addLabel("x̂₀", row=1, col=len(shown), angle=90, size=TITLE_SIZE)
        for top, bottom in self._panels:  # image grids fit their new size
            for panel in (top, bottom):
                if panel.kind == "images":
                    panel.plot.enableAutoRange()
        self._throttle.request()

    def _clicked(self, event) -> None:
        """A double-click on a lane shows it alone; on the lone lane, every lane again."""
        if not event.double() or event.button() != Qt.MouseButton.LeftButton:
            return
        if self.enlarged is not None:
            self.enlarge(None)
            return
        for lane, (top, bottom) in enumerate(self._panels):
            if top.plot.sceneBoundingRect().contains(event.scenePos()) or \
                    bottom.plot.sceneBoundingRect().contains(event.scenePos()):
                self.enlarge(lane)
                return

    def reference_progress(self, done: int, total: int) -> None:
        self.levelLabel.setText(f"reference (DDIM on every timestep): {done} / {total}")

    def add_frame(self, frame) -> None:
        """One lane's evaluation (a display frame from the worker: lane, nfe, log_snr, x, x0_hat, distance)."""
        self._frames[frame.lane].append(frame)
        if self._kind == "points" and frame.nfe == 1:
            firsts = [lane[0].x for lane in self._frames if lane]
            if len(firsts) == len(self._frames):  # every lane's noisiest state is in: frame them all once
                self._bounds = scatter_bounds(self._reference, *firsts)
                for top, bottom in self._panels:
                    for panel in (top, bottom):
                        panel.set_reference(self._reference, self._bounds)
        # the slider starts where every lane has a state (the least noisy of the lanes' first levels)
        started = [lane[0].log_snr for lane in self._frames if lane and math.isfinite(lane[0].log_snr)]
        finite = [f.log_snr for lane in self._frames for f in lane if math.isfinite(f.log_snr)]
        if finite and len(started) == len(self._frames):
            self._level_range = (max(started), max(finite))
        lane = self._frames[frame.lane]
        self._curves[frame.lane].setData([f.nfe for f in lane], [max(f.distance, 1e-12) for f in lane])
        self._throttle.request()

    def finish(self, scores: list[dict[str, float]], stopped: bool) -> None:
        """Each lane's final scores go under its title (compact: the dock must fit a 768-pixel screen); the
        line below gives what held-out data scores, the floor to read them against."""
        details = []
        for lane, (label, title, score) in enumerate(zip(self._labels, self._titles, scores)):
            if not score:
                continue
            # one score a line: four lanes side by side leave each title about a quarter of the dock's width
            shown = "<br>".join(self._format(k, score[k], score.get(SPREAD_KEY, math.nan) if k == "score" else math.nan)
                                for k in SHOWN_SCORES if k in score)
            self._panels[lane][0].set_title(f"{title}<br>{shown}", LANE_TITLE_SIZE)
            details.append(f"{label}: " + ", ".join(self._format(k, v) for k, v in score.items() if k != SPREAD_KEY))
        self._fit_title_rows()
        floors = next((s for s in scores if s), {})
        floor = " · ".join(self._format(k, floors[_floor_key(k)]) for k in SHOWN_SCORES if _floor_key(k) in floors)
        text = f"Final scores under each lane's title; held-out data scores {floor}." if floor else ""
        if floor:
            text += " " + ranking_text(self._labels, scores)
        self.scoresLabel.setText(("Stopped. " if stopped else "") + text)
        self.scoresLabel.setToolTip("\n".join([text, *details]))
        self._throttle.request()

    def _fit_title_rows(self) -> None:
        """Once the titles hold scores: every lane's x_t view as tall as its x0_hat view, at least TITLED_VIEW_MIN
        pixels each below titles of any number of lines, and the view tall enough to hold both rows. A title must
        never squeeze its panel to nothing; at 1280 x 720 the window must still fit the screen."""
        for top, bottom in self._panels:
            title = top.plot.layout.rowMinimumHeight(0)
            # equal minimums and equal preferred heights past the title: the rows grow alike, the views match
            top.plot.setMinimumHeight(TITLED_VIEW_MIN + title)
            top.plot.setPreferredHeight(PANEL_PREFERRED_WIDTH + title)
            bottom.plot.setMinimumHeight(TITLED_VIEW_MIN)
            bottom.plot.setPreferredHeight(PANEL_PREFERRED_WIDTH)
        # the rows' minimums plus the layout's own margins and spacing: a shorter view would clip the lower row
        layout_min = self.raceView.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).height()
        frame = 2 * self.raceView.frameWidth()
        self.raceView.setMinimumHeight(max(RACE_VIEW_MIN_HEIGHT, math.ceil(layout_min) + frame))

    def _format(self, name: str, value: float, spread: float = math.nan) -> str:
        spread_text = f" ± {spread:.2g}" if math.isfinite(spread) else ""
        if name in ("off_support", "far_off", "nonfinite", "coverage"):
            return f"{name.replace('_', '-')} {100 * value:.1f} %"
        if name == "score":  # the sliced Wasserstein distance for points, the feature Fréchet distance for images
            # 1234, not 1.23e+03: an early model's distances run to thousands, and the title's room is narrow
            shown = f"{value:.0f}" if 1000 <= abs(value) < 1e6 else f"{value:.3g}"
            return f"{'Fréchet' if self._kind == 'images' else 'SW'} {shown}{spread_text}"
        return f"{name} {value:.3g}"

    # ------------------------------------------------------------------ drawing
    def level(self) -> float:
        """The slider's log SNR; the right end is +inf (every lane's samples)."""
        value = self.raceSlider.value()
        if value >= SLIDER_TICKS:
            return math.inf
        low, high = self._level_range
        return low + (high - low) * value / SLIDER_TICKS

    def shown_frames(self) -> list:
        """Per lane, the last frame whose state is no noisier than the slider's level (None before the first)."""
        return latest_at(self._frames, self.level(), lambda frame: frame.log_snr)

    def _redraw(self) -> None:
        if not self._frames:
            return
        for (top, bottom), frame in zip(self._panels, self.shown_frames()):
            if frame is None:
                top.clear()
                bottom.clear()
                continue
            if self._kind == "images":
                top.show_images(frame.x)
                bottom.show_images(frame.x0_hat)
            else:
                top.show_points(frame.x)
                bottom.show_points(frame.x0_hat)
        level = self.level()
        if math.isinf(level):
            self.levelLabel.setText("the samples (x_0) of every lane")
        else:
            abar = 1.0 / (1.0 + math.exp(-level))
            sigma = math.exp(-level / 2.0)
            self.levelLabel.setText(f"log SNR {level:.2f} · ᾱ = {abar:.4f} · σ = {sigma:.3g}")


def ranking_text(labels: list[str], scores: list[dict[str, float]]) -> str:
    """The race's verdict on its lanes: an order only where the scores' bootstrap spreads separate them."""
    order = ranking(scores)
    if order is None:
        return ("No ranking: the scores lie within each other's spread (± one bootstrap standard deviation over the "
                "lane's samples); race more samples to tell them apart.")
    return "Ranked (the spreads separate them): " + " < ".join(labels[lane] for lane in order) + "."


def _floor_key(name: str) -> str:
    """The held-out data's value of a score (QualityScorer names the main score's floor "floor")."""
    return "floor" if name == "score" else f"{name}_floor"
