"""The probability-flow ODE likelihood (M32) of exact models equals the data's known log-density."""

from __future__ import annotations

import math

import pytest
import torch
from exact_models import GaussianMixtureEps, mixture_flow_log_density, mixture_log_density

from ddpm_studio.core.analysis.ode_likelihood import (
    coarse_levels,
    iter_ode_log_likelihood,
    log_density_in_data_space,
    ode_levels,
    ode_log_likelihood,
    solver_error,
)
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling.spacing import sigmas_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("schedule, centre", [("cosine", (0.5, -0.3)), ("linear", (0.0, 0.0))])
def test_exact_gaussian_model_recovers_the_gaussian_log_density(schedule, centre):
    """Within 1e-3 nats per point, tails included.

    The model's prior N(0, I) is not exactly the noised data's marginal N(sqrt(abar_T) mu, ...): with the linear
    schedule sqrt(abar_T) = 0.00635 shifts log p by -sqrt(abar_T) mu.z (M32), a true model error (the bound's L_T
    sees it too), so the linear case uses mu = 0; the cosine schedule's sqrt(abar_T) = 5e-5 leaves any mu exact.
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
    diffusion = GaussianDiffusion(make_betas("cosine", 10))
    assert ode_levels(diffusion.alphas_cumprod) == list(range(10))
    assert ode_levels(diffusion.alphas_cumprod, 10) == list(range(10))
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


# ---------------------------------------------------------------------------- error against K (issue 27)
#: The issue's two-component mixture: means (+-1, 0), equal weights, each component's std 0.05 (2-D).
MIX_MEANS, MIX_WEIGHTS, MIX_STD = torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), torch.tensor([0.5, 0.5]), 0.05
#: The dock's default level count (gui/docks/learned_views.py, densityLevelsSpin).
DEFAULT_LEVELS = 100


def _mixture_points(num: int) -> torch.Tensor:
    """(num, 2) float64 draws from the mixture, seeded."""
    gen = torch.Generator().manual_seed(0)
    comp = torch.randint(0, 2, (num,), generator=gen)
    return (MIX_MEANS[comp] + MIX_STD * torch.randn(num, 2, generator=gen)).double()


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_dop853_reference_is_the_exact_mixture_density(schedule):
    """The independent reference (scipy DOP853 on the continuous exact field) is the closed-form density, up to
    the prior's mismatch sqrt(abar_T) |E x| |z| (M32), which is 0 here (E x = 0) but for O(abar_T)."""
    diffusion = GaussianDiffusion(make_betas(schedule, 1000))
    stds = torch.tensor([MIX_STD, MIX_STD])
    x0 = _mixture_points(16)
    reference = mixture_flow_log_density(x0, MIX_MEANS, stds, MIX_WEIGHTS, diffusion.alphas_cumprod)
    exact = mixture_log_density(x0, MIX_MEANS, stds, MIX_WEIGHTS)
    assert float((reference - exact).abs().max()) < (1e-6 if schedule == "cosine" else 1e-4)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_default_levels_are_within_a_hundredth_of_a_nat_of_dop853(schedule):
    """At the default K = 100 the mean |log p_K - log p_DOP853| is < 1e-2 nats per point (the grid uniform in t
    was 0.14 off on the cosine schedule, 0.28 on the linear one: benchmarks/ode_likelihood_error.py), and the
    error bar (K against K/2) covers the mean's distance to the all-levels solution K = T. It does not see the
    floor that the trained grid itself leaves (K = T is 0.005 off on the linear schedule's sigma_1 = 0.01 against
    s = 0.05), which is why the dock's caption calls it the error of the level count."""
    diffusion = GaussianDiffusion(make_betas(schedule, 1000))
    stds = torch.tensor([MIX_STD, MIX_STD])
    model = GaussianMixtureEps(diffusion, MIX_MEANS, stds, MIX_WEIGHTS)
    x0 = _mixture_points(32)
    reference = mixture_flow_log_density(x0, MIX_MEANS, stds, MIX_WEIGHTS, diffusion.alphas_cumprod)
    log_p = ode_log_likelihood(model, diffusion, x0, num_levels=DEFAULT_LEVELS)
    coarse = ode_log_likelihood(model, diffusion, x0, num_levels=coarse_levels(DEFAULT_LEVELS))
    assert float((log_p - reference).abs().mean()) < 1e-2
    every = ode_log_likelihood(model, diffusion, x0)
    bar = solver_error(log_p, coarse)
    assert abs(float((log_p - every).mean())) <= bar < 0.05
    assert float((every - reference).abs().mean()) < 6e-3  # the trained grid's own floor


def test_levels_are_uniform_in_log_sigma_with_both_ends():
    """K = 100 on the cosine schedule: ends 0 and T - 1, distinct, and no log-sigma step much wider than the even
    one (the grid uniform in t took one step of log(20291 / 64) = 5.8 at the top, and 1.4 at the bottom)."""
    diffusion = GaussianDiffusion(make_betas("cosine", 1000))
    levels = ode_levels(diffusion.alphas_cumprod, DEFAULT_LEVELS)
    assert len(levels) == len(set(levels)) == DEFAULT_LEVELS and levels[0] == 0 and levels[-1] == 999
    log_sigma = torch.log(torch.from_numpy(sigmas_of(diffusion.alphas_cumprod)[levels]))
    even = float(log_sigma[-1] - log_sigma[0]) / (DEFAULT_LEVELS - 1)
    # a wider step only where the trained grid itself is coarser (consecutive t: the bottom, and the top, whose last
    # step is the schedule's own sigma 642 -> 20,291)
    wide = [i for i, step in enumerate(log_sigma.diff().tolist()) if step >= 1.5 * even]
    assert all(levels[i + 1] == levels[i] + 1 for i in wide)
    assert coarse_levels(3) is None and coarse_levels(100) == 50 and coarse_levels(101) == 50
