"""Runs a sampler race (:func:`ddpm_studio.core.analysis.race.race`) on a worker thread for the Race dock.

The race yields model-space tensors; the worker turns each into display arrays (uint8 image grids or 2-D points in
the data's coordinates) as new copies before they cross to the GUI thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from ddpm_studio.core.analysis.race import RaceFinished, RaceFrame, RaceProgress, Runner, log_snr, race
from ddpm_studio.core.analysis.race_spread import with_spread
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.docks.race import RaceDock
from ddpm_studio.gui.jobs.runner import MODEL, Job, Throttle, runner


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


@dataclass(frozen=True)
class RaceEnded:
    """The race's last item: the final scores per lane (empty dicts when stopped or unscored) and whether it stopped."""

    scores: list
    stopped: bool


def race_job(pipeline: Callable[[], DiffusionPipeline], runners: list[Runner], num_steps: int, num_samples: int,
             seed: int = 0, dataset: DataSet | None = None, cache_dir: str | None = None, *,
             stop: threading.Event):
    """The job: race ``runners`` with ``num_steps`` evaluations each on ``num_samples`` items from one seeded x_T.

    ``pipeline`` is called on the job's thread; ``dataset`` gives the final quality scores (None: no scores).
    Yields ``RaceProgress`` (the reference run), :class:`RaceDisplayFrame` and, last, :class:`RaceEnded`.
    """
    pipeline_ = pipeline()
    score = None
    if dataset is not None and tuple(dataset.data_shape) == tuple(pipeline_.data_shape):
        scorers: list[QualityScorer] = []

        def plain_score(samples):
            # built only once the lanes are done (an image scorer may first train its feature network), and once
            if not scorers:
                scorers.append(QualityScorer(dataset, cache_dir=cache_dir, device=pipeline_.device))
            return scorers[0].score(samples)

        # each lane's score with its bootstrap spread: 16 samples' Fréchet score is too noisy to rank on alone
        score = with_spread(plain_score, seed=seed)
    for event in race(pipeline_, runners, num_steps, num_samples, seed=seed, score=score):
        if isinstance(event, RaceProgress):
            yield event
        elif isinstance(event, RaceFrame):
            level = math.inf if event.final else log_snr(event.abar)
            yield RaceDisplayFrame(event.lane, event.nfe, level, to_display(pipeline_, event.x),
                                   to_display(pipeline_, event.x0_hat), event.distance, event.final)
        elif isinstance(event, RaceFinished):
            yield RaceEnded(list(event.scores), False)
            return
        if stop.is_set():
            break
    yield RaceEnded([{} for _ in runners], True)


class RaceRunner(QObject):
    """Starts and stops the race job and feeds its items to the Race dock (no thread of its own).

    Signals:
        runningChanged: a race started or ended (the window re-checks which actions are enabled).
        failed(str): the race stopped on an error (the message box text).
    """

    runningChanged = Signal()
    failed = Signal(str)

    def __init__(self, dock: RaceDock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dock = dock
        self.worker: Job | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, pipeline: Callable[[], DiffusionPipeline], kind: str, dataset: DataSet | None,
              runners: list[Runner], num_steps: int, num_samples: int, seed: int) -> None:
        if self.worker is not None:
            return
        job = runner().start("race", race_job, pipeline, list(runners), num_steps, num_samples, seed, dataset,
                             cooperative=True, throttle=Throttle(urgent=(RaceEnded,)), reads={MODEL},
                             owner=self.parent(), on_events=self._events, on_error=self.failed.emit,
                             on_done=self._done)
        if job is None:
            return
        self.worker = job
        self.dock.begin(runners, kind, reference_points(dataset))
        self.dock.set_running(True)
        self.runningChanged.emit()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def _events(self, items: list) -> None:
        for item in items:
            if isinstance(item, RaceProgress):
                self.dock.reference_progress(item.done, item.total)
            elif isinstance(item, RaceDisplayFrame):
                self.dock.add_frame(item)
            elif isinstance(item, RaceEnded):
                self.dock.finish(item.scores, item.stopped)

    def _done(self) -> None:
        self.worker = None
        self.dock.set_running(False)
        self.runningChanged.emit()
