"""KL and decoder likelihoods against numerical integration (MATH.md M15, M16)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from ddpm_studio.core.process.losses import discretized_gaussian_log_likelihood, gaussian_log_density, normal_kl


@pytest.mark.parametrize("mq, vq, mp, vp", [(0.0, 1.0, 0.0, 1.0), (0.3, 0.5, -0.2, 2.0), (1.0, 1e-3, 0.9, 4e-3)])
def test_normal_kl_matches_numerical_integral(mq, vq, mp, vp):
    q, p = stats.norm(mq, math.sqrt(vq)), stats.norm(mp, math.sqrt(vp))
    lo, hi = mq - 12 * math.sqrt(vq), mq + 12 * math.sqrt(vq)
    want, _ = integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), lo, hi, limit=200)
    got = normal_kl(*(torch.tensor(v, dtype=torch.float64) for v in (mq, math.log(vq), mp, math.log(vp))))
    assert got.item() == pytest.approx(want, rel=1e-6, abs=1e-9)


def test_gaussian_log_density_matches_scipy():
    x = np.linspace(-3, 3, 13)
    got = gaussian_log_density(
        torch.tensor(x), torch.tensor(0.4, dtype=torch.float64), torch.tensor(math.log(0.7), dtype=torch.float64)
    )
    np.testing.assert_allclose(got.numpy(), stats.norm(0.4, math.sqrt(0.7)).logpdf(x), rtol=1e-12)


@pytest.mark.parametrize("mean, var", [(0.0, 0.1), (0.37, 1e-4), (-0.95, 1e-6), (0.999, 0.02), (5.0, 0.5)])
def test_discretized_likelihood_is_the_bin_mass(mean, var):
    pixels = np.arange(256)
    x = 2 * pixels / 255 - 1
    got = discretized_gaussian_log_likelihood(
        torch.tensor(x), torch.tensor(mean, dtype=torch.float64), torch.tensor(math.log(var), dtype=torch.float64)
    ).numpy()
    dist = stats.norm(mean, math.sqrt(var))
    lower = np.where(pixels == 0, -np.inf, x - 1 / 255)
    upper = np.where(pixels == 255, np.inf, x + 1 / 255)
    mass = dist.cdf(upper) - dist.cdf(lower)
    big = mass > 1e-10  # where float64 CDF differences are meaningful
    np.testing.assert_allclose(got[big], np.log(mass[big]), rtol=1e-6, atol=1e-9)
    # the 256 bins partition the real line
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-6)


def test_discretized_likelihood_is_stable_in_the_far_tail():
    """Bins many sigmas away keep a finite log that is still ordered, instead of log(0)."""
    x = torch.tensor([0.0, 0.2, 0.4], dtype=torch.float64)
    got = discretized_gaussian_log_likelihood(
        x, torch.tensor(-0.5, dtype=torch.float64), torch.tensor(math.log(0.01), dtype=torch.float64)
    )
    assert torch.isfinite(got).all()
    assert got[0] > got[1] >= got[2]
