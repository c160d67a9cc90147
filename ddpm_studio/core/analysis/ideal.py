"""The ideal denoiser: the exact optimum of the denoising objective for the EMPIRICAL data distribution (M30).

A network trained on N examples x_1..x_N minimises E||x0 - x0_hat(x_t, t)||^2 over the training set; the
minimiser is the posterior mean under the empirical distribution (1/N) sum_i delta(x - x_i):

    E[x_0 | x_t] = sum_i w_i(x_t, t) x_i,   w = softmax_i( -||x_t - sqrt(abar_t) x_i||^2 / (2 (1 - abar_t)) ).

Sampling with it can only reproduce training examples (Kadkhodaie et al. 2024, "Generalization in diffusion models
arises from geometry-adaptive harmonic representations"; Gu et al. 2023, "On Memorization in Diffusion Models"): a
real network generalises exactly where it fails to learn this function. Everything here works in model space (the
diffusion's coordinates) on any item shape, in float64 (float32 on MPS, which has no float64).

Memory: the softmax runs over N in chunks with a running log-sum-exp, so the largest temporaries are a (B, chunk)
weight matrix and a (chunk, D) slice of the data, ``chunk_bytes`` in all (default 64 MiB): 60,000 MNIST images and
a batch of 256 need the data itself (188 MB in float32) plus that.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ddpm_studio.core.process.diffusion import GaussianDiffusion

#: Memory budget of the chunked softmax's temporaries (bytes); bounds memory only, never the result.
DEFAULT_CHUNK_BYTES = 64 * 2**20


def _compute_dtype(device: torch.device) -> torch.dtype:
    """float64 wherever the device has it: at t = 0 the logits reach ~1e6 and their differences matter."""
    return torch.float32 if device.type == "mps" else torch.float64


def _check(data: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, diffusion: GaussianDiffusion) -> None:
    """Readable errors at the API boundary: shapes, timestep range, empty data."""
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or data.shape[0] < 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a tensor of shape (N, ...) with N >= 1, got {shape}")
    if not isinstance(x_t, torch.Tensor) or tuple(x_t.shape[1:]) != tuple(data.shape[1:]):
        shape = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
        raise ValueError(f"x_t must have shape (B, {', '.join(map(str, data.shape[1:]))}) like the data, got {shape}")
    if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.dtype not in (torch.int64, torch.int32):
        raise ValueError("t must be a LongTensor of shape (B,)")
    if t.shape[0] != x_t.shape[0]:
        raise ValueError(f"t has {t.shape[0]} timesteps but x_t has a batch of {x_t.shape[0]}")
    T = diffusion.num_timesteps
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= T):
        raise ValueError(f"timesteps must lie in 0..{T - 1} (0-based), got {int(t.min())}..{int(t.max())}")


def _table(values: torch.Tensor, t: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A float64 schedule table (T,) at timesteps t (B,), as a (B,) tensor on ``device`` in ``dtype``."""
    return values.index_select(0, t.detach().cpu().long()).to(device=device, dtype=dtype)


def ideal_moments(
    data: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    diffusion: GaussianDiffusion,
    variance: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Posterior mean E[x0 | x_t] and (optionally) per-element variance Var[x0 | x_t] for the empirical data (M30).

    The logits l_i = -||x_t - a x_i||^2 / (2 (1 - abar)), a = sqrt(abar_t), are formed as
    (a <x_t, x_i> - abar ||x_i||^2 / 2) / (1 - abar): the dropped -||x_t||^2 / (2 (1 - abar)) is the same for every
    i and cancels in the softmax. The softmax over i runs chunk by chunk with a running maximum (log-sum-exp), so it
    never overflows, at t = 0 (1 - abar ~ 1e-4, logits ~ 1e6: weights one-hot) or at t = T - 1 (weights ~ uniform).

    Args:
        data: training examples in model space, (N, ...). x_t: noisy inputs, (B, ...) with the data's item shape.
        t: LongTensor (B,), 0-based timesteps. diffusion: supplies abar_t.
        variance: also return Var[x0 | x_t] = E[x0^2 | x_t] - E[x0 | x_t]^2 per element (one more matmul).
        chunk_bytes: memory budget of the temporaries.
    Returns:
        (mean like x_t, variance like x_t or None), in x_t's dtype on x_t's device.
    """
    _check(data, x_t, t, diffusion)
    device = x_t.device
    dtype = _compute_dtype(device)
    B, N = x_t.shape[0], data.shape[0]
    D = math.prod(data.shape[1:])
    xt = x_t.detach().reshape(B, D).to(dtype)
    abar = _table(diffusion.alphas_cumprod, t, device, dtype)
    noise_var = 1.0 - abar  # > 0: every beta is > 0
    cross_coef = (abar.sqrt() / noise_var)[:, None]
    norm_coef = (abar / (2.0 * noise_var))[:, None]
    flat = data.detach().reshape(N, D)
    chunk = max(1, int(chunk_bytes) // (8 * (3 * B + 2 * D)))
    running_max = torch.full((B,), -math.inf, device=device, dtype=dtype)
    total = torch.zeros(B, device=device, dtype=dtype)
    first = torch.zeros(B, D, device=device, dtype=dtype)
    second = torch.zeros(B, D, device=device, dtype=dtype) if variance else None
    for start in range(0, N, chunk):
        items = flat[start : start + chunk].to(device=device, dtype=dtype)
        logits = (xt @ items.T) * cross_coef - norm_coef * (items * items).sum(dim=1)[None, :]
        new_max = torch.maximum(running_max, logits.max(dim=1).values)
        rescale = torch.exp(running_max - new_max)  # exp(-inf) = 0 before the first chunk
        weights = torch.exp(logits - new_max[:, None])
        total = total * rescale + weights.sum(dim=1)
        first = first * rescale[:, None] + weights @ items
        if second is not None:
            second = second * rescale[:, None] + weights @ (items * items)
        running_max = new_max
    mean = first / total[:, None]
    var = None
    if second is not None:
        # E[x^2] - E[x]^2 cancels to roundoff where the weights are one-hot; a variance is never negative
        var = (second / total[:, None] - mean * mean).clamp_min(0.0).reshape(x_t.shape).to(x_t.dtype)
    return mean.reshape(x_t.shape).to(x_t.dtype), var


def ideal_x0(
    data: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    diffusion: GaussianDiffusion,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """The ideal denoiser x0*(x_t, t) = E[x0 | x_t] under the empirical distribution of ``data`` (M30).

    Args:
        data: (N, ...) training examples in model space. x_t: (B, ...). t: LongTensor (B,), 0-based.
    Returns:
        (B, ...) in x_t's dtype and device; every row is a convex combination of data rows.
    """
    return ideal_moments(data, x_t, t, diffusion, chunk_bytes=chunk_bytes)[0]


def guided_ideal_x0(
    data: torch.Tensor,
    labels: torch.Tensor,
    label: int,
    guidance: float,
    x_t: torch.Tensor,
    t: torch.Tensor,
    diffusion: GaussianDiffusion,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """The ideal denoiser under classifier-free guidance towards class ``label`` with scale w (M38; M30 with M34).

    The optimal conditional network is the ideal denoiser of the class's own training points, x0*_c = E[x0 | x_t,
    c]; the optimal null branch (label dropout draws it from every class) that of all of them, x0*_null =
    E[x0 | x_t]. M34 combines their eps; x0 is affine in eps with weights (1 + w) and -w summing to one, so

        x0~* = (1 + w) x0*_c - w x0*_null,   eps~* = (1 + w) eps*_c - w eps*_null   (both through M5).

    Not clipped (M23 belongs to the process, which clips the network's guided x0_hat the same way).

    Args:
        data: (N, ...) training examples in model space. labels: (N,) the class of each, 0..K-1.
        label: the class asked for. guidance: w >= 0 (0: the class's own ideal denoiser).
        x_t: (B, ...) noisy inputs. t: LongTensor (B,), 0-based.
    Returns:
        (B, ...) in x_t's dtype and device.
    Raises:
        ValueError: labels that do not match the data, or a class without training points.
    """
    if not isinstance(labels, torch.Tensor) or labels.shape != (data.shape[0],):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must have shape ({data.shape[0]},), one per training example, got {shape}")
    members = labels.to(data.device) == int(label)
    if not bool(members.any()):
        raise ValueError(f"class {label} has no training points, so it has no ideal denoiser")
    own = ideal_x0(data[members], x_t, t, diffusion, chunk_bytes)
    if float(guidance) == 0.0:
        return own
    everyone = ideal_x0(data, x_t, t, diffusion, chunk_bytes)
    dtype = _compute_dtype(x_t.device)
    w = float(guidance)
    return ((1.0 + w) * own.to(dtype) - w * everyone.to(dtype)).to(x_t.dtype)


def _ideal_x0_in_compute_dtype(
    data: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, diffusion: GaussianDiffusion, chunk_bytes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t, x0*, abar_t) in the compute dtype: x_t and x0* of shape (B, ...), abar_t broadcastable, (B, 1, ...).

    What eps* and the score both start from (M30 through M5): they differ only in how they combine the three.
    """
    x0 = ideal_moments(data, x_t, t, diffusion, chunk_bytes=chunk_bytes)[0]
    dtype = _compute_dtype(x_t.device)
    abar = _table(diffusion.alphas_cumprod, t, x_t.device, dtype).reshape((-1,) + (1,) * (x_t.ndim - 1))
    return x_t.to(dtype), x0.to(dtype), abar


def ideal_eps(
    data: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    diffusion: GaussianDiffusion,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """The noise the ideal denoiser implies through M5: (x_t - sqrt(abar_t) x0*) / sqrt(1 - abar_t); (B, ...)."""
    x, x0, abar = _ideal_x0_in_compute_dtype(data, x_t, t, diffusion, chunk_bytes)
    return ((x - abar.sqrt() * x0) / (1.0 - abar).sqrt()).to(x_t.dtype)


def ideal_score(
    data: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    diffusion: GaussianDiffusion,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """grad_x log q_t(x_t) of the noised empirical distribution (Tweedie): (sqrt(abar_t) x0* - x_t) / (1 - abar_t).

    Equal to -eps* / sqrt(1 - abar_t) (M30); (B, ...) in x_t's dtype.
    """
    x, x0, abar = _ideal_x0_in_compute_dtype(data, x_t, t, diffusion, chunk_bytes)
    return ((abar.sqrt() * x0 - x) / (1.0 - abar)).to(x_t.dtype)


class IdealDenoiser(nn.Module):
    """A stand-in for the network: (x (B, C, ...), t LongTensor (B,)) -> what a perfect network would output (M30).

    The output is in the diffusion's parameterization: eps* (M7), x0* (M9), v* = sqrt(abar) eps* - sqrt(1 - abar)
    x0* (M10), or the posterior mean mu~_t(x0*, x_t) (M6, M8). Under a learned variance (M13) it appends u, chosen
    so that the reverse step's variance is the exact per-element variance of q(x_{t-1} | x_t) for the empirical
    data, beta~_t + c0_t^2 Var[x0 | x_t] (c0_t the x0 coefficient of M6): the Gaussian closest in KL to the true
    reverse step (moment matching, as Analytic-DPM, Bao et al. 2022). It is floored at the clipped beta~ that
    ``GaussianDiffusion`` uses at t = 0, where beta~_1 = 0.

    ``sampling.sample(diffusion, IdealDenoiser(data, diffusion), shape, ...)`` draws what a perfect fit of the
    denoising objective draws: training examples (deterministic samplers land on them exactly).

    Args:
        data: (N, ...) training examples in model space (kept as a non-persistent buffer: ``.to(device)`` moves it).
        diffusion: the process whose parameterization and variance the output follows.
        chunk_bytes: memory budget of the chunked softmax.
    """

    def __init__(self, data: torch.Tensor, diffusion: GaussianDiffusion, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        super().__init__()
        if not isinstance(data, torch.Tensor) or data.ndim < 2 or data.shape[0] < 1:
            raise ValueError("the ideal denoiser needs training data of shape (N, ...) with N >= 1")
        if not torch.isfinite(data).all():
            raise ValueError("the ideal denoiser's training data contains NaN or inf values")
        self.register_buffer("data", data.detach(), persistent=False)
        self.diffusion = diffusion
        self.chunk_bytes = int(chunk_bytes)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        diff = self.diffusion
        learned = diff.variance == "learned"
        x0, var0 = ideal_moments(self.data, x, t, diff, variance=learned, chunk_bytes=self.chunk_bytes)
        dtype = _compute_dtype(x.device)
        shape = (-1,) + (1,) * (x.ndim - 1)

        def table(values: torch.Tensor) -> torch.Tensor:
            return _table(values, t, x.device, dtype).reshape(shape)

        xd, x0d = x.to(dtype), x0.to(dtype)
        abar = table(diff.alphas_cumprod)
        p = diff.parameterization
        if p == "x0":
            out = x0d
        elif p == "mean":
            out = table(diff.posterior_mean_coef_x0) * x0d + table(diff.posterior_mean_coef_xt) * xd
        else:
            eps = (xd - abar.sqrt() * x0d) / (1.0 - abar).sqrt()
            out = eps if p == "eps" else abar.sqrt() * eps - (1.0 - abar).sqrt() * x0d
        if learned:
            assert var0 is not None
            out = torch.cat([out, self._u(var0.to(dtype), table)], dim=1)
        return out.to(x.dtype)

    def _u(self, var0: torch.Tensor, table) -> torch.Tensor:
        """M13 inverted: the u whose exp(frac log beta + (1 - frac) log beta~), frac = (u + 1) / 2, equals
        beta~ + c0^2 Var[x0 | x_t] (floored at the clipped beta~); shape like var0."""
        diff = self.diffusion
        log_small = table(diff.posterior_log_variance_clipped)
        log_large = table(diff.log_betas)
        target = table(diff.posterior_variance) + table(diff.posterior_mean_coef_x0) ** 2 * var0
        log_target = torch.maximum(torch.log(target.clamp_min(1e-300)), log_small)
        span = log_large - log_small
        # T = 1 has beta~ clipped to beta itself: no span to choose in, u = 0 (either end is the same variance)
        safe = torch.where(span > 0, span, torch.ones_like(span))
        frac = torch.where(span > 0, (log_target - log_small) / safe, torch.full_like(span, 0.5))
        return 2.0 * frac - 1.0


def predicted_score(model, diffusion: GaussianDiffusion, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The score a model implies at (x_t, t): -eps_hat / sqrt(1 - abar_t), eps_hat from its output (M7-M10);
    (B, ...) like x_t, to set beside :func:`ideal_score` (for a field of arrows, say). No gradients."""
    with torch.no_grad():
        eps = diffusion.p_mean_variance(model(x_t, t), x_t, t)["eps_hat"]
    abar = _table(diffusion.alphas_cumprod, t, x_t.device, x_t.dtype).reshape((-1,) + (1,) * (x_t.ndim - 1))
    return -eps / (1.0 - abar).sqrt()


def x0_error_over_t(
    model,
    data: torch.Tensor,
    x0: torch.Tensor,
    timesteps: list[int],
    diffusion: GaussianDiffusion,
    seed: int = 0,
    statistic: str = "rms",
) -> torch.Tensor:
    """How far a model's x0_hat lies from the ideal denoiser's, per timestep: shape (len(ts),).

    ``statistic`` "rms": RMS per dimension over examples and dimensions; "mean_distance": the mean over examples
    of the L2 distance ||x0_hat_model - x0*|| (M33).

    For each t: x_t ~ q(x_t | x0) with one seeded noise draw per example (the same draws for every model, so two
    checkpoints are compared on the same inputs), then sqrt(mean over examples and dimensions of
    (x0_hat_model - x0*)^2), x0_hat as the process forms it (M7-M10, clipped as it clips).

    Args:
        model: callable (x, t) -> network output in ``diffusion``'s parameterization.
        data: (N, ...) the training examples the ideal denoiser uses. x0: (M, ...) probe examples.
        timesteps: 0-based timesteps to measure.
    """
    if statistic not in ("rms", "mean_distance"):
        raise ValueError(f"statistic must be 'rms' or 'mean_distance', got {statistic!r}")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    errors = []
    for tau in timesteps:
        noise = torch.randn(x0.shape, generator=generator).to(device=x0.device, dtype=x0.dtype)
        t = torch.full((x0.shape[0],), int(tau), dtype=torch.long, device=x0.device)
        with torch.no_grad():
            x_t = diffusion.q_sample(x0, t, noise)
            hat = diffusion.p_mean_variance(model(x_t, t), x_t, t)["x0_hat"]
            best = ideal_x0(data, x_t, t, diffusion)
        gap = (hat.double() - best.double()).reshape(x0.shape[0], -1)
        if statistic == "mean_distance":
            errors.append(float(gap.norm(dim=1).mean()))
        else:
            errors.append(float((gap**2).mean().sqrt()))
    return torch.tensor(errors, dtype=torch.float64)
