"""The exact variational bound of a trained run on held-out data (MATH.md M14-M17), as a generator of progress.

:func:`iter_bound` splits the bound into L_T, the sum of the L_{t-1} and L_0, plus the per-timestep terms;
bits/dim for images, nats/dim in the data's own coordinates for 2-D points. The terms come from
:meth:`~ddpm_studio.core.process.diffusion.GaussianDiffusion.iter_vlb`, the one loop over t.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch

from ddpm_studio.core.analysis.defaults import BOUND_BATCH_SIZE
from ddpm_studio.core.pipeline import DiffusionPipeline, full_precision


@dataclass(frozen=True)
class BoundProgress:
    """One timestep of the bound done, over every example.

    Attributes:
        t: the 0-based timestep just evaluated (they run T-1 down to 0; t = 0 is L_0).
        done: timesteps done so far. total: T.
        term: this timestep's term, averaged over examples, per dimension, in ``unit``.
        partial: L_T + the terms done so far (+ the Jacobian for points), per dimension, in ``unit``; it grows
            to the total as t reaches 0.
        unit: "bits/dim" or "nats/dim".
    """

    t: int
    done: int
    total: int
    term: float
    partial: float
    unit: str


@dataclass(frozen=True)
class BoundResult:
    """The full variational bound (M14, M17) on held-out data, per dimension.

    per_dim = prior + diffusion + decoder + jacobian. For images every value is in bits/dim on the 8-bit pixel
    grid (jacobian 0). For 2-D points every value is in nats/dim: prior, diffusion, decoder and terms are in
    model space (standardised coordinates), and ``jacobian`` = mean_d log(scale_d) converts the total to the
    data's own coordinates (model = (data - shift) / scale, so -log p_data = -log p_model + sum_d log scale_d).

    Attributes:
        per_dim: the bound, -log-likelihood upper bound per dimension, in ``unit``.
        unit: "bits/dim" (images) or "nats/dim" (points).
        prior: L_T = KL(q(x_T | x_0) || N(0, I)).
        diffusion: sum over paper t = 2..T of L_{t-1} (0-based t = 1..T-1).
        decoder: L_0 = -log p(x_0 | x_1) (M16).
        jacobian: nats/dim from model space to data space (points); 0 for images.
        terms: T values; terms[t] is the 0-based timestep t's term (terms[0] = decoder).
        stderr: standard error of per_dim over examples (each example's bound uses one noise draw per t).
        num_examples: how many held-out examples were averaged. num_timesteps: T.
    """

    per_dim: float
    unit: str
    prior: float
    diffusion: float
    decoder: float
    jacobian: float
    terms: list[float]
    stderr: float
    num_examples: int
    num_timesteps: int

    def to_dict(self) -> dict:
        """The JSON of ``ddpm-studio evaluate``: the total under ``bits_per_dim`` or ``nats_per_dim``."""
        record = asdict(self)
        total_key = "bits_per_dim" if self.unit == "bits/dim" else "nats_per_dim"
        return {total_key: record.pop("per_dim"), **record}


def _per_dim_factor(kind: str, dims: int) -> tuple[float, str]:
    """Nats summed over D dimensions -> per dimension in the reported unit (M17)."""
    if kind == "images":
        return 1.0 / (dims * math.log(2.0)), "bits/dim"
    return 1.0 / dims, "nats/dim"


def _jacobian_per_dim(pipeline: DiffusionPipeline) -> float:
    """mean_d log(scale_d), in nats/dim: the standardisation's log-Jacobian (0 for images)."""
    if pipeline.kind != "points" or pipeline.scale is None:
        return 0.0
    return float(torch.log(pipeline.scale.double()).mean())


def iter_bound(
    pipeline: DiffusionPipeline,
    x0: torch.Tensor,
    batch_size: int = BOUND_BATCH_SIZE,
    seed: int = 0,
) -> Iterator[BoundProgress | BoundResult]:
    """The exact bound L = L_T + sum_t L_{t-1} + L_0 (M14), every t from T-1 down to 0, on ``x0``.

    Yields one :class:`BoundProgress` per timestep (after that t has been evaluated on every example), then
    one :class:`BoundResult`. Stop pulling to cancel. Cost: T forward passes per ``batch_size`` examples.

    Args:
        pipeline: a trained run (its EMA network is evaluated in full precision, not bf16: the small KL terms
            near t = 0 would otherwise carry rounding error).
        x0: (N, *data_shape) examples in model space, e.g. the run's held-out split.
        batch_size: examples per forward pass (memory only; the result does not depend on it when
            batch_size >= N, and otherwise only through which noise each example draws).
        seed: seeds the noise of q(x_t | x_0); for each t, batches draw in order from one generator.

    Raises:
        ValueError: x0 does not have the pipeline's data shape, or is empty.
    """
    if x0.ndim < 2 or tuple(x0.shape[1:]) != tuple(pipeline.data_shape) or x0.shape[0] == 0:
        raise ValueError(
            f"x0 must have shape (N, {', '.join(map(str, pipeline.data_shape))}) with N >= 1, got {tuple(x0.shape)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    diffusion = pipeline.diffusion
    T = diffusion.num_timesteps
    num = x0.shape[0]
    factor, unit = _per_dim_factor(pipeline.kind, math.prod(pipeline.data_shape))
    jacobian = _jacobian_per_dim(pipeline)
    model = full_precision(pipeline.network, pipeline.device)
    generator = torch.Generator(device=pipeline.device).manual_seed(int(seed))
    # per-example running totals in nats, float64: a thousand small terms are summed
    totals = torch.zeros(num, dtype=torch.float64)
    x0 = x0.to(pipeline.device)
    with torch.no_grad():
        for start in range(0, num, batch_size):
            batch = x0[start : start + batch_size]
            totals[start : start + batch.shape[0]] += diffusion.prior_kl(batch).double().cpu()
    prior_per_dim = float(totals.mean()) * factor
    terms = [0.0] * T
    # iter_vlb draws each t's noise batch by batch from the one generator and yields outside no_grad
    for done, (t, nats) in enumerate(diffusion.iter_vlb(model, x0, generator, batch_size), start=1):
        nats = nats.double().cpu()
        totals += nats
        terms[t] = float(nats.sum()) / num * factor
        yield BoundProgress(
            t=t, done=done, total=T, term=terms[t], partial=float(totals.mean()) * factor + jacobian, unit=unit
        )
    per_example = totals * factor + jacobian
    stderr = float(per_example.std() / math.sqrt(num)) if num > 1 else float("nan")
    yield BoundResult(
        per_dim=float(per_example.mean()),
        unit=unit,
        prior=prior_per_dim,
        diffusion=float(sum(terms[1:])),
        decoder=terms[0],
        jacobian=jacobian,
        terms=terms,
        stderr=stderr,
        num_examples=num,
        num_timesteps=T,
    )


def evaluate_bound(
    pipeline: DiffusionPipeline, x0: torch.Tensor, batch_size: int = BOUND_BATCH_SIZE, seed: int = 0
) -> BoundResult:
    """Run :func:`iter_bound` to the end and return its :class:`BoundResult`."""
    result = None
    for record in iter_bound(pipeline, x0, batch_size=batch_size, seed=seed):
        result = record
    assert isinstance(result, BoundResult)
    return result
