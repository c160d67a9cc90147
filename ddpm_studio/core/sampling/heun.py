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
from ddpm_studio.core.process.schedule import ve_sigma
from ddpm_studio.core.sampling.steps import SampleStep, abar_at, denoise


def heun_grid_size(num_evals: int) -> int:
    """How many trained timesteps (noise levels before the final sigma = 0) Heun visits with ``num_evals`` NFE (M24).

    N levels give N intervals: the last, to sigma = 0, is an Euler step (Alg. 1 corrects only if sigma_{i+1} > 0),
    and so are the first :func:`heun_euler_intervals` (E) ones; each remaining interval costs two evaluations, so
    K = 2N - 1 - E: N = K / 2 + 1 for even K (E = 1), N = (K + 3) / 2 for odd K (E = 2), N = 1 for K = 1.
    Every K in 1..2T - 2 is spent exactly.
    """
    if num_evals <= 1:
        return 1
    return num_evals // 2 + 1 + num_evals % 2


def heun_euler_intervals(num_evals: int) -> int:
    """E, how many of Heun's first intervals are Euler steps (no correction) with ``num_evals`` NFE (M24).

    The first interval starts at sigma_{T-1} (x_T: 157 on the linear schedule, 2e4 on the cosine one) and spans a
    sigma ratio of 10..1e4. There Euler in sigma is y' = D + (sigma_1 / sigma_0)(y - D), the DDIM step, exact for a
    constant D and off by at most the change of D over the jump (<= the data's scale); the trapezoid adds
    (sigma_0 - sigma_1)(d' - d) / 2, which is the change of the slope times a jump of up to 2e4: on the cosine
    schedule at 11 NFE (linspace) it took the Gaussian oracle to RMS 3.5. So the first interval is always Euler; an
    odd K spends its extra evaluation on one more Euler interval below it (still global order 2, as one O(h^2)
    local error is the size of the global one).
    """
    return min(heun_grid_size(num_evals) - 1, 1 + num_evals % 2)


def heun(
    diffusion: GaussianDiffusion, model: Model, x: torch.Tensor, taus: list[int], num_evals: int
) -> Iterator[SampleStep]:
    """Karras et al. 2022, Alg. 1 (deterministic, S_churn = 0) on the trained sigmas of ``taus``, then sigma = 0.

    For each interval sigma_i -> sigma_{i+1}:
        d_i = (y_i - D(y_i; sigma_i)) / sigma_i,    y' = y_i + (sigma_{i+1} - sigma_i) d_i            (Euler)
        d'_i = (y' - D(y'; sigma_{i+1})) / sigma_{i+1},  y_{i+1} = y_i + (sigma_{i+1} - sigma_i)(d_i + d'_i) / 2
    (the correction is skipped on the last interval, sigma_{i+1} = 0, where y_{i+1} = D(y_i; sigma_i), and on the
    first one (even ``num_evals``) or two (odd) intervals, from x_T; see :func:`heun_euler_intervals`).

    Records: one per network evaluation. The first evaluation of a corrected step yields the Euler predictor y'
    (``predictor=True``, at the next noise level); the second yields the corrected state at that same level.

    Args:
        x: x_T, shape (B, ...). taus: ascending trained timesteps, heun_grid_size(num_evals) of them.
    """
    N = len(taus)
    if N != heun_grid_size(num_evals):
        raise ValueError(f"Heun with {num_evals} evaluations visits {heun_grid_size(num_evals)} timesteps, got {N}")
    euler_intervals = heun_euler_intervals(num_evals)
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
        sigma, sigma_next = float(ve_sigma(ab)), float(ve_sigma(ab_next))
        with torch.no_grad():
            x0_hat, _ = denoise(diffusion, model, y * math.sqrt(ab), tau)
            nfe += 1
            slope = (y - x0_hat) / sigma
            # the step to sigma = 0 lands on the denoiser's output; written out, it would lose digits to roundoff
            y_euler = x0_hat if t_next is None else y + (sigma_next - sigma) * slope
        if t_next is None or j < euler_intervals:
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
