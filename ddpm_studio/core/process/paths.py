"""Gaussian paths x_t = alpha_t x_0 + sigma_t eps on a continuous time t in [0, 1] (t = 1 noise), MATH.md M47-M49.

Both processes of the project are such a path: DDPM's variance-preserving one (alpha = sqrt(abar), sigma =
sqrt(1 - abar), M47) and the linear path of rectified flow / conditional flow matching (alpha = 1 - t, sigma = t,
Liu et al. 2022; Lipman et al. 2023). What a path needs to define is its alpha, sigma and their time derivatives;
the conversions between what a network may predict (x_0, eps, the velocity u = dx_t/dt, M48) and the change of
time between two paths (M49) are then written once, here, for every path.

Every function takes times as tensors (any shape, any float dtype) and returns tensors of the same shape and dtype.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

#: Where a conversion divides by alpha or sigma it divides by at least this: the linear path has alpha = 0 at
#: t = 1 and sigma = 0 at t = 0, where x_0 (from eps) or eps (from x_0) is not defined by x_t at all (M48).
SAFE_DIVISOR = 1e-5

#: The targets a network may be trained to predict on a path (M48).
TARGETS: tuple[str, ...] = ("velocity", "x0", "eps")


class GaussianPath(ABC):
    """A path of Gaussian marginals q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I), t in [0, 1] (M47).

    Subclasses give alpha, sigma and their derivatives in t; everything else (log-SNR, targets, changes of
    time) follows from those four functions.
    """

    name: str = ""

    @abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_t, the signal's scale; 1 at t = 0."""

    @abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """sigma_t, the noise's scale; 0 at t = 0."""

    @abstractmethod
    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """d alpha_t / dt."""

    @abstractmethod
    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        """d sigma_t / dt."""

    def half_log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """lambda_t = log(alpha_t / sigma_t) (the time of DPM-Solver, M27); +inf at t = 0, -inf where alpha = 0."""
        return torch.log(self.alpha(t)) - torch.log(self.sigma(t))

    def vp_alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """The abar of the VP state with this state's signal-to-noise ratio: alpha^2 / (alpha^2 + sigma^2) (M49).

        It puts states of any path on DDPM's noise axis (a race aligns lanes by it).
        """
        a, s = self.alpha(t), self.sigma(t)
        return a * a / (a * a + s * s)

    def sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = alpha_t x_0 + sigma_t eps; x0, noise (B, ...), t (B,) -> (B, ...) (M47)."""
        a, s = (_column(v, x0) for v in (self.alpha(t), self.sigma(t)))
        return a * x0 + s * noise

    def velocity(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """u = d x_t / dt = alpha'_t x_0 + sigma'_t eps, the conditional velocity (M48); shapes as :meth:`sample`."""
        da, ds = (_column(v, x0) for v in (self.d_alpha(t), self.d_sigma(t)))
        return da * x0 + ds * noise

    # ------------------------------------------------------------ targets (M48)
    def to_x0(self, target: str, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0_hat from a network output of kind ``target`` at (x_t, t); (B, ...), t (B,) -> (B, ...) (M48).

        From eps: (x - sigma eps) / alpha. From the velocity: x = alpha x0 + sigma eps and u = alpha' x0 +
        sigma' eps solve to x0 = (sigma' x - sigma u) / (alpha sigma' - sigma alpha'); the denominator is 1 on the
        linear path and -alpha' / sigma > 0 on a VP path, never 0.
        """
        _check_target(target)
        if target == "x0":
            return output
        a, s = _column(self.alpha(t), x_t), _column(self.sigma(t), x_t)
        if target == "eps":
            return (x_t - s * output) / a.clamp(min=SAFE_DIVISOR)
        da, ds = _column(self.d_alpha(t), x_t), _column(self.d_sigma(t), x_t)
        return (ds * x_t - s * output) / (a * ds - s * da)

    def to_eps(self, target: str, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps_hat from a network output of kind ``target`` (M48); shapes as :meth:`to_x0`."""
        _check_target(target)
        if target == "eps":
            return output
        a, s = _column(self.alpha(t), x_t), _column(self.sigma(t), x_t)
        if target == "x0":
            return (x_t - a * output) / s.clamp(min=SAFE_DIVISOR)
        da, ds = _column(self.d_alpha(t), x_t), _column(self.d_sigma(t), x_t)
        # x = a x0 + s eps, u = a' x0 + s' eps  =>  eps = (a u - a' x) / (a s' - s a')
        return (a * output - da * x_t) / (a * ds - s * da)

    def to_velocity(self, target: str, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """u_hat = alpha' x0_hat + sigma' eps_hat from a network output of kind ``target`` (M48)."""
        _check_target(target)
        if target == "velocity":
            return output
        x0 = self.to_x0(target, output, x_t, t)
        eps = self.to_eps(target, output, x_t, t)
        da, ds = _column(self.d_alpha(t), x_t), _column(self.d_sigma(t), x_t)
        return da * x0 + ds * eps

    def target(self, target: str, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What a network of kind ``target`` should output for (x_0, eps) at t (M48); (B, ...) -> (B, ...)."""
        _check_target(target)
        if target == "x0":
            return x0
        if target == "eps":
            return noise
        return self.velocity(x0, t, noise)


class LinearPath(GaussianPath):
    """The linear (optimal-transport) path alpha = 1 - t, sigma = t (Lipman et al. 2023; Liu et al. 2022), M47.

    Its conditional velocity is u = eps - x_0, constant along each straight line from x_0 to the noise.
    """

    name = "linear"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 - t

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, -1.0)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)

    def time_of_vp_state(self, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """t~ = sigma / (alpha + sigma): the linear time whose state x_VP / (alpha + sigma) is (M49)."""
        return sigma / (alpha + sigma)


class CosineVPPath(GaussianPath):
    """DDPM's variance-preserving path on the cosine schedule in continuous time (Nichol & Dhariwal 2021, eq. 17).

    abar(t) = f(t) / f(0), f(t) = cos^2((t + s) / (1 + s) * pi / 2): alpha = sqrt(abar), sigma = sqrt(1 - abar),
    M2 with t = paper timestep / T. Its alpha reaches 0 at t = 1 only in the limit (the discrete schedule caps
    beta at 0.999 and stops at abar_T ~ 4e-5 at T = 1000).
    """

    name = "vp-cosine"

    def __init__(self, s: float = 0.008) -> None:
        self.s = float(s)

    def _phase(self, t: torch.Tensor) -> torch.Tensor:
        return (t + self.s) / (1.0 + self.s) * (math.pi / 2.0)

    def _f0(self) -> float:
        return math.cos(self.s / (1.0 + self.s) * math.pi / 2.0)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(self._phase(t)) / self._f0()

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((1.0 - self.alpha(t) ** 2).clamp(min=0.0))

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.sin(self._phase(t)) * (math.pi / 2.0 / (1.0 + self.s)) / self._f0()

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        # sigma^2 = 1 - alpha^2  =>  sigma' = -alpha alpha' / sigma
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t).clamp(min=SAFE_DIVISOR)


def _column(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-example values (B,) (or a scalar) shaped (B, 1, ...) to broadcast against ``like`` (B, ...)."""
    values = values.to(dtype=like.dtype, device=like.device)
    if values.ndim == 0:
        return values
    return values.reshape((values.shape[0],) + (1,) * (like.ndim - 1))


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"the network's target must be one of {', '.join(TARGETS)}, got {target!r}")
