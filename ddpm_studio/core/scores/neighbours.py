"""Nearest neighbours by L2 distance, chunked, and the ratio test for copies built on them (MATH.md M31).

The one k-NN search of the project's scores: the copy-rate lens of :mod:`ddpm_studio.core.scores.lenses` and the
memorization analysis (:mod:`ddpm_studio.core.analysis.memorization`, which explains the test and its chance
level) both call it, so a copy means the same thing in the verdict and in the Learned dock.
"""

from __future__ import annotations

import math

import torch

#: The ratio test's threshold (Gu et al. 2023): d(nn_1) < COPY_RATIO * d(nn_2) is a copy.
COPY_RATIO = 1.0 / 3.0
#: Memory budget of the (samples x chunk) distance block, in bytes.
_BLOCK_BYTES = 32 * 2**20


def _flat(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor of shape (N, ...) with N >= 1, got {shape}")
    return x.detach().reshape(x.shape[0], -1)


def nearest_neighbours(
    samples: torch.Tensor, data: torch.Tensor, k: int = 2, block_bytes: int = _BLOCK_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest rows of ``data`` to each sample by L2 distance over the flattened item.

    Chunked over the data with a running top-k, so memory stays at a (M, chunk) block whatever N is. Candidates
    are ranked with |s|^2 + |x|^2 - 2 s.x in float64; the k distances returned are then recomputed directly as
    ||s - x||, so an exact copy reports 0 rather than the expansion's roundoff.

    Args:
        samples: (M, ...). data: (N, ...) with the same item size. k: neighbours per sample, 1 <= k <= N.
    Returns:
        (distances float64 (M, k) ascending, indices int64 (M, k)) on the CPU.
    """
    s = _flat(samples, "samples").to("cpu", torch.float64)
    d = _flat(data, "data")
    if s.shape[1] != d.shape[1]:
        raise ValueError(f"samples have {s.shape[1]} values per item but the data {d.shape[1]}")
    num = d.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num:
        raise ValueError(f"k must be an integer in 1..{num} (the number of data rows), got {k!r}")
    M = s.shape[0]
    chunk = max(k, int(block_bytes) // (8 * (M + s.shape[1])))
    best_sq = torch.full((M, 0), math.inf, dtype=torch.float64)
    best_idx = torch.zeros((M, 0), dtype=torch.long)
    for start in range(0, num, chunk):
        items = d[start : start + chunk].to("cpu", torch.float64)
        # |s|^2 is the same along a row: it cannot change the ranking, so it is left out here
        partial = (items * items).sum(dim=1)[None, :] - 2.0 * (s @ items.T)
        idx = torch.arange(start, start + items.shape[0]).expand(M, -1)
        merged = torch.cat([best_sq, partial], dim=1)
        merged_idx = torch.cat([best_idx, idx], dim=1)
        top = torch.topk(merged, min(k, merged.shape[1]), dim=1, largest=False)
        best_sq, best_idx = top.values, merged_idx.gather(1, top.indices)
    neighbours = d[best_idx.reshape(-1)].to("cpu", torch.float64).reshape(M, k, -1)
    distances = (s[:, None, :] - neighbours).norm(dim=2)
    order = distances.argsort(dim=1)  # the direct distances settle near-ties the expansion ranked by roundoff
    return distances.gather(1, order), best_idx.gather(1, order)


def copy_mask(samples: torch.Tensor, data: torch.Tensor, ratio: float = COPY_RATIO) -> torch.Tensor:
    """(M,) bool: True where d(nn_1) < ratio * d(nn_2) (M31). Needs at least 2 data rows."""
    check_ratio(ratio)
    distances, _ = nearest_neighbours(samples, data, k=2)
    return distances[:, 0] < ratio * distances[:, 1]


def copy_rate(samples: torch.Tensor, data: torch.Tensor, ratio: float = COPY_RATIO) -> float:
    """The share of samples that copy a training example by the ratio test (M31), in [0, 1]."""
    return float(copy_mask(samples, data, ratio).double().mean())


def check_ratio(ratio: float) -> None:
    if not (isinstance(ratio, (int, float)) and 0.0 < ratio <= 1.0):
        raise ValueError(f"the copy ratio must lie in (0, 1], got {ratio!r}")
