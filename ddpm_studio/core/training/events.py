"""What the training loop yields: small immutable records a CLI, a GUI or a test consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ddpm_studio.core.training.snapshots import Snapshot


@dataclass(frozen=True)
class Heartbeat:
    """One optimiser step finished (emitted on steps that are not logged): a point to pause or stop at.
    ``steps_per_sec``: the wall-clock speed when a consumer measured it (:func:`.speed.with_speed`), else 0."""

    step: int
    steps_per_sec: float = 0.0


@dataclass(frozen=True)
class TrainStep:
    """Averages over the steps since the last report.

    Attributes:
        step: optimiser steps done so far. total_steps: the run's target.
        loss, mse, vlb: window means of the objective, of the simple MSE (M18) and of the per-dimension
            single-t bound estimate (M17).
        band_losses: mean loss per band of t (band k covers t in [k T / n, (k + 1) T / n)); None where the
            window drew no t in the band.
        lr: learning rate now. steps_per_sec: throughput over the window. elapsed: training seconds so far.
    """

    step: int
    total_steps: int
    loss: float
    mse: float
    vlb: float
    lr: float
    steps_per_sec: float
    elapsed: float
    band_losses: tuple[float | None, ...] = field(default_factory=tuple)

    def to_record(self) -> dict:
        """The line written to metrics.jsonl."""
        return {
            "step": self.step,
            "loss": self.loss,
            "mse": self.mse,
            "vlb": self.vlb if math.isfinite(self.vlb) else None,  # a flow run has no bound: null, not NaN
            "lr": self.lr,
            "steps_per_sec": self.steps_per_sec,
            "elapsed": self.elapsed,
            "bands": list(self.band_losses),
        }


@dataclass(frozen=True)
class PreviewReady:
    """Preview samples drawn with the EMA weights: ``samples`` is a CPU copy in model space, (N, ...)."""

    step: int
    samples: torch.Tensor


@dataclass(frozen=True)
class PreviewFailed:
    """Drawing the preview failed (e.g. a sampler error); training goes on. ``message`` says why, in one line."""

    step: int
    message: str


@dataclass(frozen=True)
class SnapshotTaken:
    """A training snapshot (:mod:`.snapshots`): the samples of the fixed noise at ``step``.

    ``snapshot`` holds them (numpy, data coordinates / uint8 pixels); ``dropped``: steps of earlier snapshots
    pruned to keep the series within its cap; ``path``: the file written, None for a run kept in memory.
    """

    step: int
    snapshot: Snapshot
    dropped: tuple[int, ...] = ()
    path: Path | None = None


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class TrainingFinished:
    """The loop ended: ``reason`` is "completed" (reached total_steps), "stopped" (asked to stop) or "converged"
    (early stopping: the held-out quality stopped improving; ``detail`` says how)."""

    step: int
    reason: str
    detail: str = ""


TrainEvent = (Heartbeat | TrainStep | PreviewReady | PreviewFailed | SnapshotTaken | CheckpointSaved
              | TrainingFinished)
