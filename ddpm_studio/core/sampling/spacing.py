"""Which trained timesteps a K-point sampler visits: linspace (M21), trailing (M25), Karras (M26) and log-SNR
uniform (M41) spacings.

Every function returns K distinct 0-based trained timesteps in ASCENDING order (tau_1 < ... < tau_K); a sampler
walks them from tau_K down and ends with a jump to the clean sample (abar = 1). Each spacing starts at
tau_K = T - 1 (paper t = T), so every method and spacing starts from the same x_T.

The network was trained at integer t only. A spacing defined in sigma (Karras) is therefore snapped to trained
timesteps: each sigma_i goes to the trained t with the NEAREST log sigma, and the sampler then uses that t's
exact abar (not sigma_i) for its coefficients, so the network's input and the solver's noise level agree and
the discretised ODE stays consistent (M26).
"""

from __future__ import annotations

import numpy as np
import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.schedule import log_snr, ve_sigma

#: The spacings' code names (labels, MATH.md numbers and help: :data:`ddpm_studio.core.choices.SPACINGS`).
SPACINGS: tuple[str, ...] = choices.names(choices.SPACINGS)
#: Karras et al. 2022 (eq. 5): steps in sigma shrink towards sigma_min (rho = 1: uniform in sigma; rho -> inf:
#: uniform in log sigma); rho = 7 is their choice.
KARRAS_RHO = 7.0
#: The top of a Karras or log-SNR grid (Karras et al. 2022, Table 1: sigma_max = 80 for every model); a schedule
#: whose sigma_{T-1} is higher starts at T - 1 and steps straight down to the grid below 80 (M26, M41).
KARRAS_SIGMA_MAX = 80.0

#: name -> one line of help, for ``--help`` (the same text as :data:`ddpm_studio.core.choices.SPACINGS`).
SPACING_HELP: dict[str, str] = {choice.name: choice.help for choice in choices.SPACINGS}


def _check_count(num_timesteps: int, num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"the number of sampling steps must be an integer in 1..{num_timesteps}, got {num_steps!r}")


def respaced_timesteps(num_timesteps: int, num_steps: int) -> list[int]:
    """K 0-based timesteps tau_1 < ... < tau_K spread evenly over 0..T-1, with tau_1 = 0 and tau_K = T - 1 (M21).

    Evenly rounded points of linspace(0, T - 1, K) are distinct whenever K <= T.
    """
    _check_count(num_timesteps, num_steps)
    if num_steps == 1:
        return [num_timesteps - 1]
    return [int(v) for v in np.round(np.linspace(0, num_timesteps - 1, num_steps))]


def trailing_timesteps(num_timesteps: int, num_steps: int) -> list[int]:
    """M25, Lin et al. 2024 (Table 2, "trailing"): paper t_i = round(T - i T / K), i = 0..K-1, 0-based t_i - 1.

    Starts at paper t = T (0-based T - 1) and ends at round(T / K) (0-based round(T / K) - 1); points T / K >= 1
    apart round to distinct integers.
    """
    _check_count(num_timesteps, num_steps)
    T, K = num_timesteps, num_steps
    paper = np.round(T - np.arange(K, dtype=np.float64) * (T / K)).astype(np.int64)
    return sorted(int(v) - 1 for v in paper)


def sigmas_of(alphas_cumprod: torch.Tensor) -> np.ndarray:
    """sigma_t = sqrt((1 - abar_t) / abar_t) of every trained timestep, float64 (T,), increasing in t (M24)."""
    return ve_sigma(alphas_cumprod.detach().cpu().double().numpy())


def karras_sigmas(sigma_max: float, sigma_min: float, num_steps: int, rho: float = KARRAS_RHO) -> np.ndarray:
    """Karras et al. 2022 eq. 5: sigma_i = (smax^(1/rho) + i / (K-1) (smin^(1/rho) - smax^(1/rho)))^rho, i < K.

    Decreasing from sigma_max to sigma_min; the terminal sigma_N = 0 of eq. 5 is the sampler's final jump, not
    a point of this grid. K = 1 gives [sigma_max].
    """
    if num_steps == 1:
        return np.array([sigma_max])
    ramp = np.linspace(0.0, 1.0, num_steps)
    hi, lo = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def nearest_timesteps(alphas_cumprod: torch.Tensor, sigmas: np.ndarray) -> list[int]:
    """The trained 0-based t whose log sigma_t is nearest each log sigma (M26); any order in, same order out."""
    log_trained = np.log(sigmas_of(alphas_cumprod))
    log_wanted = np.log(np.asarray(sigmas, dtype=np.float64))
    return [int(np.argmin(np.abs(log_trained - value))) for value in log_wanted]


def distinct_ascending(timesteps: list[int], num_timesteps: int) -> list[int]:
    """Sort and push apart repeats: each t at least one above the one below it, the top one at most T - 1.

    Where the grid is denser than the trained timesteps (Karras at large K near sigma_min), rounding maps two
    points to one t; a sampler needs K distinct ones. The smallest change that restores them moves a repeat to
    the next free t upwards, then pulls the top back under T (always possible for K <= T).
    """
    out = sorted(timesteps)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + 1)
    out[-1] = min(out[-1], num_timesteps - 1)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1] - 1)
    return out


def karras_timesteps(alphas_cumprod: torch.Tensor, num_steps: int, rho: float = KARRAS_RHO) -> list[int]:
    """M26: the Karras grid from sigma_max = min(sigma_{T-1}, KARRAS_SIGMA_MAX) down to sigma_min = sigma_0, snapped
    to the nearest trained t in log sigma, its top point moved to t = T - 1 (where x_T is drawn), repeats pushed
    apart (:func:`distinct_ascending`). Ends are T - 1 and 0.

    The cap matters for the cosine schedule, whose clipped last beta gives sigma_{T-1} = 2e4: a grid from there put
    13 of 20 points in t = 987..999, where the data is long gone, and left 7 for the rest (the spiral's samples
    then sat 88 % off the support). Linear: sigma_{T-1} = 157, so only the points below the top move.

    Every method, Heun included, starts at T - 1: x_T is pure noise at sigma_{T-1}, and a grid that starts lower
    drops the noisiest part of the path (Heun's first interval is an Euler step, exact for a constant x0_hat over
    the jump, so it takes the jump from 2e4 safely; M24).
    """
    T = int(alphas_cumprod.shape[0])
    _check_count(T, num_steps)
    sig = sigmas_of(alphas_cumprod)
    grid = karras_sigmas(min(float(sig[-1]), KARRAS_SIGMA_MAX), float(sig[0]), num_steps, rho)
    steps = nearest_timesteps(alphas_cumprod, grid)
    steps[0] = T - 1  # the grid's top (sigma_max) is where sampling starts: the x_T of every other spacing
    return distinct_ascending(steps, T)


def logsnr_timesteps(alphas_cumprod: torch.Tensor, num_steps: int) -> list[int]:
    """M41: K points uniform in lambda = 0.5 log SNR = -log sigma (Lu et al. 2022, DPM-Solver's "logSNR" grid),

        lambda_i = lambda_hi + i / (K - 1) (lambda_lo - lambda_hi),  i = 0..K-1,

    from lambda_hi = -log min(sigma_{T-1}, KARRAS_SIGMA_MAX) up to lambda_lo = lambda_0 (t = 0), snapped
    to the trained t with the nearest lambda (:func:`nearest_timesteps`: nearest log sigma is nearest lambda), the
    top moved to T - 1 (where x_T is drawn), repeats pushed apart. The exponential integrators (M27-M29) are exact
    for x0_hat constant over a step and second order in h = lambda step, so equal h spends their error evenly;
    the cap keeps the cosine schedule's lambda in [-9.9, -4.4] (sigma 2e4 to 80, no data left) from taking a third
    of the points, as for Karras (M26).
    """
    T = int(alphas_cumprod.shape[0])
    _check_count(T, num_steps)
    sig = sigmas_of(alphas_cumprod)
    if num_steps == 1:
        return [T - 1]
    lam = np.linspace(-np.log(min(float(sig[-1]), KARRAS_SIGMA_MAX)), -np.log(float(sig[0])), num_steps)
    steps = nearest_timesteps(alphas_cumprod, np.exp(-lam))
    steps[0] = T - 1  # start where x_T is drawn, as every spacing does
    return distinct_ascending(steps, T)


def timesteps_for(spacing: str, alphas_cumprod: torch.Tensor, num_steps: int) -> list[int]:
    """K ascending distinct trained timesteps of ``spacing`` ("linspace", "trailing", "karras" or "logsnr")."""
    T = int(alphas_cumprod.shape[0])
    choices.require("timestep spacing", spacing, choices.SPACINGS)
    if spacing == "linspace":
        return respaced_timesteps(T, num_steps)
    if spacing == "trailing":
        return trailing_timesteps(T, num_steps)
    if spacing == "logsnr":
        return logsnr_timesteps(alphas_cumprod, num_steps)
    return karras_timesteps(alphas_cumprod, num_steps)


def half_log_snr(abar: float) -> float:
    """lambda = 0.5 log SNR = log(sqrt(abar) / sqrt(1 - abar)) = -log sigma (M24, M27), from the one log SNR of
    :func:`ddpm_studio.core.process.schedule.log_snr` (M3); +inf at abar = 1."""
    return 0.5 * log_snr(abar)
