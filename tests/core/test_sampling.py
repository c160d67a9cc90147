"""Samplers against the exact optimal denoiser of Gaussian data (MATH.md M20-M22)."""

import pytest
import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import respaced_timesteps, run_to_end, sample

M, S = 1.5, 0.5  # data ~ N(M, S^2) per dimension
N = 20_000


def sample_final(diffusion, model, shape, **kwargs):
    """The final x_0 of :func:`sample`, shape ``shape``."""
    return run_to_end(sample(diffusion, model, shape, **kwargs)).x


def optimal_eps(diffusion):
    """E[eps | x_t] for x0 ~ N(M, S^2): sqrt(1 - abar) (x_t - sqrt(abar) M) / (abar S^2 + 1 - abar)."""
    ab = diffusion.alphas_cumprod

    def model(x, t):
        a = ab[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return (1 - a).sqrt() * (x - a.sqrt() * M) / (a * S * S + 1 - a)

    return model


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize(
    "num_steps, method, eta, tol",
    [(None, "ancestral", 0.0, 0.02), (100, "ancestral", 0.0, 0.03), (250, "ddim", 0.0, 0.03), (250, "ddim", 1.0, 0.04)],
)
def test_samples_match_gaussian_data(schedule, num_steps, method, eta, tol):
    d = GaussianDiffusion(make_betas(schedule, 1000))
    gen = torch.Generator().manual_seed(1)
    x = sample_final(d, optimal_eps(d), (N, 1), num_steps=num_steps, method=method, eta=eta, generator=gen)
    assert x.mean().item() == pytest.approx(M, abs=0.02)
    assert x.std().item() == pytest.approx(S, rel=tol)


def test_fixed_small_ancestral_equals_ddim_eta_one():
    """Song et al. 2021: eta = 1 makes DDIM the ancestral sampler with sigma^2 = beta~' (M12 on the chain)."""
    d = GaussianDiffusion(make_betas("linear", 1000), variance="fixed_small")
    kw = dict(num_steps=40, generator=None)
    a = sample_final(
        d, optimal_eps(d), (64, 2), method="ancestral", **{**kw, "generator": torch.Generator().manual_seed(3)}
    )
    b = sample_final(
        d, optimal_eps(d), (64, 2), method="ddim", eta=1.0, **{**kw, "generator": torch.Generator().manual_seed(3)}
    )
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("param", ["mean", "x0", "v"])
def test_other_parameterizations_sample_the_same_distribution_respaced(param):
    """Feed each parameterization its optimal output, derived from the optimal eps; respaced to 50 steps."""
    base = GaussianDiffusion(make_betas("linear", 1000))
    d = GaussianDiffusion(make_betas("linear", 1000), parameterization=param)
    eps_model = optimal_eps(base)
    ab = base.alphas_cumprod

    def model(x, t):
        eps = eps_model(x, t)
        a = ab[t].to(x.dtype).view(-1, 1)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        if param == "x0":
            return x0
        if param == "v":
            return a.sqrt() * eps - (1 - a).sqrt() * x0
        return d.q_posterior(x0, x, t)[0]

    x = sample_final(d, model, (N, 1), num_steps=50, generator=torch.Generator().manual_seed(2))
    assert x.mean().item() == pytest.approx(M, abs=0.02)
    assert x.std().item() == pytest.approx(S, rel=0.06)


@pytest.mark.parametrize("num_steps, method", [(None, "ancestral"), (7, "ancestral"), (13, "ddim"), (1, "ddim")])
def test_records_one_per_step_with_original_timesteps(num_steps, method):
    T = 60
    d = GaussianDiffusion(make_betas("cosine", T))
    seen = []

    def model(x, t):
        seen.append(int(t[0]))
        return torch.zeros_like(x)

    records = list(sample(d, model, (3, 2), num_steps=num_steps, method=method))
    K = num_steps or T
    assert len(records) == K
    assert [r.t for r in records] == seen
    assert records[0].t == T - 1 and records[-1].t == (0 if K > 1 else T - 1)
    assert all(a.t > b.t for a, b in zip(records, records[1:]))
    assert [r.index for r in records] == list(range(K))
    assert records[-1].x.shape == (3, 2) and records[-1].x0_hat.shape == (3, 2)


def test_respaced_timesteps_are_even_and_end_at_T():
    assert respaced_timesteps(1000, 5) == [0, 250, 500, 749, 999]
    assert respaced_timesteps(10, 10) == list(range(10))
    with pytest.raises(ValueError, match="1..10"):
        respaced_timesteps(10, 11)


def test_sampling_is_reproducible_with_a_generator():
    d = GaussianDiffusion(make_betas("linear", 100))
    model = optimal_eps(d)
    a = sample_final(d, model, (5, 2), generator=torch.Generator().manual_seed(7))
    b = sample_final(d, model, (5, 2), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)


def test_learned_variance_respaced_uses_the_respaced_range():
    """u = 1 picks beta' and u = -1 picks beta~' of the respaced chain: both give the data's law."""
    d = GaussianDiffusion(make_betas("linear", 1000), variance="learned")
    eps_model = optimal_eps(d)
    for u in (1.0, -1.0):

        def model(x, t, u=u):
            return torch.cat([eps_model(x, t), torch.full_like(x, u)], 1)

        x = sample_final(d, model, (N, 1), num_steps=100, generator=torch.Generator().manual_seed(4))
        assert x.std().item() == pytest.approx(S, rel=0.06)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "euler"}, "ancestral, ddim"),
        ({"num_steps": 0}, "1..100"),
        ({"eta": 2.0}, "eta"),
    ],
)
def test_bad_sampling_settings(kwargs, match):
    d = GaussianDiffusion(make_betas("linear", 100))
    with pytest.raises(ValueError, match=match):
        next(iter(sample(d, lambda x, t: x, (2, 2), **kwargs)))
