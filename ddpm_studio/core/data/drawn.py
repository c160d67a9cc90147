"""2-D data drawn by hand: brush dabs, erasing, a built-in set as a start, and the smallest set a run can use.

Pure functions on float64 (N, 2) arrays in the canvas's own units (a square of half-width :data:`CANVAS_EXTENT`
around the origin). The studio's drawing dialog keeps the array and calls these; the result is saved as a plain
.npy file and from then on is data like any other file (:func:`ddpm_studio.core.data.load_dataset` standardises
it with the training split's statistics, so the canvas's units never reach the model).
"""

from __future__ import annotations

import math

import numpy as np

from ddpm_studio.core.data.mixtures import MIXTURE_DATASETS, make_mixture
from ddpm_studio.core.data.toys import TOY_DATASETS, make_toy

#: Half-width of the square canvas: points live in [-CANVAS_EXTENT, CANVAS_EXTENT]^2.
CANVAS_EXTENT = 4.0
#: A run holds out 10 % of its items, and the quality verdict (and early stop) judges samples only against at
#: least 24 held-out points (``core.scores.verdict.MIN_HELDOUT``, which this room may not import): 24 / 0.1.
MIN_DRAWN_POINTS = 240
#: Points a built-in start is drawn with: as many as a few strokes give, so erasing and adding stay visible.
START_POINTS = 1000
#: The built-in sets a drawing may start from.
START_DATASETS: tuple[str, ...] = tuple(TOY_DATASETS) + tuple(MIXTURE_DATASETS)


def dab(centre: tuple[float, float], radius: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform on the disc of ``radius`` around ``centre``, clipped to the canvas.

    Uniform on the disc: the radius is ``radius * sqrt(u)`` (the area inside r grows as r^2), so a dab is as
    dense at its rim as at its centre.

    Returns:
        float64 (count, 2).
    """
    if count <= 0:
        return np.empty((0, 2))
    r = radius * np.sqrt(rng.random(count))
    angle = 2.0 * math.pi * rng.random(count)
    points = np.asarray(centre, dtype=np.float64) + np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return np.clip(points, -CANVAS_EXTENT, CANVAS_EXTENT)


def erase(points: np.ndarray, centre: tuple[float, float], radius: float) -> np.ndarray:
    """``points`` without those within ``radius`` of ``centre`` (order kept)."""
    if len(points) == 0:
        return points
    keep = np.hypot(points[:, 0] - centre[0], points[:, 1] - centre[1]) > radius
    return points[keep]


def fit_to_canvas(points: np.ndarray, margin: float = 0.875) -> np.ndarray:
    """``points`` centred and scaled (one factor for both axes, so shapes keep their proportions) to fill
    ``margin`` of the canvas's half-width. A set of one point, or all at one place, is only centred."""
    values = np.asarray(points, dtype=np.float64)
    if len(values) == 0:
        return values.reshape(0, 2)
    low, high = values.min(axis=0), values.max(axis=0)
    centred = values - (low + high) / 2.0
    half = float(np.max(high - low)) / 2.0
    return centred if half <= 0.0 else centred * (margin * CANVAS_EXTENT / half)


def starting_points(name: str, count: int = START_POINTS, seed: int = 0) -> np.ndarray:
    """A built-in toy or mixture (:data:`START_DATASETS`) as a drawing to edit: ``count`` points fitted to the
    canvas (float64 (count, 2)).

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name in TOY_DATASETS:
        raw = make_toy(name, count, seed)
    elif name in MIXTURE_DATASETS:
        raw = make_mixture(name, count, seed)
    else:
        raise ValueError(f"unknown start {name!r}; choose one of {', '.join(START_DATASETS)}")
    return fit_to_canvas(raw)


def drawn_problem(points: np.ndarray) -> str | None:
    """Why a drawing cannot be a run's data yet (one line), or None when it can."""
    count = len(points)
    if count < MIN_DRAWN_POINTS:
        return (f"{count} point{'s' if count != 1 else ''} drawn; a run needs at least {MIN_DRAWN_POINTS}: it holds "
                f"10 % out to judge the samples against, and that judgement needs {MIN_DRAWN_POINTS // 10}. Draw "
                f"{MIN_DRAWN_POINTS - count} more (a larger density adds more per dab).")
    spread = np.ptp(points, axis=0)
    if np.any(spread <= 1e-9):
        axis = "x" if spread[0] <= 1e-9 else "y"
        return f"every point has the same {axis}: the data must spread in both directions (draw off the line)."
    return None
