"""What the studio's Export menu writes, built on :mod:`ddpm_studio.core.io.export` (no Qt here).

Each function takes the display-ready containers of :mod:`ddpm_studio.gui.trajectory_store` and a path, and is
run on a worker thread by the main window (a GIF of a thousand frames takes a moment to encode).

Pictures carry what the screen shows: a sample grid its caption, every trajectory frame its t and abar_t (and
the x_t / predicted x_0 titles), in a white band above the picture (:mod:`ddpm_studio.core.io.captions`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpm_studio.core.io.captions import add_caption, wrap_caption
from ddpm_studio.core.io.export import (
    image_grid,
    save_csv,
    save_gif,
    save_npz,
    save_png,
    scatter_image,
    side_by_side,
    subsample_indices,
    upscale_nearest,
)
from ddpm_studio.gui.style import PREDICTION_COLOR, SAMPLE_COLOR
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryFrame, TrajectoryStore, fraction_outside

PathLike = str | os.PathLike[str]

#: Tiny images (16x16) are enlarged by whole pixels so an exported grid is readable, at most to this width.
TARGET_WIDTH_PX = 640
SINGLE_TARGET_WIDTH_PX = 320
#: A trajectory GIF keeps at most this many frames (always the first and the last).
MAX_GIF_FRAMES = 120
SCATTER_SIZE_PX = 512
#: Columns between the x_t and x0_hat halves of a GIF frame.
GIF_GAP_PX = 8
#: Panel titles over a trajectory frame's halves (as on screen).
X_T_TITLE = "x_t"
X0_HAT_TITLE = "predicted x_0"
#: A frame's x0_hat title says how much of it lies outside the picture once more than this share does.
OFF_VIEW_NOTE_SHARE = 0.005


@dataclass(frozen=True)
class ExportFormat:
    """One entry of the Export dialog: the name filter shown, the file suffix, and what it writes.

    ``options`` are keyword arguments for the export function (e.g. a GIF with or without x0_hat).
    """

    key: str
    name_filter: str
    suffix: str
    options: tuple[tuple[str, object], ...] = ()


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("grid", "Sample grid, PNG image (*.png)", ".png"),
    ExportFormat("gif", "Reverse trajectory, animated GIF (*.gif)", ".gif"),  # x_t beside x0_hat, as on screen
    ExportFormat("gif", "Reverse trajectory, x_t only, animated GIF (*.gif)", ".gif", (("with_x0_hat", False),)),
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


def sample_grid_image(samples: SampleSet, caption: bool = True) -> np.ndarray:
    """uint8 (H, W, C): images tiled and enlarged by whole pixels, or a scatter of points over the data.

    With ``caption`` a band above says what the batch is (its caption and size), as the Samples panel does.
    """
    if samples.kind == "images":
        grid = image_grid(samples.data, padding=1)
        picture = upscale_nearest(grid, _upscale_factor(grid.shape[1]))
    else:
        picture = scatter_image(samples.data, size=SCATTER_SIZE_PX, background=samples.reference)
    if not caption:
        return picture
    if samples.is_data:
        count = f"{len(samples):,} training {'images' if samples.kind == 'images' else 'points'}"
    else:
        count = f"{len(samples):,} samples"
    return add_caption(picture, [samples.caption, count] if samples.caption else [count])


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


def frame_caption(frame: TrajectoryFrame, caption: str = "") -> list[str]:
    """The text over an exported trajectory frame: t and abar_t of x_t, the step, and the sampler's caption."""
    known = frame.alpha_bar == frame.alpha_bar  # NaN: the store was not told the schedule
    abar = f"   ᾱ_t = {frame.alpha_bar:.3g}" if known else ""
    if frame.is_initial:
        state = f"t = T = {frame.t_state:,}{abar}   x_T: pure noise, before any step"
    elif frame.t_state == 0:
        state = f"t = 0{abar}   x_0: the samples"
    else:
        state = f"t = {frame.t_state:,}{abar}"
    where = f"step {frame.step + 1:,} / {frame.num_steps:,}"
    return [state, f"{where}   {caption}" if caption else where]


def trajectory_frames(store: TrajectoryStore, max_frames: int = MAX_GIF_FRAMES,
                      with_x0_hat: bool = True) -> list[np.ndarray]:
    """GIF frames from noise to samples: x_t (beside x0_hat unless ``with_x0_hat`` is False), each captioned.

    Images are grids enlarged by whole pixels; points are scattered over the data in one box that holds every
    x_t (as in the Trajectory panel). Above each frame: t, abar_t and the step; above each half its title, and
    for points the share of x0_hat that falls outside the box, when any does.
    """
    if len(store) == 0:
        raise ValueError("there is no trajectory to export yet: sample first")
    positions = subsample_indices(len(store), max_frames)
    bounds = store.view_bounds() if store.kind == "points" else None
    if bounds is not None:

        def picture(batch: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
            return scatter_image(batch, size=SCATTER_SIZE_PX, background=store.reference, bounds=bounds, color=color)
    else:
        factor = _upscale_factor(image_grid(store.x[0], padding=1).shape[1])

        def picture(batch: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
            return upscale_nearest(image_grid(batch, padding=1), factor)

    def x0_hat_title(batch: np.ndarray) -> str:
        off = fraction_outside(batch, bounds) if bounds is not None else 0.0
        return f"{X0_HAT_TITLE} ({off:.0%} off the view)" if off > OFF_VIEW_NOTE_SHARE else X0_HAT_TITLE

    bodies = []
    for p in positions:
        # the Trajectory panel's colours: x_t blue, x0_hat red
        halves = [(X_T_TITLE, store.x[p], SAMPLE_COLOR)]
        if with_x0_hat:
            halves.append((x0_hat_title(store.x0_hat[p]), store.x0_hat[p], PREDICTION_COLOR))
        bodies.append(side_by_side([add_caption(picture(batch, color), [title]) for title, batch, color in halves],
                                   gap=GIF_GAP_PX))
    captions = [frame_caption(store.frame(p), store.caption) for p in positions]
    width = bodies[0].shape[1]
    lines = max(len(wrap_caption(text, width)) for text in captions)  # one band height for every frame
    return [add_caption(body, text, min_lines=lines) for body, text in zip(bodies, captions, strict=True)]


def export_trajectory_gif(path: PathLike, store: TrajectoryStore, duration_ms: int = 60,
                          with_x0_hat: bool = True) -> Path:
    return save_gif(path, trajectory_frames(store, with_x0_hat=with_x0_hat), duration_ms=duration_ms)


def export_samples_npz(path: PathLike, samples: SampleSet, store: TrajectoryStore | None = None) -> Path:
    """``samples`` (uint8 NHWC images or float32 (N, 2) points) and, with a trajectory, its timesteps.

    ``trajectory_t`` holds the paper timestep of each stored frame's x_t, from T (x_T, the noise) down to 0.
    """
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
