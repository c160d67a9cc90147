"""Nearest neighbours against torch.cdist, and the copy rate's ratio test (M31) on copies and on fresh samples."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.core.analysis.memorization import COPY_RATIO, copy_mask, copy_rate, memorization, nearest_neighbours


def test_nearest_neighbours_match_cdist_with_a_tiny_block():
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(257, 3, 4, generator=gen)
    samples = torch.randn(31, 3, 4, generator=gen)
    distances, indices = nearest_neighbours(samples, data, k=3, block_bytes=2048)  # a handful of rows per chunk
    full = torch.cdist(samples.reshape(31, -1).double(), data.reshape(257, -1).double())
    expected = torch.topk(full, 3, dim=1, largest=False)
    assert torch.equal(indices, expected.indices)
    assert torch.allclose(distances, expected.values, atol=1e-12)


def test_exact_copies_have_distance_zero():
    data = torch.randn(100, 16)
    distances, indices = nearest_neighbours(data[[5, 17, 99]], data, k=2)
    assert torch.equal(indices[:, 0], torch.tensor([5, 17, 99]))
    assert torch.equal(distances[:, 0], torch.zeros(3, dtype=torch.float64))
    assert bool((distances[:, 1] > 1.0).all())


def test_copy_rate_is_one_for_near_copies_and_zero_for_fresh_samples():
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(200, 64, generator=gen)
    copies = data[torch.randint(0, 200, (150,), generator=gen)] + 0.05 * torch.randn(150, 64, generator=gen)
    fresh = torch.randn(150, 64, generator=gen)  # same distribution, never seen: d1 / d2 close to 1 in 64-D
    assert copy_rate(copies, data) == 1.0
    assert copy_rate(fresh, data) == 0.0
    mixed = torch.cat([copies[:30], fresh[:90]])
    assert copy_rate(mixed, data) == pytest.approx(0.25)
    assert copy_mask(mixed, data).tolist() == [True] * 30 + [False] * 90


def test_the_threshold_is_the_ratio_of_the_two_nearest_distances():
    data = torch.tensor([[0.0], [10.0]])
    # distances (d1, d2): (3, 7) ratio 0.43; (2, 8) ratio 0.25
    samples = torch.tensor([[3.0], [2.0]])
    assert copy_mask(samples, data).tolist() == [False, True]
    assert copy_mask(samples, data, ratio=0.5).tolist() == [True, True]
    assert COPY_RATIO == pytest.approx(1 / 3)


def test_memorization_statistics():
    data = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0]])
    samples = torch.tensor([[0.0, 0.0], [1.2, 0.0], [4.0, 3.0]])
    result = memorization(samples, data)
    # (d1, d2) = (0, 4): a copy; (1.2, 2.8): ratio 0.43; (3, 5): ratio 0.6
    assert result.nearest.tolist() == [0, 0, 1]
    assert result.nn_mean == pytest.approx(1.4)
    assert result.nn_min == 0.0 and result.nn_max == pytest.approx(3.0) and result.nn_median == pytest.approx(1.2)
    assert result.nn_ratio_median == pytest.approx(1.2 / 2.8)
    assert result.copy_rate == pytest.approx(1 / 3)
    assert result.to_dict(prefix="m_")["m_num_train"] == 3


def test_bad_inputs():
    data = torch.randn(5, 2)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(data, data, k=6)
    with pytest.raises(ValueError, match="values per item"):
        nearest_neighbours(torch.randn(3, 3), data)
    with pytest.raises(ValueError, match="ratio"):
        copy_rate(data, data, ratio=0.0)
    with pytest.raises(ValueError, match="at least 2"):
        memorization(data, data[:1])


def test_the_chance_rate_of_uniform_2d_data_is_one_ninth():
    """Fresh uniform points against a dense uniform sample: P(d1 < d2 / 3) = (1/3)^2 (a Poisson process in 2-D)."""
    gen = torch.Generator().manual_seed(2)
    data = torch.rand(20000, 2, generator=gen, dtype=torch.float64)
    fresh = 0.2 + 0.6 * torch.rand(4000, 2, generator=gen, dtype=torch.float64)  # away from the edges
    result = memorization(fresh, data)
    assert result.chance_rate == pytest.approx(1 / 9)
    assert result.copy_rate == pytest.approx(1 / 9, abs=0.015)  # 4000 draws: standard error 0.005
