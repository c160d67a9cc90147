"""Exact stand-ins for a trained network, shared by the likelihood tests (a helper module, not a test module)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion


class GaussianMixtureEps(torch.nn.Module):
    """The exact eps of data sum_k pi_k N(mu_k, s_k^2 I), at every trained t (no parameters: it runs in float64).

    q_t = sum_k pi_k N(sqrt(abar) mu_k, (abar s_k^2 + 1 - abar) I); eps = -sqrt(1 - abar) grad log q_t.
    """

    def __init__(self, diffusion: GaussianDiffusion, means: torch.Tensor, stds: torch.Tensor, weights: torch.Tensor):
        super().__init__()
        self.diffusion, self.means, self.stds, self.weights = diffusion, means.double(), stds.double(), weights.double()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = self.diffusion.alphas_cumprod[t].to(x.dtype)[:, None, None]  # (B, 1, 1)
        var = abar * self.stds[None, :, None] ** 2 + 1 - abar  # (B, K, 1)
        diff = x[:, None, :] - abar.sqrt() * self.means[None]  # (B, K, D)
        log_comp = (self.weights.log()[None, :] - 0.5 * (diff**2 / var).sum(-1)
                    - 0.5 * x.shape[1] * torch.log(2 * math.pi * var[..., 0]))
        resp = torch.softmax(log_comp, dim=1)[..., None]
        score = -(resp * diff / var).sum(dim=1)
        return -(1 - abar[:, 0]).sqrt() * score


def mixture_log_density(x: torch.Tensor, means, stds, weights) -> torch.Tensor:
    var = stds.double()[None, :] ** 2
    sq = ((x.double()[:, None, :] - means.double()[None]) ** 2).sum(-1)
    log_comp = weights.double().log()[None] - 0.5 * sq / var - 0.5 * x.shape[1] * torch.log(2 * math.pi * var)
    return torch.logsumexp(log_comp, dim=1)


def mixture_flow_log_density(x: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, weights: torch.Tensor,
                             alphas_cumprod: torch.Tensor, rtol: float = 1e-11) -> torch.Tensor:
    """log p_0(x) of M32 for the EXACT continuous field of mixture data, by scipy's DOP853: the solver-free reference.

    An independent solve of the same ODE as ``ode_log_likelihood``: the field is evaluated at every sigma the
    8th-order Runge-Kutta asks for (not only at trained levels), the variable is u = log sigma, and the step size is
    adaptive (rtol 1e-11). In y = x / sqrt(abar) the data noised to level sigma is sum_k pi_k N(mu_k, (s_k^2 +
    sigma^2) I), whose score g(y) is closed-form, so with eps = -sigma g (M24, M30)

        dy / du = sigma eps = -sigma^2 g,      d F / du = sigma div_y eps = -sigma^2 div_y g,

    from u = log 1e-8 (y = x, F = 0: the O(1e-16 / s^2) before it is below the tolerance) to log sigma_T, and
    log p_0 = log N(sqrt(abar_T) y_T; 0, I) + D log sqrt(abar_T) + F, the DDPM's own prior (M32).

    Args:
        x: (N, D) points; means (K, D); stds (K,); weights (K,); alphas_cumprod (T,) the schedule (its top level).
    Returns:
        (N,) float64 log p_0 in nats. It differs from :func:`mixture_log_density` only by the prior's mismatch,
        about sqrt(abar_T) |E x| |z| (M32).
    """
    from scipy.integrate import solve_ivp

    mu, var0 = means.double().numpy(), stds.double().numpy() ** 2  # (K, D), (K,)
    log_w = weights.double().log().numpy()
    n, dims = x.shape
    abar_T = float(alphas_cumprod[-1])
    sigma_T = math.sqrt((1.0 - abar_T) / abar_T)

    def rhs(u: float, state: np.ndarray) -> np.ndarray:
        sigma2 = math.exp(2.0 * u)
        y = state[: n * dims].reshape(n, dims)
        var = var0 + sigma2  # (K,)
        diff = mu[None] - y[:, None, :]  # (N, K, D)
        log_comp = log_w[None] - 0.5 * (diff**2).sum(-1) / var[None] - 0.5 * dims * np.log(2 * math.pi * var)[None]
        resp = np.exp(log_comp - log_comp.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)  # (N, K) posterior over components
        g_k = diff / var[None, :, None]  # each component's score (N, K, D)
        score = (resp[..., None] * g_k).sum(1)
        # div of a mixture's score: the components' own (-D / v_k) averaged, plus the spread of their scores
        div = (resp * (-dims / var[None] + (g_k**2).sum(-1))).sum(1) - (score**2).sum(-1)
        return np.concatenate([(-sigma2 * score).ravel(), -sigma2 * div])

    start = np.concatenate([x.double().numpy().ravel(), np.zeros(n)])
    sol = solve_ivp(rhs, (math.log(1e-8), math.log(sigma_T)), start, method="DOP853", rtol=rtol, atol=rtol * 1e-2)
    assert sol.success, sol.message
    y_T, flow = sol.y[: n * dims, -1].reshape(n, dims), sol.y[n * dims :, -1]
    alpha_T = math.sqrt(abar_T)
    prior = -0.5 * ((alpha_T * y_T) ** 2).sum(1) - 0.5 * dims * math.log(2 * math.pi) + dims * math.log(alpha_T)
    return torch.from_numpy(prior + flow)
