"""The sampling-step sweep: sample quality against the number of network evaluations K for each sampling method
(ancestral M20-M21, DDIM M22, DPM-Solver++ M27-M29, Heun M24), every method from the same x_T.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ddpm_studio.core import choices
from ddpm_studio.core.analysis.defaults import SWEEP_STEPS  # noqa: F401 - its old home; the value is in defaults
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.sampling import max_num_steps
from ddpm_studio.core.scores.quality import QualityScorer


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
    (T, or 2T - 2 for Heun: :func:`~ddpm_studio.core.sampling.max_num_steps`) is skipped (it cannot run).

    Raises:
        ValueError: an unknown method or a K < 1.
    """
    for method in methods:
        choices.require("sampling method", method, choices.METHODS)
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
    choices.require("timestep spacing", spacing, choices.SPACINGS)
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
