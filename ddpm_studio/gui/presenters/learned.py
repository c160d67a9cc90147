"""The jobs behind the "What the network learned" dock, and the object that starts them and feeds the dock.

Each view is drawn from a generator job on the runner (reads={MODEL}, so none runs while training writes the
weights), as the Race dock's (docs/ARCHITECTURE.md): the jobs drive the core
(:mod:`ddpm_studio.core.analysis.learned`, :mod:`ddpm_studio.core.analysis.memorization`,
:mod:`ddpm_studio.core.analysis.ideal`, the bound) and yield display copies (numpy arrays they own).
:class:`LearnedRunner` starts them, keeps at most one field job in flight (the newest slider position waits;
the ones in between are skipped) and hands each item to the dock. For a class-conditional run the field is the
guided one (M34, M38) of the class and w the Trajectory dock's classCombo and guidanceSlider show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, Signal

from ddpm_studio.core.analysis.bound import BoundProgress, BoundResult, iter_bound
from ddpm_studio.core.analysis.ideal import IdealDenoiser
from ddpm_studio.core.analysis.learned import (
    FieldGuide,
    denoiser_field,
    error_over_t,
    error_timesteps,
    iter_density_grid,
)
from ddpm_studio.core.analysis.memorization import memorization
from ddpm_studio.core.analysis.ode_likelihood import OdeProgress
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline, full_precision
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.docks.learned import LearnedDock
from ddpm_studio.gui.jobs.runner import MODEL, Job, Throttle, runner
from ddpm_studio.gui.trajectory_store import scatter_bounds

#: The field's box: the data's box widened by this factor about its centre (noisy states lie around the data).
FIELD_BOX_WIDENING = 1.5
#: Held-out points the density view's mean (and the bound beside it) averages at most.
DENSITY_HELDOUT = 512
#: The most fields kept for scrubbing back without a new job.
FIELD_CACHE = 64


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of the named stage ("sampling", "ideal samples", "ODE", "bound")."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class FieldRequest:
    """Which field to draw: 0-based t, arrows, grid size and, for a conditional run, the class (None: "all", the
    unconditional field) and w; ``class_name`` is what the caption calls the class."""

    t: int
    quantity: str
    size: int
    conditional: bool = False
    label: int | None = None
    guidance: float = 0.0
    class_name: str = ""

    @property
    def key(self) -> tuple:
        """What the field depends on: the field cache's key."""
        return (self.t, self.quantity, self.size, self.conditional, self.label, self.guidance)


@dataclass(frozen=True)
class FieldDisplay:
    """A field to draw (data coordinates): grid (n*n, 2), arrows (n*n, 2), difference (n, n), box, and the
    request it answers (0-based t, arrows, class and w)."""

    request: FieldRequest
    points: np.ndarray
    network: np.ndarray
    ideal: np.ndarray
    difference: np.ndarray
    bounds: tuple[float, float, float, float]

    @property
    def t(self) -> int:
        return self.request.t

    @property
    def quantity(self) -> str:
        return self.request.quantity


@dataclass(frozen=True)
class ErrorPoint:
    """One timestep's network-to-ideal mean distance (paper t, model space)."""

    t: int
    error: float


@dataclass(frozen=True)
class MemorizationDisplay:
    """uint8 (M, H, W, C) samples, their nearest training images, the ideal denoiser's samples, and the numbers."""

    samples: np.ndarray
    nearest: np.ndarray
    copies: np.ndarray
    ideal: np.ndarray
    copy_rate: float
    ideal_copy_rate: float
    ratio: float
    nn_ratio_median: float
    num_train: int


@dataclass(frozen=True)
class DensityDisplay:
    """log p on the grid (n, n) over ``bounds``, held-out points, their ODE nats/dim and the bound's.

    ``ode_error`` is the ODE value's solver error bar in nats/dim (K against K // 2 levels, M32), None below K = 4;
    ``ode_levels`` is K.
    """

    log_p: np.ndarray
    bounds: tuple[float, float, float, float]
    heldout: np.ndarray
    ode_nats_per_dim: float
    bound_nats_per_dim: float
    bound_stderr: float
    ode_error: float | None = None
    ode_levels: int = 0


@dataclass(frozen=True)
class Ended:
    """A job's last item: whether it stopped before the end."""

    view: str
    stopped: bool


def field_box(reference: np.ndarray | None) -> tuple[float, float, float, float]:
    """The data's square box widened by :data:`FIELD_BOX_WIDENING` about its centre."""
    x0, x1, y0, y1 = scatter_bounds(reference)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, FIELD_BOX_WIDENING * (x1 - x0) / 2
    return (cx - half, cx + half, cy - half, cy + half)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().clone().numpy()


def field_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, request: FieldRequest, *,
              stop: threading.Event):
    """One :class:`FieldDisplay` for ``request`` over the data's widened box, then :class:`Ended`.

    A request with a class draws the guided field (M34) beside the guided ideal denoiser of the class's and all
    training points (M38); without one a conditional network runs as its null class, the unconditional model.
    """
    pipe = pipeline()
    bounds = field_box(reference_points(dataset))
    model = full_precision(pipe.network, pipe.device)
    data = dataset.train.to(pipe.device)
    guide = None
    if request.label is not None and pipe.num_classes:
        if dataset.labels is None:  # the run's data came back without its classes: no class's ideal to draw
            raise ValueError(f"{dataset.name} has no class labels here, so the guided field cannot be drawn")
        guide = FieldGuide(request.label, request.guidance, dataset.labels.to(pipe.device), pipe.num_classes)
    field = denoiser_field(model, pipe.diffusion, data, request.t, bounds, request.size, request.quantity,
                           pipe.shift, pipe.scale, guide)
    yield FieldDisplay(request, _numpy(field.points), _numpy(field.network), _numpy(field.ideal),
                       _numpy(field.difference), bounds)
    yield Ended("field", False)


def error_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, count: int, num_probe: int, seed: int,
              *, stop: threading.Event):
    """:class:`ErrorPoint` per timestep (from t = T down, the same noise draws per t as one call), then Ended."""
    pipe = pipeline()
    model, data = full_precision(pipe.network, pipe.device), dataset.train.to(pipe.device)
    for tau in reversed(error_timesteps(pipe.diffusion.num_timesteps, count)):
        ts, errors = error_over_t(model, pipe.diffusion, data, [tau], num_probe, seed=seed + tau)
        yield ErrorPoint(int(ts[0]), float(errors[0]))
        if stop.is_set():
            yield Ended("error", True)
            return
    yield Ended("error", False)


def _draw(pipe: DiffusionPipeline, stage: str, num: int, steps: int, seed: int, stop: threading.Event,
          model=None):
    """Sample ``num`` items (yielding Progress per step); the last item is the final x_0 or None when stopped."""
    process = pipe.sample(num, num_steps=steps, seed=seed, model=model)
    last = None
    for i, record in enumerate(process):
        last = record
        yield Progress(stage, i + 1, steps)
        if stop.is_set():
            yield None
            return
    yield None if last is None else last.x.detach()


def memorization_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, num: int, steps: int,
                     seed: int, *, stop: threading.Event):
    """Samples, their nearest training images and copy rate (M31), and the ideal denoiser's samples (M30)."""
    pipe = pipeline()
    train = dataset.train.to(pipe.device)
    finals = []
    for stage, model in (("sampling", None), ("ideal samples", IdealDenoiser(train, pipe.diffusion))):
        final = None
        for item in _draw(pipe, stage, num, steps, seed, stop, model):
            if isinstance(item, Progress):
                yield item
            else:
                final = item
        if final is None:
            yield Ended("memorization", True)
            return
        finals.append(final)
    result, ideal = (memorization(f.clamp(-1, 1), train) for f in finals)
    copies = (result.distances[:, 0] < result.ratio * result.distances[:, 1]).cpu().numpy()
    yield MemorizationDisplay(to_display(pipe, finals[0]), to_display(pipe, train[result.nearest]), copies,
                              to_display(pipe, finals[1]), result.copy_rate, ideal.copy_rate, result.ratio,
                              result.nn_ratio_median, result.num_train)
    yield Ended("memorization", False)


def density_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, n: int, levels: int, seed: int, *,
                stop: threading.Event):
    """log p on the grid and on held-out points by the ODE (M32), then the bound (M14) on the same points."""
    pipe = pipeline()
    bounds = scatter_bounds(reference_points(dataset))
    heldout = dataset.heldout[:DENSITY_HELDOUT]
    heldout_data = pipe.to_data_space(heldout).double()
    grid = None
    model = full_precision(pipe.network, pipe.device)
    for record in iter_density_grid(model, pipe.diffusion, bounds, n, levels, pipe.shift, pipe.scale,
                                    extra=heldout_data, model_dtype=torch.float32):
        if isinstance(record, OdeProgress):
            yield Progress("ODE", record.done, record.total)
            if stop.is_set():
                yield Ended("density", True)
                return
        else:
            grid = record
    assert grid is not None
    bound = None
    for record in iter_bound(pipe, heldout.to(pipe.device), seed=seed):
        if isinstance(record, BoundProgress):
            yield Progress("bound", record.done, record.total)
            if stop.is_set():
                yield Ended("density", True)
                return
        elif isinstance(record, BoundResult):
            bound = record
    assert bound is not None
    dims = heldout_data.shape[1]
    ode = float(-grid.extra_log_p.mean()) / dims
    error = None if grid.extra_error is None else grid.extra_error / dims  # per point -> per dimension, as ode
    yield DensityDisplay(_numpy(grid.log_p), bounds, heldout_data.float().numpy(), ode, bound.per_dim,
                         bound.stderr, error, levels)
    yield Ended("density", False)


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
