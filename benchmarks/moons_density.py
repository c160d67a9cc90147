"""The moons' true negative log-likelihood on the held-out split: the floor for the ODE likelihood and the bound.

The generator (``ddpm_studio.core.data.toys``) draws an angle t ~ U[0, pi], one of two unit half circles with
probability 1/2, and adds N(0, MOONS_NOISE^2 I), so the density is a mixture over the arcs,

    p(x) = 1/2 sum_{arc} (1/pi) int_0^pi N(x; c_arc(t) - (0.5, 0.25), s^2 I) dt,

here by the midpoint rule on 20,000 angles (spacing 1.6e-4, far below s = 0.05). Reported in nats/dim in the data's
own coordinates, as ``ddpm-studio evaluate`` reports the bound and the ODE likelihood.

    python benchmarks/moons_density.py [--seed 0] [--num-points 8192]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.data.toys import MOONS_NOISE

NUM_ANGLES = 20_000


def moons_log_density(points: np.ndarray) -> np.ndarray:
    """log p(x) of the moons generator at (N, 2) points in raw coordinates; (N,)."""
    t = (np.arange(NUM_ANGLES) + 0.5) * math.pi / NUM_ANGLES
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    centres = np.concatenate([upper, lower]) - np.array([0.5, 0.25])  # (2A, 2)
    var = MOONS_NOISE**2
    out = np.empty(len(points))
    for start in range(0, len(points), 64):  # (64, 2A) blocks: ~20 MB
        block = points[start : start + 64]
        sq = ((block[:, None, :] - centres[None]) ** 2).sum(axis=2)
        log_terms = -sq / (2 * var) - math.log(2 * math.pi * var)
        peak = log_terms.max(axis=1, keepdims=True)
        # every angle node carries weight 1/2 * 1/A (an arc, then the midpoint rule's dt / pi)
        out[start : start + 64] = peak[:, 0] + np.log(np.exp(log_terms - peak).sum(axis=1)) - math.log(2 * NUM_ANGLES)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (it fixes the held-out split)")
    parser.add_argument("--num-points", type=int, default=8192, help="the run's data.num_points")
    args = parser.parse_args()
    dataset = load_dataset("moons", num_points=args.num_points, seed=args.seed)
    heldout = dataset.to_data_space(dataset.heldout).double().numpy()
    nats = -moons_log_density(heldout) / 2.0
    print(f"true density on {len(heldout)} held-out moons points: {nats.mean():.4f} +- "
          f"{nats.std() / math.sqrt(len(nats)):.4f} nats/dim")


if __name__ == "__main__":
    main()
