"""The variational bound on a case with a known answer (MATH.md M14-M17), and how its terms are handed out."""

import math

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas

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


def bound_nats(d, model, x0):
    """L = L_T + sum of every yielded term (M14): (B,) nats."""
    return d.prior_kl(x0) + sum(terms for _, terms in d.iter_vlb(model, x0))


def true_nll(x0):
    return 0.5 * math.log(2 * math.pi * S * S) + 0.5 * ((x0 - M) / S) ** 2


def test_bound_of_exact_reverse_process_equals_true_nll():
    d = GaussianDiffusion(make_betas("cosine", 50), variance="learned", decoder="gaussian")
    x0 = M + S * torch.randn(40_000, 1, dtype=torch.float64)
    bound = bound_nats(d, exact_reverse_model(d), x0)
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
    bound = bound_nats(d, eps_model, x0).mean().item()
    nll = true_nll(x0).mean().item()
    assert nll < bound < nll + 0.2


def test_iter_vlb_hands_out_terms_with_the_callers_grad_mode():
    """Between two terms the consumer's own code runs with grad enabled (the terms themselves carry none)."""
    d = GaussianDiffusion(make_betas("cosine", 5))
    weight = torch.nn.Parameter(torch.tensor(0.1))
    seen = []
    for t, terms in d.iter_vlb(lambda x, tt: weight * x, torch.randn(3, 2)):
        seen.append((t, torch.is_grad_enabled(), terms.requires_grad))
    assert seen == [(t, True, False) for t in range(4, -1, -1)]


def test_iter_vlb_draws_its_noise_from_the_given_generator_batch_by_batch():
    d = GaussianDiffusion(make_betas("cosine", 4), decoder="gaussian")
    x0 = torch.randn(5, 2, dtype=torch.float64)
    model = lambda x, tt: 0.3 * x  # noqa: E731
    got = list(d.iter_vlb(model, x0, torch.Generator().manual_seed(3), batch_size=2))
    generator = torch.Generator().manual_seed(3)
    for step, terms in got:  # t from T - 1 down; within each t, batches [0:2], [2:4], [4:5] in order
        noise = torch.cat([torch.randn(n, 2, generator=generator, dtype=torch.float64) for n in (2, 2, 1)])
        torch.testing.assert_close(terms, d.vlb_terms(model, x0, torch.full((5,), step), noise))
    assert [step for step, _ in got] == [3, 2, 1, 0]
