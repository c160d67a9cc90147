"""Evaluating a trained run: the exact variational bound, sample-quality scores and the sampling-step sweep.

Each long job is a generator, the seam between the core and its presenters (CLI progress bar, studio dock,
tests): it yields small progress records and, last, its result. A consumer cancels by no longer pulling (and
calling ``close()``); nothing is left half-written. One module per job:

- :mod:`~ddpm_studio.core.evaluation.bound`: :func:`iter_bound`, the bound of MATH.md M14-M17 with every t on
  held-out data, split into L_T, the sum of the L_{t-1} and L_0, plus the per-timestep terms; bits/dim for
  images, nats/dim in the data's own coordinates for 2-D points.
- :mod:`~ddpm_studio.core.evaluation.quality`: :class:`QualityScorer`, sliced Wasserstein distance (points) or a
  Fréchet distance in the features of a project-trained network (images), next to the score real data gets.
- :mod:`~ddpm_studio.core.evaluation.sweep`: :func:`iter_step_sweep`, that score against the number of network
  evaluations K for each sampling method, every method from the same x_T.
- :mod:`~ddpm_studio.core.evaluation.guidance_sweep`: :func:`iter_guidance_sweep`, class accuracy and that score
  against the classifier-free guidance scale w (M34), every w from the same x_T.
- :mod:`~ddpm_studio.core.evaluation.heldout`: :func:`load_run_dataset`, the data a run was trained on.

Every name is re-exported here, so ``from ddpm_studio.core.evaluation import iter_bound`` keeps working.
"""

from ddpm_studio.core.evaluation.bound import BOUND_BATCH_SIZE, BoundProgress, BoundResult, evaluate_bound, iter_bound
from ddpm_studio.core.evaluation.guidance_sweep import (
    SWEEP_GUIDANCE,
    GuidanceProgress,
    GuidanceRow,
    iter_guidance_sweep,
)
from ddpm_studio.core.evaluation.heldout import load_run_dataset
from ddpm_studio.core.evaluation.quality import COVERAGE_SHARE, QualityScorer
from ddpm_studio.core.evaluation.sweep import SWEEP_STEPS, SweepProgress, SweepRow, iter_step_sweep, sweep_plan

__all__ = [
    "BOUND_BATCH_SIZE",
    "COVERAGE_SHARE",
    "SWEEP_GUIDANCE",
    "SWEEP_STEPS",
    "BoundProgress",
    "BoundResult",
    "GuidanceProgress",
    "GuidanceRow",
    "QualityScorer",
    "SweepProgress",
    "SweepRow",
    "evaluate_bound",
    "iter_bound",
    "iter_guidance_sweep",
    "iter_step_sweep",
    "load_run_dataset",
    "sweep_plan",
]
