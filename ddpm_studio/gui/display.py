"""Display copies: what a job hands the GUI instead of live tensors (numpy arrays it owns, never shared memory)."""

from __future__ import annotations

import numpy as np
import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline

#: How many training points a 2-D scatter draws behind the samples.
MAX_REFERENCE_POINTS = 2000


def reference_points(dataset: DataSet | None) -> np.ndarray | None:
    """Up to MAX_REFERENCE_POINTS training points of a 2-D set, in data coordinates (None for images)."""
    if dataset is None or dataset.kind != "points":
        return None
    stride = max(1, dataset.train.shape[0] // MAX_REFERENCE_POINTS)
    points = dataset.to_data_space(dataset.train[::stride][:MAX_REFERENCE_POINTS])
    # detach().cpu().clone(): on the CPU .numpy() shares the tensor's memory, which the job may still write
    return points.detach().cpu().clone().numpy().astype(np.float32)


def to_display(pipeline: DiffusionPipeline, x: torch.Tensor) -> np.ndarray:
    """A model-space batch as a new display array: uint8 (N, H, W, C) images or float32 (N, 2) points."""
    if pipeline.kind == "images":
        return pipeline.to_uint8(x)
    return pipeline.to_data_space(x.detach().cpu().clone()).numpy().astype(np.float32, copy=True)
