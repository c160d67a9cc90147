"""Improved precision and recall (Kynkäänniemi et al. 2019; MATH.md M63): fidelity and diversity as two numbers.

Each set's manifold is the union of balls around its points, each ball's radius the distance to the point's k-th
nearest neighbour in its own set. Precision: the share of samples inside the real manifold (are the samples
realistic?); recall: the share of real points inside the samples' manifold (is the data's variety covered?).
Both depend on the set sizes, so compare sets of equal size.
"""

from __future__ import annotations

import torch

from ddpm_studio.core.scores.neighbours import nearest_neighbours

#: k of the k-NN radii (Kynkäänniemi et al. 2019 use k = 3).
PR_NEIGHBOURS = 3


def _radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance of each point to its k-th nearest other point of the same set (M63)."""
    distances, _ = nearest_neighbours(points, points, k=k + 1)  # the nearest is the point itself
    return distances[:, k]


def _inside(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(Q,) bool: query inside some ball (centre, radius)."""
    flat_q, flat_c = queries.reshape(queries.shape[0], -1).double(), centres.reshape(centres.shape[0], -1).double()
    inside = torch.zeros(flat_q.shape[0], dtype=torch.bool)
    for start in range(0, flat_q.shape[0], 1024):
        block = torch.cdist(flat_q[start:start + 1024], flat_c)
        inside[start:start + 1024] = (block <= radii.double()[None, :]).any(dim=1)
    return inside


def precision_recall(real: torch.Tensor, samples: torch.Tensor, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """(precision, recall) of ``samples`` (M, ...) against ``real`` (N, ...), N and M > k (M63).

    Non-finite samples count as outside the real manifold (they lower precision) and hold no ball.
    """
    if real.shape[0] <= k or samples.shape[0] <= k:
        raise ValueError(f"precision and recall need more than k = {k} points in each set")
    real = real.detach().cpu().double()
    samples = samples.detach().cpu().double()
    finite = torch.isfinite(samples.reshape(samples.shape[0], -1)).all(dim=1)
    kept = samples[finite]
    precision = float(_inside(kept, real, _radii(real, k)).double().sum() / samples.shape[0])
    if kept.shape[0] <= k:
        return precision, 0.0
    recall = float(_inside(real, kept, _radii(kept, k)).double().mean())
    return precision, recall
