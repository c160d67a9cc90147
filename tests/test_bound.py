"""The variational bound on a case with a known answer (MATH.md M14-M17)."""

import math

import torch

from ddpm_studio.core.diffusion import GaussianDiffusion
from ddpm_studio.core.schedule import make_betas

M, S = 0.3, 0.5


def exact_reverse_model(d):
    """The true reverse process of x0 ~ N(M, S^2): exact mean (via E[eps|x_t]) and exact variance through u (M13).

    x_{t-1} and x_t are jointly Gaussian, so Var(x_{t-1} | x_t) = v_{t-1} - alpha_t v_{t-1}^2 / v_t with
    v_t = abar_t S^2 + 1 - abar_t; u solves M13's log interpolation for that variance.
    """
    ab, ab_prev = d.alphas_cumprod, d.alphas_cumprod_prev
    v_t, v_prev = ab * S * S + 1 - ab, ab_prev * S * S + 1 - ab_prev
    cond = v_prev - d.alphas * v_prev**2 / v_t
    lb, lp = torch.log(d.betas), d.posterior_log_variance_clipped
    u = 2 * (torch.log(cond) - lp) / (lb - lp) - 1

    def model(x, t):
        a = ab[t].to(x.dtype).view(-1, 1)
        eps = (1 - a).sqrt() * (x - a.sqrt() * M) / (a * S * S + 1 - a)
        return torch.cat([eps, u[t].to(x.dtype).view(-1, 1).expand_as(x)], 1)

    return model


def true_nll(x0):
    return 0.5 * math.log(2 * math.pi * S * S) + 0.5 * ((x0 - M) / S) ** 2


def test_bound_of_exact_reverse_process_equals_true_nll():
    d = GaussianDiffusion(make_betas("cosine", 50), variance="learned", decoder="gaussian")
    x0 = M + S * torch.randn(40_000, 1, dtype=torch.float64)
    bound = d.bits_per_dim(exact_reverse_model(d), x0) * math.log(2)
    gap = bound - true_nll(x0).squeeze(1)
    # unbiased Monte Carlo estimate of the gap, whose true value is ~0: within 4 standard errors
    stderr = gap.std().item() / math.sqrt(len(gap))
    assert abs(gap.mean().item()) < 4 * stderr + 2e-3


def test_bound_with_fixed_variance_is_above_true_nll():
    d = GaussianDiffusion(make_betas("linear", 100), variance="fixed_large", decoder="gaussian")
    ab = d.alphas_cumprod

    def eps_model(x, t):
        a = ab[t].to(x.dtype).view(-1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * M) / (a * S * S + 1 - a)

    x0 = M + S * torch.randn(40_000, 1, dtype=torch.float64)
    bound = (d.bits_per_dim(eps_model, x0) * math.log(2)).mean().item()
    nll = true_nll(x0).mean().item()
    assert nll < bound < nll + 0.2


def test_bits_per_dim_sums_prior_and_every_term():
    d = GaussianDiffusion(make_betas("cosine", 20))
    x0 = (torch.randint(0, 256, (3, 1, 2, 2)).double() * 2 / 255) - 1
    model = lambda x, t: 0.1 * x  # noqa: E731
    torch.manual_seed(5)
    bpd = d.bits_per_dim(model, x0)
    torch.manual_seed(5)
    total = d.prior_kl(x0) + sum(terms for _, terms in d.iter_vlb(model, x0))
    torch.testing.assert_close(bpd, total / (4 * math.log(2)))
    assert bpd.shape == (3,) and (bpd > 0).all()
