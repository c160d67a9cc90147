"""The learning rate of a step (MATH.md M35), as a pure function of the settings, so the trainer and the rule of
what a continued run does to the cosine horizon (:func:`~ddpm_studio.core.training.resume.lr_horizon_change`)
compute the very same numbers."""

from __future__ import annotations

import math

from ddpm_studio.core.config import TrainConfig


def learning_rate(tc: TrainConfig, step: int) -> float:
    """The rate of optimiser step ``step`` (0-based): a linear warm-up to ``tc.lr`` (Ho et al. 2020 used 5000
    warm-up steps), then constant or a half cosine down to 0 at ``tc.steps`` (``tc.lr_schedule``; Loshchilov &
    Hutter 2017).

    The cosine's horizon is ``tc.steps``, the run's total: a continued run with a new total computes its next
    rates on the new horizon (see :func:`~ddpm_studio.core.training.resume.lr_horizon_change`).
    """
    warm = min(1.0, (step + 1) / tc.warmup) if tc.warmup > 0 else 1.0
    if tc.lr_schedule != "cosine" or step < tc.warmup:
        return tc.lr * warm
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
