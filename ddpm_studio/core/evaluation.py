"""Evaluating a trained run: the exact variational bound, sample-quality scores and the sampling-step sweep.

Each long job is a generator, the seam between the core and its presenters (CLI progress bar, studio dock,
tests): it yields small progress records and, last, its result. A consumer cancels by no longer pulling (and
calling ``close()``); nothing is left half-written.

- :func:`iter_bound`: the bound of MATH.md M14-M17 with every t, on held-out data, split into L_T, the sum of
  the L_{t-1} and L_0, plus the per-timestep terms; bits/dim for images, nats/dim in the data's own coordinates
  for 2-D points.
- :class:`QualityScorer`: sliced Wasserstein distance (points) or a Fréchet distance in the features of a
  project-trained network (images, :mod:`ddpm_studio.core.features`), next to the score real data gets.
- :func:`iter_step_sweep`: that score against the number of network evaluations K for each sampling method
  (ancestral M20-M21, DDIM M22, DPM-Solver++ M27-M29, Heun M24), every method from the same x_T.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.features import (
    FEATURE_TRAIN_STEPS,
    FeatureNetInfo,
    class_probabilities,
    extract_features,
    load_or_train_feature_net,
)
from ddpm_studio.core.metrics import (
    frechet_distance,
    gaussian_stats,
    off_support_fraction,
    sliced_wasserstein,
)
from ddpm_studio.core.pipeline import DiffusionPipeline, FloatOutput
from ddpm_studio.core.sampling import METHODS, SPACINGS, max_num_steps
from ddpm_studio.core.training.config import RunConfig

#: Examples per forward pass of the bound: bounds memory, not the result's meaning.
BOUND_BATCH_SIZE = 256
#: Default K values of the step sweep (the issue's list); values above a run's T are skipped.
SWEEP_STEPS: tuple[int, ...] = (10, 20, 50, 100, 250, 1000)
#: A class counts as covered when the samples predict it at least this share of its expected frequency.
COVERAGE_SHARE = 1.0 / 3.0


# ---------------------------------------------------------------------------- held-out data
def load_run_dataset(config: RunConfig) -> DataSet:
    """The data set a run was trained on, rebuilt from its config (same seed, hence the same held-out split)."""
    data = config.data
    return load_dataset(
        data.dataset,
        image_size=data.image_size,
        num_points=data.num_points,
        num_images=data.num_images,
        seed=config.train.seed,
    )


# ---------------------------------------------------------------------------- the bound
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
    model = FloatOutput(pipeline.network, pipeline.device).eval()
    model.amp_dtype = None  # full precision even on CUDA: bf16 rounding would bias the small terms near t = 0
    generator = torch.Generator(device=pipeline.device).manual_seed(int(seed))
    # per-example running totals in nats, float64: a thousand small terms are summed
    totals = torch.zeros(num, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, num, batch_size):
            batch = x0[start : start + batch_size].to(pipeline.device)
            totals[start : start + batch.shape[0]] += diffusion.prior_kl(batch).double().cpu()
    prior_per_dim = float(totals.mean()) * factor
    terms = [0.0] * T
    for done, t in enumerate(reversed(range(T)), start=1):
        term_nats = 0.0
        # no_grad around the work only, never around a yield: grad mode is thread state the consumer shares
        with torch.no_grad():
            for start in range(0, num, batch_size):
                batch = x0[start : start + batch_size].to(pipeline.device)
                steps = torch.full((batch.shape[0],), t, dtype=torch.long, device=pipeline.device)
                noise = torch.randn(batch.shape, generator=generator, device=pipeline.device, dtype=batch.dtype)
                nats = diffusion.vlb_terms(model, batch, steps, noise).double().cpu()
                totals[start : start + batch.shape[0]] += nats
                term_nats += float(nats.sum())
        terms[t] = term_nats / num * factor
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


# ---------------------------------------------------------------------------- sample quality
def _quantize_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Model-space images -> the nearest 8-bit grid values in [-1, 1], what a saved PNG of them would hold."""
    return torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


class QualityScorer:
    """Sample-quality scores that need no download, next to the score real held-out data gets (the floor).

    Points (scores in the data's own coordinates):
        - "score": sliced Wasserstein distance SW2 (:func:`~ddpm_studio.core.metrics.sliced_wasserstein`)
          between the samples and one half B of the held-out set; "floor": SW2 between the other half A and B,
          i.e. what samples from the true distribution score. The two are comparable when the number of
          samples equals ``sample_count`` = |A|.
        - "off_support": fraction of samples far from every training point
          (:func:`~ddpm_studio.core.metrics.off_support_fraction`); "off_support_floor": the same for half A.
    Images (samples are first rounded to the 8-bit grid, as a saved PNG would be):
        - "score": squared Fréchet distance between Gaussians fitted to the features
          (:mod:`~ddpm_studio.core.features`) of the samples and of the training set; "floor": the same for the
          held-out set, i.e. what unseen real images score. Comparable at ``sample_count`` = N_heldout samples
          (the Fréchet distance is biased upwards for small sets, so both must use the same size). This is not
          FID: the features come from a small network trained on this data set, not from Inception on ImageNet,
          so the numbers only compare models scored with the same feature network.
        - labelled sets (digits) also get "confidence" (mean top-class probability of the feature classifier)
          and "coverage": the fraction of classes predicted for at least COVERAGE_SHARE (1/3) of their share
          in the training labels (a model that draws only a few digits scores low); with "_floor" values for
          the held-out set.
    Every result also has "nonfinite": the fraction of samples holding NaN / inf (dropped before scoring).

    Args:
        dataset: the run's data set (model space), e.g. from :func:`load_run_dataset`.
        cache_dir: where the image feature network is cached (a run folder); None: train it every time.
        device: where to run the feature network.
        seed: seeds the held-out halves (points) and the feature network's training (images).
        feature_steps: the feature network's training budget.
    """

    def __init__(
        self,
        dataset: DataSet,
        cache_dir: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        feature_steps: int = FEATURE_TRAIN_STEPS,
    ) -> None:
        self.dataset = dataset
        self.kind = dataset.kind
        self.device = torch.device(device)
        self.feature_info: FeatureNetInfo | None = None
        self.floor_extras: dict[str, float] = {}
        if self.kind == "points":
            self.metric = "sliced_wasserstein"
            heldout = dataset.to_data_space(dataset.heldout).double().numpy()
            if heldout.shape[0] < 2:
                raise ValueError(f"{dataset.name}: a floor needs at least 2 held-out points, got {heldout.shape[0]}")
            order = np.random.default_rng(seed).permutation(heldout.shape[0])
            half = heldout.shape[0] // 2
            self._half_a, self._half_b = heldout[order[:half]], heldout[order[half:]]
            self._support = dataset.to_data_space(dataset.train).double().numpy()
            self.floor = sliced_wasserstein(self._half_a, self._half_b)
            self.floor_extras["off_support"] = off_support_fraction(self._half_a, self._support)
            self.sample_count = half
        else:
            self.metric = "frechet_features"
            self._net, self.feature_info = load_or_train_feature_net(
                dataset, cache_dir, device=self.device, seed=seed, steps=feature_steps
            )
            self._train_stats = gaussian_stats(extract_features(self._net, dataset.train))
            if dataset.labels is not None:
                counts = torch.bincount(dataset.labels, minlength=self._net.num_classes or 0).double()
                self._class_share = counts / counts.sum()
            heldout_scores = self._image_scores(dataset.heldout)
            self.floor = heldout_scores.pop("score")
            self.floor_extras.update(heldout_scores)
            self.sample_count = int(dataset.heldout.shape[0])

    def _image_scores(self, images: torch.Tensor) -> dict[str, float]:
        features = extract_features(self._net, images)
        scores = {"score": frechet_distance(*gaussian_stats(features), *self._train_stats)}
        if self.dataset.labels is not None:
            probabilities = class_probabilities(self._net, images)
            scores["confidence"] = float(probabilities.max(dim=1).values.mean())
            predicted = torch.bincount(probabilities.argmax(dim=1), minlength=probabilities.shape[1]).double()
            share = predicted / predicted.sum()
            scores["coverage"] = float((share >= COVERAGE_SHARE * self._class_share).double().mean())
        return scores

    def score(self, samples: torch.Tensor) -> dict[str, float]:
        """Score model-space samples (N, *data_shape).

        Returns:
            {"score", "floor", "nonfinite", ...extras and their "<name>_floor"}; "score" is NaN when fewer than
            2 samples are finite.
        """
        samples = samples.detach().to("cpu", torch.float32)
        finite = torch.isfinite(samples.reshape(samples.shape[0], -1)).all(dim=1)
        result: dict[str, float] = {"nonfinite": float(1.0 - finite.double().mean())}
        kept = samples[finite]
        if kept.shape[0] < 2:
            result["score"] = float("nan")
        elif self.kind == "points":
            points = self.dataset.to_data_space(kept).double().numpy()
            result["score"] = sliced_wasserstein(points, self._half_b)
            result["off_support"] = off_support_fraction(points, self._support)
        else:
            result.update(self._image_scores(_quantize_to_pixels(kept)))
        result["floor"] = self.floor
        result.update({f"{name}_floor": value for name, value in self.floor_extras.items()})
        return result


def quality_scores(
    samples: torch.Tensor, dataset: DataSet, cache_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> dict[str, float]:
    """One-off :meth:`QualityScorer.score` of model-space samples (build a scorer to score many sets)."""
    return QualityScorer(dataset, cache_dir=cache_dir, seed=seed).score(samples)


# ---------------------------------------------------------------------------- step sweep
@dataclass(frozen=True)
class SweepProgress:
    """A sampling step of one sweep point.

    Attributes:
        method, num_steps: the point being sampled. row: its index among ``num_rows`` points.
        index: sampling steps done for this point (1..num_steps).
    """

    method: str
    num_steps: int
    row: int
    num_rows: int
    index: int


@dataclass(frozen=True)
class SweepRow:
    """The quality of ``num_samples`` samples drawn with ``num_steps`` network evaluations of ``method``.

    Attributes:
        num_steps: network evaluations (NFE) per sample, for every method.
        score, floor: see :class:`QualityScorer` (lower is better). scores: every value it returned.
        seconds: wall time of the sampling. spacing: the timestep grid.
    """

    method: str
    num_steps: int
    num_samples: int
    score: float
    floor: float
    seconds: float
    scores: dict[str, float] = field(default_factory=dict)
    spacing: str = "linspace"


def sweep_plan(ks: Sequence[int], methods: Sequence[str], num_timesteps: int) -> list[tuple[str, int]]:
    """The (method, K) points of a sweep, K ascending within each method; a K above what the method can use
    (T, or 2T - 1 for Heun: :func:`~ddpm_studio.core.sampling.max_num_steps`) is skipped (it cannot run).

    Raises:
        ValueError: an unknown method or a K < 1.
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown sampling method {method!r}; choose from {', '.join(METHODS)}")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"every K of the sweep must be a positive integer, got {k!r}")
    ordered = sorted(set(ks))
    return [
        (method, k) for method in dict.fromkeys(methods) for k in ordered if k <= max_num_steps(method, num_timesteps)
    ]


def iter_step_sweep(
    pipeline: DiffusionPipeline,
    ks: Sequence[int],
    methods: Sequence[str],
    num_samples: int,
    scorer: QualityScorer,
    seed: int = 0,
    eta: float = 0.0,
    spacing: str = "linspace",
) -> Iterator[SweepProgress | SweepRow]:
    """Sample with every K of ``ks`` and every method and score each set.

    Every point starts from the same x_T (same ``seed``), whatever its method or K, so differences between
    them are not sampling noise of the start. Yields a :class:`SweepProgress` per network evaluation and a
    :class:`SweepRow` per finished point (in :func:`sweep_plan` order); stop pulling to cancel.

    Args:
        ks: network evaluations per sample; those a method cannot use are skipped (:func:`sweep_plan`).
        methods: any of :data:`~ddpm_studio.core.sampling.METHODS`. eta: DDIM's eta (0: deterministic).
        num_samples: samples per point (``scorer.sample_count`` makes the score comparable with the floor).
        spacing: the timestep grid of every point, one of :data:`~ddpm_studio.core.sampling.SPACINGS`.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    plan = sweep_plan(ks, methods, pipeline.diffusion.num_timesteps)
    for row, (method, k) in enumerate(plan):
        started = time.perf_counter()
        final = None
        for step in pipeline.sample(num_samples, num_steps=k, method=method, eta=eta, seed=seed, spacing=spacing):
            final = step.x
            yield SweepProgress(method=method, num_steps=k, row=row, num_rows=len(plan), index=step.index + 1)
        assert final is not None
        seconds = time.perf_counter() - started
        scores = scorer.score(final.detach().cpu())
        yield SweepRow(
            method=method,
            num_steps=k,
            num_samples=num_samples,
            score=scores["score"],
            floor=scores["floor"],
            seconds=seconds,
            scores=scores,
            spacing=spacing,
        )
