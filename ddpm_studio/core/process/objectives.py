"""What the Gaussian diffusion is trained and measured with: the variational bound and the training losses.

MATH.md M14-M19. A mixin of :class:`~ddpm_studio.core.process.diffusion.GaussianDiffusion`: it reads the
process's tables and its forward / posterior / reverse maps (``q_sample``, ``q_posterior``, ``p_mean_variance``,
...) and adds the objectives, so the process stays one module and its objectives another. Timesteps are
0-based, as there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.losses import (
    discretized_gaussian_log_likelihood,
    gaussian_log_density,
    mean_flat,
    normal_kl,
    sum_flat,
)

#: lambda of the hybrid objective, M19 (Nichol & Dhariwal 2021, Sec. 3.1). It multiplies the bound term in BITS
#: per dimension, as improved-diffusion does, so the variance gets the reference's weight.
HYBRID_VLB_WEIGHT = 0.001

#: The network as the process calls it: (x_t (B, ...), t (B,) long) -> output (B, C or 2C, ...).
Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DiffusionObjectives:
    """The bound (M14-M17) and the training losses (M17-M19) of a :class:`GaussianDiffusion` (mixed into it)."""

    # ------------------------------------------------------------- the bound
    def prior_kl(self, x0: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T | x_0) || N(0, I)) summed over dimensions, in nats; (B, ...) -> (B,) (M14, M15)."""
        t = torch.full((x0.shape[0],), self.num_timesteps - 1, dtype=torch.long, device=x0.device)
        mean, _, log_var = self.q_mean_variance(x0, t)
        zero = torch.zeros_like(mean)
        return sum_flat(normal_kl(mean, log_var.expand_as(mean), zero, zero))

    def _decoder_nll(self, x0: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """L_0 = -log p_theta(x_0 | x_1) per dimension (M16)."""
        log_var = log_var.expand_as(mean)
        if self.decoder == "discrete":
            return -discretized_gaussian_log_likelihood(x0, mean, log_var)
        return -gaussian_log_density(x0, mean, log_var)

    def _vlb_from_output(
        self,
        model_output: torch.Tensor,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        clip_x0: bool | None = None,
    ) -> torch.Tensor:
        """L_{t-1} (KL, M14-M15) for t > 0 and L_0 (M16) at t = 0, summed over dimensions, in nats: (B,)."""
        true_mean, _, true_log_var = self.q_posterior(x0, x_t, t)
        out = self.p_mean_variance(model_output, x_t, t, clip_x0=clip_x0)
        kl = sum_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"]))
        nll = sum_flat(self._decoder_nll(x0, out["mean"], out["log_variance"]))
        return torch.where(t == 0, nll, kl)

    def vlb_terms(
        self, model: Model, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One term of the bound per example: L_{t-1} for t > 0, L_0 at t = 0 (0-based t); nats, (B,).

        Summed over the D dimensions of an example (divide by D ln 2 for bits/dim, M17).
        """
        x_t = self.q_sample(x0, t, noise)
        return self._vlb_from_output(model(x_t, t), x0, x_t, t)

    def iter_vlb(
        self,
        model: Model,
        x0: torch.Tensor,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Every term of the exact bound (M14, M17) but L_T, one timestep at a time, from t = T - 1 down to 0.

        Yields ``(t, terms)`` with terms of shape (B,) in nats (L_{t-1}, and L_0 at t = 0), so a caller can show
        progress or cancel; the bound is :meth:`prior_kl` plus the sum of every yielded term.

        Args:
            model: the network, (x_t, t) -> output. x0: (B, ...) examples.
            generator: draws the noise of q(x_t | x_0), on x0's device: for each t, the batches in order (None:
                torch's global generator).
            batch_size: examples per forward pass (memory only); None: all B at once.
        """
        step_size = x0.shape[0] if batch_size is None else int(batch_size)
        if step_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for step in reversed(range(self.num_timesteps)):
            # no_grad around the work only, never around the yield: grad mode is thread state, and the consumer's
            # code between two terms must run with the mode it set itself
            with torch.no_grad():
                parts = []
                for start in range(0, x0.shape[0], step_size):
                    batch = x0[start : start + step_size]
                    t = torch.full((batch.shape[0],), step, dtype=torch.long, device=x0.device)
                    noise = None if generator is None else torch.randn(
                        batch.shape, generator=generator, device=x0.device, dtype=x0.dtype
                    )
                    parts.append(self.vlb_terms(model, batch, t, noise))
                terms = torch.cat(parts)
            yield step, terms

    # ------------------------------------------------------------- training
    def min_snr_weight(self, t: torch.Tensor, gamma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Min-SNR-gamma weight of the simple loss at timesteps t (B,) -> (B,) in ``dtype``.

        Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy" (ICCV; gamma = 5 there).

        With SNR_t = abar_t / (1 - abar_t), the weight makes every parameterization's MSE equal to
        min(SNR_t, gamma) * ||x0 - x0_hat||^2 (per dimension): min(SNR, gamma) / SNR for eps (whose error is
        SNR times the x0 error), min(SNR, gamma) for x0, and min(SNR, gamma) / (SNR + 1) for v. Low-noise
        timesteps, whose eps error is large and easy to chase, no longer dominate the gradient.
        """
        problem = choices.snr_target_problem(self.parameterization)
        if problem:
            raise ValueError(problem)
        # on t's device in the loss's dtype (float32 by default: MPS has no float64), cached like every table
        snr = self._table("snr", t, torch.empty(0, device=t.device, dtype=dtype))
        capped = torch.clamp(snr, max=float(gamma))
        if self.parameterization == "eps":
            weight = capped / snr
        elif self.parameterization == "v":
            weight = capped / (snr + 1.0)
        else:
            weight = capped
        return weight

    def training_losses(
        self,
        model: Model,
        x0: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor | None = None,
        loss: str = "simple",
        snr_gamma: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Per-example training loss (M17-M19); every value has shape (B,).

        - "simple" (M18): mean over dimensions of (target - output)^2, target eps / mu~ / x0 / v.
        - "vlb" (M17): T * L_{t-1} / D (L_0 at t = 0): the unbiased single-t estimate of the bound, per
          dimension, with gradients through mean and variance.
        - "hybrid" (M19): simple + 0.001 * T * L_{t-1} / (D ln 2), i.e. lambda = 0.001 times the bound term in
          BITS per dimension, as improved-diffusion (Nichol & Dhariwal 2021) computes it; the bound sees the mean
          with gradients stopped, so it trains only the (learned) variance.

        ``snr_gamma`` > 0 weights the simple term by :meth:`min_snr_weight` (Hang et al. 2023); 0 leaves it as
        M18. The bound has no such term, so "vlb" takes no weighting.

        Returns:
            {"loss": the objective, "mse": the simple term (unweighted), "vlb": the per-dimension single-t bound
            estimate, in nats per dimension whatever the loss}.
        """
        choices.require("loss", loss, choices.LOSSES)
        problem = choices.learned_variance_problem(self.variance, loss) or choices.snr_gamma_problem(
            snr_gamma, loss, self.parameterization
        )
        if problem:
            raise ValueError(problem)
        if noise is None:
            noise = torch.randn_like(x0)
        x_t = self.q_sample(x0, t, noise)
        model_output = model(x_t, t)
        mean_output, u = self._split_output(model_output, x_t)
        dims = x0[0].numel()
        mse = mean_flat((self.training_target(x0, x_t, t, noise) - mean_output) ** 2)
        scale = self.num_timesteps / dims
        if loss == "vlb":
            # no clipping while training (as improved-diffusion): the clamp would cut the mean's gradient
            vlb = scale * self._vlb_from_output(model_output, x0, x_t, t, clip_x0=False)
            return {"loss": vlb, "mse": mse.detach(), "vlb": vlb.detach()}
        # Stop-gradient on the mean (M19): the bound only steers the variance in the hybrid objective.
        frozen = mean_output.detach() if u is None else torch.cat([mean_output.detach(), u], dim=1)
        vlb = scale * self._vlb_from_output(frozen, x0, x_t, t, clip_x0=False)
        simple = mse * self.min_snr_weight(t, snr_gamma, mse.dtype) if snr_gamma > 0.0 else mse
        if loss == "simple":
            return {"loss": simple, "mse": mse.detach(), "vlb": vlb.detach()}
        # M19 in improved-diffusion's units: lambda multiplies bits per dimension (nats / ln 2)
        return {"loss": simple + HYBRID_VLB_WEIGHT * vlb / math.log(2.0), "mse": mse.detach(), "vlb": vlb.detach()}
