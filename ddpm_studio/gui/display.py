"""Display copies: what a job hands the GUI instead of live tensors (numpy arrays it owns, never shared memory)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.gui.trajectory_store import SampleSet

#: How many training points a 2-D scatter draws behind the samples.
MAX_REFERENCE_POINTS = 2000
#: How many training images the data preview shows before a model exists.
DATA_PREVIEW_IMAGES = 64


def tiles_shown(count: int, columns: int | None, limit: int | None) -> int:
    """How many of ``count`` images a grid draws under a tile ``limit`` (None: all): whole rows of ``columns`` (a
    class-conditional grid, one class per row) when given, at least one row."""
    if limit is None or count <= limit:
        return count
    if columns:
        return min(count, columns * max(1, limit // columns))
    return limit


def reference_points(dataset: DataSet | None) -> np.ndarray | None:
    """Up to MAX_REFERENCE_POINTS training points of a 2-D set, in data coordinates (None for images)."""
    if dataset is None or dataset.kind != "points":
        return None
    stride = max(1, dataset.train.shape[0] // MAX_REFERENCE_POINTS)
    points = dataset.to_data_space(dataset.train[::stride][:MAX_REFERENCE_POINTS])
    # detach().cpu().clone(): on the CPU .numpy() shares the tensor's memory, which the job may still write
    return points.detach().cpu().clone().numpy().astype(np.float32)


def data_preview(dataset: DataSet | None, count: int = DATA_PREVIEW_IMAGES) -> SampleSet | None:
    """Up to ``count`` training images, uint8 (N, H, W, C), as a :class:`SampleSet` marked as data, shown before
    any model exists.

    None for points (their preview is the scatter behind the trajectory panels) or an empty set.
    """
    if dataset is None or dataset.kind != "images" or not len(dataset.train):
        return None
    images = dataset.to_uint8_images(dataset.train[:count])
    caption = f"Training data, not samples: {len(images)} of {len(dataset.train):,} {dataset.name} images"
    return SampleSet("images", images, None, caption, 0, is_data=True)


def to_display(pipeline: DiffusionPipeline, x: torch.Tensor) -> np.ndarray:
    """A model-space batch as a new display array: uint8 (N, H, W, C) images or float32 (N, 2) points."""
    if pipeline.kind == "images":
        return pipeline.to_uint8(x)
    return pipeline.to_data_space(x.detach().cpu().clone()).numpy().astype(np.float32, copy=True)


# ---------------------------------------------------------------- the guidance sweep's items (M34)
@dataclass(frozen=True)
class SweepDisplayRow:
    """One w, ready to draw: display samples (uint8 images or data-space points), their classes and scores."""

    guidance: float
    samples: np.ndarray
    labels: np.ndarray
    accuracy: float
    score: float
    floor: float


@dataclass(frozen=True)
class SweepEnded:
    """The sweep's last item; ``metric`` names its score ("Fréchet distance" or "sliced Wasserstein")."""

    metric: str
    stopped: bool


@dataclass(frozen=True)
class PathPicture:
    """One run's paths: ``states`` (K + 1, N, 2) in the data's coordinates on the linear clock, x_1 first."""

    slot: int
    title: str
    states: np.ndarray
    straightness: float
    method: str
