"""Noise schedules beta_1..beta_T (MATH.md M1-M3).

Every table is built in float64 (MATH.md: "All schedule quantities are computed in float64 and cast when used").
Index ``i`` of a returned tensor is paper timestep ``t = i + 1``.
"""

from __future__ import annotations

import math

import torch

from ddpm_studio.core import choices

#: The schedules' code names (labels, MATH.md numbers and help: :data:`ddpm_studio.core.choices.SCHEDULES`).
SCHEDULES: tuple[str, ...] = choices.names(choices.SCHEDULES)

#: Cap on a single beta, as in Nichol & Dhariwal (2021), Sec. 3.2: betas near 1 at the end of the cosine
#: schedule would make the last reverse step singular.
MAX_BETA = 0.999


def linear_betas(num_steps: int) -> torch.Tensor:
    """Ho et al. (2020) linear schedule, M1: beta from 1e-4 to 0.02 at T = 1000, both ends scaled by 1000 / T.

    Returns:
        float64 tensor of shape (T,).

    Raises:
        ValueError: when T is so small that the scaled end reaches beta >= 1 (T <= 20): the process would
            destroy the data in one step and the reverse mean (M7) divides by sqrt(alpha_t) = 0.
    """
    _check_num_steps(num_steps)
    problem = choices.linear_schedule_problem("linear", num_steps)
    if problem:
        raise ValueError(problem)
    scale = 1000.0 / num_steps
    return torch.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=torch.float64)


def cosine_alpha_bar(t: torch.Tensor, num_steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal (2021) eq. 17, M2: abar(t) = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2).

    Args:
        t: float64 tensor of continuous paper times in [0, T], any shape.
    Returns:
        float64 tensor of the same shape.
    """

    def f(u: torch.Tensor) -> torch.Tensor:
        return torch.cos(((u / num_steps) + s) / (1 + s) * math.pi / 2) ** 2

    return f(t) / f(torch.zeros((), dtype=torch.float64))


def cosine_betas(num_steps: int, s: float = 0.008) -> torch.Tensor:
    """Cosine schedule, M2: beta_t = min(1 - abar(t) / abar(t - 1), 0.999) for t = 1..T.

    Returns:
        float64 tensor of shape (T,).
    """
    _check_num_steps(num_steps)
    t = torch.arange(num_steps + 1, dtype=torch.float64)
    abar = cosine_alpha_bar(t, num_steps, s)
    betas = 1.0 - abar[1:] / abar[:-1]
    return betas.clamp(max=MAX_BETA)


def make_betas(name: str, num_steps: int) -> torch.Tensor:
    """The beta schedule called ``name`` ("linear" M1 or "cosine" M2) over ``num_steps`` steps.

    Returns:
        float64 tensor of shape (T,); index i is paper timestep t = i + 1.
    Raises:
        ValueError: unknown name, or a step count that is not a positive integer.
    """
    choices.require("schedule", name, choices.SCHEDULES)
    return linear_betas(num_steps) if name == "linear" else cosine_betas(num_steps)


def alpha_bar_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """M3: abar_t = prod_{i <= t} (1 - beta_i); shape (T,) -> (T,), in float64."""
    return torch.cumprod(1.0 - betas.to(torch.float64), dim=0)


def signal_to_noise(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """M3: SNR(t) = abar_t / (1 - abar_t); shape (T,) -> (T,)."""
    return alphas_cumprod / (1.0 - alphas_cumprod)


def log_snr(abar: float) -> float:
    """M3: log SNR = log(abar / (1 - abar)), the one definition every layer uses; +inf at abar = 1 (x_0 itself).

    The half of it, lambda = 0.5 log SNR = log(sqrt(abar) / sqrt(1 - abar)) = -log sigma, is the time variable of
    DPM-Solver (M27, M28) and of the logsnr grid (M41).
    """
    return math.inf if abar >= 1.0 else math.log(abar / (1.0 - abar))


def noise_scale(abar: float) -> float:
    """M5: the VP noise scale sqrt(1 - abar) of x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps; 0 at the clean end."""
    return math.sqrt(max(1.0 - abar, 0.0))


def ve_sigma(abar: torch.Tensor | float) -> torch.Tensor | float:
    """M24: the variance-exploding noise level sigma = sqrt((1 - abar) / abar) = noise_scale / sqrt(abar).

    Elementwise: a float, an array or a tensor of any shape in, the same kind out (0 at abar = 1).
    """
    return ((1.0 - abar) / abar) ** 0.5


def _check_num_steps(num_steps: int) -> None:
    problem = choices.timesteps_problem(num_steps)
    if problem:
        raise ValueError(problem)
