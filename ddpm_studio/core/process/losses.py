"""Elementwise Gaussian KL and decoder likelihoods (MATH.md M15, M16).

Every function here is elementwise: inputs broadcast against each other and the result has their broadcast
shape. Reductions over dimensions are the caller's choice (see :func:`sum_flat`, :func:`mean_flat`).
"""

from __future__ import annotations

import math

import torch

#: Half-width of one 8-bit pixel bin in [-1, 1] space: pixel values are 2 / 255 apart (M16).
PIXEL_HALF_BIN = 1.0 / 255.0

#: Smallest probability mass a bin may carry; keeps log() finite when a model puts essentially no mass there.
_MIN_LOG_MASS = math.log(1e-12)


def sum_flat(x: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (B, ...) -> (B,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over every dimension but the first: (B, ...) -> (B,)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


def normal_kl(
    mean_q: torch.Tensor, log_var_q: torch.Tensor, mean_p: torch.Tensor, log_var_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) per dimension, in nats (M15).

    0.5 * (-1 + log s2_p - log s2_q + s2_q / s2_p + (mu_q - mu_p)^2 / s2_p), written with exp(-log s2_p) so
    that a tiny variance never divides by zero.
    """
    inv_var_p = torch.exp(-log_var_p)
    return 0.5 * (-1.0 + log_var_p - log_var_q + torch.exp(log_var_q) * inv_var_p + (mean_q - mean_p) ** 2 * inv_var_p)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_var)) per dimension, in nats: the continuous decoder of M16 (2-D data)."""
    return -0.5 * (math.log(2 * math.pi) + log_var + (x - mean) ** 2 * torch.exp(-log_var))


def _log_mass_between(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """log(Phi(upper) - Phi(lower)) for standardised edges lower < upper, stable in both tails.

    Phi(u) - Phi(l) = Phi(-l) - Phi(-u), so the side where the CDFs are small is used: there log_ndtr is
    accurate and log1p(-exp(.)) of the ratio does not cancel.
    """
    flip = (lower + upper) > 0
    a = torch.where(flip, -upper, lower)  # the edge with the smaller CDF
    b = torch.where(flip, -lower, upper)
    log_b = torch.special.log_ndtr(b)
    log_a = torch.special.log_ndtr(a)
    # log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - exp(log Phi(a) - log Phi(b))); the ratio is < 1.
    ratio = (log_a - log_b).clamp(max=-1e-12)
    return log_b + torch.log(-torch.expm1(ratio))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log P(x) of 8-bit pixel values under N(mean, exp(log_var)), per dimension, in nats (M16).

    The probability of pixel value x (in [-1, 1]) is the Gaussian mass in [x - 1/255, x + 1/255], with the lower
    edge at -inf for x = -1 and the upper edge at +inf for x = 1, so the masses of the 256 values sum to one.

    Args:
        x: data in [-1, 1] on the 8-bit grid, shape (B, ...).
        mean, log_var: decoder mean and log variance, broadcastable to x.
    """
    inv_std = torch.exp(-0.5 * log_var)
    lower = (x - PIXEL_HALF_BIN - mean) * inv_std
    upper = (x + PIXEL_HALF_BIN - mean) * inv_std
    # Edge bins take the whole tail (M16); a small tolerance absorbs float error in 2 * p / 255 - 1.
    lower = torch.where(x < -1.0 + 1e-3, torch.full_like(lower, -math.inf), lower)
    upper = torch.where(x > 1.0 - 1e-3, torch.full_like(upper, math.inf), upper)
    return _log_mass_between(lower, upper).clamp(min=_MIN_LOG_MASS)
