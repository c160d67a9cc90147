"""Seeded 2-D test distributions that nobody tuned for: Gaussian mixtures at several scales and offsets, a spiral,
a checkerboard and a continuous ring, none centred at the origin.

They exist to judge the points defaults on data the built-in toys (:mod:`.toys`) did not shape: the mixtures of
8 and 25 well-separated Gaussians are where a model smears mass between modes, which the off-support share
(:func:`ddpm_studio.core.scores.metrics.off_support_fraction`) counts. Each generator returns raw float64 (n, 2)
coordinates in its own units; :func:`ddpm_studio.core.data.load_dataset` standardises them per dimension. The 8-
and 25-mode layouts follow the usual GAN / diffusion 2-D benchmarks (Metz et al. 2017, "Unrolled GANs"),
moved off the origin and rescaled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ddpm_studio.core.catalog import MIXTURE_DATASETS


@dataclass(frozen=True)
class Mixture:
    """An equal-weight isotropic Gaussian mixture: (K, 2) ``centres`` and one ``std``."""

    centres: np.ndarray
    std: float

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) float64 points: a uniformly chosen centre plus N(0, std^2 I)."""
        mode = rng.integers(0, len(self.centres), size=n)
        return self.centres[mode] + rng.normal(0.0, self.std, size=(n, 2))


def circle_mixture(modes: int, radius: float, std: float, centre: tuple[float, float]) -> Mixture:
    """``modes`` Gaussians evenly spaced on a circle of ``radius`` around ``centre``."""
    angle = 2.0 * np.pi * np.arange(modes) / modes
    return Mixture(np.asarray(centre) + radius * np.stack([np.cos(angle), np.sin(angle)], axis=1), std)


def grid_mixture(side: int, spacing: float, std: float, corner: tuple[float, float]) -> Mixture:
    """side x side Gaussians on a square grid of ``spacing``, its lower-left centre at ``corner``."""
    ticks = np.arange(side) * spacing
    centres = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2) + np.asarray(corner)
    return Mixture(centres, std)


#: The mixtures by name. Neighbouring centres sit 15, 20, 7.7 and 10 standard deviations apart: from crisp to
#: barely separated, at scales from 0.05 to 3 and far from the origin.
MIXTURES: dict[str, Mixture] = {
    "gaussians8": circle_mixture(8, radius=2.0, std=0.1, centre=(3.0, -2.0)),
    "gaussians8_wide": circle_mixture(8, radius=30.0, std=3.0, centre=(-40.0, 25.0)),
    "gaussians25": grid_mixture(5, spacing=1.0, std=0.05, corner=(4.0, 1.0)),
    "gaussians25_wide": grid_mixture(5, spacing=10.0, std=1.0, corner=(-70.0, 100.0)),
}

SPIRAL_TURNS = 1.5
SPIRAL_NOISE = 0.04
CHECKER_CELLS = 5  # a 5 x 5 board of cells 0.5 wide; the 13 cells with (i + j) even are filled
CHECKER_CELL = 0.5
ANNULUS_RADIUS = 3.0
ANNULUS_STD = 0.1


def _spiral(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved arms of an Archimedean spiral r = theta / pi, 1.5 turns each, around (1.5, -1). (n, 2).

    Points are spread evenly along the arc length (theta = sqrt(u) scaling), with Gaussian noise SPIRAL_NOISE.
    """
    theta = np.sqrt(rng.uniform(0.05, 1.0, size=n)) * SPIRAL_TURNS * 2.0 * np.pi
    arm = np.where(rng.random(n) < 0.5, 0.0, np.pi)
    radius = theta / np.pi
    points = radius[:, None] * np.stack([np.cos(theta + arm), np.sin(theta + arm)], axis=1)
    return points + np.array([1.5, -1.0]) + rng.normal(0.0, SPIRAL_NOISE, size=(n, 2))


def _checker(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform points on the filled cells of a CHECKER_CELLS^2 board with its lower-left corner at (-4, 2)."""
    filled = np.array(
        [(i, j) for i in range(CHECKER_CELLS) for j in range(CHECKER_CELLS) if (i + j) % 2 == 0], dtype=np.float64
    )
    cell = filled[rng.integers(0, len(filled), size=n)]
    return np.array([-4.0, 2.0]) + (cell + rng.random((n, 2))) * CHECKER_CELL


def _annulus(n: int, rng: np.random.Generator) -> np.ndarray:
    """A continuous ring: radius ANNULUS_RADIUS + N(0, ANNULUS_STD^2) at a uniform angle, around (-2, 5)."""
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = ANNULUS_RADIUS + rng.normal(0.0, ANNULUS_STD, size=n)
    return np.array([-2.0, 5.0]) + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


#: Every name :func:`make_mixture` accepts -> its generator. The names, in this order, are
#: :data:`~ddpm_studio.core.catalog.MIXTURE_DATASETS`, which a parser lists without importing numpy.
_GENERATORS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    **{name: mixture.draw for name, mixture in MIXTURES.items()},
    "spiral": _spiral,
    "checker5": _checker,
    "annulus": _annulus,
}


def make_mixture(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Draw ``n`` points of the test distribution ``name`` (one of :data:`MIXTURE_DATASETS`).

    Returns:
        float32 (n, 2), raw coordinates; the same (name, n, seed) always gives the same points.

    Raises:
        ValueError: unknown ``name`` (the message lists the choices) or negative ``n``.
    """
    try:
        generator = _GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown test distribution {name!r}; choose one of {', '.join(MIXTURE_DATASETS)}") from None
    if n < 0:
        raise ValueError(f"number of points must be >= 0, got {n}")
    return generator(n, np.random.default_rng(seed)).astype(np.float32)
