"""Issue 27: every solver bounded on every grid, schedule and step count, against the Gaussian oracle (MATH.md
M24-M29, M41).

Data x_0 ~ N(0, s^2) per dimension, s = 0.2 (the issue's case). The exact denoiser is closed form: with
x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps, x_t ~ N(0, abar s^2 + 1 - abar) and

    x0_hat(x_t) = E[x_0 | x_t] = sqrt(abar) s^2 / (abar s^2 + 1 - abar) x_t,
    eps_hat(x_t) = sqrt(1 - abar) x_t / (abar s^2 + 1 - abar)                                 (the network below).

Exact ODE endpoint. In y = x_t / sqrt(abar) = x_0 + c eps, c = sqrt((1 - abar) / abar) (M24), the probability-flow
ODE dy/dc = (y - D(y; c)) / c with D = s^2 / (s^2 + c^2) y gives d log y / dc = c / (s^2 + c^2), so
y(c) = y(c_a) sqrt((s^2 + c^2) / (s^2 + c_a^2)). From x_T at c_T all the way to c = 0 (the full ODE):

    x_0 = s x_T / sqrt(abar_T s^2 + 1 - abar_T),

the standardised x_T mapped to the standardised x_0. Every sampler here stops at the lowest trained level c_1
(paper t = 1) and jumps to the clean end with the denoiser's output there, so what it converges to is

    x_0* = D(y(c_1); c_1) = s^2 x_T / (sqrt(abar_T) sqrt(s^2 + c_1^2) sqrt(s^2 + c_T^2)),

which differs from the full ODE's x_0 by a factor s / sqrt(s^2 + c_1^2) (RMS 2.5e-4 on the linear schedule, 1.0e-4
on the cosine one, at s = 0.2): that is the floor every sampler ending at t = 1 has, whatever its grid. The
tests measure against x_0*, and check x_0* against the full ODE.
"""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.core import choices
from ddpm_studio.core.analysis import race
from ddpm_studio.core.process import schedule
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import METHODS, SPACINGS, method_timesteps, run_to_end, sample
from ddpm_studio.core.sampling import spacing as spacing_module

S = 0.2  # the data's standard deviation (the Gaussian data)
NFE_RANGE = range(10, 42)
STOCHASTIC = ("ancestral", "dpmpp_2m_sde")


@pytest.fixture(scope="module", params=["linear", "cosine"])
def process(request) -> GaussianDiffusion:
    return GaussianDiffusion(make_betas(request.param, 1000))


def exact_eps(diffusion: GaussianDiffusion):
    """eps_hat(x_t, t) = sqrt(1 - abar) x_t / (abar s^2 + 1 - abar), from abar alone; x (B, D), t (B,) -> (B, D)."""
    table = diffusion.alphas_cumprod

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = table[t].to(x.dtype).view(-1, 1)
        return (1 - a).sqrt() * x / (a * S * S + 1 - a)

    return model


def x_T_points(count: int = 128) -> torch.Tensor:
    return torch.randn(count, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def full_ode_endpoint(abar_T: float, x_T: torch.Tensor) -> torch.Tensor:
    """x_0 = s x_T / sqrt(abar_T s^2 + 1 - abar_T): the probability-flow ODE from x_T to c = 0 (module docstring)."""
    return S * x_T / math.sqrt(abar_T * S * S + 1 - abar_T)


def sampler_endpoint(diffusion: GaussianDiffusion, x_T: torch.Tensor) -> torch.Tensor:
    """x_0* = s^2 x_T / (sqrt(abar_T) sqrt(s^2 + c_1^2) sqrt(s^2 + c_T^2)): the ODE to c_1, then the denoiser."""
    ab = diffusion.alphas_cumprod
    c_1, c_T = math.sqrt((1 - ab[0]) / ab[0]), math.sqrt((1 - ab[-1]) / ab[-1])
    return S * S * x_T / (math.sqrt(ab[-1]) * math.sqrt(S * S + c_1**2) * math.sqrt(S * S + c_T**2))


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).pow(2).mean().sqrt().item()


def final_error(diffusion: GaussianDiffusion, x_T: torch.Tensor, method: str, spacing: str, k: int) -> float:
    x = run_to_end(sample(diffusion, exact_eps(diffusion), tuple(x_T.shape), num_steps=k, method=method,
                          spacing=spacing, noise=x_T)).x
    return rms(x, sampler_endpoint(diffusion, x_T))


def test_the_sampler_endpoint_is_the_full_ode_up_to_the_t1_floor(process):
    x_T = x_T_points()
    floor = rms(sampler_endpoint(process, x_T), full_ode_endpoint(float(process.alphas_cumprod[-1]), x_T))
    assert floor < 3e-4 * x_T.pow(2).mean().sqrt().item() + 1e-12  # 2.5e-4 (linear), 1.0e-4 (cosine)


def test_logsnr_is_an_offered_spacing_everywhere():
    assert "logsnr" in choices.names(choices.SPACINGS) and "logsnr" in SPACINGS


def test_logsnr_grid_is_uniform_in_lambda_from_T_down_to_t1(process):
    """M41: lambda_i = lambda_hi + i / (K - 1)(lambda_lo - lambda_hi) with sigma_hi = min(sigma_T, 80), each point
    snapped to the trained t of nearest lambda, the top at T. Checked by brute force over the table."""
    ab = process.alphas_cumprod.numpy()
    lam = 0.5 * torch.log(process.alphas_cumprod / (1 - process.alphas_cumprod)).numpy()
    k = 12
    steps = spacing_module.logsnr_timesteps(process.alphas_cumprod, k)
    lo, hi = lam[0], max(lam[-1], -math.log(80.0))
    wanted = [hi + i / (k - 1) * (lo - hi) for i in range(k)]
    brute = sorted(int(abs(lam - w).argmin()) for w in wanted[1:])
    assert steps == [*brute, 999] and len(set(steps)) == k and ab.shape == (1000,)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_method_and_grid_starts_at_T(process, method, spacing):
    """x_T is pure noise at sigma_T: the first evaluation is at 0-based t = T - 1 (Heun on Karras started at 930 on
    the linear schedule, 991 on the cosine one)."""
    first = next(iter(sample(process, exact_eps(process), (4, 1), num_steps=15, method=method, spacing=spacing,
                             noise=x_T_points(4))))
    assert first.t == 999
    assert method_timesteps(method, process.alphas_cumprod, 15, spacing)[-1] == 999


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_method_grid_schedule_and_nfe_from_10_to_41_is_bounded(process, method, spacing):
    """No blow-up anywhere (Heun at 11 NFE on cosine / linspace ended at RMS 3.5 = 17 s). Deterministic methods:
    RMS error to x_0* below 1.25 s at every NFE and below s / 2 from 20 NFE on (measured worst: Heun at 10 NFE on
    the Karras grid, cosine, 1.13 s: four second-order steps in sigma cannot follow the path's turn at sigma ~ s).
    Stochastic methods have no pathwise answer: their samples' std must stay within 0.4 s .. 2 s (measured lowest:
    SDE-DPM-Solver++ at 10 NFE on trailing, 0.49 s, whose last level t = T / K leaves E[x_0 | x_t] shrunk). Every run
    spends exactly the NFE asked for (one record per evaluation)."""
    x_T = x_T_points()
    exact = sampler_endpoint(process, x_T)
    model = exact_eps(process)
    for k in NFE_RANGE:
        records = list(sample(process, model, tuple(x_T.shape), num_steps=k, method=method, spacing=spacing,
                              noise=x_T, generator=torch.Generator().manual_seed(1)))
        x = records[-1].x
        assert len(records) == k and records[-1].nfe == k and torch.isfinite(x).all()
        if method in STOCHASTIC:
            assert 0.4 * S < x.std().item() < 2.0 * S, (k, x.std().item())
        else:
            error = rms(x, exact)
            assert error < (1.25 * S if k < 20 else 0.5 * S), (k, error)


def test_heun_at_odd_nfe_on_the_cosine_schedule_is_as_good_as_at_the_even_one_below():
    """The fault of the issue: every interval of an odd-NFE Heun run was corrected, the first one from sigma = 2e4
    too, and the trapezoid over that jump multiplied the slope's change by 1e4. Now K + 1 is no worse than K."""
    cosine = GaussianDiffusion(make_betas("cosine", 1000))
    x_T = x_T_points()
    for k in (10, 20, 30, 40):
        assert final_error(cosine, x_T, "heun", "linspace", k + 1) <= final_error(cosine, x_T, "heun", "linspace", k)


def test_dpmpp_2m_on_the_logsnr_grid_beats_ddim_four_fold_at_10_and_20_nfe(process):
    x_T = x_T_points()
    for k in (10, 20):
        ddim = final_error(process, x_T, "ddim", "logsnr", k)
        dpm = final_error(process, x_T, "dpmpp_2m", "logsnr", k)
        assert dpm * 4 <= ddim, (k, dpm, ddim)
    assert final_error(process, x_T, "dpmpp_2m", "logsnr", 20) < final_error(process, x_T, "dpmpp_2m", "logsnr", 10)


def test_heun_on_the_logsnr_grid_beats_ddim_from_30_nfe(process):
    x_T = x_T_points()
    for k in (30, 35, 40):
        assert final_error(process, x_T, "heun", "logsnr", k) < final_error(process, x_T, "ddim", "logsnr", k)


@pytest.mark.parametrize("method, spacing", [("dpmpp_2m", "logsnr"), ("dpmpp_2m", "karras"), ("heun", "logsnr"),
                                             ("heun", "karras")])
def test_error_keeps_falling_up_to_100_nfe_on_the_snapped_grids(process, method, spacing):
    """The snapped grids use each trained t's exact abar, so snapping moves the grid points but adds no
    inconsistency: the error against x_0* keeps falling to 100 NFE (no floor above the t = 1 one of x_0*)."""
    x_T = x_T_points(64)
    errors = [final_error(process, x_T, method, spacing, k) for k in (40, 60, 80, 100)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


def test_log_snr_has_one_definition():
    """race.py and the sampling layer read the process's log SNR (M3); DPM-Solver's lambda is half of it."""
    assert race.log_snr is schedule.log_snr
    abar = 0.3
    assert schedule.log_snr(abar) == pytest.approx(math.log(abar / (1 - abar)))
    assert spacing_module.half_log_snr(abar) == pytest.approx(0.5 * math.log(abar / (1 - abar)))
    assert schedule.ve_sigma(abar) == pytest.approx(math.sqrt((1 - abar) / abar))
    assert schedule.noise_scale(abar) == pytest.approx(math.sqrt(1 - abar))
    assert math.isinf(schedule.log_snr(1.0))
