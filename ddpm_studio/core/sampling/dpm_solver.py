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
                if x0_prev is None:
                    d = x0_hat
                else:
                    half_inv_r = h / (2.0 * h_prev)  # 1 / (2 r_i)
                    d = (1.0 + half_inv_r) * x0_hat - half_inv_r * x0_prev
                alpha_n, sigma_n, sigma = math.sqrt(ab_next), noise_scale(ab_next), noise_scale(ab)
                if stochastic:
                    x = (sigma_n / sigma * math.exp(-h)) * x - (alpha_n * math.expm1(-2.0 * h)) * d
                    z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                    x = x + (sigma_n * math.sqrt(-math.expm1(-2.0 * h))) * z
                else:
                    x = (sigma_n / sigma) * x - (alpha_n * math.expm1(-h)) * d
        x0_prev, h_prev = x0_hat, h
        yield step_record(diffusion, taus, index, tau, t_next, x, x0_hat)
