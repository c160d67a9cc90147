"""Which timesteps a training batch visits: uniform (Ho et al. 2020) or skewed toward low noise (MATH.md M40).

The simple loss (M18) is an expectation over t; which t a batch draws is a choice separate from the loss's weight
(Karras et al. 2022, Sec. 5, train on a log-normal p(σ); Esser et al. 2024 compare several timestep densities).
With ``power`` k the draw is t = floor(T u^k), u ~ U[0, 1): k = 1 is Ho et al.'s uniform t, k > 1 spends more of
every batch at low noise, where a 2-D denoiser must learn the data's sharp edges (benchmarks/RESULTS.md, "Time to
quality": k = 3 took the spiral's off-support share from 7.8 % to 2.1 % at 3,000 steps).
"""

from __future__ import annotations

import torch


def sample_timesteps(batch: int, num_timesteps: int, power: float, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Draw (batch,) int64 timesteps in [0, T) with P(t = j) = ((j+1)/T)^{1/k} - (j/T)^{1/k} (M40).

    ``power`` = 1 draws with ``torch.randint`` exactly as before M40 existed, so uniform runs keep their random
    stream (and their results) bit for bit.
    """
    if power == 1.0:
        return torch.randint(0, num_timesteps, (batch,), device=device, generator=generator)
    # float64 where the device has it (MPS does not): float32's 2^-24 steps of u are coarse at large k
    dtype = torch.float32 if torch.device(device).type == "mps" else torch.float64
    u = torch.rand(batch, device=device, generator=generator, dtype=dtype)
    t = torch.floor(u.pow(power) * num_timesteps).long()
    return t.clamp_(0, num_timesteps - 1)  # u < 1, but u^k * T may round up to T


def timestep_probabilities(num_timesteps: int, power: float) -> torch.Tensor:
    """(T,) float64: the probability of each t under :func:`sample_timesteps` (M40's closed form)."""
    edges = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    cdf = edges.pow(1.0 / power)
    return cdf[1:] - cdf[:-1]
