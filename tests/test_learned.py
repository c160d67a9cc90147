"""The 2-D views' arrays (core/learned.py) against brute-force float64 computations written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from exact_models import GaussianMixtureEps, mixture_log_density

from ddpm_studio.core.diffusion import GaussianDiffusion
from ddpm_studio.core.ideal import IdealDenoiser
from ddpm_studio.core.learned import (
    denoiser_field,
    error_over_t,
    error_timesteps,
    grid_points,
    iter_density_grid,
)
from ddpm_studio.core.ode_likelihood import OdeProgress
from ddpm_studio.core.schedule import make_betas

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _diffusion(T: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("linear", T))


def _brute_ideal(data: np.ndarray, x: np.ndarray, abar: float) -> np.ndarray:
    """E[x0 | x_t] by the softmax over examples, one point at a time, in float64 numpy."""
    out = np.zeros_like(x)
    for k, point in enumerate(x):
        logits = np.array([-np.sum((point - math.sqrt(abar) * d) ** 2) / (2 * (1 - abar)) for d in data])
        w = np.exp(logits - logits.max())
        out[k] = (w[:, None] * data).sum(0) / w.sum()
    return out


def test_grid_points_are_row_major_with_y_as_rows():
    pts = grid_points((0.0, 2.0, -1.0, 1.0), 3).numpy()
    expected = [(x, y) for y in (-1.0, 0.0, 1.0) for x in (0.0, 1.0, 2.0)]
    assert np.allclose(pts, expected)
    with pytest.raises(ValueError):
        grid_points((0.0, 0.0, 0.0, 1.0), 4)
    with pytest.raises(ValueError):
        grid_points((0.0, 1.0, 0.0, 1.0), 1)


def test_field_matches_brute_force_in_data_coordinates():
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(3)
    data = torch.randn(12, 2, generator=gen, dtype=torch.float64)  # model space
    shift, scale = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    t, n, bounds = 40, 5, (-3.0, 4.0, -2.0, 0.0)
    zero_eps = lambda x, t_: torch.zeros_like(x)  # noqa: E731  x0_hat = x_t / sqrt(abar) (no clip here)
    field = denoiser_field(zero_eps, diffusion, data, t, bounds, n, shift=shift, scale=scale)
    abar = float(diffusion.alphas_cumprod[t])
    xs, ys = np.linspace(-3, 4, n), np.linspace(-2, 0, n)
    grid = np.array([(x, y) for y in ys for x in xs])
    x_model = (grid - shift.numpy()) / scale.numpy()
    ideal = (_brute_ideal(data.numpy(), x_model, abar) - x_model) * scale.numpy()
    network = (x_model / math.sqrt(abar) - x_model) * scale.numpy()
    assert np.allclose(field.points.numpy(), grid)
    assert np.allclose(field.xs.numpy(), xs) and np.allclose(field.ys.numpy(), ys)
    assert np.allclose(field.ideal.numpy(), ideal, atol=1e-6)
    assert np.allclose(field.network.numpy(), network, atol=1e-6)
    gap = np.sqrt(((network - ideal) ** 2).sum(1)).reshape(n, n)
    assert np.allclose(field.difference.numpy(), gap, atol=1e-6)
    # the score: (sqrt(abar) x0 - x) / (1 - abar), divided by the scale per axis
    score = denoiser_field(IdealDenoiser(data, diffusion), diffusion, data, t, bounds, n, "score", shift, scale)
    brute = (math.sqrt(abar) * _brute_ideal(data.numpy(), x_model, abar) - x_model) / (1 - abar) / scale.numpy()
    assert np.allclose(score.ideal.numpy(), brute, atol=1e-6)
    assert np.allclose(score.network.numpy(), brute, atol=1e-5)  # the ideal denoiser as the network: no gap
    assert float(score.difference.max()) < 1e-4


def test_error_over_t_is_the_mean_distance_on_q_sample_draws():
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    zero_eps = lambda x, t_: torch.zeros_like(x)  # noqa: E731
    ts, errors = error_over_t(zero_eps, diffusion, data, [0, 30, 99], num_probe=10, seed=5)
    assert ts.tolist() == [1, 31, 100]  # paper timesteps
    noise_gen = torch.Generator().manual_seed(5)
    for tau, err in zip([0, 30, 99], errors):
        noise = torch.randn((10, 2), generator=noise_gen).double().numpy()
        abar = float(diffusion.alphas_cumprod[tau])
        x_t = math.sqrt(abar) * data[:10].numpy() + math.sqrt(1 - abar) * noise
        hat = x_t / math.sqrt(abar)
        brute = np.sqrt(((hat - _brute_ideal(data.numpy(), x_t, abar)) ** 2).sum(1)).mean()
        assert float(err) == pytest.approx(brute, rel=1e-5)
    _, none = error_over_t(IdealDenoiser(data, diffusion), diffusion, data, [0, 50, 99])
    assert float(none.max()) < 1e-5
    assert error_timesteps(100, 5) == [0, 25, 50, 74, 99]


def test_density_grid_of_an_exact_gaussian_model_is_the_gaussian_log_density():
    diffusion = GaussianDiffusion(make_betas("cosine", 200))
    mean, std = torch.tensor([[0.3, -0.2]]), torch.tensor([0.8])
    model = GaussianMixtureEps(diffusion, mean, std, torch.ones(1))
    shift, scale = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    bounds, n = (-0.5, 2.5, -2.0, 6.0), 4
    extra = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    records = list(iter_density_grid(model, diffusion, bounds, n, shift=shift, scale=scale, extra=extra))
    assert isinstance(records[0], OdeProgress) and len(records) == 201
    grid = records[-1]
    pts = torch.cat([grid_points(bounds, n), extra])
    model_pts = (pts - shift.double()) / scale.double()
    expected = mixture_log_density(model_pts, mean, std, torch.ones(1)) - math.log(0.5 * 3.0)
    got = torch.cat([grid.log_p.reshape(-1), grid.extra_log_p])
    # T = 200 keeps the test fast; its coarser levels leave ~3e-3 nats (T = 1000 reaches 1e-3, test_ode_likelihood)
    assert float((got - expected).abs().max()) < 5e-3
    assert grid.log_p.shape == (n, n)
