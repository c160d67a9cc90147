"""How far a race's final scores can be trusted: each lane's score with its bootstrap spread, and a ranking only
where the spreads separate the lanes.

A Fréchet score on 16 digits is noise at that size: the race's order of lanes flipped between seeds. The spread
here is the standard deviation of the score over :data:`BOOTSTRAP_ROUNDS` resamples (with replacement) of the
lane's own samples (Efron's bootstrap): what another draw of as many samples would plausibly score. Two lanes are
told apart only when their scores differ by more than :data:`SEPARATION_Z` times the spread of the difference
(sqrt(s_a^2 + s_b^2), the lanes' samples being independent draws); a ranking is given only when every
neighbouring pair is told apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

#: Resamples per lane: the spread's own relative error is about 1 / sqrt(2 (n - 1)), 16 % at 20.
BOOTSTRAP_ROUNDS = 20
#: Standard deviations of the difference two scores must be apart to be told apart (about 95 % one-sided).
SEPARATION_Z = 2.0
#: The key a scored lane's spread is stored under, beside its "score".
SPREAD_KEY = "score_spread"


def bootstrap_spread(score: Callable[[torch.Tensor], dict[str, float]], samples: torch.Tensor,
                     rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0, key: str = "score") -> float:
    """The standard deviation of ``score(resample)[key]`` over ``rounds`` resamples of ``samples`` (B, ...) with
    replacement (NaN when fewer than two rounds give a finite score)."""
    generator = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(rounds):
        pick = torch.randint(0, samples.shape[0], (samples.shape[0],), generator=generator)
        value = score(samples[pick.to(samples.device)]).get(key, math.nan)
        if math.isfinite(value):
            values.append(value)
    if len(values) < 2:
        return math.nan
    return float(torch.tensor(values, dtype=torch.float64).std(unbiased=True))


def with_spread(score: Callable[[torch.Tensor], dict[str, float]], rounds: int = BOOTSTRAP_ROUNDS,
                seed: int = 0) -> Callable[[torch.Tensor], dict[str, float]]:
    """``score`` whose result also holds :data:`SPREAD_KEY`: the bootstrap spread of its "score"."""

    def scored(samples: torch.Tensor) -> dict[str, float]:
        result = dict(score(samples))
        if "score" in result:
            result[SPREAD_KEY] = bootstrap_spread(score, samples, rounds, seed)
        return result

    return scored


def separated(a: dict[str, float], b: dict[str, float], z: float = SEPARATION_Z) -> bool:
    """Whether two lanes' scores differ by more than ``z`` spreads of their difference."""
    spreads = (a.get(SPREAD_KEY, math.nan), b.get(SPREAD_KEY, math.nan))
    if not all(math.isfinite(v) for v in (a.get("score", math.nan), b.get("score", math.nan), *spreads)):
        return False
    return abs(a["score"] - b["score"]) > z * math.hypot(*spreads)


def ranking(scores: Sequence[dict[str, float]], z: float = SEPARATION_Z) -> list[int] | None:
    """The lanes from best (lowest score) to worst when each neighbouring pair is :func:`separated`; None when any
    two neighbours overlap within their spread (or a lane has no score)."""
    if len(scores) < 2 or any("score" not in s for s in scores):
        return None
    order = sorted(range(len(scores)), key=lambda lane: scores[lane]["score"])
    if all(separated(scores[a], scores[b], z) for a, b in zip(order, order[1:])):
        return order
    return None
