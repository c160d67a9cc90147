"""Sample sets with known faults, drawn for a Gaussian mixture: what the verdict's lenses are audited on.

A lens that has never been shown a fault it should see proves nothing by passing good samples. Each function
returns (n, 2) float64 points in the mixture's own (data) coordinates, seeded; :data:`FAULTS` names them as
benchmarks/lens_audit.py and tests/core/test_verdict.py use them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ddpm_studio.core.data.mixtures import Mixture

#: A uniform haze of this share of the samples over the data's bounding box (issue 27's "5 % haze").
HAZE_SHARE = 0.05
#: Shrunk modes keep this share of their width.
SHRINK = 1.0 / 3.0


def _modes(mixture: Mixture, n: int, rng: np.random.Generator, skip_first: bool = False) -> np.ndarray:
    low = 1 if skip_first else 0
    return rng.integers(low, len(mixture.centres), size=n)


def fresh(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """New draws of the mixture itself: what a perfect model samples."""
    mode = _modes(mixture, n, rng)
    return mixture.centres[mode] + rng.normal(0.0, mixture.std, size=(n, 2))


def copies(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """Training points drawn with replacement: a model that memorised its data."""
    return train[rng.integers(0, len(train), size=n)].astype(np.float64)


def shrunk(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """Every mode at SHRINK (a third) of its width: the samples of an over-sharpened or biased sampler."""
    mode = _modes(mixture, n, rng)
    return mixture.centres[mode] + rng.normal(0.0, SHRINK * mixture.std, size=(n, 2))


def collapse(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """All mass on the mode centres, in the right proportions."""
    return mixture.centres[_modes(mixture, n, rng)].astype(np.float64)


def dropped(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """Mode 0 never drawn; its mass spread over the others (each otherwise perfect)."""
    mode = _modes(mixture, n, rng, skip_first=True)
    return mixture.centres[mode] + rng.normal(0.0, mixture.std, size=(n, 2))


def haze(mixture: Mixture, n: int, rng: np.random.Generator, train: np.ndarray) -> np.ndarray:
    """Fresh draws with HAZE_SHARE of them replaced by uniform points over the training data's bounding box."""
    points = fresh(mixture, n, rng, train)
    hazy = rng.random(n) < HAZE_SHARE
    low, high = train.min(axis=0), train.max(axis=0)
    points[hazy] = rng.uniform(low, high, size=(int(hazy.sum()), 2))
    return points


Fault = Callable[[Mixture, int, np.random.Generator, np.ndarray], np.ndarray]
#: Every sample set of the audit by name; "fresh" is the one that must read clean.
FAULTS: dict[str, Fault] = {"fresh": fresh, "copies": copies, "shrunk": shrunk, "collapse": collapse,
                            "dropped": dropped, "haze": haze}
