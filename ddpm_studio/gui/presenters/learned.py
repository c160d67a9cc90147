"""The presenter of the "What the network learned" dock: it starts the dock's jobs (gui/jobs/learned.py) and feeds it.

Each view is drawn from a generator job on the runner (reads={MODEL}, so none runs while training writes the
weights), as the Race dock's (docs/ARCHITECTURE.md): the jobs drive the core
(:mod:`ddpm_studio.core.analysis.learned`, :mod:`ddpm_studio.core.analysis.memorization`,
:mod:`ddpm_studio.core.analysis.ideal`, the bound) and yield display copies (numpy arrays they own).
:class:`LearnedRunner` starts them, keeps at most one field job in flight (the newest slider position waits;
the ones in between are skipped) and hands each item to the dock. For a class-conditional run the field is the
guided one (M34, M38) of the class and w the Trajectory dock's classCombo and guidanceSlider show.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from ddpm_studio.gui.docks.learned import LearnedDock
from ddpm_studio.gui.jobs.learned import (
    DensityDisplay,
    Ended,
    ErrorPoint,
    FieldDisplay,
    FieldRequest,
    MemorizationDisplay,
    Progress,
    density_job,
    error_job,
    field_job,
    memorization_job,
)
from ddpm_studio.gui.jobs.runner import MODEL, Job, Throttle, runner

#: The most fields kept for scrubbing back without a new job.
FIELD_CACHE = 64


class LearnedRunner(QObject):
    """Starts the dock's jobs (one per view at a time) and hands their items to it (no thread of its own).

    ``source`` returns (a pipeline factory for the job's thread, the run's data set) or None without a model.

    Signals:
        failed(str): a job stopped on an error (the message box text).
    """

    failed = Signal(str)

    def __init__(self, dock: LearnedDock, source: Callable[[], tuple | None], parent: QObject | None = None):
        super().__init__(parent)
        self.dock = dock
        self.source = source
        self.jobs: dict[str, Job] = {}
        self._fields: dict[tuple, FieldDisplay] = {}
        self._pending: FieldRequest | None = None
        dock.errorRequested.connect(self.measure_error)
        dock.memorizationRequested.connect(self.run_memorization)
        dock.densityRequested.connect(self.compute_density)
        dock.fieldSettingsChanged.connect(lambda: self.show_timestep(self.dock.field_t))
        dock.stopRequested.connect(self.stop)

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    def forget(self) -> None:
        """A new model or new weights: cached fields no longer describe it."""
        self._fields.clear()

    def _start(self, view: str, func, *args) -> bool:
        if view in self.jobs:
            return False
        source = self.source()
        if source is None or source[1] is None:
            self.dock.set_message(view, "Train a model (or open a run with its data) first.")
            return False
        make_pipeline, dataset = source
        job = runner().start(view, func, make_pipeline, dataset, *args, cooperative=True,
                             throttle=Throttle(urgent=(Ended, FieldDisplay, MemorizationDisplay, DensityDisplay)),
                             reads={MODEL}, owner=self.parent(), on_events=self._events,
                             on_error=self._failed,
                             on_done=lambda: self._done(view))
        if job is None:
            self.dock.set_message(view, "Busy: training is changing the weights.")
            return False
        self.jobs[view] = job
        self.dock.set_running(view, True)
        if view != "field":
            self._widen()
        return True

    def _failed(self, message: str) -> None:
        window = getattr(self, "_window", None)
        if window is not None:
            window._show_error("The view could not be drawn", message)
        self.failed.emit(message)

    def stop(self, view: str) -> None:
        job = self.jobs.get(view)
        if job is not None:
            job.stop()

    # ------------------------------------------------------------------ requests
    def show_timestep(self, t_paper: int) -> None:
        """The trajectory's slider is at paper timestep ``t_paper`` (0..T): the field of the state x_t there."""
        self.dock.field_t = t_paper
        if t_paper < 0 or not self.dock.field_wanted():
            return
        tau = max(0, t_paper - 1)  # x_t at paper t is fed to the network as 0-based t - 1; the samples as 0
        request = FieldRequest(tau, self.dock.quantity(), self.dock.field_size(), *self._guide())
        cached = self._fields.get(request.key)
        if cached is not None:
            self.dock.show_field(cached)
            return
        self._pending = request
        self._next_field()

    def _guide(self) -> tuple[bool, int | None, float, str]:
        """(conditional, class or None for "all", w, the class's name) from the Trajectory dock's class row;
        "all" draws the unguided field, so its w is 0 whatever the slider says (one cache entry, not one per w)."""
        window = getattr(self, "_window", None)
        bar = None if window is None else window.trajectory.samplingBar
        if bar is None or bar.num_classes is None:
            return False, None, 0.0, ""
        label = bar.classCombo.currentData()
        if label is None:
            return True, None, 0.0, ""
        return True, label, bar.guidance, bar.classCombo.currentText()

    def _next_field(self) -> None:
        if self._pending is None or "field" in self.jobs:
            return
        request, self._pending = self._pending, None
        self._start("field", field_job, request)

    def measure_error(self, count: int, num_probe: int) -> None:
        if self._start("error", error_job, count, num_probe, 0):
            self.dock.begin_error()

    def run_memorization(self, num: int, steps: int) -> None:
        self._start("memorization", memorization_job, num, steps, 0)

    def compute_density(self, n: int, levels: int) -> None:
        self._start("density", density_job, n, levels, 0)

    # ------------------------------------------------------------------ items in
    def _events(self, items: list) -> None:
        for item in items:
            if isinstance(item, FieldDisplay):
                if len(self._fields) >= FIELD_CACHE:
                    self._fields.pop(next(iter(self._fields)))
                self._fields[item.request.key] = item
                self.dock.show_field(item)
            elif isinstance(item, ErrorPoint):
                self.dock.add_error_point(item.t, item.error)
            elif isinstance(item, Progress):
                self.dock.show_progress(item.stage, item.done, item.total)
            elif isinstance(item, MemorizationDisplay):
                self.dock.show_memorization(item)
            elif isinstance(item, DensityDisplay):
                self.dock.show_density(item)
            elif isinstance(item, Ended) and item.stopped:
                self.dock.set_message(item.view, "Stopped.")

    def _done(self, view: str) -> None:
        self.jobs.pop(view, None)
        self.dock.set_running(view, False)
        if view == "field":
            self._next_field()

    # ------------------------------------------------------------------ the window's wiring, in one place
    def connect_window(self, window) -> None:
        """Follow the window: the Field toggle and slider of its Trajectory dock, what may run, new weights.

        Bound methods of this object (a child of the window), not lambdas: the runner's ``changed`` signal
        outlives the window, and Qt drops a connection to a deleted receiver only when it knows the receiver.
        """
        self._window = window
        window.trajectory.fieldView.toggled.connect(self._field_toggled)
        window.trajectory.timestepChanged.connect(self._slider)
        bar = window.trajectory.samplingBar
        bar.classCombo.currentIndexChanged.connect(self._guide_changed)
        bar.guidanceSlider.valueChanged.connect(self._guide_changed)
        window.jobs.changed.connect(self._follow)
        self._follow()

    def _field_toggled(self, on: bool) -> None:
        if not on:
            self.dock.set_field_on(False)
            return
        window = self._window
        frame = window.trajectory.current_frame()
        self.dock.field_t = -1 if frame is None else frame.t_state
        self.dock.set_field_on(True)  # asks for the field at the frame on screen
        self._show_points(frame)
        self._widen()

    def _guide_changed(self, *_args) -> None:
        """Another class or w in the Trajectory dock: the guided field of the new choice, at the same t."""
        self.show_timestep(self.dock.field_t)

    def _show_points(self, frame) -> None:
        """The trajectory's points at the slider's t, coloured by the class each was asked for."""
        trajectory = self._window.trajectory
        self.dock.show_trajectory_points(None if frame is None else frame.x, trajectory.labels)

    def _widen(self) -> None:
        """Give the dock about 45 % of the width it shares with the trajectory, if it has less (arrows and
        image pairs need room; a user's wider choice is kept)."""
        window = getattr(self, "_window", None)
        if window is None or not self.dock.isVisible() or self.dock.isFloating():
            return
        width = window.trajectory.width() + self.dock.width()
        if self.dock.width() < width * 40 // 100:
            window.resizeDocks([window.trajectory, self.dock], [width * 55 // 100, width * 45 // 100],
                               Qt.Orientation.Horizontal)

    def _slider(self, t_paper: int) -> None:
        self._show_points(self._window.trajectory.current_frame())
        self.show_timestep(t_paper)

    def _follow(self) -> None:
        window = self._window
        if window._closing:
            return
        session = window.session
        if window.training or not session.has_model:
            self.forget()  # the weights change (or are gone): cached fields describe old ones
        kind = window._model_kind() if session.has_model else window.setup.kind()
        config = session.config
        T = config.diffusion.num_timesteps if config is not None else window.setup.num_timesteps()
        self.dock.set_model(kind, T, session.has_model and not window.training and not window._model_locked)
