"""Writing results to files: image grids, PNG, animated GIF, scatter plots of 2-D points, npz and CSV.

Used by the CLI and by the GUI's export menu, so nothing here knows about Qt. Every file is first built in
memory and then handed to :func:`ddpm_studio.core.io.runs.atomic_write_bytes`, so a crash or a full disk leaves the
old file or the new one, never a half-written one that a viewer would choke on.

Images are numpy ``uint8`` arrays laid out (H, W, C) with C = 1 (grey) or C = 3 (RGB), the layout Pillow reads;
batches add a leading N (or T for animation frames). Text above a picture: :mod:`ddpm_studio.core.io.captions`;
scatter plots of 2-D points: :mod:`ddpm_studio.core.io.scatter_plot`; the trajectory arrays of an ``.npz`` (what each
one means) and their recorder: :mod:`ddpm_studio.core.sampling.trajectory_file`. Both are re-exported here.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ddpm_studio.core.io.runs import atomic_write_bytes
from ddpm_studio.core.io.scatter_plot import AXIS_COLOR, RGB, SCATTER_MARGIN, scatter_image
from ddpm_studio.core.sampling.trajectory_file import TrajectoryRecorder

# what the CLI, the studio and the tests import from here, though the modules above define it
__all__ = [
    "AXIS_COLOR",
    "RGB",
    "SCATTER_MARGIN",
    "PathLike",
    "TrajectoryRecorder",
    "image_grid",
    "save_csv",
    "save_gif",
    "save_npz",
    "save_png",
    "scatter_image",
    "side_by_side",
    "subsample_indices",
    "upscale_nearest",
]

PathLike = str | os.PathLike[str]


# ------------------------------------------------------------------ image arrays
def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is uint8 (H, W, C) with C in {1, 3}; raise a ValueError that says what is wrong."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0..255), got {image.dtype}; map [-1, 1] samples to 0..255 first")
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must have shape (H, W, 1) or (H, W, 3), got {image.shape}")
    return image


def _to_pil(image: np.ndarray) -> Image.Image:
    """uint8 (H, W, 1) -> Pillow mode "L"; uint8 (H, W, 3) -> mode "RGB"."""
    image = np.ascontiguousarray(_check_image(image))
    # Pillow infers "L" from a 2-D uint8 array and "RGB" from (H, W, 3); a (H, W, 1) array it would reject.
    return Image.fromarray(image[:, :, 0] if image.shape[-1] == 1 else image)


def image_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile a batch of images into one grid image, row by row.

    Args:
        images: uint8 (N, H, W, C), C in {1, 3}, N >= 1.
        ncols: images per row; default ceil(sqrt(N)), a near-square grid. Capped at N.
        padding: pixels of ``pad_value`` around every tile (between tiles and at the outer border).
        pad_value: grey level 0..255 of the padding and of the unused cells of the last row.

    Returns:
        uint8 (nrows * (H + padding) + padding, ncols * (W + padding) + padding, C) with
        nrows = ceil(N / ncols); image i sits in row i // ncols, column i % ncols.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must have shape (N, H, W, C) with N >= 1, got {images.shape}")
    _check_image(images[0], "each image")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be a grey level in 0..255, got {pad_value}")
    num, height, width, channels = images.shape
    if ncols is None:
        ncols = math.ceil(math.sqrt(num))
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, num)
    nrows = math.ceil(num / ncols)
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((nrows * cell_h + padding, ncols * cell_w + padding, channels), pad_value, dtype=np.uint8)
    for index in range(num):
        top = (index // ncols) * cell_h + padding
        left = (index % ncols) * cell_w + padding
        grid[top : top + height, left : left + width] = images[index]
    return grid


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge an image by an integer factor, each pixel becoming a factor x factor block.

    Nearest-neighbour rather than smooth interpolation so a 16x16 sample stays an honest picture of its pixels.

    Args:
        image: (H, W) or (H, W, C), any dtype.
        factor: integer >= 1.

    Returns:
        (H * factor, W * factor[, C]) of the same dtype.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    factor = int(factor)
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def side_by_side(images: Sequence[np.ndarray], gap: int = 8, pad_value: int = 255) -> np.ndarray:
    """Images uint8 (H_i, W_i, C) in one row, ``gap`` columns of ``pad_value`` between, top-aligned.

    Returns:
        uint8 (max H_i, sum W_i + gap * (n - 1), C); shorter images are padded below with ``pad_value``.
    """
    if not images:
        raise ValueError("side_by_side needs at least one image")
    checked = [_check_image(image, f"image {i}") for i, image in enumerate(images)]
    channels = checked[0].shape[2]
    if any(image.shape[2] != channels for image in checked):
        raise ValueError("side_by_side needs images with the same number of channels")
    height = max(image.shape[0] for image in checked)
    parts = []
    for index, image in enumerate(checked):
        if index:
            parts.append(np.full((height, gap, channels), pad_value, np.uint8))
        below = np.full((height - image.shape[0], image.shape[1], channels), pad_value, np.uint8)
        parts.append(np.concatenate([image, below], axis=0))
    return np.concatenate(parts, axis=1)


# ------------------------------------------------------------------ PNG and GIF
def save_png(path: PathLike, image: np.ndarray) -> Path:
    """Write uint8 (H, W, 1) as a greyscale ("L") PNG or uint8 (H, W, 3) as an RGB PNG, atomically.

    Returns:
        The path written.
    """
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())


def save_gif(
    path: PathLike,
    frames: Sequence[np.ndarray] | np.ndarray,
    duration_ms: int = 60,
    loop: int = 0,
    final_hold_ms: int = 1000,
) -> Path:
    """Write an animated GIF, e.g. a reverse-diffusion trajectory from noise to samples.

    Args:
        frames: T >= 1 images, each uint8 (H, W, 1) or (H, W, 3), all the same shape; a (T, H, W, C) array works.
        duration_ms: how long each frame is shown. GIF stores delays in hundredths of a second, so this is
            rounded to a multiple of 10 ms.
        loop: number of repeats; 0 loops forever.
        final_hold_ms: extra time the last frame stays up (shown for duration_ms + final_hold_ms), so a viewer
            sees the finished samples before the animation restarts from noise.

    Returns:
        The path written.

    Note:
        Pillow merges consecutive identical frames into one longer frame, so the file can hold fewer than T
        frames while playing for the same total time.
    """
    if len(frames) == 0:
        raise ValueError("save_gif needs at least one frame")
    if duration_ms < 0 or final_hold_ms < 0:
        raise ValueError(f"durations must be >= 0, got duration_ms={duration_ms}, final_hold_ms={final_hold_ms}")
    shape = np.asarray(frames[0]).shape
    pil_frames = []
    for index, frame in enumerate(frames):
        frame = _check_image(np.asarray(frame), f"frame {index}")
        if frame.shape != shape:
            raise ValueError(f"frame {index} has shape {frame.shape} but frame 0 has {shape}")
        pil_frames.append(_to_pil(frame))
    durations = [duration_ms] * (len(pil_frames) - 1) + [duration_ms + final_hold_ms]
    buffer = io.BytesIO()
    pil_frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pil_frames[1:],
        duration=durations,
        loop=loop,
    )
    return atomic_write_bytes(path, buffer.getvalue())


def subsample_indices(num: int, max_frames: int) -> list[int]:
    """Pick at most ``max_frames`` indices spread evenly over 0..num-1, always keeping the first and the last.

    Used to thin a 1000-step trajectory to a GIF of reasonable size while keeping pure noise (index 0) and the
    final samples (index num - 1).

    Returns:
        Strictly increasing indices: all of range(num) when num <= max_frames, otherwise exactly max_frames of
        them, rounded from an even spacing. [] when num == 0.
    """
    if num < 0:
        raise ValueError(f"num must be >= 0, got {num}")
    if max_frames < 2:
        raise ValueError(f"max_frames must be >= 2 to hold both the first and the last index, got {max_frames}")
    if num <= max_frames:
        return list(range(num))
    # The spacing (num - 1) / (max_frames - 1) is > 1 here, so rounding never maps two positions to one index.
    positions = np.linspace(0, num - 1, max_frames)
    return [int(i) for i in np.rint(positions)]


# ------------------------------------------------------------------ arrays and tables
def save_npz(path: PathLike, **arrays: np.ndarray) -> Path:
    """Write named arrays to a compressed ``.npz`` (read back with ``np.load(path)[name]``), atomically.

    The file gets exactly ``path``: numpy appends ``.npz`` only when it is given a file name, not a buffer.
    """
    if not arrays:
        raise ValueError("save_npz needs at least one named array, e.g. save_npz(path, samples=x)")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return atomic_write_bytes(path, buffer.getvalue())


def save_csv(path: PathLike, header: list[str], rows: Sequence[Sequence[float | int | None]]) -> Path:
    """Write a UTF-8 CSV table with one header line; ``None`` becomes an empty field (a missing value).

    Numbers are written with ``str``, which for Python floats is the shortest text that reads back to the same
    float, so a round trip through the file is exact.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {index} has {len(row)} fields but the header has {len(header)}")
        writer.writerow(["" if value is None else value for value in row])
    return atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
