"""Turn samples in model space into a picture: an image grid for images, a scatter plot for 2-D points."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.core.io.export import image_grid, save_png, scatter_image, upscale_nearest
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.guidance import row_length

#: Grids are enlarged to at least this many pixels across so 16 x 16 digits are readable.
MIN_GRID_PIXELS = 384
#: Point colours by requested class (matplotlib's tab10, as the studio), cycling beyond 10 classes.
CLASS_RGB = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                      (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)], np.uint8)


def preview_image(
    pipeline: DiffusionPipeline,
    samples: torch.Tensor,
    reference: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    """A uint8 (H, W, C) picture of ``samples`` (model space, (N, ...)).

    Images: a grid, upscaled (nearest) so it is at least ~384 pixels wide. Points: a scatter in the data's own
    coordinates with ``reference`` (model-space data, e.g. the held-out set) in grey behind. ``labels`` (N,), the
    classes a conditional model was asked for (M34): one grid row per class when all were asked for, and points
    coloured by class.
    """
    if pipeline.kind == "images":
        grid = image_grid(pipeline.to_uint8(samples), ncols=row_length(labels))
        factor = max(1, math.ceil(MIN_GRID_PIXELS / grid.shape[1]))
        return upscale_nearest(grid, factor)
    points = pipeline.to_data_space(samples).numpy()
    background = pipeline.to_data_space(reference).numpy() if reference is not None else None
    colors = None if labels is None else CLASS_RGB[np.asarray(labels) % len(CLASS_RGB)]
    return scatter_image(points, background=background, colors=colors)


def save_preview(
    pipeline: DiffusionPipeline,
    samples: torch.Tensor,
    path: str | os.PathLike[str],
    reference: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> Path:
    """Write :func:`preview_image` as a PNG (atomically)."""
    return save_png(path, preview_image(pipeline, samples, reference, labels))


def off_support_note(samples: np.ndarray, reference: np.ndarray | None) -> str:
    """"off-support 4.2 %" for 2-D samples (N, 2) over training points (M, 2), both in data coordinates; "" when
    there is no reference or no finite sample.

    The share of samples outside the region holding 99 % of the reference points
    (:func:`ddpm_studio.core.scores.metrics.off_support_fraction`): the haze between modes that the eye sees and the
    sliced Wasserstein distance does not. About 1 % for samples of the data's own distribution.
    """
    from ddpm_studio.core.scores.metrics import off_support_fraction

    if reference is None or len(reference) < 2:
        return ""
    finite = samples[np.isfinite(samples).all(axis=1)]
    if len(finite) == 0:
        return ""
    return f"off-support {100 * off_support_fraction(finite, reference):.1f} %"
