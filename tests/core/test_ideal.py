"""The ideal denoiser (M30) against brute-force float64 computations and closed forms; its samples are copies."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.core.analysis.ideal import (
    IdealDenoiser,
    ideal_eps,
    ideal_moments,
    ideal_score,
    ideal_x0,
    predicted_score,
    x0_error_over_t,
)
from ddpm_studio.core.analysis.memorization import nearest_neighbours
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import run_to_end, sample


def _diffusion(schedule: str = "linear", T: int = 1000, **kwargs) -> GaussianDiffusion:
    return GaussianDiffusion(make_betas(schedule, T), **kwargs)


def _brute_force(data: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, diffusion: GaussianDiffusion):
    """Direct distances, one softmax over all N, float64: the formula of M30 as written."""
    flat = data.double().reshape(data.shape[0], -1)
    xt = x_t.double().reshape(x_t.shape[0], -1)
    abar = diffusion.alphas_cumprod[t].double()[:, None]
    sq = ((xt[:, None, :] - abar.sqrt()[:, :, None] * flat[None]) ** 2).sum(dim=2)
    weights = torch.softmax(-sq / (2.0 * (1.0 - abar)), dim=1)
    mean = weights @ flat
    var = weights @ (flat * flat) - mean * mean
    return mean.reshape(x_t.shape), var.reshape(x_t.shape)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ideal_x0_matches_a_brute_force_float64_computation(schedule):
    diffusion = _diffusion(schedule)
    gen = torch.Generator().manual_seed(1)
    data = torch.rand(300, 1, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
    t = torch.tensor([0, 0, 1, 5, 50, 300, 700, 998, 999, 999], dtype=torch.long)
    x0 = data[torch.randint(0, 300, (t.shape[0],), generator=gen)]
    x_t = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=gen, dtype=torch.float64))
    x_t[1] = 0.5 * (data[0] + data[1])  # a point equidistant between two examples at t = 0: weights split
    expected_mean, expected_var = _brute_force(data, x_t, t, diffusion)
    # a tiny memory budget forces a chunk of a few rows: the running log-sum-exp must agree with one softmax
    mean, var = ideal_moments(data, x_t, t, diffusion, variance=True, chunk_bytes=4096)
    assert torch.allclose(mean, expected_mean, atol=1e-6, rtol=0)
    assert torch.allclose(var, expected_var, atol=1e-6, rtol=0)
    assert torch.allclose(ideal_x0(data, x_t, t, diffusion), expected_mean, atol=1e-6, rtol=0)


def test_float32_inputs_are_computed_in_float64():
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(2)
    data = torch.randn(500, 2, generator=gen)
    t = torch.zeros(64, dtype=torch.long)  # 1 - abar = 1e-4: logits of order 1e5, float32 would lose the weights
    x_t = diffusion.q_sample(data[:64], t, torch.randn(64, 2, generator=gen)) + 0.003
    out = ideal_x0(data, x_t, t, diffusion)
    assert out.dtype == torch.float32
    expected, _ = _brute_force(data, x_t, t, diffusion)
    assert torch.allclose(out.double(), expected, atol=1e-6, rtol=0)


def test_one_point_data_gives_the_gaussian_closed_form():
    """N = 1: the posterior is the point itself, q_t = N(sqrt(abar) x_1, (1 - abar) I), its score is closed form."""
    diffusion = _diffusion("cosine", 200)
    point = torch.tensor([[0.3, -0.7, 0.1]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x_t = 5.0 * torch.randn(7, 3, generator=gen, dtype=torch.float64)  # far from the point too
    t = torch.tensor([0, 1, 20, 100, 150, 198, 199], dtype=torch.long)
    abar = diffusion.alphas_cumprod[t][:, None]
    assert torch.equal(ideal_x0(point, x_t, t, diffusion), point.expand(7, 3))
    expected_score = -(x_t - abar.sqrt() * point) / (1 - abar)
    assert torch.allclose(ideal_score(point, x_t, t, diffusion), expected_score, rtol=1e-12, atol=0)
    expected_eps = (x_t - abar.sqrt() * point) / (1 - abar).sqrt()
    assert torch.allclose(ideal_eps(point, x_t, t, diffusion), expected_eps, rtol=1e-12, atol=0)


def test_weights_are_uniform_at_the_top_of_the_cosine_schedule():
    diffusion = _diffusion("cosine", 1000)
    data = torch.randn(40, 2, dtype=torch.float64)
    t = torch.full((3,), 999, dtype=torch.long)
    x_t = torch.randn(3, 2, dtype=torch.float64)
    assert torch.allclose(ideal_x0(data, x_t, t, diffusion), data.mean(dim=0).expand(3, 2), atol=1e-3)


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v", "mean"])
def test_ideal_denoiser_speaks_every_parameterization(parameterization):
    """The process's own inverse (predict_x0, M7-M10) recovers the ideal x0 from the denoiser's output."""
    diffusion = _diffusion("linear", 100, parameterization=parameterization)
    gen = torch.Generator().manual_seed(4)
    data = torch.randn(30, 2, generator=gen)
    x_t = torch.randn(16, 2, generator=gen)
    t = torch.randint(0, 100, (16,), generator=gen)
    model = IdealDenoiser(data, diffusion)
    out = model(x_t, t)
    assert out.shape == x_t.shape and out.dtype == torch.float32
    recovered = diffusion.predict_x0(out.double(), x_t.double(), t)
    assert torch.allclose(recovered, ideal_x0(data, x_t, t, diffusion).double(), atol=1e-4)


@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_a_models_score_read_through_the_process_is_the_ideal_score(parameterization):
    diffusion = _diffusion("cosine", 100, parameterization=parameterization)
    data = torch.randn(25, 2, dtype=torch.float64)
    x_t = torch.randn(9, 2, dtype=torch.float64)
    t = torch.arange(0, 99, 11, dtype=torch.long)
    got = predicted_score(IdealDenoiser(data, diffusion), diffusion, x_t, t)
    assert torch.allclose(got, ideal_score(data, x_t, t, diffusion), rtol=1e-8, atol=1e-8)


def test_learned_variance_matches_the_reverse_steps_exact_variance():
    """u makes sigma^2 = beta~ + c0^2 Var[x0 | x_t]: the variance of q(x_{t-1} | x_t), a mixture over the data."""
    diffusion = _diffusion("linear", 100, variance="learned")
    gen = torch.Generator().manual_seed(5)
    data = torch.randn(20, 1, 2, 2, generator=gen, dtype=torch.float64)
    x_t = torch.randn(12, 1, 2, 2, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 3, 5, 10, 20, 30, 50, 70, 90, 98, 99], dtype=torch.long)
    out = IdealDenoiser(data, diffusion)(x_t, t)
    assert out.shape == (12, 2, 2, 2)
    variance = diffusion.p_mean_variance(out, x_t, t)["variance"]
    _, var0 = _brute_force(data, x_t, t, diffusion)
    shape = (-1, 1, 1, 1)
    expected = diffusion.posterior_variance[t].reshape(shape) + diffusion.posterior_mean_coef_x0[t].reshape(
        shape
    ) ** 2 * var0
    assert torch.allclose(variance, expected, rtol=1e-6)


@pytest.mark.parametrize("method", ["ddim", "heun", "dpmpp_2m"])
def test_deterministic_samplers_with_the_ideal_denoiser_return_training_points(method):
    diffusion = _diffusion("linear", 1000, clip_x0=True, x0_range=(torch.full((2,), -3.0), torch.full((2,), 3.0)))
    gen = torch.Generator().manual_seed(6)
    data = torch.tensor([[-1.5, -1.0], [0.0, 1.2], [1.4, -0.3], [0.7, 0.9], [-0.8, 0.4], [1.0, -1.6]])
    steps = {"ddim": 50, "heun": 41, "dpmpp_2m": 30}[method]
    final = run_to_end(sample(diffusion, IdealDenoiser(data, diffusion), (300, 2), num_steps=steps, method=method,
                              generator=gen)).x
    distances, indices = nearest_neighbours(final, data, k=1)
    assert float(distances.max()) < 1e-5
    assert set(indices[:, 0].tolist()) == set(range(6))  # every example is drawn, not one attractor


def test_ancestral_sampling_of_images_lands_on_training_images():
    diffusion = _diffusion("cosine", 100, clip_x0=True)
    gen = torch.Generator().manual_seed(7)
    data = torch.rand(8, 1, 4, 4, generator=gen) * 2 - 1
    final = run_to_end(sample(diffusion, IdealDenoiser(data, diffusion), (40, 1, 4, 4), generator=gen)).x
    distances, _ = nearest_neighbours(final, data, k=2)
    assert float(distances[:, 0].max()) < 1e-3 < float(distances[:, 1].min())


def test_error_over_t_is_zero_for_the_ideal_denoiser_itself():
    diffusion = _diffusion("linear", 100)
    data = torch.randn(50, 2)
    ideal = IdealDenoiser(data, diffusion)
    assert torch.allclose(x0_error_over_t(ideal, data, data[:20], [0, 10, 50, 99], diffusion),
                          torch.zeros(4, dtype=torch.float64), atol=1e-5)
    zero = x0_error_over_t(lambda x, t: torch.zeros_like(x), data, data[:20], [0, 99], diffusion)
    # eps = 0 says x0_hat = x_t / sqrt(abar): off by the noise, sigma_t = sqrt((1 - abar) / abar) RMS, at t = 0 where
    # the ideal x0 is the example itself; at t = T - 1 by far more
    sigma_0 = math.sqrt((1 - float(diffusion.alphas_cumprod[0])) / float(diffusion.alphas_cumprod[0]))
    assert float(zero[0]) == pytest.approx(sigma_0, rel=0.3)
    assert float(zero[1]) > 1.0


def test_bad_inputs_are_readable_errors():
    diffusion = _diffusion("linear", 50)
    data = torch.randn(5, 2)
    with pytest.raises(ValueError, match="x_t must have shape"):
        ideal_x0(data, torch.randn(3, 3), torch.zeros(3, dtype=torch.long), diffusion)
    with pytest.raises(ValueError, match="0..49"):
        ideal_x0(data, torch.randn(3, 2), torch.full((3,), 50, dtype=torch.long), diffusion)
    with pytest.raises(ValueError, match="LongTensor"):
        ideal_x0(data, torch.randn(3, 2), torch.zeros(3), diffusion)
    with pytest.raises(ValueError, match="NaN"):
        IdealDenoiser(torch.tensor([[math.nan, 0.0]]), diffusion)
