"""Runs a sampler race (:func:`ddpm_studio.core.race.race`) on a worker thread for the Race dock.

The race yields model-space tensors; the worker turns each into display arrays (uint8 image grids or 2-D points in
the data's coordinates) as new copies before they cross to the GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.evaluation import QualityScorer
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.race import RaceFinished, RaceFrame, RaceProgress, Runner, log_snr, race
from ddpm_studio.gui.docks.race import RaceDock
from ddpm_studio.gui.workers import Worker, reference_points, start_worker, to_display


@dataclass(frozen=True)
class RaceDisplayFrame:
    """One lane's evaluation, ready to draw: display arrays and the state's log SNR (+inf at x_0)."""

    lane: int
    nfe: int
    log_snr: float
    x: np.ndarray
    x0_hat: np.ndarray
    distance: float
    final: bool


class RaceWorker(Worker):
    """Race ``runners`` with ``num_steps`` evaluations each on ``num_samples`` items from one seeded x_T.

    Args:
        pipeline: a callable returning the model to race (called on the worker thread).
        dataset: the run's data for the final quality scores (None: no scores).
    """

    referenceProgress = Signal(int, int)
    frame = Signal(object)  # RaceDisplayFrame
    finishedRace = Signal(object, bool)  # list of score dicts per lane, stopped?

    def __init__(self, pipeline: Callable[[], DiffusionPipeline], runners: list[Runner], num_steps: int,
                 num_samples: int, seed: int = 0, dataset: DataSet | None = None,
                 cache_dir: str | None = None) -> None:
        super().__init__()
        self._pipeline = pipeline
        self.runners = list(runners)
        self.num_steps = num_steps
        self.num_samples = num_samples
        self.seed = seed
        self._dataset = dataset
        self._cache_dir = cache_dir

    def work(self) -> None:
        pipeline = self._pipeline()
        score = None
        dataset, cache_dir = self._dataset, self._cache_dir
        if dataset is not None and tuple(dataset.data_shape) == tuple(pipeline.data_shape):
            def score(samples):
                # built only once the lanes are done: an image scorer may first train its feature network
                return QualityScorer(dataset, cache_dir=cache_dir, device=pipeline.device).score(samples)
        stopped = False
        for event in race(pipeline, self.runners, self.num_steps, self.num_samples, seed=self.seed, score=score):
            if isinstance(event, RaceProgress):
                self.referenceProgress.emit(event.done, event.total)
            elif isinstance(event, RaceFrame):
                level = math.inf if event.final else log_snr(event.abar)
                self.frame.emit(RaceDisplayFrame(
                    event.lane, event.nfe, level, to_display(pipeline, event.x),
                    to_display(pipeline, event.x0_hat), event.distance, event.final,
                ))
            elif isinstance(event, RaceFinished):
                self.finishedRace.emit(list(event.scores), False)
                return
            if not self.wait_if_paused():
                stopped = True
                break
        self.finishedRace.emit([{} for _ in self.runners], stopped)


class RaceRunner(QObject):
    """Starts, stops and forgets the one race worker, and feeds its events to the Race dock.

    Signals:
        runningChanged: a race started or ended (the window re-checks which actions are enabled).
        failed(str): the race stopped on an error (the message box text).
    """

    runningChanged = Signal()
    failed = Signal(str)

    def __init__(self, dock: RaceDock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dock = dock
        self.worker: RaceWorker | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, pipeline: Callable[[], DiffusionPipeline], kind: str, dataset: DataSet | None,
              runners: list[Runner], num_steps: int, num_samples: int, seed: int) -> None:
        if self.worker is not None:
            return
        worker = RaceWorker(pipeline, runners, num_steps, num_samples, seed=seed, dataset=dataset)
        worker.referenceProgress.connect(self.dock.reference_progress)
        worker.frame.connect(self.dock.add_frame)
        worker.finishedRace.connect(self.dock.finish)
        worker.failed.connect(self.failed)
        worker.done.connect(self._done)
        self.worker = worker
        self.dock.begin(runners, kind, reference_points(dataset))
        self.dock.set_running(True)
        start_worker(worker)
        self.runningChanged.emit()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def _done(self) -> None:
        self.worker = None
        self.dock.set_running(False)
        self.runningChanged.emit()
