"""The probability-flow ODE likelihood (M32) of exact models equals the data's known log-density."""

from __future__ import annotations

import math

import pytest
import torch
from exact_models import GaussianMixtureEps, mixture_log_density

from ddpm_studio.core.analysis.ode_likelihood import (
    iter_ode_log_likelihood,
    log_density_in_data_space,
    ode_levels,
    ode_log_likelihood,
)
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("schedule, centre", [("cosine", (0.5, -0.3)), ("linear", (0.0, 0.0))])
def test_exact_gaussian_model_recovers_the_gaussian_log_density(schedule, centre):
    """Within 1e-3 nats per point, tails included.

    The model's prior N(0, I) is not exactly the noised data's marginal N(sqrt(abar_T) mu, ...): with the linear
    schedule sqrt(abar_T) = 0.0064 shifts log p by ~0.004 |mu| |z|, a true model error (the bound's L_T sees it too),
    so the linear case uses mu = 0; the cosine schedule's sqrt(abar_T) = 5e-5 leaves any mu exact.
    """
    diffusion = GaussianDiffusion(make_betas(schedule, 1000))
    mean, std = torch.tensor([centre]), torch.tensor([0.7])
    model = GaussianMixtureEps(diffusion, mean, std, torch.ones(1))
    gen = torch.Generator().manual_seed(0)
    x0 = mean + std * torch.randn(30, 2, generator=gen, dtype=torch.float64)
    x0 = torch.cat([x0, torch.tensor([[3.0, 2.0], [-2.5, -2.0]], dtype=torch.float64)])  # far out in the tails
    log_p = ode_log_likelihood(model, diffusion, x0)
    expected = mixture_log_density(x0, mean, std, torch.ones(1))
    assert float((log_p - expected).abs().max()) < 1e-3


def test_exact_mixture_model_recovers_the_mixture_log_density():
    diffusion = GaussianDiffusion(make_betas("cosine", 1000))
    means = torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.2]])
    stds = torch.tensor([0.3, 0.5, 0.25])
    weights = torch.tensor([0.5, 0.3, 0.2])
    model = GaussianMixtureEps(diffusion, means, stds, weights)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.cat([means + stds[:, None] * torch.randn(3, 2, generator=gen) for _ in range(10)]).double()
    log_p = ode_log_likelihood(model, diffusion, x0, batch_size=16)  # two batches per evaluation
    expected = mixture_log_density(x0, means, stds, weights)
    assert float((log_p - expected).abs().max()) < 1e-3


def test_every_parameterization_gives_the_same_likelihood():
    """The field is the process's eps_hat (M7-M10): an x0-parameterized exact model is the same ODE."""
    eps_diffusion = GaussianDiffusion(make_betas("linear", 200))
    x0_diffusion = GaussianDiffusion(make_betas("linear", 200), parameterization="x0")
    eps_model = GaussianMixtureEps(eps_diffusion, torch.zeros(1, 2), torch.tensor([0.8]), torch.ones(1))

    def x0_model(x, t):
        return eps_diffusion.predict_x0(eps_model(x, t), x, t)  # M7: the same optimum, output as x0

    points = torch.randn(5, 2, dtype=torch.float64)
    a = ode_log_likelihood(eps_model, eps_diffusion, points, num_levels=50)
    b = ode_log_likelihood(x0_model, x0_diffusion, points, num_levels=50)
    assert torch.allclose(a, b, atol=1e-9)


def test_fewer_levels_still_converge_and_progress_is_reported():
    diffusion = GaussianDiffusion(make_betas("cosine", 1000))
    model = GaussianMixtureEps(diffusion, torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    points = torch.tensor([[0.2, -0.4], [1.5, 0.3]], dtype=torch.float64)
    records = list(iter_ode_log_likelihood(model, diffusion, points, num_levels=100))
    assert [r.done for r in records[:-1]] == list(range(1, 101))
    log_p, prior = records[-1]
    expected = mixture_log_density(points, torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    assert float((log_p - expected).abs().max()) < 1e-2
    assert bool((prior < log_p).all())  # a unit Gaussian is sharper than the prior's spread in y


def test_levels_and_bad_inputs():
    assert ode_levels(10) == list(range(10))
    assert ode_levels(10, 4) == [0, 3, 6, 9]
    diffusion = GaussianDiffusion(make_betas("cosine", 10))
    model = GaussianMixtureEps(diffusion, torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    with pytest.raises(ValueError, match="2..10"):
        ode_log_likelihood(model, diffusion, torch.zeros(2, 2), num_levels=1)
    with pytest.raises(ValueError, match="NaN"):
        ode_log_likelihood(model, diffusion, torch.tensor([[math.nan, 0.0]]))


def test_data_space_density_subtracts_the_log_scales():
    """model = (data - shift) / scale: a density in model space is divided by prod(scale) in the data's units."""
    log_p = torch.tensor([-1.0, -2.5], dtype=torch.float64)
    scale = torch.tensor([2.0, 0.5])
    assert torch.equal(log_density_in_data_space(log_p, None), log_p)
    assert torch.allclose(log_density_in_data_space(log_p, scale), log_p)  # log 2 + log 0.5 = 0
    assert torch.allclose(log_density_in_data_space(log_p, torch.tensor([2.0, 2.0])), log_p - 2 * math.log(2.0))
