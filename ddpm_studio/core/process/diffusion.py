"""The Gaussian diffusion process: forward, posterior and reverse parameterizations (its bound and losses, M14-M19,
come from :mod:`ddpm_studio.core.process.objectives`, mixed in).

MATH.md M4-M19. Timesteps are 0-based in code: index ``t = 0`` is paper timestep 1, ``t = T - 1`` is paper T.
Schedule tables are held once in float64 and cast to the input's dtype and device on use (cached per pair).
Sampling (M20-M29) lives in :mod:`ddpm_studio.core.sampling`, which depends on this module, never the reverse:
``sampling.sample(diffusion, model, shape, ...)``.
"""

from __future__ import annotations

import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.objectives import HYBRID_VLB_WEIGHT, DiffusionObjectives, Model
from ddpm_studio.core.process.schedule import alpha_bar_from_betas

# The code names, kept here for the code that imports them from this module (the vocabulary: core.choices).
PARAMETERIZATIONS: tuple[str, ...] = choices.names(choices.PARAMETERIZATIONS)
VARIANCES: tuple[str, ...] = choices.names(choices.VARIANCES)
DECODERS: tuple[str, ...] = choices.names(choices.DECODERS)
LOSSES: tuple[str, ...] = choices.names(choices.LOSSES)

__all__ = ["DECODERS", "HYBRID_VLB_WEIGHT", "LOSSES", "PARAMETERIZATIONS", "VARIANCES", "GaussianDiffusion", "Model"]


def _as_range(x0_range: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Validate an x0 box (low, high) (M23) and keep it as float64 CPU tensors; None stays None ([-1, 1])."""
    if x0_range is None:
        return None
    low, high = (torch.as_tensor(v, dtype=torch.float64).detach().cpu() for v in x0_range)
    if low.shape != high.shape:
        raise ValueError(f"x0_range bounds differ in shape: {tuple(low.shape)} and {tuple(high.shape)}")
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()) or bool((low >= high).any()):
        raise ValueError("x0_range must be finite with low < high in every coordinate")
    return low, high


class GaussianDiffusion(DiffusionObjectives):
    """A DDPM with a fixed beta schedule and a chosen parameterization, variance and decoder.

    Args:
        betas: shape (T,), each in (0, 1); index t is paper timestep t + 1.
        parameterization: what the network outputs: "eps" (M7), "mean" (M8), "x0" (M9) or "v" (M10).
        variance: "fixed_large" (M11), "fixed_small" (M12) or "learned" (M13, network outputs 2C channels).
        clip_x0: clip x0_hat to the data's range before it forms the mean (M23): [-1, 1] for images, or
            ``x0_range`` where one is given (the 2-D points' bounding box in model space).
        x0_range: (low, high), each broadcastable to one item's shape (e.g. (D,) for points); None is [-1, 1].
        decoder: L_0 as the "discrete" 8-bit likelihood or the continuous "gaussian" density (M16).
        check_finite: reject a network output with NaN / inf (a ValueError). The trainer turns it off: the
            check costs a host sync per call, and the trainer detects divergence from the loss instead.
    """

    def __init__(
        self,
        betas: torch.Tensor,
        parameterization: str = "eps",
        variance: str = "fixed_large",
        clip_x0: bool = False,
        decoder: str = "discrete",
        check_finite: bool = True,
        x0_range: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        self.check_finite = bool(check_finite)
        self.x0_range = _as_range(x0_range)
        self.parameterization = choices.require("parameterization", parameterization, choices.PARAMETERIZATIONS)
        self.variance = choices.require("variance", variance, choices.VARIANCES)
        self.decoder = choices.require("decoder", decoder, choices.DECODERS)
        self.clip_x0 = bool(clip_x0)
        betas = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a 1-D tensor of shape (T,), got shape {tuple(betas.shape)}")
        if not torch.isfinite(betas).all() or (betas <= 0).any() or (betas >= 1).any():
            raise ValueError("every beta must lie strictly between 0 and 1")
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])
        self._build_tables()
        self._cache: dict[tuple, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------------ tables
    def _build_tables(self) -> None:
        """Every per-timestep quantity the process needs, in float64, shape (T,)."""
        b = self.betas
        self.alphas = 1.0 - b  # M3
        self.alphas_cumprod = alpha_bar_from_betas(b)  # M3, abar_t
        # abar_{t-1}; paper abar_0 = 1 sits in front of index 0.
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        ab, ab_prev = self.alphas_cumprod, self.alphas_cumprod_prev
        # M6 posterior; beta~_1 = 0, so its log is replaced by log beta~_2 wherever a log is needed.
        self.posterior_variance = (1.0 - ab_prev) / (1.0 - ab) * b
        clipped = self.posterior_variance.clone()
        if self.num_timesteps > 1:
            clipped[0] = self.posterior_variance[1]
        else:  # T = 1: there is no beta~_2; fall back to beta_1 so the log stays finite
            clipped[0] = b[0]
        self.posterior_log_variance_clipped = torch.log(clipped)
        self.posterior_mean_coef_x0 = torch.sqrt(ab_prev) * b / (1.0 - ab)
        self.posterior_mean_coef_xt = torch.sqrt(self.alphas) * (1.0 - ab_prev) / (1.0 - ab)
        # M11: sigma^2 = beta_t, but log sigma_1^2 = log beta~_2 so the decoder's variance is the posterior's.
        large = b.clone()
        large[0] = clipped[0]
        self.large_variance = large
        self.large_log_variance = torch.log(large)
        self.log_betas = torch.log(b)
        self._tables = {
            "betas": b,
            "alphas": self.alphas,
            "sqrt_ab": torch.sqrt(ab),
            "sqrt_1m_ab": torch.sqrt(1.0 - ab),
            "sqrt_alphas": torch.sqrt(self.alphas),
            "eps_coef": b / torch.sqrt(1.0 - ab),  # M7: beta_t / sqrt(1 - abar_t)
            "post_var": self.posterior_variance,
            "post_log_var": self.posterior_log_variance_clipped,
            "coef_x0": self.posterior_mean_coef_x0,
            "coef_xt": self.posterior_mean_coef_xt,
            "large_var": self.large_variance,
            "large_log_var": self.large_log_variance,
            "log_betas": self.log_betas,
            "snr": ab / (1.0 - ab),  # signal-to-noise ratio abar_t / (1 - abar_t)
        }

    def _table(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Table ``name`` at timesteps t (B,), cast to like's dtype/device, shaped (B, 1, ...) to broadcast."""
        key = (like.device, like.dtype)
        tables = self._cache.get(key)
        if tables is None:
            tables = {k: v.to(device=like.device, dtype=like.dtype) for k, v in self._tables.items()}
            self._cache[key] = tables
        values = tables[name].index_select(0, t.to(like.device))
        return values.reshape((t.shape[0],) + (1,) * (like.ndim - 1))

    # ------------------------------------------------------------ validation
    def _check(self, x: torch.Tensor, t: torch.Tensor, name: str = "x") -> None:
        """Reject wrong shapes and out-of-range timesteps at the API boundary with a readable message."""
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a batch tensor of shape (B, ...), got {shape}")
        if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.dtype not in (torch.int64, torch.int32):
            got = f"{t.dtype} tensor of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"t must be a LongTensor of shape (B,), got {got}")
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t has {t.shape[0]} timesteps but {name} has a batch of {x.shape[0]}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise ValueError(
                f"timesteps must lie in 0..{self.num_timesteps - 1} (0-based), got {int(t.min())}..{int(t.max())}"
            )

    def _split_output(self, model_output: torch.Tensor, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split a network output into its mean part and (under "learned") the u of M13."""
        channels = x_t.shape[1]
        expected = 2 * channels if self.variance == "learned" else channels
        want = (x_t.shape[0], expected) + tuple(x_t.shape[2:])
        if tuple(model_output.shape) != want:
            raise ValueError(
                f"model output has shape {tuple(model_output.shape)}, expected {want} "
                f"({self.parameterization} parameterization, {self.variance} variance)"
            )
        if self.check_finite and not torch.isfinite(model_output).all():
            raise ValueError("model output contains NaN or inf values")
        if self.variance == "learned":
            return model_output[:, :channels], model_output[:, channels:]
        return model_output, None

    # ---------------------------------------------------------- forward side
    def q_mean_variance(self, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """M5: mean sqrt(abar_t) x0, variance and log variance of q(x_t | x_0); shapes like x0 (var broadcast)."""
        self._check(x0, t, "x0")
        mean = self._table("sqrt_ab", t, x0) * x0
        var = self._table("sqrt_1m_ab", t, x0) ** 2
        return mean, var, torch.log(var)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """M5: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.

        Args:
            x0: clean data, shape (B, ...). t: LongTensor (B,), 0-based. noise: like x0 (drawn if None).
        Returns:
            x_t, shape like x0.
        """
        self._check(x0, t, "x0")
        if noise is None:
            noise = torch.randn_like(x0)
        elif noise.shape != x0.shape:
            raise ValueError(f"noise has shape {tuple(noise.shape)}, expected x0's shape {tuple(x0.shape)}")
        return self._table("sqrt_ab", t, x0) * x0 + self._table("sqrt_1m_ab", t, x0) * noise

    def q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """M6: mean mu~_t(x0, x_t), variance beta~_t and clipped log variance of q(x_{t-1} | x_t, x0).

        Returns:
            (mean like x_t, variance (B, 1, ...), log_variance (B, 1, ...)); at t = 0 the log is log beta~_2.
        """
        self._check(x_t, t, "x_t")
        if x0.shape != x_t.shape:
            raise ValueError(f"x0 has shape {tuple(x0.shape)} but x_t has {tuple(x_t.shape)}")
        return self._posterior_mean(x0, x_t, t), self._table("post_var", t, x_t), self._table("post_log_var", t, x_t)

    def _posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._table("coef_x0", t, x_t) * x0 + self._table("coef_xt", t, x_t) * x_t

    # ---------------------------------------------------------- reverse side
    def predict_x0(self, mean_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0_hat from the network's (mean part of its) output under this parameterization (M7-M10), unclipped."""
        p = self.parameterization
        if p == "eps":  # M7
            return (x_t - self._table("sqrt_1m_ab", t, x_t) * mean_output) / self._table("sqrt_ab", t, x_t)
        if p == "x0":  # M9
            return mean_output
        if p == "v":  # M10
            return self._table("sqrt_ab", t, x_t) * x_t - self._table("sqrt_1m_ab", t, x_t) * mean_output
        # M8: invert mu~ = c0 x0 + c_t x_t; c0 = 1 and c_t = 0 at paper t = 1, so the division is safe there too.
        return (mean_output - self._table("coef_xt", t, x_t) * x_t) / self._table("coef_x0", t, x_t)

    def clip_to_range(self, x0_hat: torch.Tensor) -> torch.Tensor:
        """M23: clamp x0_hat (B, ...) to the data's box, [-1, 1] or ``x0_range``; shape unchanged.

        E[x_0 | x_t] is a weighted mean of data points, so it lies in the convex hull of the data and hence in any
        box around it: an exact estimate is never moved, while a wild one (the mean parameterization inverts M8
        through coef_x0 ~ 1e-4 at large t) can no longer carry the chain off to infinity.
        """
        if self.x0_range is None:
            return x0_hat.clamp(-1.0, 1.0)
        key = (x0_hat.device, x0_hat.dtype, "x0_range")
        bounds = self._cache.get(key)
        if bounds is None:
            bounds = {name: v.to(device=x0_hat.device, dtype=x0_hat.dtype) for name, v in
                      zip(("low", "high"), self.x0_range)}
            self._cache[key] = bounds
        return torch.maximum(torch.minimum(x0_hat, bounds["high"]), bounds["low"])

    def predict_eps(self, x0_hat: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps_hat implied by x0_hat through M5: (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t)."""
        return (x_t - self._table("sqrt_ab", t, x_t) * x0_hat) / self._table("sqrt_1m_ab", t, x_t)

    def _variance(
        self, u: torch.Tensor | None, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma_t^2 and its log under the chosen variance (M11-M13)."""
        if self.variance == "fixed_large":  # M11
            return self._table("large_var", t, x_t), self._table("large_log_var", t, x_t)
        if self.variance == "fixed_small":  # M12
            return self._table("post_var", t, x_t), self._table("post_log_var", t, x_t)
        assert u is not None
        frac = (u + 1.0) / 2.0  # M13: u is used as it comes (not clamped)
        log_var = frac * self._table("log_betas", t, x_t) + (1.0 - frac) * self._table("post_log_var", t, x_t)
        return torch.exp(log_var), log_var

    def p_mean_variance(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, clip_x0: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """Mean, variance, log variance and x0_hat of p_theta(x_{t-1} | x_t) (M7-M13).

        Args:
            model_output: network output at (x_t, t): shape like x_t, or (B, 2C, ...) under "learned" variance
                (the second half is u of M13).
            x_t: shape (B, C, ...). t: LongTensor (B,), 0-based.
            clip_x0: override the process's clipping (training turns it off: a clamp passes no gradient).
        Returns:
            dict with "mean" (like x_t), "variance" and "log_variance" (broadcastable to x_t), "x0_hat" (like
            x_t, clipped to [-1, 1] when clip_x0), "eps_hat" (the noise that x0_hat implies).
        """
        self._check(x_t, t, "x_t")
        mean_output, u = self._split_output(model_output, x_t)
        x0_hat = self.predict_x0(mean_output, x_t, t)
        if self.clip_x0 if clip_x0 is None else clip_x0:
            x0_hat = self.clip_to_range(x0_hat)
            mean = self._posterior_mean(x0_hat, x_t, t)  # M9 with the clipped estimate
        elif self.parameterization == "eps":  # M7, directly
            mean = (x_t - self._table("eps_coef", t, x_t) * mean_output) / self._table("sqrt_alphas", t, x_t)
        elif self.parameterization == "mean":  # M8: the output is the mean
            mean = mean_output
        else:  # M9 / M10 through the posterior
            mean = self._posterior_mean(x0_hat, x_t, t)
        variance, log_variance = self._variance(u, x_t, t)
        return {
            "mean": mean,
            "variance": variance,
            "log_variance": log_variance,
            "x0_hat": x0_hat,
            "eps_hat": self.predict_eps(x0_hat, x_t, t),
        }

    def training_target(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """What the network should output under this parameterization (M18): eps, mu~_t, x0 or v (M10)."""
        p = self.parameterization
        if p == "eps":
            return noise
        if p == "x0":
            return x0
        if p == "v":
            return self._table("sqrt_ab", t, x0) * noise - self._table("sqrt_1m_ab", t, x0) * x0
        return self._posterior_mean(x0, x_t, t)
