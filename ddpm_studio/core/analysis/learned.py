"""What a 2-D network learned, as arrays to draw: its denoiser field beside the ideal one, its distance to the
ideal denoiser against t, and its exact log-density on a grid (M30, M32, M33).

- :func:`denoiser_field`: at one timestep, on an n x n grid over the data's box, the network's x0_hat - x (or its
  score) and the ideal denoiser's (M30), and the length of their difference, in the data's own coordinates; for a
  class-conditional network (:class:`FieldGuide`) the guided field of one class and scale w beside the guided
  ideal denoiser (M34, M38).
- :func:`error_over_t`: E ||x0_hat_theta(x_t, t) - x0*(x_t, t)|| against t with x_t ~ q(x_t | x_0) (M5) on
  training examples (M33): where along the process the network fails to match the optimum it is trained towards
  (Kadkhodaie et al. 2024).
- :func:`iter_density_grid`: log p_theta(x) by the probability-flow ODE with the exact divergence (M32) on the same
  kind of grid, plus optional extra points (held-out data) in the same pass.

Everything takes the model as a callable (x, t) -> output in the diffusion's parameterization; points are given
and returned in the data's coordinates, with model = (data - shift) / scale (``shift``/``scale`` None: identity).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from ddpm_studio.core.analysis.ideal import guided_ideal_x0, ideal_x0, x0_error_over_t
from ddpm_studio.core.analysis.ode_likelihood import (
    OdeProgress,
    coarse_levels,
    iter_ode_log_likelihood,
    log_density_in_data_space,
    ode_levels,
    solver_error,
)
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.guidance import GuidedModel

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: (x_min, x_max, y_min, y_max) in the data's coordinates.
Bounds = tuple[float, float, float, float]
#: What the field's arrows show: x0_hat - x (the step a denoiser wants) or the score grad log q_t.
QUANTITIES = ("x0", "score")
DEFAULT_FIELD_SIZE = 24
DEFAULT_DENSITY_SIZE = 40


def grid_points(bounds: Bounds, n: int) -> torch.Tensor:
    """The n x n grid over ``bounds``, (n * n, 2) float64, row-major: point i * n + j is (xs[j], ys[i]).

    Row-major like an image (row i = the i-th y), so a (n * n,) value reshapes to the (n, n) heat map that
    pyqtgraph's ``imageAxisOrder='row-major'`` draws with y up.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"a grid needs n >= 2 points a side, got {n!r}")
    x0, x1, y0, y1 = (float(b) for b in bounds)
    if not (math.isfinite(x0) and math.isfinite(x1) and math.isfinite(y0) and math.isfinite(y1)) or x1 <= x0 \
            or y1 <= y0:
        raise ValueError(f"grid bounds must be finite with min < max, got {bounds!r}")
    xs = torch.linspace(x0, x1, n, dtype=torch.float64)
    ys = torch.linspace(y0, y1, n, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _transform(shift: torch.Tensor | None, scale: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, scale) as float64 (2,) tensors; None is the identity."""
    s = torch.zeros(2, dtype=torch.float64) if shift is None else shift.detach().cpu().double().reshape(2)
    c = torch.ones(2, dtype=torch.float64) if scale is None else scale.detach().cpu().double().reshape(2)
    return s, c


def _model_dtype(model: Model) -> torch.dtype:
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    return params[0].dtype if params else torch.float64


@dataclass(frozen=True)
class FieldGuide:
    """The guided field to draw for a class-conditional network (M34, M38).

    Attributes:
        label: the class asked for, 0..K-1. guidance: the scale w >= 0.
        labels: (N,) the class of each training example (the rows of the field's ``data``). num_classes: K.
    """

    label: int
    guidance: float
    labels: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class DenoiserField:
    """The network's and the ideal denoiser's field on an n x n grid at one timestep (data coordinates).

    Attributes:
        t: the 0-based timestep. quantity: "x0" (arrows x0_hat - x) or "score" (arrows grad_x log q_t).
        xs, ys: (n,) the grid's coordinates. points: (n * n, 2) the grid, row-major (:func:`grid_points`).
        network, ideal: (n * n, 2) the arrows. difference: (n, n) ||network - ideal|| per grid point, row i = ys[i].
        label, guidance: the guided field's class and w (M34, M38); None and 0 for the unguided field.
    """

    t: int
    quantity: str
    xs: torch.Tensor
    ys: torch.Tensor
    points: torch.Tensor
    network: torch.Tensor
    ideal: torch.Tensor
    difference: torch.Tensor
    label: int | None = None
    guidance: float = 0.0


def denoiser_field(
    model: Model,
    diffusion: GaussianDiffusion,
    data: torch.Tensor,
    t: int,
    bounds: Bounds,
    n: int = DEFAULT_FIELD_SIZE,
    quantity: str = "x0",
    shift: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    guide: FieldGuide | None = None,
) -> DenoiserField:
    """The denoiser field at 0-based timestep ``t`` on the n x n grid over ``bounds`` (data coordinates).

    A grid point x is taken as x_t. The network's x0_hat is the process's own (M7-M10, clipped as it clips, M23);
    the ideal one is E[x0 | x_t] over ``data`` (M30). With model = (data - shift) / scale, x0_hat - x maps to data
    coordinates as (x0_hat_m - x_m) * scale and the score as grad_m log q / scale (the chain rule per axis).

    With ``guide``, ``model`` is a conditional network ``(x, t, y)`` and both sides are guided towards
    ``guide.label`` with scale w: the network through :class:`~ddpm_studio.core.process.guidance.GuidedModel` (M34), the
    ideal through :func:`~ddpm_studio.core.analysis.ideal.guided_ideal_x0` (M38), both clipped by M23 as the sampler
    clips.

    Args:
        data: (N, 2) training examples in MODEL space (what the ideal denoiser averages).
        guide: the class and w of a guided field (None: the model as it is, beside M30's ideal denoiser).
    Returns:
        a :class:`DenoiserField` of float64 CPU tensors.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"the field's quantity must be one of {', '.join(QUANTITIES)}, got {quantity!r}")
    if not 0 <= int(t) < diffusion.num_timesteps:
        raise ValueError(f"the timestep must lie in 0..{diffusion.num_timesteps - 1}, got {t}")
    if data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"the field is drawn for 2-D points, got data of shape {tuple(data.shape)}")
    shift_, scale_ = _transform(shift, scale)
    points = grid_points(bounds, n)
    x_model = (points - shift_) / scale_
    device = data.device
    steps = torch.full((x_model.shape[0],), int(t), dtype=torch.long, device=device)
    x_in = x_model.to(device=device, dtype=_model_dtype(model))
    x_ideal = x_model.to(device=device, dtype=data.dtype)
    with torch.no_grad():
        if guide is None:
            best_x0 = ideal_x0(data, x_ideal, steps, diffusion)
        else:
            y = torch.full((x_in.shape[0],), int(guide.label), dtype=torch.long, device=device)
            model = GuidedModel(model, y, guide.guidance, guide.num_classes,
                                learned_variance=diffusion.variance == "learned")
            best_x0 = guided_ideal_x0(data, guide.labels, guide.label, guide.guidance, x_ideal, steps, diffusion)
            if diffusion.clip_x0:  # a guided x0 extrapolates past the data; the sampler clips it (M23), as here
                best_x0 = diffusion.clip_to_range(best_x0)
        net_x0 = diffusion.p_mean_variance(model(x_in, steps), x_in, steps)["x0_hat"].double().cpu()
        best_x0 = best_x0.double().cpu()
    if quantity == "x0":
        network, ideal = (net_x0 - x_model) * scale_, (best_x0 - x_model) * scale_
    else:  # Tweedie: grad log q_t(x) = (sqrt(abar) x0_hat - x) / (1 - abar), M30
        abar = float(diffusion.alphas_cumprod[int(t)])
        network = (math.sqrt(abar) * net_x0 - x_model) / (1.0 - abar) / scale_
        ideal = (math.sqrt(abar) * best_x0 - x_model) / (1.0 - abar) / scale_
    difference = (network - ideal).norm(dim=1).reshape(n, n)
    return DenoiserField(int(t), quantity, points[:n, 0].clone(), points[::n, 1].clone(), points, network, ideal,
                         difference, None if guide is None else int(guide.label),
                         0.0 if guide is None else float(guide.guidance))


def error_timesteps(num_timesteps: int, count: int) -> list[int]:
    """``count`` 0-based timesteps spread evenly over 0..T-1, both ends included (fewer when T is small)."""
    if count < 2 or num_timesteps < 2:
        return [0] if num_timesteps < 2 or count < 2 else [0, num_timesteps - 1]
    return sorted({round(i * (num_timesteps - 1) / (count - 1)) for i in range(count)})


def error_over_t(
    model: Model,
    diffusion: GaussianDiffusion,
    data: torch.Tensor,
    timesteps: Sequence[int] | None = None,
    num_probe: int = 256,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's mean distance to the ideal denoiser against t (M33), in model space.

    err(t) = mean_i ||x0_hat_theta(x_t^i, t) - x0*(x_t^i, t)||, x_t^i = sqrt(abar_t) x_0^i + sqrt(1 - abar_t) eps^i
    (M5), x_0^i the first ``num_probe`` training examples, one seeded noise draw per example and t (the same for
    every checkpoint, so two are compared on the same inputs).

    Args:
        data: (N, ...) training examples in model space. timesteps: 0-based (default: 20 spread over 0..T-1).
    Returns:
        (t (K,) int64 PAPER timesteps tau + 1, 1..T, as the trajectory shows them; errors (K,) float64).
    """
    taus = list(timesteps) if timesteps is not None else error_timesteps(diffusion.num_timesteps, 20)
    if not taus:
        raise ValueError("error_over_t needs at least one timestep")
    probe = data[: max(1, int(num_probe))]
    errors = x0_error_over_t(model, data, probe, taus, diffusion, seed=seed, statistic="mean_distance")
    return torch.tensor([tau + 1 for tau in taus], dtype=torch.int64), errors


@dataclass(frozen=True)
class DensityGrid:
    """log p_theta(x) on an n x n grid, in the data's coordinates (nats per point).

    Attributes:
        xs, ys: (n,) the grid. log_p: (n, n) float64, row i = ys[i]. extra_log_p: (M,) the extra points' log p.
        extra_error: the error bar of mean(extra_log_p), nats per point: |mean log p_K - mean log p_{K/2}| over the
            extra points (:func:`~ddpm_studio.core.analysis.ode_likelihood.solver_error`, M32); None where K < 4 or
            there are no extra points.
    """

    xs: torch.Tensor
    ys: torch.Tensor
    log_p: torch.Tensor
    extra_log_p: torch.Tensor
    extra_error: float | None = None


def iter_density_grid(
    model: Model,
    diffusion: GaussianDiffusion,
    bounds: Bounds,
    n: int = DEFAULT_DENSITY_SIZE,
    num_levels: int | None = None,
    shift: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    extra: torch.Tensor | None = None,
    model_dtype: torch.dtype | None = None,
) -> Iterator[OdeProgress | DensityGrid]:
    """The probability-flow ODE's log-density (M32) on the n x n grid and on ``extra`` points, in one ODE pass,
    then the ``extra`` points again with K // 2 levels for the error bar (:attr:`DensityGrid.extra_error`).

    Args:
        bounds: the grid's box in data coordinates. extra: (M, 2) more points in DATA coordinates (held-out data).
        num_levels: trained levels the solver visits (None: all T; see :func:`~ddpm_studio.core.analysis.ode_likelihood.
            ode_levels`).
    Yields:
        :class:`OdeProgress` per solver step of both passes (one count, K + K // 2 in all), then a
        :class:`DensityGrid`.
    """
    shift_, scale_ = _transform(shift, scale)
    points = grid_points(bounds, n)
    extra_ = torch.zeros(0, 2, dtype=torch.float64) if extra is None else extra.detach().cpu().double()
    x_model = (torch.cat([points, extra_]) - shift_) / scale_
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    if params:
        x_model = x_model.to(params[0].device)
    levels = len(ode_levels(diffusion.alphas_cumprod, num_levels))
    coarse = coarse_levels(levels) if extra_.shape[0] else None
    total = levels + (coarse or 0)  # one progress count over both passes: the bar does not restart
    log_p = log_p_coarse = None
    for record in iter_ode_log_likelihood(model, diffusion, x_model, num_levels, model_dtype=model_dtype):
        if isinstance(record, OdeProgress):
            yield OdeProgress(record.done, total)
        else:
            log_p = log_density_in_data_space(record[0].cpu(), None if scale is None else scale_)
    assert log_p is not None
    if coarse is not None:  # the held-out points only: the grid's own error is not reported
        for record in iter_ode_log_likelihood(model, diffusion, x_model[n * n :], coarse, model_dtype=model_dtype):
            if isinstance(record, OdeProgress):
                yield OdeProgress(levels + record.done, total)
            else:
                log_p_coarse = record[0].cpu()  # model space: the log-scale shift cancels in the difference
    error = None
    if log_p_coarse is not None:
        error = solver_error(log_density_in_data_space(log_p_coarse, None if scale is None else scale_),
                             log_p[n * n :])
    yield DensityGrid(points[:n, 0].clone(), points[::n, 1].clone(), log_p[: n * n].reshape(n, n),
                      log_p[n * n :].clone(), error)
