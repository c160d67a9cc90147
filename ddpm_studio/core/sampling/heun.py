"""Heun's second-order method on the probability-flow ODE (M24, M26): Karras et al. 2022, Algorithm 1.

The DDPM state x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps is rewritten in the variance-exploding form
y = x_t / sqrt(abar_t) = x_0 + sigma_t eps with sigma_t = sqrt((1 - abar_t) / abar_t) (Karras et al. 2022, Sec. 3 and
Table 1: VP with s(t) = sqrt(abar)), where the ODE is dy/dsigma = (y - D(y; sigma)) / sigma (their eq. 4 with
s = 1, sigma(t) = t) and the denoiser is D(y; sigma_t) = x0_hat(sqrt(abar_t) y, t).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.sampling.steps import SampleStep, abar_at, denoise


def heun_grid_size(num_evals: int) -> int:
    """How many trained timesteps (noise levels before the final sigma = 0) Heun visits with ``num_evals`` NFE.

    N levels give N intervals (the last, to sigma = 0, is an Euler step: Alg. 1 corrects only if sigma_{i+1} > 0);
    every other interval costs two evaluations, so N = (K + 1) / 2 for odd K. For even K, N = K / 2 + 1 and the
    FIRST interval (the noisiest, where the trajectory in y is closest to a straight line) is an Euler step too, so
    exactly K evaluations are spent.
    """
    return num_evals // 2 + 1


def heun(
    diffusion: GaussianDiffusion, model: Model, x: torch.Tensor, taus: list[int], num_evals: int
) -> Iterator[SampleStep]:
    """Karras et al. 2022, Alg. 1 (deterministic, S_churn = 0) on the trained sigmas of ``taus``, then sigma = 0.

    For each interval sigma_i -> sigma_{i+1}:
        d_i = (y_i - D(y_i; sigma_i)) / sigma_i,    y' = y_i + (sigma_{i+1} - sigma_i) d_i            (Euler)
        d'_i = (y' - D(y'; sigma_{i+1})) / sigma_{i+1},  y_{i+1} = y_i + (sigma_{i+1} - sigma_i)(d_i + d'_i) / 2
    (the correction is skipped on the last interval, sigma_{i+1} = 0, where y_{i+1} = D(y_i; sigma_i), and on the
    first when ``num_evals`` is even; see :func:`heun_grid_size`).

    Records: one per network evaluation. The first evaluation of a corrected step yields the Euler predictor y'
    (``predictor=True``, at the next noise level); the second yields the corrected state at that same level.

    Args:
        x: x_T, shape (B, ...). taus: ascending trained timesteps, heun_grid_size(num_evals) of them.
    """
    N = len(taus)
    if N != heun_grid_size(num_evals):
        raise ValueError(f"Heun with {num_evals} evaluations visits {heun_grid_size(num_evals)} timesteps, got {N}")
    euler_first = num_evals % 2 == 0 and N > 1
    levels = list(reversed(taus))
    y = x / math.sqrt(abar_at(diffusion, levels[0]))
    nfe = 0

    def record(t: int, state: torch.Tensor, x0_hat: torch.Tensor, t_next: int | None, predictor: bool) -> SampleStep:
        ab = abar_at(diffusion, t_next)
        return SampleStep(
            t=t,
            x=state * math.sqrt(ab),
            x0_hat=x0_hat,
            index=nfe - 1,
            num_steps=num_evals,
            nfe=nfe,
            abar=ab,
            t_next=-1 if t_next is None else t_next,
            predictor=predictor,
        )

    for j, tau in enumerate(levels):
        t_next = levels[j + 1] if j + 1 < N else None
        ab, ab_next = abar_at(diffusion, tau), abar_at(diffusion, t_next)
        sigma, sigma_next = _sigma(ab), _sigma(ab_next)
        with torch.no_grad():
            x0_hat, _ = denoise(diffusion, model, y * math.sqrt(ab), tau)
            nfe += 1
            slope = (y - x0_hat) / sigma
            # the step to sigma = 0 lands on the denoiser's output; written out, it would lose digits to roundoff
            y_euler = x0_hat if t_next is None else y + (sigma_next - sigma) * slope
        if t_next is None or (j == 0 and euler_first):
            y = y_euler
            yield record(tau, y, x0_hat, t_next, predictor=False)
            continue
        yield record(tau, y_euler, x0_hat, t_next, predictor=True)
        with torch.no_grad():
            x0_next, _ = denoise(diffusion, model, y_euler * math.sqrt(ab_next), t_next)
            nfe += 1
            slope_next = (y_euler - x0_next) / sigma_next
            y = y + (0.5 * (sigma_next - sigma)) * (slope + slope_next)
        yield record(t_next, y, x0_next, t_next, predictor=False)


def _sigma(abar: float) -> float:
    """sigma = sqrt((1 - abar) / abar) (M24)."""
    return math.sqrt((1.0 - abar) / abar)
