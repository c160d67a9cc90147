"""Scatter plots of 2-D points as images: small dots on white, light axes through 0, y pointing up.

Part of the export (:mod:`ddpm_studio.core.io.export` re-exports :func:`scatter_image`): the CLI's and the studio's
PNG and GIF files of points, and the far-off and preview pictures. No Qt; the result is a uint8 (size, size, 3)
array that :func:`~ddpm_studio.core.io.export.save_png` writes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]

#: Light grey for the axes through 0 of a scatter plot: visible, but quieter than the reference points.
AXIS_COLOR: RGB = (225, 225, 225)
#: Fraction of the data's extent added on each side of a scatter plot's default bounds, so that no dot is cut
#: in half by the image border.
SCATTER_MARGIN = 0.05


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
