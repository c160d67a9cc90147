"""DDIM (M22, Song et al. 2021): deterministic at eta = 0, the first-order solver of the probability-flow ODE."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.process.schedule import noise_scale
from ddpm_studio.core.sampling.steps import SampleStep, abar_at, denoise, descending, step_record


def ddim(
    diffusion: GaussianDiffusion,
    model: Model,
    x: torch.Tensor,
    taus: list[int],
    eta: float,
    generator: torch.Generator | None,
) -> Iterator[SampleStep]:
    """M22: x_{tau_{i-1}} = sqrt(abar') x0_hat + sqrt(1 - abar' - s^2) eps_hat + s z, abar' = abar_{tau_{i-1}}.

    The last step goes to abar' = 1 (x_0 itself), where s = 0 and the update returns x0_hat. At eta = 0 this is
    DPM-Solver++(1), the exponential-integrator Euler step of M27 (Lu et al. 2022b, Sec. 4.1).

    Args:
        x: x_T, shape (B, ...). taus: ascending trained timesteps. eta: in [0, 1]. generator: the noise (eta > 0).
    """
    for index, _, tau, t_next in descending(taus):
        ab, ab_prev = abar_at(diffusion, tau), abar_at(diffusion, t_next)
        s = eta * noise_scale(ab_prev) / noise_scale(ab) * (1 - ab / ab_prev) ** 0.5
        with torch.no_grad():
            x0_hat, eps_hat = denoise(diffusion, model, x, tau)
            x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - s * s, 0.0) ** 0.5 * eps_hat
            if s > 0:
                x = x + s * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        yield step_record(diffusion, taus, index, tau, t_next, x, x0_hat)
