"""Ancestral sampling (M20) on the full chain or on the respaced chain of K timesteps (M21)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.sampling.steps import SampleStep, descending, step_record


def respace(diffusion: GaussianDiffusion, timesteps: list[int]) -> GaussianDiffusion:
    """The K-step process of M21: abar'_i = abar_{tau_i}, beta'_i = 1 - abar'_i / abar'_{i-1}, abar'_0 = 1.

    ``timesteps`` are ascending 0-based trained timesteps; the process's other settings carry over.
    """
    abar = diffusion.alphas_cumprod[timesteps]
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    return GaussianDiffusion(
        1.0 - abar / abar_prev,
        parameterization=diffusion.parameterization,
        variance=diffusion.variance,
        clip_x0=diffusion.clip_x0,
        decoder=diffusion.decoder,
    )


def ancestral(
    diffusion: GaussianDiffusion,
    model: Model,
    x: torch.Tensor,
    taus: list[int],
    generator: torch.Generator | None,
) -> Iterator[SampleStep]:
    """M20 on the chain of M21 (the full chain when taus = 0..T-1): x_{i-1} = mu + sigma z, z = 0 at the last step.

    Args:
        x: x_T, shape (B, ...). taus: ascending trained timesteps (any spacing). generator: the per-step noise.
    Yields:
        one :class:`SampleStep` per network evaluation, K in all.
    """
    full = taus == list(range(diffusion.num_timesteps))
    chain = diffusion if full else respace(diffusion, taus)
    batch = x.shape[0]
    for index, i, tau, t_next in descending(taus):
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
        yield step_record(diffusion, taus, index, tau, t_next, x, out["x0_hat"])


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
