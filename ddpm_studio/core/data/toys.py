"""Two-dimensional toy distributions: small, fast, and easy to look at in a scatter plot.

Each generator returns raw coordinates (roughly within [-2.5, 2.5]) and, where the set has natural classes, the
class of each point (moons: which moon; circles: which circle; ring: which of the 8 Gaussians, the component of
the mixture). :func:`ddpm_studio.core.data.load_dataset` standardises them per dimension before a model sees them.
Every set is deterministic for a given seed because all randomness comes from one ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ddpm_studio.core.catalog import TOY_DATASETS

# The noise levels below are small enough that the structure stays crisp (the point of a toy set is to see
# whether the sampler recovers it) and large enough that the density is not degenerate (a likelihood needs a
# real density).
MOONS_NOISE = 0.05
CIRCLES_NOISE = 0.04
CIRCLES_INNER_RADIUS = 0.5
SWISSROLL_NOISE = 0.05
RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.1
CHECKERBOARD_CELLS = 4  # a 4 x 4 board over [-2, 2]^2 with the 8 "black" cells filled

#: The labelled toys and their number of classes (for class-conditional training, MATH.md M34).
TOY_NUM_CLASSES: dict[str, int] = {"moons": 2, "circles": 2, "ring": RING_MODES}

#: What each class of a labelled toy is, for the studio's class picker: moons and circles as the generators below
#: label them, the ring's modes by the angle of their centre (mode k at 360 k / 8 degrees).
TOY_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "moons": ("upper moon", "lower moon"),
    "circles": ("inner circle", "outer circle"),
    "ring": tuple(f"mode {k} ({360 * k // RING_MODES}°)" for k in range(RING_MODES)),
}

Toy = tuple[np.ndarray, "np.ndarray | None"]


def _moons(n: int, rng: np.random.Generator) -> Toy:
    """Two interleaving half circles of radius 1, centred so the pair sits around the origin.

    Returns (n, 2) float64: the upper moon (class 0) is (cos t, sin t), the lower (class 1) (1 - cos t,
    0.5 - sin t), t ~ U[0, pi]; and the (n,) classes.
    """
    t = rng.uniform(0.0, np.pi, size=n)
    lower = rng.random(n) < 0.5
    x = np.where(lower, 1.0 - np.cos(t), np.cos(t))
    y = np.where(lower, 0.5 - np.sin(t), np.sin(t))
    # Centre the pair (the sklearn layout spans x in [-1, 2], y in [-0.5, 1]) so that raw and standardised
    # plots look alike.
    points = np.stack([x - 0.5, y - 0.25], axis=1)
    return points + rng.normal(0.0, MOONS_NOISE, size=points.shape), lower.astype(np.int64)


def _circles(n: int, rng: np.random.Generator) -> Toy:
    """Two concentric circles, radius 1 and CIRCLES_INNER_RADIUS, half the points on each. Returns (n, 2) and the
    classes (0: inner, 1: outer)."""
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    inner = rng.random(n) < 0.5
    radius = np.where(inner, CIRCLES_INNER_RADIUS, 1.0)
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return points + rng.normal(0.0, CIRCLES_NOISE, size=points.shape), (~inner).astype(np.int64)


def _swissroll(n: int, rng: np.random.Generator) -> Toy:
    """A 2-D Swiss roll (t cos t, t sin t) / 5 for t ~ U[1.5 pi, 4.5 pi]. Returns (n, 2).

    Dividing by 5 brings the spiral (outer radius 4.5 pi ~ 14) into about [-2.8, 2.8], like the other toys.
    """
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, size=n)
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
    return points + rng.normal(0.0, SWISSROLL_NOISE, size=points.shape), None


def _ring(n: int, rng: np.random.Generator) -> Toy:
    """A ring of RING_MODES isotropic Gaussians (std RING_STD) centred at radius RING_RADIUS: a labelled Gaussian
    mixture. Returns (n, 2) and the (n,) component of each point, its class.

    Neighbouring centres are 2 R sin(pi / 8) ~ 1.5 apart, i.e. 15 standard deviations: the modes are well
    separated, which makes this the set that shows mode dropping.
    """
    mode = rng.integers(0, RING_MODES, size=n)
    angle = 2.0 * np.pi * mode / RING_MODES
    centres = RING_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + rng.normal(0.0, RING_STD, size=centres.shape), mode.astype(np.int64)


def _checkerboard(n: int, rng: np.random.Generator) -> Toy:
    """Uniform points on the filled cells of a CHECKERBOARD_CELLS^2 board over [-2, 2]^2. Returns (n, 2).

    Cell (i, j) is filled when i + j is even: a piecewise-constant density with sharp edges (no noise).
    """
    filled = np.array(
        [(i, j) for i in range(CHECKERBOARD_CELLS) for j in range(CHECKERBOARD_CELLS) if (i + j) % 2 == 0],
        dtype=np.float64,
    )
    cell = filled[rng.integers(0, len(filled), size=n)]
    cell_width = 4.0 / CHECKERBOARD_CELLS
    return -2.0 + (cell + rng.random((n, 2))) * cell_width, None


_GENERATORS: dict[str, Callable[[int, np.random.Generator], Toy]] = {
    "moons": _moons,
    "circles": _circles,
    "swissroll": _swissroll,
    "ring": _ring,
    "checkerboard": _checkerboard,
}


def make_toy(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points from the toy distribution ``name``.

    Args:
        name: one of :data:`TOY_DATASETS`.
        n: number of points (>= 0).
        seed: the same (name, n, seed) always gives the same points.

    Returns:
        float32 array of shape (n, 2), raw (not standardised) coordinates.

    Raises:
        ValueError: unknown ``name`` (the message lists the choices) or negative ``n``.
    """
    return make_labelled_toy(name, n, seed)[0]


def make_labelled_toy(name: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`make_toy`'s points (the very same for one seed) and their int64 (n,) classes, or None for a toy
    without classes (swissroll, checkerboard); :data:`TOY_NUM_CLASSES` gives the number of classes."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(TOY_DATASETS)}")
    if n < 0:
        raise ValueError(f"number of points must be >= 0, got {n}")
    points, labels = _GENERATORS[name](n, np.random.default_rng(seed))
    return points.astype(np.float32), labels
