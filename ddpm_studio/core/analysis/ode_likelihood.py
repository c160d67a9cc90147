"""The exact log-likelihood of the probability-flow ODE with the exact divergence (M32).

Song et al. 2021 ("Score-Based Generative Modeling through Stochastic Differential Equations", ICLR; Sec. 4.3 and
App. D) turn a diffusion model into a continuous normalising flow (Chen et al. 2018, "Neural Ordinary
Differential Equations", the instantaneous change of variables): integrate the probability-flow ODE from the data
to the prior and add up the divergence of its field. We write the VP ODE in the variance-exploding variables of
M24, y = x / sqrt(abar), sigma = sqrt((1 - abar) / abar), where it is

    dy / dsigma = eps_hat(y, sigma),          d log p_sigma(y(sigma)) / dsigma = -div_y eps_hat(y, sigma),

so   log p_0(x_0) = log N(sqrt(abar_T) y_T; 0, I) + D log sqrt(abar_T) + int_0^{sigma_T} div_y eps_hat dsigma,

with y(0) = x_0 and the DDPM's own prior N(0, I) on x_T (the one the bound's L_T uses). MATH.md M32 derives this
from the VP ODE dx/dt = -1/2 beta(t) (x - eps_hat / sqrt(1 - abar(t))).

The network knows only the trained timesteps, so the continuous field is defined from its outputs there. Above
sigma_1 (the lowest trained level) the denoiser D(y; sigma) = x0_hat(sqrt(abar) y, t), with eps_hat = (y - D) /
sigma (M24), is interpolated linearly in log sigma between the trained levels (DPM-Solver++'s assumption, M28);
below sigma_1 the score -eps_hat / sigma is held at its sigma_1 value, so eps_hat falls linearly to 0 at sigma = 0
(for a smooth density eps = -sigma * score -> 0: the flow starts exactly at the data). The solver's knots are the
trained levels, so the network is never fed an untrained t; K of them are the trained t nearest a grid UNIFORM IN
log sigma from sigma_1 to sigma_T (:func:`ode_levels`, M32): the integrands are smooth in log sigma, and a grid
uniform in t put the cosine schedule's first step at sigma 0.0064 -> 0.027 and its top at 64 -> 20,000, so its
second-order error sat where the data's own scales are (a two-component mixture with std 0.05: 0.14 nats
mean error at K = 100 against DOP853, 0.006 now; benchmarks/ode_likelihood_error.py);
- the state by Heun's method in sigma (Karras et al. 2022, Alg. 1; exact while D is constant over a step, as
  it nearly is at large sigma, where the cosine schedule's last step spans sigma 642 -> 20,291);
- the log-density by the trapezoidal rule in log sigma on sigma * div_y eps_hat = D - div_y x0_hat(y), which is
  linear in log sigma between knots (a trapezoid in sigma would take that last step 25 nats wrong), and on
  [0, sigma_1] in sigma, where the field is linear in sigma.
K levels cost 2K - 1 evaluations, each with D vector-Jacobian products for the exact divergence (cheap for 2-D
points; one per pixel for images).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.sampling.spacing import distinct_ascending, nearest_timesteps, sigmas_of

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Examples per forward pass (memory only).
ODE_BATCH_SIZE = 1024


@dataclass(frozen=True)
class OdeProgress:
    """Heun step ``done`` of ``total`` finished for every example."""

    done: int
    total: int


@dataclass(frozen=True)
class OdeLikelihoodResult:
    """-log p(x_0) of the probability-flow ODE on N examples, per dimension, in nats (M32).

    Attributes:
        nats_per_dim: mean over examples of -log p / D + jacobian, in the data's own coordinates.
        stderr: standard error of that mean over examples.
        prior: mean -log N(x_T; 0, I) / D - log sqrt(abar_T) (the prior's share, model space).
        divergence: mean of -int div / D (the flow's share, model space); nats_per_dim = prior + divergence + jacobian.
        jacobian: mean log(scale) of the points' standardisation (0 for images), as the bound's.
        num_examples, num_levels (K trained levels visited), num_evaluations (2K - 1).
        log_likelihood: (N,) float64 log p in MODEL space, nats per example (not in the JSON).
    """

    nats_per_dim: float
    stderr: float
    prior: float
    divergence: float
    jacobian: float
    num_examples: int
    num_levels: int
    num_evaluations: int
    log_likelihood: torch.Tensor

    def to_dict(self) -> dict:
        """The ``ode_*`` keys of ``ddpm-studio evaluate --ode-likelihood``'s JSON."""
        record = asdict(self)
        record.pop("log_likelihood")
        return {f"ode_{key}": value for key, value in record.items()}


def ode_levels(alphas_cumprod: torch.Tensor, num_levels: int | None = None) -> list[int]:
    """The ascending 0-based trained timesteps the solver visits: all T, or K spread evenly in log sigma (M32).

    Args:
        alphas_cumprod: (T,) the trained abar_t. num_levels: K in 2..T, or None for all T.
    Returns:
        K distinct ascending 0-based t with both ends (0 and T - 1): the trained t whose log sigma_t is nearest
        each point of linspace(log sigma_1, log sigma_T, K), repeats pushed apart as the Karras grid's (M26).
    Why log sigma: the state's field y - D and the log-density's sigma div eps = D - div D are smooth functions of
    log sigma whose features sit at the data's scales (sigma ~ its spread), so equal steps there spread the
    second-order solver's error evenly; equal steps in t crowd the top, where nothing happens.
    """
    num_timesteps = int(alphas_cumprod.shape[0])
    if num_levels is None:
        return list(range(num_timesteps))
    if isinstance(num_levels, bool) or not isinstance(num_levels, int) or not 2 <= num_levels <= num_timesteps:
        raise ValueError(f"the ODE needs 2..{num_timesteps} trained levels (T = {num_timesteps}), got {num_levels!r}")
    sigmas = sigmas_of(alphas_cumprod)
    wanted = np.exp(np.linspace(math.log(sigmas[0]), math.log(sigmas[-1]), num_levels))
    return distinct_ascending(nearest_timesteps(alphas_cumprod, wanted), num_timesteps)


def coarse_levels(num_levels: int) -> int | None:
    """K // 2, the level count of the error estimate's second solve (None below K = 4: too few levels to halve)."""
    return num_levels // 2 if num_levels >= 4 else None


def solver_error(log_p: torch.Tensor, log_p_coarse: torch.Tensor) -> float:
    """The error bar of a mean log-likelihood: |mean log p_K - mean log p_{K/2}| over N examples (nats/example).

    Args:
        log_p, log_p_coarse: (N,) the same examples solved with K and K // 2 levels (:func:`ode_levels`).
    The solver is second order (Heun and trapezoids, M32), so the K solution's own error is about a third of this
    difference once both are converged to that rate; the full difference is reported, a conservative bar. It is a
    solver error only: the sampling error of the mean over examples is the result's ``stderr``.
    """
    return abs(float(log_p.double().mean()) - float(log_p_coarse.double().mean()))


def _eps_and_divergence(
    model: Model, diffusion: GaussianDiffusion, y: torch.Tensor, tau: int, model_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """eps_hat(sqrt(abar_tau) y, tau) and its exact divergence in y: ((B, ...) float64, (B,) float64).

    eps_hat is the process's own (M7-M10 through ``p_mean_variance``, x0_hat clipped as it clips, M23), so this is
    the field the samplers' ODE solvers follow. The divergence is sum_d d eps_d / d y_d, one vector-Jacobian
    product per dimension (exact; items of a batch never interact, so a summed output separates them).
    """
    alpha = math.sqrt(float(diffusion.alphas_cumprod[tau]))
    with torch.enable_grad():
        leaf = y.detach().requires_grad_(True)
        x = (alpha * leaf).to(model_dtype)
        t = torch.full((y.shape[0],), tau, dtype=torch.long, device=y.device)
        eps = diffusion.p_mean_variance(model(x, t), x, t)["eps_hat"].reshape(y.shape[0], -1)
        divergence = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
        dims = eps.shape[1]
        for d in range(dims):
            (grad,) = torch.autograd.grad(eps[:, d].sum(), leaf, retain_graph=d < dims - 1)
            divergence += grad.reshape(y.shape[0], -1)[:, d].double()
    return eps.detach().double().reshape(y.shape), divergence


def iter_ode_log_likelihood(
    model: Model,
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    num_levels: int | None = None,
    batch_size: int = ODE_BATCH_SIZE,
    model_dtype: torch.dtype | None = None,
) -> Iterator[OdeProgress | tuple[torch.Tensor, torch.Tensor]]:
    """log p_0(x_0) by the probability-flow ODE (M32), one :class:`OdeProgress` per Heun step, then the result.

    Args:
        model: callable (x, t) -> output in ``diffusion``'s parameterization (a network or an exact stand-in).
        x0: (N, ...) points in model space. num_levels: trained levels K (None: all T). batch_size: memory only.
        model_dtype: the dtype fed to the model (None: its parameters' dtype, float64 for a parameter-free model).
            The state and the log-density are carried in float64 whatever it is.
    Yields:
        OdeProgress after each of the K steps, then (log_p (N,), prior_log_p (N,)), float64, nats per example
        in model space; log_p - prior_log_p is the flow's integral of the divergence.
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 2 or x0.shape[0] < 1:
        raise ValueError("x0 must be a tensor of shape (N, ...) with N >= 1")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf values")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if model_dtype is None:
        params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
        model_dtype = params[0].dtype if params else torch.float64
    levels = ode_levels(diffusion.alphas_cumprod, num_levels)
    abar = diffusion.alphas_cumprod
    level_sigmas = sigmas_of(abar)  # M24, the one sigma helper
    sigmas = [0.0] + [float(level_sigmas[t]) for t in levels]
    y = x0.detach().double().clone()
    flow = torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)
    num = x0.shape[0]

    def field(state: torch.Tensor, tau: int) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [_eps_and_divergence(model, diffusion, state[s : s + batch_size], tau, model_dtype)
                 for s in range(0, num, batch_size)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    slope, div = torch.zeros_like(y), torch.zeros_like(flow)  # eps_hat = 0 at sigma = 0
    for i, tau in enumerate(levels):
        low, high = sigmas[i], sigmas[i + 1]
        if i > 0:
            slope, div = field(y, levels[i - 1])
        slope_next, div_next = field(y + (high - low) * slope, tau)
        y = y + (0.5 * (high - low)) * (slope + slope_next)  # Heun in sigma (Karras et al. 2022, Alg. 1)
        if i == 0:  # eps_hat = (sigma / sigma_1) eps_hat_1 here: the trapezoid in sigma is exact at fixed y
            flow = flow + (0.5 * high) * div_next
        else:  # sigma * div eps_hat = D - div_y x0_hat: the trapezoid in log sigma (exact where x0_hat is constant)
            flow = flow + (0.5 * math.log(high / low)) * (low * div + high * div_next)
        yield OdeProgress(done=i + 1, total=len(levels))
    alpha_T = math.sqrt(float(abar[levels[-1]]))
    x_T = (alpha_T * y).reshape(num, -1)
    dims = x_T.shape[1]
    prior = -0.5 * (x_T * x_T).sum(dim=1) - 0.5 * dims * math.log(2.0 * math.pi) + dims * math.log(alpha_T)
    yield prior + flow, prior


def ode_log_likelihood(
    model: Model,
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    num_levels: int | None = None,
    batch_size: int = ODE_BATCH_SIZE,
    model_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Run :func:`iter_ode_log_likelihood` to the end: log p_0(x0) (N,) float64, nats per example, model space."""
    result = None
    for record in iter_ode_log_likelihood(model, diffusion, x0, num_levels, batch_size, model_dtype):
        result = record
    assert isinstance(result, tuple)
    return result[0]


def log_density_in_data_space(log_p_model: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """log p of points in the data's own coordinates from log p in model space (N,): model = (data - shift) / scale,
    so log p_data = log p_model - sum_d log scale_d (as the bound's Jacobian). None (images) changes nothing."""
    if scale is None:
        return log_p_model
    return log_p_model - float(torch.log(scale.double()).sum())


def iter_ode_likelihood(
    pipeline, x0: torch.Tensor, num_levels: int | None = None, batch_size: int = ODE_BATCH_SIZE
) -> Iterator[OdeProgress | OdeLikelihoodResult]:
    """The ODE likelihood of a trained run's EMA network on ``x0`` (model space), reported like the bound.

    Yields :class:`OdeProgress` per step, then an :class:`OdeLikelihoodResult` in nats/dim in the data's own
    coordinates (the standardisation's log-Jacobian added, as :class:`~ddpm_studio.core.evaluation.BoundResult`).
    The network runs in full precision (no bf16), like the bound.
    """
    from ddpm_studio.core.pipeline import full_precision

    model = full_precision(pipeline.network, pipeline.device)
    dims = math.prod(pipeline.data_shape)
    jacobian = 0.0
    if pipeline.kind == "points" and pipeline.scale is not None:
        jacobian = float(torch.log(pipeline.scale.double()).mean())
    outcome = None
    for record in iter_ode_log_likelihood(model, pipeline.diffusion, x0.to(pipeline.device), num_levels,
                                          batch_size, model_dtype=torch.float32):
        if isinstance(record, OdeProgress):
            yield record
        else:
            outcome = record
    assert outcome is not None
    log_p, prior = (v.cpu() for v in outcome)
    per_example = -log_p / dims + jacobian
    num = int(log_p.shape[0])
    levels = len(ode_levels(pipeline.diffusion.alphas_cumprod, num_levels))
    yield OdeLikelihoodResult(
        nats_per_dim=float(per_example.mean()),
        stderr=float(per_example.std() / math.sqrt(num)) if num > 1 else float("nan"),
        prior=float((-prior).mean()) / dims,
        divergence=float((prior - log_p).mean()) / dims,
        jacobian=jacobian,
        num_examples=num,
        num_levels=levels,
        num_evaluations=2 * levels - 1,
        log_likelihood=log_p,
    )
