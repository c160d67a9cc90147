"""Exact stand-ins for a trained network, shared by the likelihood tests (a helper module, not a test module)."""

from __future__ import annotations

import math

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
