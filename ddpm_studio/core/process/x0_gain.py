"""How much an ε-network's x̂₀ magnifies its error: what the trajectory's x̂₀ panel can honestly show at each t.

x̂₀ = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t (M7), so an error δ on ε̂ is an error √((1−ᾱ_t)/ᾱ_t) δ on x̂₀: 1 at
ᾱ = 1/2, ~2 × 10⁴ at t = T on the cosine schedule (ᾱ_T = 2.4 × 10⁻⁹). There x̂₀ is the noise blown up and then
clipped to the data's range (M23): salt and pepper, not a prediction. Past :data:`X0_GAIN_LIMIT` the studio says
so, and from which t on x̂₀ means something.
"""

from __future__ import annotations

import math

import numpy as np

#: Above this gain an ε error of 0.1 (a well-trained network's typical size) moves x̂₀ by more than the whole
#: [-1, 1] range of the data: the picture is clipped noise.
X0_GAIN_LIMIT = 10.0


def x0_noise_gain(alpha_bar: float) -> float:
    """√((1 − ᾱ)/ᾱ): the factor x̂₀ from ε multiplies the network's ε error by (M7); inf at ᾱ = 0."""
    if alpha_bar <= 0.0:
        return math.inf
    return math.sqrt(max(0.0, 1.0 - alpha_bar) / alpha_bar)


def first_meaningful_t(alpha_bar: np.ndarray, limit: float = X0_GAIN_LIMIT) -> int:
    """The largest paper t whose gain is at most ``limit`` (``alpha_bar``: ᾱ_t for t = 0..T, (T + 1,); ᾱ falls
    with t, so every smaller t is within the limit too); 0 when only x_0 itself is."""
    alpha_bar = np.asarray(alpha_bar, np.float64)
    # gain <= limit  <=>  alpha_bar >= 1 / (1 + limit^2)
    within = np.flatnonzero(alpha_bar >= 1.0 / (1.0 + limit * limit))
    return int(within.max()) if within.size else 0
