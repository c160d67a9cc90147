"""The jobs behind the "What the network learned" dock: generators that drive the core and yield display copies.

Each job reads the model (the presenter starts them with reads={MODEL}, so none runs while training writes the
weights) and yields numpy arrays it owns: :func:`field_job` (the learned and ideal x0_hat field, M30, M38),
:func:`error_job` (the error against the ideal denoiser over t), :func:`memorization_job` (M31) and
:func:`density_job` (the ODE likelihood, M32, beside the bound). :mod:`ddpm_studio.gui.presenters.learned` starts
them and feeds the dock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ddpm_studio.core.analysis.bound import BoundProgress, BoundResult, iter_bound
from ddpm_studio.core.analysis.ideal import IdealDenoiser
from ddpm_studio.core.analysis.learned import (
    FieldGuide,
    denoiser_field,
    error_over_t,
    error_timesteps,
    iter_density_grid,
)
from ddpm_studio.core.analysis.memorization import memorization
from ddpm_studio.core.analysis.ode_likelihood import OdeProgress
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline, full_precision
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.trajectory_store import scatter_bounds

#: The field's box: the data's box widened by this factor about its centre (noisy states lie around the data).
FIELD_BOX_WIDENING = 1.5
#: Held-out points the density view's mean (and the bound beside it) averages at most.
DENSITY_HELDOUT = 512


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of the named stage ("sampling", "ideal samples", "ODE", "bound")."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class FieldRequest:
    """Which field to draw: 0-based t, arrows, grid size and, for a conditional run, the class (None: "all", the
    unconditional field) and w; ``class_name`` is what the caption calls the class."""

    t: int
    quantity: str
    size: int
    conditional: bool = False
    label: int | None = None
    guidance: float = 0.0
    class_name: str = ""

    @property
    def key(self) -> tuple:
        """What the field depends on: the field cache's key."""
        return (self.t, self.quantity, self.size, self.conditional, self.label, self.guidance)


@dataclass(frozen=True)
class FieldDisplay:
    """A field to draw (data coordinates): grid (n*n, 2), arrows (n*n, 2), difference (n, n), box, and the
    request it answers (0-based t, arrows, class and w)."""

    request: FieldRequest
    points: np.ndarray
    network: np.ndarray
    ideal: np.ndarray
    difference: np.ndarray
    bounds: tuple[float, float, float, float]

    @property
    def t(self) -> int:
        return self.request.t

    @property
    def quantity(self) -> str:
        return self.request.quantity


@dataclass(frozen=True)
class ErrorPoint:
    """One timestep's network-to-ideal mean distance (paper t, model space)."""

    t: int
    error: float


@dataclass(frozen=True)
class MemorizationDisplay:
    """uint8 (M, H, W, C) samples, their nearest training images, the ideal denoiser's samples, and the numbers."""

    samples: np.ndarray
    nearest: np.ndarray
    copies: np.ndarray
    ideal: np.ndarray
    copy_rate: float
    ideal_copy_rate: float
    ratio: float
    nn_ratio_median: float
    num_train: int


@dataclass(frozen=True)
class DensityDisplay:
    """log p on the grid (n, n) over ``bounds``, held-out points, their ODE nats/dim and the bound's.

    ``ode_error`` is the ODE value's solver error bar in nats/dim (K against K // 2 levels, M32), None below K = 4;
    ``ode_levels`` is K.
    """

    log_p: np.ndarray
    bounds: tuple[float, float, float, float]
    heldout: np.ndarray
    ode_nats_per_dim: float
    bound_nats_per_dim: float
    bound_stderr: float
    ode_error: float | None = None
    ode_levels: int = 0


@dataclass(frozen=True)
class Ended:
    """A job's last item: whether it stopped before the end."""

    view: str
    stopped: bool


def field_box(reference: np.ndarray | None) -> tuple[float, float, float, float]:
    """The data's square box widened by :data:`FIELD_BOX_WIDENING` about its centre."""
    x0, x1, y0, y1 = scatter_bounds(reference)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, FIELD_BOX_WIDENING * (x1 - x0) / 2
    return (cx - half, cx + half, cy - half, cy + half)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().clone().numpy()


def field_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, request: FieldRequest, *,
              stop: threading.Event):
    """One :class:`FieldDisplay` for ``request`` over the data's widened box, then :class:`Ended`.

    A request with a class draws the guided field (M34) beside the guided ideal denoiser of the class's and all
    training points (M38); without one a conditional network runs as its null class, the unconditional model.
    """
    pipe = pipeline()
    pipe.require_ddpm("The learned field")
    bounds = field_box(reference_points(dataset))
    model = full_precision(pipe.network, pipe.device)
    data = dataset.train.to(pipe.device)
    guide = None
    if request.label is not None and pipe.num_classes:
        if dataset.labels is None:  # the run's data came back without its classes: no class's ideal to draw
            raise ValueError(f"{dataset.name} has no class labels here, so the guided field cannot be drawn")
        guide = FieldGuide(request.label, request.guidance, dataset.labels.to(pipe.device), pipe.num_classes)
    field = denoiser_field(model, pipe.diffusion, data, request.t, bounds, request.size, request.quantity,
                           pipe.shift, pipe.scale, guide)
    yield FieldDisplay(request, _numpy(field.points), _numpy(field.network), _numpy(field.ideal),
                       _numpy(field.difference), bounds)
    yield Ended("field", False)


def error_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, count: int, num_probe: int, seed: int,
              *, stop: threading.Event):
    """:class:`ErrorPoint` per timestep (from t = T down, the same noise draws per t as one call), then Ended."""
    pipe = pipeline()
    pipe.require_ddpm("The error over t")
    model, data = full_precision(pipe.network, pipe.device), dataset.train.to(pipe.device)
    for tau in reversed(error_timesteps(pipe.diffusion.num_timesteps, count)):
        ts, errors = error_over_t(model, pipe.diffusion, data, [tau], num_probe, seed=seed + tau)
        yield ErrorPoint(int(ts[0]), float(errors[0]))
        if stop.is_set():
            yield Ended("error", True)
            return
    yield Ended("error", False)


def _draw(pipe: DiffusionPipeline, stage: str, num: int, steps: int, seed: int, stop: threading.Event,
          model=None):
    """Sample ``num`` items (yielding Progress per step); the last item is the final x_0 or None when stopped."""
    process = pipe.sample(num, num_steps=steps, seed=seed, model=model)
    last = None
    for i, record in enumerate(process):
        last = record
        yield Progress(stage, i + 1, steps)
        if stop.is_set():
            yield None
            return
    yield None if last is None else last.x.detach()


def memorization_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, num: int, steps: int,
                     seed: int, *, stop: threading.Event):
    """Samples, their nearest training images and copy rate (M31), and the ideal denoiser's samples (M30)."""
    pipe = pipeline()
    pipe.require_ddpm("The memorization view (with its ideal denoiser)")
    train = dataset.train.to(pipe.device)
    finals = []
    for stage, model in (("sampling", None), ("ideal samples", IdealDenoiser(train, pipe.diffusion))):
        final = None
        for item in _draw(pipe, stage, num, steps, seed, stop, model):
            if isinstance(item, Progress):
                yield item
            else:
                final = item
        if final is None:
            yield Ended("memorization", True)
            return
        finals.append(final)
    result, ideal = (memorization(f.clamp(-1, 1), train) for f in finals)
    copies = (result.distances[:, 0] < result.ratio * result.distances[:, 1]).cpu().numpy()
    yield MemorizationDisplay(to_display(pipe, finals[0]), to_display(pipe, train[result.nearest]), copies,
                              to_display(pipe, finals[1]), result.copy_rate, ideal.copy_rate, result.ratio,
                              result.nn_ratio_median, result.num_train)
    yield Ended("memorization", False)


def density_job(pipeline: Callable[[], DiffusionPipeline], dataset: DataSet, n: int, levels: int, seed: int, *,
                stop: threading.Event):
    """log p on the grid and on held-out points by the ODE (M32), then the bound (M14) on the same points."""
    pipe = pipeline()
    pipe.require_ddpm("The density by the ODE and the bound")
    bounds = scatter_bounds(reference_points(dataset))
    heldout = dataset.heldout[:DENSITY_HELDOUT]
    heldout_data = pipe.to_data_space(heldout).double()
    grid = None
    model = full_precision(pipe.network, pipe.device)
    for record in iter_density_grid(model, pipe.diffusion, bounds, n, levels, pipe.shift, pipe.scale,
                                    extra=heldout_data, model_dtype=torch.float32):
        if isinstance(record, OdeProgress):
            yield Progress("ODE", record.done, record.total)
            if stop.is_set():
                yield Ended("density", True)
                return
        else:
            grid = record
    assert grid is not None
    bound = None
    for record in iter_bound(pipe, heldout.to(pipe.device), seed=seed):
        if isinstance(record, BoundProgress):
            yield Progress("bound", record.done, record.total)
            if stop.is_set():
                yield Ended("density", True)
                return
        elif isinstance(record, BoundResult):
            bound = record
    assert bound is not None
    dims = heldout_data.shape[1]
    ode = float(-grid.extra_log_p.mean()) / dims
    error = None if grid.extra_error is None else grid.extra_error / dims  # per point -> per dimension, as ode
    yield DensityDisplay(_numpy(grid.log_p), bounds, heldout_data.float().numpy(), ode, bound.per_dim,
                         bound.stderr, error, levels)
    yield Ended("density", False)
