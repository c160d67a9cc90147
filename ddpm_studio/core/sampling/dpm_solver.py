"""DPM-Solver++(2M) (M27, M28) and its SDE variant (M29): Lu et al. 2022b, "DPM-Solver++: Fast Solver for Guided
Sampling of Diffusion Probabilistic Models", with the data prediction x0_hat.

In the half log-SNR lambda = log(alpha / sigma) (alpha = sqrt(abar), sigma = sqrt(1 - abar)), the probability-flow
ODE has the exact solution (Lu et al. 2022b, Sec. 4.1, data-prediction form)
    x_t = (sigma_t / sigma_s) x_s + sigma_t * integral_{lambda_s}^{lambda_t} e^lambda x0_hat(x_lambda, lambda) dlambda,
and each solver approximates x0_hat over a step by a constant or a linear extrapolation in lambda.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.process.schedule import noise_scale
from ddpm_studio.core.sampling.spacing import half_log_snr
from ddpm_studio.core.sampling.steps import SampleStep, abar_at, denoise, descending, step_record


def dpmpp_2m(
    diffusion: GaussianDiffusion,
    model: Model,
    x: torch.Tensor,
    taus: list[int],
    stochastic: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """DPM-Solver++(2M) (Lu et al. 2022b, Algorithm 2) or, with ``stochastic``, SDE-DPM-Solver++(2M) (M29).

    With h_i = lambda_{t_i} - lambda_{t_{i-1}} and r_i = h_{i-1} / h_i (M28):
        D_i = (1 + 1 / (2 r_i)) x0_hat_{i-1} - 1 / (2 r_i) x0_hat_{i-2}     (D_1 = x0_hat_0: first order, M27)
        ODE: x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i
        SDE: x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) e^{-h_i} x_{t_{i-1}} + alpha_{t_i} (1 - e^{-2 h_i}) D_i
                       + sigma_{t_i} sqrt(1 - e^{-2 h_i}) z
    The last step goes to the clean end (sigma = 0, lambda = +inf) at first order ("lower order final"): the
    second-order extrapolation has r = 0 there and would diverge; with h = inf both updates return x0_hat.

    Args:
        x: x_T, shape (B, ...). taus: ascending trained timesteps, K of them: K network evaluations.
        stochastic: the SDE variant (draws one noise tensor per step but the last from ``generator``).
    """
    x0_prev: torch.Tensor | None = None
    h_prev = math.nan
    for index, _, tau, t_next in descending(taus):
        ab, ab_next = abar_at(diffusion, tau), abar_at(diffusion, t_next)
        with torch.no_grad():
            x0_hat, _ = denoise(diffusion, model, x, tau)
            if t_next is None:
                h = math.inf
                x = x0_hat  # M27 with sigma_t = 0, alpha_t = 1, e^{-h} = 0
            else:
                h = half_log_snr(ab_next) - half_log_snr(ab)
                d = multistep_x0(x0_hat, x0_prev, h, h_prev)
                x = dpmpp_update(x, d, math.sqrt(ab_next), noise_scale(ab_next), noise_scale(ab), h, stochastic,
                                 generator)
        x0_prev, h_prev = x0_hat, h
        yield step_record(diffusion, taus, index, tau, t_next, x, x0_hat)


def multistep_x0(x0_hat: torch.Tensor, x0_prev: torch.Tensor | None, h: float, h_prev: float) -> torch.Tensor:
    """D_i of M28, the second-order multistep estimate of x0 over a step of length h in lambda (any path):
    (1 + 1 / (2 r)) x0_hat - 1 / (2 r) x0_prev with r = h_prev / h; x0_hat alone (M27) on the first step or
    after an infinite one (h_prev = inf: the step from alpha = 0, where 1 / (2 r) = 0)."""
    if x0_prev is None:
        return x0_hat
    half_inv_r = h / (2.0 * h_prev)  # 1 / (2 r_i)
    return (1.0 + half_inv_r) * x0_hat - half_inv_r * x0_prev


def dpmpp_update(
    x: torch.Tensor, d: torch.Tensor, alpha_next: float, sigma_next: float, sigma: float, h: float,
    stochastic: bool, generator: torch.Generator | None,
) -> torch.Tensor:
    """One DPM-Solver++ step on ANY Gaussian path x = alpha x0 + sigma eps (M27-M29), from (alpha, sigma) with
    half log-SNR lambda to (alpha_next, sigma_next) at lambda + h, with the x0 estimate ``d`` (B, ...):

        ODE: x' = (sigma' / sigma) x - alpha' (e^{-h} - 1) d
        SDE: x' = (sigma' / sigma) e^{-h} x + alpha' (1 - e^{-2h}) d + sigma' sqrt(1 - e^{-2h}) z

    Only alpha, sigma and lambda enter, so DDPM's trained levels and the flow's linear path share it. h = inf (a
    step from alpha = 0, the flow's x_1) gives x' = sigma' x + alpha' d (ODE) and alpha' d + sigma' z (SDE).
    """
    if stochastic:
        x = (sigma_next / sigma * math.exp(-h)) * x - (alpha_next * math.expm1(-2.0 * h)) * d
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + (sigma_next * math.sqrt(-math.expm1(-2.0 * h))) * z
    return (sigma_next / sigma) * x - (alpha_next * math.expm1(-h)) * d
