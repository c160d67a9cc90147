"""What the studio's Export menu writes, built on :mod:`ddpm_studio.core.export` (no Qt here).

Each function takes the display-ready containers of :mod:`ddpm_studio.gui.trajectory_store` and a path, and is
run on a worker thread by the main window (a GIF of a thousand frames takes a moment to encode).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpm_studio.core.export import (
    image_grid,
    save_csv,
    save_gif,
    save_npz,
    save_png,
    scatter_image,
    subsample_indices,
    upscale_nearest,
)
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryStore, scatter_bounds

PathLike = str | os.PathLike[str]

#: Tiny images (16x16) are enlarged by whole pixels so an exported grid is readable, at most to this width.
TARGET_WIDTH_PX = 640
SINGLE_TARGET_WIDTH_PX = 320
#: A trajectory GIF keeps at most this many frames (always the first and the last).
MAX_GIF_FRAMES = 120
SCATTER_SIZE_PX = 512
#: Columns between the x_t and x0_hat halves of a GIF frame.
GIF_GAP_PX = 8


@dataclass(frozen=True)
class ExportFormat:
    """One entry of the Export dialog: the name filter shown, the file suffix, and what it writes."""

    key: str
    name_filter: str
    suffix: str


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("grid", "Sample grid, PNG image (*.png)", ".png"),
    ExportFormat("gif", "Reverse trajectory, animated GIF (*.gif)", ".gif"),
    ExportFormat("npz", "Samples, NumPy archive (*.npz)", ".npz"),
    ExportFormat("csv", "Loss history, CSV table (*.csv)", ".csv"),
)
SINGLE_FORMAT = ExportFormat("single", "Selected sample, PNG image (*.png)", ".png")


def format_for(path: PathLike, name_filter: str = "") -> ExportFormat:
    """The format a chosen path asks for: by the selected dialog filter, else by the file's suffix."""
    for fmt in (*FORMATS, SINGLE_FORMAT):
        if name_filter and name_filter == fmt.name_filter:
            return fmt
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS:
        if fmt.suffix == suffix:
            return fmt
    raise ValueError(f"cannot tell what to export from {Path(path).name!r}: use .png, .gif, .npz or .csv")


def with_suffix(path: PathLike, fmt: ExportFormat) -> Path:
    """Add the format's suffix when the user typed a bare name."""
    path = Path(path)
    return path if path.suffix.lower() == fmt.suffix else path.with_name(path.name + fmt.suffix)


def _upscale_factor(width: int, target: int = TARGET_WIDTH_PX) -> int:
    return max(1, target // max(1, width))


def sample_grid_image(samples: SampleSet) -> np.ndarray:
    """uint8 (H, W, C): images tiled and enlarged by whole pixels, or a scatter of points over the data."""
    if samples.kind == "images":
        grid = image_grid(samples.data, padding=1)
        return upscale_nearest(grid, _upscale_factor(grid.shape[1]))
    return scatter_image(samples.data, size=SCATTER_SIZE_PX, background=samples.reference)


def export_grid_png(path: PathLike, samples: SampleSet) -> Path:
    return save_png(path, sample_grid_image(samples))


def export_single_png(path: PathLike, samples: SampleSet, index: int) -> Path:
    """One image of an image batch, enlarged by whole pixels."""
    if samples.kind != "images":
        raise ValueError("single-sample export is for image data; export the sample grid for 2-D points")
    if not 0 <= index < len(samples):
        raise ValueError(f"sample {index} does not exist (the batch holds {len(samples)})")
    image = samples.data[index]
    return save_png(path, upscale_nearest(image, _upscale_factor(image.shape[1], SINGLE_TARGET_WIDTH_PX)))


def trajectory_frames(store: TrajectoryStore, max_frames: int = MAX_GIF_FRAMES) -> list[np.ndarray]:
    """GIF frames from noise to samples: x_t beside x0_hat (images), or x_t scattered over the data (points)."""
    if len(store) == 0:
        raise ValueError("there is no trajectory to export yet: sample first")
    positions = subsample_indices(len(store), max_frames)
    if store.kind == "points":
        bounds = scatter_bounds(store.reference, store.x[len(store) - 1], store.x[positions[0]])
        return [scatter_image(store.x[p], size=SCATTER_SIZE_PX, background=store.reference, bounds=bounds)
                for p in positions]
    frames = []
    for p in positions:
        left, right = image_grid(store.x[p], padding=1), image_grid(store.x0_hat[p], padding=1)
        gap = np.full((left.shape[0], GIF_GAP_PX, left.shape[2]), 255, np.uint8)
        frames.append(np.concatenate([left, gap, right], axis=1))
    factor = _upscale_factor(frames[0].shape[1] // 2)
    return [upscale_nearest(f, factor) for f in frames]


def export_trajectory_gif(path: PathLike, store: TrajectoryStore, duration_ms: int = 60) -> Path:
    return save_gif(path, trajectory_frames(store), duration_ms=duration_ms)


def export_samples_npz(path: PathLike, samples: SampleSet, store: TrajectoryStore | None = None) -> Path:
    """``samples`` (uint8 NHWC images or float32 (N, 2) points) and, with a trajectory, its timesteps."""
    arrays: dict[str, np.ndarray] = {"samples": samples.data, "kind": np.array(samples.kind),
                                     "training_step": np.array(samples.step)}
    if store is not None and len(store):
        arrays["trajectory_t"] = store.t_state[: len(store)].copy()
    return save_npz(path, **arrays)


LOSS_COLUMNS = ("step", "loss", "mse", "vlb", "lr", "steps_per_sec", "elapsed")


def export_loss_csv(path: PathLike, records: Sequence[dict]) -> Path:
    """One row per logged step; band_k is the mean loss over t in the k-th tenth of 1..T (empty if unseen)."""
    if not records:
        raise ValueError("there is no loss history yet: train first")
    num_bands = max(len(r.get("bands") or ()) for r in records)
    header = [*LOSS_COLUMNS, *(f"band_{k}" for k in range(num_bands))]
    rows = []
    for record in records:
        bands = list(record.get("bands") or ())
        rows.append([record.get(c) for c in LOSS_COLUMNS] + bands + [None] * (num_bands - len(bands)))
    return save_csv(path, header, rows)
