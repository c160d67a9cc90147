"""Reverse-process samplers: ancestral (M20), respaced (M21) and DDIM (M22), as generators of steps.

A sampler yields one :class:`SampleStep` per network evaluation, so a progress bar, the studio or a test can
consume the trajectory without the sampler knowing who listens (the improved-diffusion
``p_sample_loop_progressive`` pattern). Records hold the live tensors; a consumer that keeps them must copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ddpm_studio.core.diffusion import GaussianDiffusion, Model

METHODS: tuple[str, ...] = ("ancestral", "ddim")


@dataclass(frozen=True)
class SampleStep:
    """One reverse step.

    Attributes:
        t: the ORIGINAL 0-based timestep the network was fed at this step.
        x: the sample after the step (x_{t-1} in paper time; the final step gives x_0), shape (B, ...).
        x0_hat: the network's estimate of the clean sample at this step, shape (B, ...).
        index: 0 for the first step (from x_T) up to num_steps - 1 (the step that gives x_0).
        num_steps: how many steps this run takes in all.
    """

    t: int
    x: torch.Tensor
    x0_hat: torch.Tensor
    index: int
    num_steps: int


def run_to_end(steps: Iterator[SampleStep]) -> SampleStep:
    """Consume a sampler and return its last record (the one holding x_0)."""
    last = None
    for last in steps:  # noqa: B007 - only the final record is wanted
        pass
    if last is None:
        raise ValueError("the sampler produced no steps")
    return last


def respaced_timesteps(num_timesteps: int, num_steps: int) -> list[int]:
    """K 0-based timesteps tau_1 < ... < tau_K spread evenly over 0..T-1, with tau_1 = 0 and tau_K = T - 1 (M21).

    Evenly rounded points of linspace(0, T - 1, K) are distinct whenever K <= T.
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"the number of sampling steps must be an integer in 1..{num_timesteps}, got {num_steps!r}")
    if num_steps == 1:
        return [num_timesteps - 1]
    return [int(v) for v in np.round(np.linspace(0, num_timesteps - 1, num_steps))]


def respace(diffusion: GaussianDiffusion, timesteps: list[int]) -> GaussianDiffusion:
    """The K-step process of M21: abar'_i = abar_{tau_i}, beta'_i = 1 - abar'_i / abar'_{i-1}, abar'_0 = 1."""
    from ddpm_studio.core.diffusion import GaussianDiffusion

    abar = diffusion.alphas_cumprod[timesteps]
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    return GaussianDiffusion(
        1.0 - abar / abar_prev,
        parameterization=diffusion.parameterization,
        variance=diffusion.variance,
        clip_x0=diffusion.clip_x0,
        decoder=diffusion.decoder,
    )


def sample(
    diffusion: GaussianDiffusion,
    model: Model,
    shape: tuple[int, ...],
    num_steps: int | None = None,
    method: str = "ancestral",
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    noise: torch.Tensor | None = None,
) -> Iterator[SampleStep]:
    """Run the reverse process from x_T ~ N(0, I), yielding one record per step.

    Args:
        diffusion: the trained process (T steps).
        model: callable (x (B, ...), t LongTensor (B,)) -> output (like x, 2C channels under "learned").
        shape: (B, ...) of the samples.
        num_steps: K <= T steps (None: all T); K < T respaces (M21) or sets the DDIM stride.
        method: "ancestral" (M20 on the respaced chain) or "ddim" (M22 with this ``eta``).
        generator: torch RNG for x_T and the per-step noise (reproducible sampling).
        device: where to sample (default: the generator's device, else CPU).
        noise: an explicit x_T of shape ``shape`` (overrides the drawn one).
    Yields:
        :class:`SampleStep` records; exactly K of them, the last holding x_0.
    """
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0.0 <= float(eta) <= 1.0 or eta != eta:
        raise ValueError(f"DDIM eta must lie in [0, 1], got {eta!r}")
    if len(shape) < 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f"sample shape must be (B, ...) with positive sizes, got {tuple(shape)}")
    T = diffusion.num_timesteps
    steps = T if num_steps is None else num_steps
    taus = respaced_timesteps(T, steps)
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    if noise is not None:
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(noise.shape)}, expected {tuple(shape)}")
        x = noise.to(device)
    else:
        x = torch.randn(shape, generator=generator, device=device)
    if method == "ancestral":
        return _ancestral(diffusion, model, x, taus, generator)
    return _ddim(diffusion, model, x, taus, float(eta), generator)


def _ancestral(
    diffusion: GaussianDiffusion, model: Model, x: torch.Tensor, taus: list[int], generator: torch.Generator | None
) -> Iterator[SampleStep]:
    """M20 on the chain of M21 (the full chain when K = T): x_{i-1} = mu + sigma z, z = 0 at the last step."""
    K = len(taus)
    full = K == diffusion.num_timesteps
    chain = diffusion if full else respace(diffusion, taus)
    batch = x.shape[0]
    for index, i in enumerate(reversed(range(K))):
        tau = taus[i]
        t_model = torch.full((batch,), tau, dtype=torch.long, device=x.device)
        t_chain = torch.full((batch,), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            output = model(x, t_model)
            if full:
                out = chain.p_mean_variance(output, x, t_chain)
            else:
                out = _respaced_mean_variance(diffusion, chain, output, x, t_model, t_chain)
            if i > 0:
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = out["mean"] + torch.exp(0.5 * out["log_variance"]) * z
            else:
                x = out["mean"]
        yield SampleStep(t=tau, x=x, x0_hat=out["x0_hat"], index=index, num_steps=K)


def _respaced_mean_variance(
    diffusion: GaussianDiffusion,
    chain: GaussianDiffusion,
    output: torch.Tensor,
    x: torch.Tensor,
    t_model: torch.Tensor,
    t_chain: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """p(x_{tau_{i-1}} | x_{tau_i}) on the respaced chain.

    x0_hat is read from the network under the ORIGINAL process at tau_i (for the mean parameterization the
    network's mean is the one-step mean of the original chain, so M8 must be inverted with the original
    coefficients); the respaced posterior (M6 with beta') then forms the mean, and the variance is the respaced
    one (u of M13 interpolates between beta'_i and beta~'_i, as in Nichol & Dhariwal 2021).
    """
    original = diffusion.p_mean_variance(output, x, t_model)
    x0_hat = original["x0_hat"]
    mean, _, _ = chain.q_posterior(x0_hat, x, t_chain)
    u = output[:, x.shape[1] :] if diffusion.variance == "learned" else None
    variance, log_variance = chain._variance(u, x, t_chain)
    return {"mean": mean, "variance": variance, "log_variance": log_variance, "x0_hat": x0_hat}


def _ddim(
    diffusion: GaussianDiffusion,
    model: Model,
    x: torch.Tensor,
    taus: list[int],
    eta: float,
    generator: torch.Generator | None,
) -> Iterator[SampleStep]:
    """M22: x_{tau_{i-1}} = sqrt(abar') x0_hat + sqrt(1 - abar' - s^2) eps_hat + s z, abar' = abar_{tau_{i-1}}.

    The last step goes to abar' = 1 (x_0 itself), where s = 0 and the update returns x0_hat.
    """
    K = len(taus)
    abar = diffusion.alphas_cumprod
    batch = x.shape[0]
    for index, i in enumerate(reversed(range(K))):
        tau = taus[i]
        ab = float(abar[tau])
        ab_prev = float(abar[taus[i - 1]]) if i > 0 else 1.0
        s = eta * ((1 - ab_prev) / (1 - ab)) ** 0.5 * (1 - ab / ab_prev) ** 0.5
        t_model = torch.full((batch,), tau, dtype=torch.long, device=x.device)
        with torch.no_grad():
            out = diffusion.p_mean_variance(model(x, t_model), x, t_model)
            x0_hat, eps_hat = out["x0_hat"], out["eps_hat"]
            x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - s * s, 0.0) ** 0.5 * eps_hat
            if s > 0:
                x = x + s * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        yield SampleStep(t=tau, x=x, x0_hat=x0_hat, index=index, num_steps=K)
