"""The Trajectory dock: scrub through the reverse process, x_t beside the model's x0_hat at each step.

For images each panel is an image grid (nearest-neighbour, since the samples are tiny); for 2-D points a scatter
over the training data in faint grey, in one box that holds every frame of the trajectory (computed once, so the
view never jumps while scrubbing). The first frame is x_T itself, the pure noise at t = T. The "Forward" toggle
adds a third panel: real data noised to the same t with q(x_t | x_0) (M5), so noising and denoising can be
compared side by side. The slider, play / pause at a chosen speed and the keys ←/→ (one step) and Home/End move
through the stored frames; drawing follows a throttle, so dragging the slider never queues more redraws than the
screen can show.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.process.guidance import row_length
from ddpm_studio.core.process.x0_gain import X0_GAIN_LIMIT
from ddpm_studio.gui.display import tiles_shown
from ddpm_studio.gui.docks.sampling_bar import SamplingBar
from ddpm_studio.gui.style import FORWARD_COLOR, PREDICTION_COLOR, SAMPLE_COLOR, SteadyLabel, set_media_button
from ddpm_studio.gui.trajectory_store import (
    TrajectoryFrame,
    TrajectoryStore,
    fraction_outside,
    frames_bounds,
    scatter_bounds,
)
from ddpm_studio.gui.widgets.redraw import RedrawThrottle
from ddpm_studio.gui.widgets.sample_panel import SamplePanel

NO_TRAJECTORY_TEXT = "No trajectory yet: train a model (or open a run), then press Sample."
NO_TRAJECTORY_HINT = "The reverse process appears here: train a model, then press Sample"
#: Playback speeds offered, in stored frames per second.
PLAY_SPEEDS = (5, 15, 30, 60, 120, 240)
DEFAULT_SPEED = 30
#: The label notes how much of x0_hat lies outside the view once it is more than this share.
OFF_VIEW_NOTE_SHARE = 0.005
#: The play timer never ticks faster than this; higher speeds advance several frames per tick.
MAX_TICK_HZ = 60
PANEL_MIN_WIDTH = 160
PANEL_PREFERRED_WIDTH = 2000


class TrajectoryDock(QDockWidget):
    """Sampling settings, the trajectory view and its slider.

    Signals:
        sampleRequested: the Sample button was pressed (settings in :meth:`sample_settings`).
        sweepRequested: "Sweep w…" was pressed (a conditional model: the guidance sweep dialog).
        inpaintRequested: "Inpaint…" was pressed (the inpainting dialog, RePaint).
        timestepChanged(int): the paper timestep of the frame on screen (0..T), or -1 with no frame (an int
            rather than None: PySide6 on Python 3.11 miscounts references to None sent through Signal(object)).
    """

    sampleRequested = Signal()
    raceRequested = Signal()
    sweepRequested = Signal()
    inpaintRequested = Signal()
    timestepChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Trajectory", parent)
        self.setObjectName("trajectoryDock")
        self.store: TrajectoryStore | None = None
        self.displayed: TrajectoryFrame | None = None
        self._live: TrajectoryFrame | None = None
        self._reference: np.ndarray | None = None
        self._kind = "points"
        self._fit_pending = True
        self._store_bounds: tuple[float, float, float, float] | None = None
        self._labels: np.ndarray | None = None  # the classes asked for, per sample (conditional models)
        self._columns: int | None = None
        self._tile_limit: int | None = None  # images a grid shows at most (presentation mode: fewer, larger)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)

        self.samplingBar = SamplingBar()
        bar = self.samplingBar
        self.numSamplesSpin, self.sampleStepsSpin = bar.numSamplesSpin, bar.sampleStepsSpin
        self.methodCombo, self.spacingCombo, self.etaSpin = bar.methodCombo, bar.spacingCombo, bar.etaSpin
        self.sampleButton, self.autoSampleCheck = bar.sampleButton, bar.autoSampleCheck
        self.sampleButton.clicked.connect(self.sampleRequested)
        bar.sweepButton.clicked.connect(self.sweepRequested)
        bar.inpaintButton.clicked.connect(self.inpaintRequested)
        layout.addWidget(bar)

        self.trajectoryView = pg.GraphicsLayoutWidget()

        self.trajectoryView.setObjectName("trajectoryView")
        self.trajectoryView.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.trajectoryView.setToolTip("←/→ one step, Home/End the ends (click the view first).")
        layout_item = self.trajectoryView.ci
        self._panels = [
            SamplePanel(layout_item.addPlot(row=0, col=0, title="x_t"), SAMPLE_COLOR),
            SamplePanel(layout_item.addPlot(row=0, col=1, title="predicted x₀"), PREDICTION_COLOR),
        ]
        self._forward_panel = SamplePanel(pg.PlotItem(title="forward: q(x_t | x₀)"), FORWARD_COLOR)
        for panel in (*self._panels, self._forward_panel):
            # equal size hints (not the titles' widths) give equal columns, so the grids share one scale
            panel.plot.setMinimumWidth(PANEL_MIN_WIDTH)
            panel.plot.setPreferredWidth(PANEL_PREFERRED_WIDTH)
        self._forward_shown = False
        self._bounds: tuple[float, float, float, float] | None = None  # the scatters' box (points)
        for panel in (*self._panels, self._forward_panel):
            panel.set_kind(self._kind)
        layout.addWidget(self.trajectoryView, 1)

        scrub = QHBoxLayout()
        self.playButton = QPushButton(objectName="playButton")
        set_media_button(self.playButton, "play", "Play")  # a style icon: "⏸" is an empty box in DejaVu Sans
        self.playButton.setCheckable(True)
        self.playButton.toggled.connect(self._play_toggled)
        scrub.addWidget(self.playButton)
        self.speedCombo = QComboBox(objectName="speedCombo")
        for speed in PLAY_SPEEDS:
            self.speedCombo.addItem(f"{speed} frames/s", speed)
        self.speedCombo.setCurrentIndex(PLAY_SPEEDS.index(DEFAULT_SPEED))
        self.speedCombo.currentIndexChanged.connect(self._speed_changed)
        scrub.addWidget(self.speedCombo)
        self.forwardCheck = QCheckBox("Forward", objectName="forwardCheck")
        self.forwardCheck.setToolTip("Also show real data noised to the same t by the forward process.")
        self.forwardCheck.toggled.connect(self._forward_toggled)
        scrub.addWidget(self.forwardCheck)
        self.timestepSlider = QSlider(Qt.Orientation.Horizontal, objectName="timestepSlider")
        self.timestepSlider.setRange(0, 0)
        self.timestepSlider.setPageStep(10)
        self.timestepSlider.setToolTip("Reverse steps from x_T (left) to x_0 (right).")
        self.timestepSlider.valueChanged.connect(self._slider_moved)
        scrub.addWidget(self.timestepSlider, 1)
        # in the scrub row, beside the stretching slider: the settings row is already as wide as a small screen
        self.raceButton = QPushButton("Race…", objectName="raceButton")
        self.raceButton.setToolTip("Race 2-4 samplers from the same x_T at the same number of network evaluations.")
        self.raceButton.clicked.connect(self.raceRequested)
        scrub.addWidget(self.raceButton)
        self.fieldView = QCheckBox("Field", objectName="fieldView")
        self.fieldView.setToolTip("2-D runs: the network's and the ideal denoiser's arrows at this t, in the "
                                  "“What the network learned” dock.")
        scrub.addWidget(self.fieldView)
        layout.addLayout(scrub)
        self.frameLabel = SteadyLabel(NO_TRAJECTORY_TEXT, objectName="frameLabel", lines=2)
        self._hint = pg.TextItem(anchor=(0.5, 0.5), fill=(255, 255, 255, 200))
        self._hint.setHtml(f'<div style="text-align:center; color:#6e6e6e">{NO_TRAJECTORY_HINT}</div>')
        self._hint_centred = True
        self._panels[0].plot.addItem(self._hint, ignoreBounds=True)
        # the hint wraps to its panel's width: a fixed two-line text ran off both sides of a 1024 x 768 screen
        self._panels[0].plot.getViewBox().sigResized.connect(self._wrap_hint)
        # with no image to fit, the auto-range of an image panel settles where it likes: the hint follows its centre
        self._panels[0].plot.getViewBox().sigRangeChanged.connect(self._centre_hint)
        layout.addWidget(self.frameLabel)
        self.setWidget(body)

        keys = {
            Qt.Key.Key_Left: lambda: self.step_by(-1),
            Qt.Key.Key_Right: lambda: self.step_by(1),
            Qt.Key.Key_Home: lambda: self.timestepSlider.setValue(self.timestepSlider.minimum()),
            Qt.Key.Key_End: lambda: self.timestepSlider.setValue(self.timestepSlider.maximum()),
        }
        for key, action in keys.items():
            shortcut = QShortcut(QKeySequence(key), self.trajectoryView)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)

        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._play_tick)
        self._speed_changed()
        self._throttle = RedrawThrottle(self._redraw, self)
        self.set_sampling_available(False)

    # ------------------------------------------------------------------ sampling settings
    def sample_settings(self) -> dict:
        return self.samplingBar.settings()

    def sampling_problem(self, num_timesteps: int) -> str | None:
        """Why the chosen settings cannot sample a T-step model, in one line; None when they can."""
        return self.samplingBar.problem(num_timesteps)

    def configure_sampling(self, kind: str, num_timesteps: int, process: str = "ddpm") -> None:
        """Limits, defaults and samplers for a model (:meth:`SamplingBar.configure`)."""
        self.samplingBar.configure(kind, num_timesteps, process)

    def set_sampling_available(self, available: bool) -> None:
        self.sampleButton.setEnabled(available)
        self.samplingBar.sweepButton.setEnabled(available)
        self.samplingBar.inpaintButton.setEnabled(available)

    def set_sampling_running(self, running: bool) -> None:
        self.samplingBar.set_running(running)
        self.timestepSlider.setEnabled(not running)
        self.playButton.setEnabled(not running)
        if running:
            self.playButton.setChecked(False)

    # ------------------------------------------------------------------ data in
    def clear(self, keep_data: bool = False) -> None:
        """Drop the trajectory; ``keep_data`` keeps the faint training data behind the panels (a new run on it)."""
        reference = self._reference if keep_data else None
        self.store, self.displayed, self._live, self._reference = None, None, None, None
        self._store_bounds = None
        self.playButton.setChecked(False)
        self.timestepSlider.blockSignals(True)
        self.timestepSlider.setRange(0, 0)
        self.timestepSlider.blockSignals(False)
        for panel in (*self._panels, self._forward_panel):
            panel.clear()
        self.frameLabel.setText(NO_TRAJECTORY_TEXT)
        self.timestepChanged.emit(-1)
        self.show_placeholder(self._kind, reference)

    def show_placeholder(self, kind: str, reference: np.ndarray | None) -> None:
        """Before any trajectory: the training data (points) in faint grey and a hint where frames will come."""
        if self.store is not None or self._live is not None:
            return
        self._set_kind(kind)
        self._reference = reference
        self._hint.setVisible(True)
        # over 2-D data the hint sits above the points; over an empty panel it stays in the middle
        self._hint_centred = not (kind == "points" and reference is not None)
        if not self._hint_centred:
            bounds = scatter_bounds(reference)
            self._set_references(reference, bounds)
            self._centre_hint()
        else:
            for panel in (*self._panels, self._forward_panel):
                panel.set_reference(None, (0.0, 1.0, 0.0, 1.0))
                if kind == "images":
                    panel.plot.enableAutoRange()
            self._centre_hint()

    def _wrap_hint(self, *_args) -> None:
        """Wrap the placeholder hint to 90 % of its panel's width in pixels (the item ignores the view's scale)."""
        width = self._panels[0].plot.getViewBox().width()
        self._hint.textItem.setTextWidth(max(60.0, 0.9 * width))
        self._hint.updateTextPos()

    def hint_fits(self) -> bool:
        """Whether the placeholder hint lies inside its panel's view (a test's check of the wrap)."""
        view = self._panels[0].plot.getViewBox()
        hint = self._hint.mapRectToScene(self._hint.boundingRect())
        return view.sceneBoundingRect().contains(hint)

    def _centre_hint(self, *_args) -> None:
        """Keep the placeholder hint in the middle of an empty panel, wherever its (auto-)range settles; over 2-D
        data it hangs from the panel's top edge, so however many lines it wraps to, it stays inside."""
        if not self._hint.isVisible():
            return
        rect = self._panels[0].plot.getViewBox().viewRect()
        if self._hint_centred:
            self._hint.setAnchor((0.5, 0.5))
            self._hint.setPos(rect.center())
        else:
            self._hint.setAnchor((0.5, 0.0))
            self._hint.setPos(rect.center().x(), max(rect.top(), rect.bottom()))

    def begin_live(self, kind: str, reference: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """A sampling run starts: show its frames as they come (the previous trajectory is dropped). ``labels``:
        the class each sample is asked for (conditional models): points are coloured by it, and images of every
        class are laid out one row per class."""
        self.clear(keep_data=True)  # the same data behind the new frames is not drawn again
        self._set_kind(kind)
        self._reference = reference
        self._set_labels(labels)
        self._fit_pending = True

    @property
    def labels(self) -> np.ndarray | None:
        """The class each sample on screen was asked for (N,), or None (an unconditional model)."""
        return self._labels

    def _set_labels(self, labels: np.ndarray | None) -> None:
        self._labels = None if labels is None else np.asarray(labels)
        self._columns = row_length(self._labels)

    def show_live_frame(self, frame: TrajectoryFrame) -> None:
        """The newest frame of a running sampler (only the latest is kept)."""
        self._live = frame
        self._throttle.request()

    def set_store(self, store: TrajectoryStore) -> None:
        """A finished (or stopped) sampling run: scrub through its frames; the slider starts at x_0's end."""
        self._live = None
        self.store = store
        self._set_kind(store.kind)
        self._reference = store.reference
        self._set_labels(store.labels)
        self._fit_pending = True
        # once per trajectory: every frame (x_T's noise, x0_hat at large t, the samples) fits the same box
        self._store_bounds = store.view_bounds() if store.kind == "points" and len(store) else None
        self.timestepSlider.blockSignals(True)
        self.timestepSlider.setRange(0, max(0, len(store) - 1))
        self.timestepSlider.setValue(max(0, len(store) - 1))
        self.timestepSlider.blockSignals(False)
        self._update_forward_panel()
        self._slider_moved(self.timestepSlider.value())
        self._throttle.flush()

    def _set_references(self, reference: np.ndarray | None, bounds: tuple[float, float, float, float]) -> None:
        """The data behind the scatters and the box they show; the hidden forward panel gets them when shown."""
        self._bounds = bounds
        for panel in (*self._panels, self._forward_panel) if self._forward_shown else self._panels:
            panel.set_reference(reference, bounds)

    def _set_kind(self, kind: str) -> None:
        self._kind = kind
        for panel in (*self._panels, self._forward_panel):
            panel.set_kind(kind)

    # ------------------------------------------------------------------ navigation
    def step_by(self, delta: int) -> None:
        self.timestepSlider.setValue(self.timestepSlider.value() + delta)

    def _slider_moved(self, _value: int) -> None:
        self._throttle.request()
        frame = self._frame_at_slider()
        self.timestepChanged.emit(-1 if frame is None else frame.t_state)

    def current_frame(self) -> TrajectoryFrame | None:
        """The frame the slider points at (the live one while sampling), or None."""
        return self._live if self._live is not None else self._frame_at_slider()

    def _frame_at_slider(self) -> TrajectoryFrame | None:
        if self.store is None or len(self.store) == 0:
            return None
        return self.store.frame(min(self.timestepSlider.value(), len(self.store) - 1))

    def _speed_changed(self, *_args) -> None:
        speed = self.speedCombo.currentData()
        tick_hz = min(speed, MAX_TICK_HZ)
        self._frames_per_tick = max(1, round(speed / tick_hz))
        self._play_timer.setInterval(round(1000 / tick_hz))

    def _play_toggled(self, playing: bool) -> None:
        set_media_button(self.playButton, "pause" if playing else "play", "Pause" if playing else "Play")
        if playing:
            if self.timestepSlider.value() >= self.timestepSlider.maximum():
                self.timestepSlider.setValue(0)  # replay from the noise
            self._play_timer.start()
        else:
            self._play_timer.stop()

    def _play_tick(self) -> None:
        value = self.timestepSlider.value() + self._frames_per_tick
        self.timestepSlider.setValue(min(value, self.timestepSlider.maximum()))
        if value >= self.timestepSlider.maximum():
            self.playButton.setChecked(False)

    def _forward_toggled(self, _on: bool) -> None:
        self._update_forward_panel()
        self._fit_pending = True
        self._throttle.request()

    def _update_forward_panel(self) -> None:
        available = self.store is not None and self.store.forward is not None
        show = self.forwardCheck.isChecked() and (available or self._live is not None)
        if show == self._forward_shown:
            return
        layout_item = self.trajectoryView.ci
        if show:
            if self._kind == "points" and self._bounds is not None:
                self._forward_panel.set_reference(self._reference, self._bounds)
            layout_item.addItem(self._forward_panel.plot, row=0, col=2)
        else:
            layout_item.removeItem(self._forward_panel.plot)
        self._forward_shown = show

    def set_tile_limit(self, limit: int | None) -> None:
        """Show at most ``limit`` images per panel (None: every sample), each larger in the same panel."""
        if limit != self._tile_limit:
            self._tile_limit = limit
            self._throttle.request()
            if self._kind == "images":  # the grid's new size; 2-D panels keep the data's box
                for panel in self._panels:
                    panel.plot.enableAutoRange()

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        frame = self._live if self._live is not None else self._frame_at_slider()
        self.displayed = frame
        if frame is None:
            return
        self._hint.setVisible(False)
        self._update_forward_panel()
        panels = [(self._panels[0], frame.x), (self._panels[1], frame.x0_hat)]
        if self._forward_shown and frame.forward is not None:
            panels.append((self._forward_panel, frame.forward))
        if self._fit_pending and self._kind == "points":
            self._set_references(self._reference, self._view_bounds(frame))
        for panel, batch in panels:
            if self._kind == "images":
                panel.show_images(batch[:tiles_shown(len(batch), self._columns, self._tile_limit)], self._columns)
            else:
                # the forward panel shows real data, which was not asked for a class
                panel.show_points(batch, None if panel is self._forward_panel else self._labels)
        self._fit_pending = False
        off_view = 0.0
        if self._kind == "points" and self._bounds is not None:
            off_view = fraction_outside(frame.x0_hat, self._bounds)
        self.frameLabel.setText(frame_text(frame, live=self._live is not None, off_view=off_view,
                                           forward_missing=self.forwardCheck.isChecked() and frame.forward is None))

    def _view_bounds(self, frame: TrajectoryFrame) -> tuple[float, float, float, float]:
        """The scatters' box: the whole trajectory's once it is stored, else (sampling) the first frame's.

        The first live frame is x_T, the widest x_t there is, so the box rarely grows when the run ends.
        """
        if self._store_bounds is not None and self._live is None:
            return self._store_bounds
        forward = None if frame.forward is None else frame.forward[None]
        return frames_bounds(frame.x[None], forward, self._reference)


def frame_text(frame: TrajectoryFrame, live: bool = False, forward_missing: bool = False,
               off_view: float = 0.0) -> str:
    """The line under the panels: which step, the t (and abar_t) of x_t, where x0_hat was predicted from, and
    how much of x0_hat lies outside the view (``off_view``, a share, noted above 0.5%)."""
    known = frame.alpha_bar == frame.alpha_bar and frame.t_state > 0  # NaN: the schedule is unknown
    abar = f" (ᾱ_t = {frame.alpha_bar:.3g})" if known else ""
    head = f"step {frame.step + 1:,} / {frame.num_steps:,}{' (sampling…)' if live else ''}"
    if frame.is_initial:
        body = f"x_T at t = {frame.t_state:,}{abar}, pure noise before any step  ·  x₀ predicted from x_T"
    else:
        body = (f"x_t at t = {frame.t_state:,}{abar}{' (the samples)' if frame.t_state == 0 else ''}  ·  "
                f"x₀ predicted from t = {frame.t_fed:,}")
    if frame.x0_gain > X0_GAIN_LIMIT:
        # at large t an eps-network's x0_hat is its noise magnified (M7) and clipped to the data's range (M23)
        body += (f" (from ε: its noise ×{frame.x0_gain:,.0f}, clipped to the data range; "
                 f"meaningful from t ≈ {frame.x0_from:,})")
    elif off_view > OFF_VIEW_NOTE_SHARE:
        body += f" ({off_view:.0%} off the view)"
    note = "  ·  forward view: the run's data is not available" if forward_missing else ""
    return f"{head}  ·  {body}{note}"
