"""Long work on QThreads: training, sampling and one-shot tasks (open, save, export, load data).

Each worker is a QObject moved to its own QThread. It consumes one of the core's generators, and between two
items it honours pause, resume and stop (superqt's GeneratorWorker pattern). It hands the GUI copies only:
display-ready numpy arrays (:mod:`ddpm_studio.gui.trajectory_store`), batched and throttled (sampling frames
at ~30 a second, training updates at 2), so the event loop never drowns. Errors arrive as ``failed(str)`` with
a one-line message; ``done`` is always the last signal a worker emits.

Threads are started with :func:`start_worker`, which keeps every thread referenced until it has finished, so a
QThread is never destroyed while running; :func:`running_threads` lists them (the tests check it is empty).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from ddpm_studio.core.data import DataError, DataSet, load_dataset
from ddpm_studio.core.device import available_devices
from ddpm_studio.core.pipeline import DiffusionPipeline, load_pipeline, load_run_config
from ddpm_studio.core.runs import RunError, append_metrics, list_checkpoints, read_metrics
from ddpm_studio.core.sampling import respaced_timesteps
from ddpm_studio.core.training.config import ConfigError, RunConfig
from ddpm_studio.core.training.events import (
    CheckpointSaved,
    PreviewFailed,
    PreviewReady,
    TrainingFinished,
    TrainStep,
)
from ddpm_studio.core.training.trainer import CheckpointWriteError, Trainer, TrainingDiverged
from ddpm_studio.gui import gc_guard
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryFrame, TrajectoryStore

logger = logging.getLogger(__name__)

#: Minimum seconds between two emissions of the same kind of update (~30 Hz).
EMIT_INTERVAL_S = 1.0 / 30.0
#: Loss and progress updates while training (2 Hz). A loss curve still reads as live, and each update (loss
#: plot redraw and paint, status bar) costs ~17 ms of GUI-thread CPU, mostly Python that a small, Python-bound
#: training step must wait for (the GIL); at 30 Hz that alone made a 2-D run tens of percent slower
#: (benchmarks/RESULTS.md, "The studio's cost").
TRAIN_EMIT_INTERVAL_S = 0.5
#: How many training points a 2-D scatter draws behind the samples.
MAX_REFERENCE_POINTS = 2000
#: Python's thread switch interval while the studio runs (seconds; CPython's default is 0.005).
GUI_SWITCH_INTERVAL_S = 0.001
#: How often a paused worker wakes up to look for a stop or a save request.
PAUSE_POLL_S = 0.05

_threads: list[QThread] = []


def prepare_torch() -> int:
    """Call on the GUI thread before any worker starts: leave a core to the GUI, import torch's lazy parts.

    torch uses all cores but one, so the GUI thread always has one to itself. And torch.optim imports
    torch._dynamo the first time an optimiser is built: importing it on a worker thread while the GUI thread's
    garbage collector runs corrupts the collector's lists (torch 2.13 on Python 3.11: a hang in gc's
    untrack_dicts or a segfault; reproduced without Qt, about one run in six), so it is imported here, once
    (about 1.5 s, the first time).

    It also shortens Python's thread switch interval from 5 ms to 1 ms. A worker running Python-heavy code
    (loading data, building a network, a small model's training step) holds the GIL; the GUI thread then waits
    up to one interval each time it needs the GIL back, dozens of times per paint. Measured on the digits
    start-up (2 cores): the longest event-loop stall fell from 104 ms to 56 ms. Returns torch's thread count.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    threads = max(1, (os.cpu_count() or 1) - 1)
    torch.set_num_threads(threads)
    importlib.import_module("torch._dynamo")
    return threads


def describe_error(exc: BaseException) -> str:
    """The one line a message box shows for an exception raised by a worker."""
    known = (TrainingDiverged, CheckpointWriteError, DataError, ConfigError, RunError)
    if isinstance(exc, known):
        return str(exc)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return ("out of memory: choose a smaller batch size, fewer samples or a smaller model preset "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def start_worker(worker: Worker) -> QThread:
    """Run ``worker.run`` on a new QThread; the thread quits by itself when the worker is done."""
    thread = QThread()
    thread.setObjectName(f"{type(worker).__name__}Thread")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: QThread.quit is thread-safe, and a queued call would wait for a GUI thread that may itself be
    # blocked in QThread.wait() (closeEvent), a deadlock.
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    _threads.append(thread)
    # no automatic garbage collection on this worker while it runs: it could destroy Qt objects there (gc_guard)
    gc_guard.hold_while_running(thread)
    thread.start()
    return thread


def running_threads() -> list[QThread]:
    """Worker threads still running; finished ones are forgotten here."""
    _threads[:] = [t for t in _threads if not t.isFinished()]
    return [t for t in _threads if t.isRunning()]


def join_all() -> None:
    """Wait for every worker thread to finish (stop the workers first: each stops within one step)."""
    for thread in list(_threads):
        thread.wait()
    running_threads()  # forget the finished ones


class Worker(QObject):
    """Base class: pause / resume / stop flags honoured between items of the work, and error reporting."""

    failed = Signal(str)
    done = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.is_done = False  # set on the worker thread just before ``done``

    # ---------------------------------------------------------------- control (any thread)
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused worker must wake up to stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------- the thread
    @Slot()
    def run(self) -> None:
        try:
            self.work()
        except Exception as exc:  # every failure becomes a message; the window stays usable
            if not isinstance(exc, (TrainingDiverged, CheckpointWriteError, DataError, ConfigError, RunError)):
                logger.exception("%s failed", type(self).__name__)
            self.failed.emit(describe_error(exc))
        finally:
            # Back to the GUI thread, so the object is used and collected there once this thread has ended.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.is_done = True
            self.done.emit()

    def work(self) -> None:
        raise NotImplementedError

    def wait_if_paused(self) -> bool:
        """Block while paused (serving :meth:`service` meanwhile); False when the worker should stop."""
        while not self._running.wait(PAUSE_POLL_S):
            self.service()
        return not self._stop.is_set()

    def service(self) -> None:
        """Requests a subclass handles between items and while paused (e.g. a save)."""


class Throttle:
    """True at most once per ``interval`` seconds (the first call always passes)."""

    def __init__(self, interval: float = EMIT_INTERVAL_S) -> None:
        self.interval = interval
        self._last = -float("inf")

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


# -------------------------------------------------------------------- conversions for display
def reference_points(dataset: DataSet | None) -> np.ndarray | None:
    """Up to MAX_REFERENCE_POINTS training points of a 2-D set, in data coordinates (None for images)."""
    if dataset is None or dataset.kind != "points":
        return None
    stride = max(1, dataset.train.shape[0] // MAX_REFERENCE_POINTS)
    points = dataset.to_data_space(dataset.train[::stride][:MAX_REFERENCE_POINTS])
    return points.detach().cpu().numpy().astype(np.float32)


def to_display(pipeline: DiffusionPipeline, x: torch.Tensor) -> np.ndarray:
    """A model-space batch as a new display array: uint8 (N, H, W, C) images or float32 (N, 2) points."""
    if pipeline.kind == "images":
        return pipeline.to_uint8(x)
    return pipeline.to_data_space(x).numpy().astype(np.float32, copy=True)


def save_run(trainer: Trainer, run_dir: str | os.PathLike[str], records: list[dict]) -> Path:
    """Write the trainer to ``run_dir`` in the CLI's run-folder format: config, loss history, checkpoint.

    Call from the thread that owns the trainer (or while nothing trains). A new folder must be empty (or not
    exist yet): one that holds another run, or any of the user's files, is refused, so nothing is overwritten.
    """
    run_dir = Path(run_dir)
    same = trainer.run_dir is not None and Path(trainer.run_dir).resolve() == run_dir.resolve()
    if not same:
        if list_checkpoints(run_dir) or (run_dir / "metrics.jsonl").exists():
            raise RunError(f"{run_dir} already holds a run; choose an empty folder (nothing was overwritten)")
        entries = sorted(entry.name for entry in run_dir.iterdir()) if run_dir.is_dir() else []
        if entries or (run_dir.exists() and not run_dir.is_dir()):
            held = f"holds {len(entries)} item(s) such as {entries[0]!r}" if entries else "is a file"
            raise RunError(f"{run_dir} {held}; a run is saved into an empty folder: choose or create one "
                           "(nothing was written)")
        trainer.set_run_dir(run_dir)
        if records:
            try:
                append_metrics(run_dir, records)
            except OSError as exc:
                raise CheckpointWriteError(f"cannot write the loss history to {run_dir}: {exc}") from exc
    path = trainer.save_checkpoint()
    assert path is not None
    return run_dir


@dataclass
class OpenedRun:
    """A run folder loaded for the studio: a trainer to continue, or (data missing) a pipeline to sample."""

    run_dir: str
    config: RunConfig
    kind: str
    records: list[dict]
    trainer: Trainer | None
    pipeline: DiffusionPipeline | None
    dataset: DataSet | None
    warning: str | None


def open_run(run_dir: str) -> OpenedRun:
    """Load a run folder written by the CLI or the studio, ready to continue training (slow: call off-thread).

    A device the run names but this machine lacks falls back to "auto"; data that cannot be found any more
    still gives a pipeline to sample from, with a warning.
    """
    config = load_run_config(run_dir)
    records = read_metrics(run_dir)
    warning = None
    device = config.train.device
    if device != "auto" and device.split(":")[0] not in {d.split(":")[0] for d in available_devices()}:
        config.train.device = "auto"
        warning = f"the run was trained on {device!r}, which this machine lacks; it continues on 'auto'"
    try:
        trainer = Trainer(config, run_dir=run_dir, resume=True)
    except (DataError, RuntimeError) as exc:  # e.g. data moved away, or a training state from another device
        pipeline = load_pipeline(run_dir, config.train.device)
        reason = ("its data could not be loaded" if isinstance(exc, DataError)
                  else "its training state cannot be resumed here")
        note = f"{reason} ({describe_error(exc)}): you can sample it, not continue training it"
        dataset = None
        if not isinstance(exc, DataError):  # the data itself is fine: keep it for the forward comparison
            dataset = load_dataset(config.data.dataset, image_size=config.data.image_size,
                                   num_points=config.data.num_points, num_images=config.data.num_images,
                                   seed=config.train.seed)
        return OpenedRun(run_dir, config, pipeline.kind, records, None, pipeline, dataset,
                         f"{warning}; {note}" if warning else note)
    return OpenedRun(run_dir, config, trainer.kind, records, trainer, None, trainer.dataset, warning)


def probe_dataset(spec: str, num_points: int, num_images: int, seed: int) -> tuple[str, DataSet]:
    """Load a user's file or folder (slow for big folders: call off-thread); returns (spec, data set)."""
    return spec, load_dataset(spec, num_points=num_points, num_images=num_images, seed=seed)


# -------------------------------------------------------------------- training
class TrainingWorker(Worker):
    """Builds (or continues) a :class:`Trainer` on its thread and streams its events to the GUI.

    Args:
        config: the run's settings (a new trainer is built from them unless ``trainer`` is given).
        trainer: an existing trainer to continue; ``config.train.steps`` becomes its new target.
        dataset: an already loaded data set matching ``config.data`` (saves loading it twice).
    """

    trainerReady = Signal(object)  # the Trainer, once built (before the first step)
    lossPoints = Signal(object)  # list[TrainStep], batched
    progress = Signal(int, int, float)  # step, total steps, steps per second
    preview = Signal(object)  # SampleSet
    previewFailed = Signal(str)  # why a preview could not be drawn; training goes on
    checkpointSaved = Signal(int, str)
    runSaved = Signal(str)
    saveFailed = Signal(str)  # a requested save failed; training goes on
    finishedTraining = Signal(int, str)  # step, reason ("completed" / "stopped")

    def __init__(
        self,
        config: RunConfig,
        trainer: Trainer | None = None,
        dataset: DataSet | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.trainer = trainer
        self._dataset = dataset
        self._save_lock = threading.Lock()
        self._save_request: tuple[str, list[dict]] | None = None

    def request_save(self, run_dir: str, records: list[dict]) -> None:
        """Save between two steps (or at once while paused); answered by ``runSaved`` or ``saveFailed``."""
        with self._save_lock:
            self._save_request = (run_dir, list(records))

    def stop(self) -> None:
        super().stop()
        if self.trainer is not None:
            self.trainer.request_stop()

    def service(self) -> None:
        with self._save_lock:
            request, self._save_request = self._save_request, None
        if request is None or self.trainer is None:
            return
        try:
            path = save_run(self.trainer, *request)
        except (RunError, CheckpointWriteError, OSError) as exc:
            self.saveFailed.emit(describe_error(exc))
            return
        self.runSaved.emit(str(path))

    def work(self) -> None:
        if self.trainer is None:
            self.trainer = Trainer(self.config, dataset=self._dataset)  # in memory until the user saves
        else:
            self.trainer.config.train = self.config.train
        trainer = self.trainer
        self.trainerReady.emit(trainer)
        pipeline = trainer.pipeline()
        reference = reference_points(trainer.dataset)
        pending: list[TrainStep] = []
        emit = Throttle(TRAIN_EMIT_INTERVAL_S)
        step, total, speed = trainer.step, trainer.total_steps, 0.0
        if self._stop.is_set():
            self.finishedTraining.emit(step, "stopped")
            return
        for event in trainer.train():
            if self._stop.is_set():
                trainer.request_stop()
            step = getattr(event, "step", step)
            if isinstance(event, TrainStep):
                pending.append(event)
                speed = event.steps_per_sec
            elif isinstance(event, PreviewReady):
                samples = to_display(pipeline, event.samples)
                caption = f"Preview at step {event.step} ({trainer.config.train.preview_steps} steps)"
                self.preview.emit(SampleSet(pipeline.kind, samples, reference, caption, event.step))
            elif isinstance(event, PreviewFailed):
                self.previewFailed.emit(event.message)
            elif isinstance(event, CheckpointSaved):
                self.checkpointSaved.emit(event.step, str(event.path))
            elif isinstance(event, TrainingFinished):
                self._flush(pending, step, total, speed)
                self.finishedTraining.emit(event.step, event.reason)
                return
            if emit.ready():
                self._flush(pending, step, total, speed)
            self.service()
            if not self.wait_if_paused():
                trainer.request_stop()

    def _flush(self, pending: list[TrainStep], step: int, total: int, speed: float) -> None:
        if pending:
            self.lossPoints.emit(list(pending))
            pending.clear()
        self.progress.emit(step, total, speed)


# -------------------------------------------------------------------- sampling
class SamplingWorker(Worker):
    """Runs the reverse process and records every step (x_t, x0_hat and the forward comparison) compactly.

    Args:
        pipeline: a callable returning the :class:`DiffusionPipeline` to sample (called on the worker thread).
        num_samples, num_steps, method, eta, seed: as in :meth:`DiffusionPipeline.sample`.
        dataset: real data for the forward comparison x_t = q_sample(x_0, t) and the scatter background.
    """

    frame = Signal(object)  # TrajectoryFrame, the latest one (throttled)
    progress = Signal(int, int)  # steps done, steps in all
    finishedSampling = Signal(object)  # TrajectoryStore (partial when stopped)

    def __init__(
        self,
        pipeline: Callable[[], DiffusionPipeline],
        num_samples: int,
        num_steps: int,
        method: str = "ancestral",
        eta: float = 0.0,
        seed: int = 0,
        dataset: DataSet | None = None,
        budget_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self._pipeline = pipeline
        self.num_samples = num_samples
        self.num_steps = num_steps
        self.method = method
        self.eta = eta
        self.seed = seed
        self._dataset = dataset
        self._budget = budget_bytes

    def _forward_source(self, pipeline: DiffusionPipeline) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(x_0, noise) in model space for the forward comparison: held-out data first, then training data."""
        data = self._dataset
        if data is None or tuple(data.data_shape) != tuple(pipeline.data_shape):
            return None
        pool = torch.cat([data.heldout, data.train]) if data.heldout.shape[0] < self.num_samples else data.heldout
        generator = torch.Generator().manual_seed(self.seed + 1)
        index = torch.randperm(pool.shape[0], generator=generator)[: self.num_samples]
        if index.numel() < self.num_samples:  # a tiny data set: repeat it
            index = index.repeat(self.num_samples // index.numel() + 1)[: self.num_samples]
        x0 = pool[index].float()
        return x0, torch.randn(x0.shape, generator=generator)

    def work(self) -> None:
        pipeline = self._pipeline()
        T = pipeline.diffusion.num_timesteps
        taus = respaced_timesteps(T, self.num_steps)
        K = len(taus)
        source = self._forward_source(pipeline)
        item_shape = (self.num_samples, *pipeline.data_shape[1:], pipeline.data_shape[0]) \
            if pipeline.kind == "images" else (self.num_samples, *pipeline.data_shape)
        store_args: dict[str, Any] = {} if self._budget is None else {"budget_bytes": self._budget}
        store = TrajectoryStore(pipeline.kind, K, item_shape, with_forward=source is not None,
                                reference=reference_points(self._dataset), **store_args)
        method = "DDIM" if self.method == "ddim" else "ancestral"
        store.caption = f"{method}, {K} steps" + (f", η = {self.eta:g}" if self.method == "ddim" else "")
        emit = Throttle()
        done = 0
        for record in pipeline.sample(self.num_samples, num_steps=self.num_steps, method=self.method,
                                      eta=self.eta, seed=self.seed):
            done = record.index + 1
            if store.keeps(record.index):
                # the state after the step sits at the next step's noise level; after the last one it is x_0
                t_state = taus[K - 2 - record.index] + 1 if record.index < K - 1 else 0
                forward = None
                if source is not None:
                    x0, noise = source
                    if t_state > 0:
                        t = torch.full((x0.shape[0],), t_state - 1, dtype=torch.long)
                        noised = pipeline.diffusion.q_sample(x0, t, noise)
                    else:
                        noised = x0
                    forward = to_display(pipeline, noised)
                position = store.append(record.index, record.t + 1, t_state, to_display(pipeline, record.x),
                                        to_display(pipeline, record.x0_hat), forward)
                if emit.ready() or done == K:
                    self.frame.emit(_copy_frame(store.frame(position)))
                    self.progress.emit(done, K)
            if not self.wait_if_paused():
                break
        self.progress.emit(done, K)
        self.finishedSampling.emit(store)


def _copy_frame(frame: TrajectoryFrame) -> TrajectoryFrame:
    return TrajectoryFrame(
        frame.position, frame.step, frame.num_steps, frame.t_fed, frame.t_state, frame.x.copy(),
        frame.x0_hat.copy(), None if frame.forward is None else frame.forward.copy(),
    )


# -------------------------------------------------------------------- one-shot tasks
class TaskWorker(Worker):
    """Runs ``fn(*args)`` once on a thread: ``result(object)`` on success, ``failed(str)`` otherwise."""

    result = Signal(object)

    def __init__(self, fn: Callable[..., Any], *args: Any, label: str = "") -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self.label = label
        self.locks_trainer = False  # set by the main window for tasks that read or replace the trainer

    def work(self) -> None:
        value = self._fn(*self._args)
        self.result.emit(value)
