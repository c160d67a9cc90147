"""Writing results to files: image grids, PNG, animated GIF, scatter plots of 2-D points, npz and CSV.

Used by the CLI and by the GUI's export menu, so nothing here knows about Qt. Every file is first built in
memory and then handed to :func:`ddpm_studio.core.runs.atomic_write_bytes`, so a crash or a full disk leaves the
old file or the new one, never a half-written one that a viewer would choke on.

Images are numpy ``uint8`` arrays laid out (H, W, C) with C = 1 (grey) or C = 3 (RGB), the layout Pillow reads;
batches add a leading N (or T for animation frames). Text above a picture: :mod:`ddpm_studio.core.captions`.

Trajectories in ``.npz`` files (``ddpm-studio sample --trajectory`` and the studio's export) hold one row per
kept network evaluation, in the order the sampler ran (noise first), and every timestep in them is a PAPER
timestep (MATH.md conventions: t = T is the pure noise x_T, t = 0 the clean sample x_0; the code's 0-based index
i is paper t = i + 1):

- ``trajectory_t`` (int64, K): the paper timestep of the STATE ``trajectory_x[k]`` (:attr:`SampleStep.t_state
  <ddpm_studio.core.sampling.steps.SampleStep.t_state>`); 0 on the row that holds x_0. It is the time of the
  picture, as ``trajectory_abar`` is its noise level.
- ``trajectory_t_state`` (int64, K): the same as ``trajectory_t``, under the name files of an earlier version used.
- ``trajectory_x_T`` (N, ...): x_T itself, the noise before the first evaluation (CLI files; paper t = T).
- ``trajectory_abar`` (float64, K): abar of that state (1.0 at x_0).
- ``trajectory_x`` (K, N, ...): the states. ``trajectory_x0_hat`` (K, N, ...): the network's estimate of x_0 at
  the evaluation that led to the state.
- ``trajectory_t_network`` (int64, K): the paper timestep the network was fed at that evaluation, at or above
  ``trajectory_t`` (a step goes from there down to the state; Heun's corrector evaluates at the state's own
  level). On the full chain with one evaluation per step, trajectory_t = trajectory_t_network - 1.

Until this was settled the CLI wrote the network's 0-based timestep under ``trajectory_t``; it equals the
state's paper timestep on the full ancestral chain, and differs on respaced or few-step runs.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from ddpm_studio.core.runs import atomic_write_bytes

if TYPE_CHECKING:
    from ddpm_studio.core.sampling.steps import SampleStep

PathLike = str | os.PathLike[str]
RGB = tuple[int, int, int]

#: Light grey for the axes through 0 of a scatter plot: visible, but quieter than the reference points.
AXIS_COLOR: RGB = (225, 225, 225)
#: Fraction of the data's extent added on each side of a scatter plot's default bounds, so that no dot is cut
#: in half by the image border.
SCATTER_MARGIN = 0.05


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


# ------------------------------------------------------------------ scatter plots
def _padded_square_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) around finite points (K, 2), made square and widened by SCATTER_MARGIN.

    Square because the plot is square: equal units on both axes keep a circle a circle.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    center = (lo + hi) / 2.0
    # A single point (or a line of them) has zero extent; 1.0 gives it a visible neighbourhood.
    half = max(float((hi - lo).max()) / 2.0, 0.5) * (1.0 + 2.0 * SCATTER_MARGIN)
    return (center[0] - half, center[0] + half, center[1] - half, center[1] + half)


def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    """float64 (K, 2) with non-finite rows dropped (a diverged sampler yields NaN, which has no place to go)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {points.shape}")
    return points[np.isfinite(points).all(axis=1)]


def scatter_image(
    points: np.ndarray,
    size: int = 512,
    background: np.ndarray | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    color: RGB = (31, 119, 180),
    background_color: RGB = (200, 200, 200),
    colors: np.ndarray | None = None,
) -> np.ndarray:
    """Draw 2-D points as a scatter plot: small dots on white, light axes through 0, y pointing up.

    Args:
        points: (N, 2) x, y coordinates; rows with NaN or inf are skipped.
        size: width and height of the image in pixels.
        background: optional (M, 2) reference points (e.g. the training data), drawn first in
            ``background_color`` so the samples in ``color`` sit on top.
        bounds: (xmin, xmax, ymin, ymax) shown, in matplotlib's ``axis()`` order; default: the extent of
            points and background together, made square and padded by 5% on each side. Points outside are
            clipped.
        color, background_color: RGB dot colours.
        colors: optional uint8-like (N, 3), one colour per point (e.g. by class), in place of ``color``.

    Returns:
        uint8 (size, size, 3). The point (x, y) lands on column round((x - xmin) / (xmax - xmin) * (size - 1))
        and row round((ymax - y) / (ymax - ymin) * (size - 1)).
    """
    if size < 2:
        raise ValueError(f"size must be >= 2 pixels, got {size}")
    if colors is not None:
        colors = np.asarray(colors).reshape(-1, 3)
        if len(colors) != len(points):
            raise ValueError(f"colors must give one RGB per point, got {colors.shape} for {len(points)} points")
        colors = colors[np.isfinite(np.asarray(points, np.float64)).all(axis=1)]
    points = _as_points(points, "points")
    reference = _as_points(background, "background") if background is not None else np.zeros((0, 2))
    if bounds is None:
        everything = np.concatenate([points, reference])
        bounds = _padded_square_bounds(everything) if len(everything) else (-1.0, 1.0, -1.0, 1.0)
    xmin, xmax, ymin, ymax = (float(b) for b in bounds)
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, got {bounds}")

    def to_pixels(xy: np.ndarray) -> np.ndarray:
        """(K, 2) data coordinates -> (K, 2) integer pixel (column, row); rows grow downwards, hence ymax - y."""
        col = (xy[:, 0] - xmin) / (xmax - xmin) * (size - 1)
        row = (ymax - xy[:, 1]) / (ymax - ymin) * (size - 1)
        # Clip far outliers before the int cast so they cannot overflow; Pillow drops off-canvas pixels anyway.
        return np.clip(np.rint(np.stack([col, row], axis=1)), -size, 2 * size).astype(np.int64)

    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    origin = to_pixels(np.zeros((1, 2)))[0]
    if xmin <= 0.0 <= xmax:
        draw.line([(int(origin[0]), 0), (int(origin[0]), size - 1)], fill=AXIS_COLOR)
    if ymin <= 0.0 <= ymax:
        draw.line([(0, int(origin[1])), (size - 1, int(origin[1]))], fill=AXIS_COLOR)

    # Dots are discs of radius ~size/256 (2 px at 512), stamped one offset at a time over all points at once:
    # one Pillow call per offset instead of one per point keeps 10k points fast.
    radius = max(1, round(size / 256))
    offsets = [
        (dx, dy)
        for dx in range(-radius, radius + 1)
        for dy in range(-radius, radius + 1)
        if dx * dx + dy * dy <= radius * radius
    ]
    layers = [(reference, background_color), (points, color)]
    if colors is not None:  # one layer per distinct colour keeps the one-call-per-offset stamping
        distinct = np.unique(colors, axis=0)
        layers = [layers[0]] + [(points[(colors == c).all(axis=1)], tuple(int(v) for v in c)) for c in distinct]
    for layer, fill in layers:
        if not len(layer):
            continue
        pixels = to_pixels(layer)
        for dx, dy in offsets:
            draw.point((pixels + np.array([dx, dy])).ravel().tolist(), fill=tuple(fill))
    return np.asarray(canvas, dtype=np.uint8).copy()


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


class TrajectoryRecorder:
    """Collects a sampler's records into the trajectory arrays of an ``.npz`` (their meaning: the module's doc).

    Args:
        keep: the record indices to keep (e.g. :func:`subsample_indices` of the step count); others are skipped.
        to_array: turns a state or x0_hat tensor (N, ...) into what the file stores (e.g. uint8 images).
    """

    def __init__(self, keep: Iterable[int], to_array: Callable[[Any], np.ndarray]) -> None:
        self.keep = set(keep)
        self.to_array = to_array
        self._t: list[int] = []
        self._t_network: list[int] = []
        self._abar: list[float] = []
        self._x: list[np.ndarray] = []
        self._x0_hat: list[np.ndarray] = []

    def add(self, record: SampleStep) -> None:
        """Keep ``record`` if its index is one of ``keep``."""
        if record.index not in self.keep:
            return
        self._t.append(record.t_state)
        self._t_network.append(record.t + 1)
        self._abar.append(record.abar)
        self._x.append(self.to_array(record.x))
        self._x0_hat.append(self.to_array(record.x0_hat))

    def __len__(self) -> int:
        return len(self._t)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``trajectory_*`` arrays of the rows kept so far; empty before the first."""
        if not self._t:
            return {}
        return {
            "trajectory_t": np.asarray(self._t, dtype=np.int64),
            "trajectory_t_state": np.asarray(self._t, dtype=np.int64),
            "trajectory_t_network": np.asarray(self._t_network, dtype=np.int64),
            "trajectory_abar": np.asarray(self._abar, dtype=np.float64),
            "trajectory_x": np.stack(self._x),
            "trajectory_x0_hat": np.stack(self._x0_hat),
        }


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
