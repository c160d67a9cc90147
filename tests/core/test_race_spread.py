"""The race's scores with their bootstrap spread, and a ranking only where the spreads separate the lanes."""

from __future__ import annotations

import math

import torch

from ddpm_studio.core.analysis.race_spread import SPREAD_KEY, bootstrap_spread, ranking, separated, with_spread


def mean_score(samples: torch.Tensor) -> dict[str, float]:
    return {"score": float(samples.double().mean()), "off_support": 0.0}


def test_the_bootstrap_spread_of_a_mean_is_its_standard_error():
    samples = torch.randn(400, generator=torch.Generator().manual_seed(0))
    spread = bootstrap_spread(mean_score, samples, rounds=200)
    assert abs(spread - 1.0 / math.sqrt(400)) < 0.012  # sigma / sqrt(n)
    scored = with_spread(mean_score, rounds=20)(samples)
    assert set(scored) == {"score", "off_support", SPREAD_KEY} and scored[SPREAD_KEY] > 0


def test_lanes_are_ranked_only_when_their_spreads_separate_them():
    apart = [{"score": 3.0, SPREAD_KEY: 0.2}, {"score": 1.0, SPREAD_KEY: 0.2}, {"score": 2.0, SPREAD_KEY: 0.2}]
    assert ranking(apart) == [1, 2, 0]
    overlapping = [{"score": 1.0, SPREAD_KEY: 0.5}, {"score": 1.4, SPREAD_KEY: 0.5}]
    assert ranking(overlapping) is None and not separated(*overlapping)
    assert ranking([{"score": 1.0}, {"score": 5.0}]) is None  # no spread, no ranking
    assert ranking([{"score": 1.0, SPREAD_KEY: 0.1}, {}]) is None


def test_sixteen_samples_rarely_separate_two_draws_of_one_distribution():
    """Two lanes that are the same sampler (two seeds): the 16-sample score difference stays within the spread."""
    told_apart = 0
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        lanes = [with_spread(mean_score, seed=seed)(torch.randn(16, generator=generator)) for _ in range(2)]
        told_apart += separated(*lanes)
    assert told_apart <= 3  # ~5 % expected at z = 2
