"""Workers for the evaluation views: the exact variational bound and the settings comparison.

Public API (both are :class:`~ddpm_studio.gui.workers.Worker` subclasses; start them with
:func:`~ddpm_studio.gui.workers.start_worker`, stop them with ``stop()``, which takes effect at the next item):

- :class:`EvalWorker` consumes :func:`ddpm_studio.core.evaluation.iter_bound` and emits
  ``progress(list[BoundProgress])`` (batched, at most ~30 Hz), then ``finishedBound(BoundResult)`` or
  ``cancelled(done, total)``.
- :class:`CompareWorker` consumes :func:`ddpm_studio.core.compare.iter_compare` and emits
  ``progress(CompareProgress)`` (the latest, at most ~30 Hz, plus every change of run or phase),
  ``row(CompareRow)`` per finished setting, then ``finishedCompare(CompareFinished)`` or ``cancelled()``.

As for every worker, ``failed(str)`` carries a one-line error and ``done`` is always the last signal. The records
handed over are the core's frozen dataclasses, which nothing mutates after they are yielded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PySide6.QtCore import Signal

from ddpm_studio.core.compare import (
    CompareFinished,
    CompareProgress,
    CompareRow,
    Setting,
    compare_config,
    iter_compare,
)
from ddpm_studio.core.data import BUILTIN_DATASETS, load_dataset
from ddpm_studio.core.evaluation import BOUND_BATCH_SIZE, BoundProgress, BoundResult, iter_bound
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.training.config import RunConfig
from ddpm_studio.gui.workers import Throttle, Worker


class EvalWorker(Worker):
    """Evaluates the exact variational bound (MATH.md M14-M17) of ``pipeline`` on ``x0``, one t at a time.

    Args:
        pipeline: the trained run (e.g. ``trainer.pipeline()``); its weights must not change while this runs.
        x0: (N, *data_shape) held-out examples in model space.
        batch_size, seed: as in :func:`~ddpm_studio.core.evaluation.iter_bound`.
    """

    progress = Signal(object)  # list[BoundProgress]: every timestep finished since the last emission
    finishedBound = Signal(object)  # BoundResult
    cancelled = Signal(int, int)  # timesteps done, T

    def __init__(
        self, pipeline: DiffusionPipeline, x0: torch.Tensor, batch_size: int = BOUND_BATCH_SIZE, seed: int = 0
    ) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.x0 = x0
        self.batch_size = batch_size
        self.seed = seed

    def work(self) -> None:
        pending: list[BoundProgress] = []
        emit = Throttle()
        done, total = 0, self.pipeline.diffusion.num_timesteps
        records = iter_bound(self.pipeline, self.x0, batch_size=self.batch_size, seed=self.seed)
        try:
            for record in records:
                if isinstance(record, BoundResult):
                    self._flush(pending)
                    self.finishedBound.emit(record)
                    return
                pending.append(record)
                done = record.done
                if emit.ready():
                    self._flush(pending)
                if not self.wait_if_paused():
                    self._flush(pending)
                    self.cancelled.emit(done, total)
                    return
        finally:
            records.close()

    def _flush(self, pending: list[BoundProgress]) -> None:
        if pending:
            self.progress.emit(list(pending))
            pending.clear()


def comparison_config(
    data: str, steps: int, num_timesteps: int, schedule: str | None = None, seed: int = 0
) -> RunConfig:
    """The shared settings of a comparison run from the dialog (what ``ddpm-studio compare`` builds from flags).

    :func:`~ddpm_studio.core.compare.compare_config` for the data's kind, with T and the schedule replaced.
    A path is loaded once to learn its kind (slow for a big folder: call it off the GUI thread).

    Raises:
        DataError: the data cannot be loaded. ConfigError: the settings do not validate (e.g. a linear
            schedule with T <= 20).
    """
    kind = BUILTIN_DATASETS.get(data) or load_dataset(data, seed=seed).kind
    config = compare_config(data, kind, steps, seed=seed)
    config.diffusion.num_timesteps = num_timesteps
    if schedule is not None:
        config.diffusion.schedule = schedule
    # previews are off in a comparison, but the config still requires preview_steps <= T
    config.train.preview_steps = min(config.train.preview_steps, num_timesteps)
    return config.validate()


class CompareWorker(Worker):
    """Trains, bounds, samples and scores every setting in turn (Ho et al. 2020, Table 2 at desk scale).

    Args:
        data: a built-in data set name or a path. steps: training steps per setting. out_dir: the comparison
            folder (one run folder per setting, plus compare.csv and compare.md).
        settings: the rows to run. num_timesteps: T. schedule: "linear" / "cosine", or None for the kind's default.
        eval_examples, sample_count, sample_steps, seed: as in :func:`~ddpm_studio.core.compare.iter_compare`.
    """

    progress = Signal(object)  # CompareProgress, the latest one
    row = Signal(object)  # CompareRow
    finishedCompare = Signal(object)  # CompareFinished
    cancelled = Signal()

    def __init__(
        self,
        data: str,
        steps: int,
        out_dir: str | Path,
        settings: Sequence[Setting],
        num_timesteps: int,
        schedule: str | None = None,
        eval_examples: int = 512,
        sample_count: int | None = None,
        sample_steps: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data = data
        self.steps = steps
        self.out_dir = Path(out_dir)
        self.settings = list(settings)
        self.num_timesteps = num_timesteps
        self.schedule = schedule
        self.eval_examples = eval_examples
        self.sample_count = sample_count
        self.sample_steps = sample_steps
        self.seed = seed

    def work(self) -> None:
        base = comparison_config(self.data, self.steps, self.num_timesteps, self.schedule, self.seed)
        if self.stopping:
            self.cancelled.emit()
            return
        events = iter_compare(
            base.data.dataset,
            self.steps,
            self.out_dir,
            settings=self.settings,
            seed=self.seed,
            eval_examples=self.eval_examples,
            sample_count=self.sample_count,
            sample_steps=self.sample_steps,
            base_config=base,
        )
        emit = Throttle()
        stage: tuple[int, str] | None = None
        try:
            for event in events:
                if isinstance(event, CompareProgress):
                    # a new run or phase always shows at once; steps within a phase are throttled
                    if (event.run, event.phase) != stage or emit.ready() or event.done == event.total:
                        stage = (event.run, event.phase)
                        self.progress.emit(event)
                elif isinstance(event, CompareRow):
                    self.row.emit(event)
                elif isinstance(event, CompareFinished):
                    self.finishedCompare.emit(event)
                    return
                if not self.wait_if_paused():
                    self.cancelled.emit()
                    return
        finally:
            events.close()
