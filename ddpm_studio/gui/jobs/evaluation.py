"""The evaluation jobs: the exact variational bound (likelihood dock) and the settings comparison (compare dialog).

Both yield the core's frozen records, which nothing mutates after they are yielded, and end on their own when
asked to stop, with :class:`Cancelled` as their last item.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ddpm_studio.core.analysis.bound import BOUND_BATCH_SIZE, BoundResult, iter_bound
from ddpm_studio.core.app.run_io import comparison_config
from ddpm_studio.core.compare import CompareFinished, CompareProgress, CompareRow, Setting, iter_compare
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.gui.jobs.runner import Throttle


@dataclass(frozen=True)
class Cancelled:
    """The job stopped when asked: ``done`` of ``total`` items were finished (the bound: timesteps)."""

    done: int = 0
    total: int = 0


def bound_throttle() -> Throttle:
    """Every finished timestep, batched at ~30 Hz; the result and a cancel at once."""
    return Throttle(urgent=(BoundResult, Cancelled))


def bound(pipeline: DiffusionPipeline, x0: torch.Tensor, batch_size: int = BOUND_BATCH_SIZE, seed: int = 0, *,
          stop: threading.Event):
    """The bound (MATH.md M14-M17) of ``pipeline`` on x0 (N, *data_shape), one timestep at a time."""
    pipeline.require_ddpm("The variational bound")
    done, total = 0, pipeline.diffusion.num_timesteps
    records = iter_bound(pipeline, x0, batch_size=batch_size, seed=seed)
    try:
        for record in records:
            yield record
            if isinstance(record, BoundResult):
                return
            done = record.done
            if stop.is_set():
                yield Cancelled(done, total)
                return
    finally:
        records.close()


class CompareThrottle(Throttle):
    """A new run or phase shows at once; steps within a phase at ~30 Hz; rows and the end at once."""

    def __init__(self) -> None:
        super().__init__(latest_only=False, urgent=(CompareRow, CompareFinished, Cancelled))
        self._stage: tuple[int, str] | None = None

    def due(self, item: object) -> bool:
        if isinstance(item, CompareProgress) and (item.run, item.phase) != self._stage:
            self._stage = (item.run, item.phase)
            self._last = time.monotonic()
            return True
        return super().due(item)


def compare(data: str, steps: int, out_dir: str | Path, settings: Sequence[Setting], num_timesteps: int,
            schedule: str | None = None, eval_examples: int = 512, sample_count: int | None = None,
            sample_steps: int | None = None, seed: int = 0, *, stop: threading.Event):
    """Train, bound, sample and score every setting in turn (Ho et al. 2020, Table 2 at desk scale)."""
    base = comparison_config(data, steps, num_timesteps, schedule, seed)
    if stop.is_set():
        yield Cancelled()
        return
    events = iter_compare(base.data.dataset, steps, Path(out_dir), settings=list(settings), seed=seed,
                          eval_examples=eval_examples, sample_count=sample_count, sample_steps=sample_steps,
                          base_config=base)
    try:
        for event in events:
            yield event
            if isinstance(event, CompareFinished):
                return
            if stop.is_set():
                yield Cancelled()
                return
    finally:
        events.close()
