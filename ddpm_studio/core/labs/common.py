"""What the labs share: a fixed-budget run config, loading data once per seed, sampling, and the quality ratio.

Every lab trains with the project's :class:`~ddpm_studio.core.training.trainer.Trainer` (through
:meth:`~ddpm_studio.core.labs.context.LabContext.train`), samples with the pipeline's samplers and scores with
:class:`~ddpm_studio.core.scores.quality.QualityScorer`; nothing here is a second copy of any of them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Generator

import torch

from ddpm_studio.core.compare.settings import compare_config
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.labs.context import LabContext, LabProgress, finite_or_inf
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.scores.quality import QualityScorer

#: A lab's samples are drawn from this seed offset (per training seed), apart from the training noise.
SAMPLE_SEED_OFFSET = 1000


def lab_config(ctx: LabContext, data: str, kind: str, steps: int, seed: int, process: str = "ddpm") -> RunConfig:
    """The defaults for the data's kind with a fixed budget: ``steps`` steps, no early stop (a lab compares
    equal budgets), no previews, one checkpoint at the end, an EMA short enough for the budget
    (:func:`~ddpm_studio.core.compare.settings.compare_config`), on the lab's device."""
    config = compare_config(data, kind, steps, seed=seed)
    if process == "flow":
        from ddpm_studio.core.config import default_config

        flow = default_config(data, kind, process="flow")
        config.process = copy.deepcopy(flow.process)
        config.train.t_power, config.train.snr_gamma = 1.0, 0.0
    config.train.early_stop = False
    config.train.device = ctx.device
    if "image_size" in ctx.budget.settings:
        config.data.image_size = ctx.setting("image_size")
    return config


def load_data(ctx: LabContext, data: str, seed: int, subset: int | None = None) -> DataSet:
    """The data set for ``seed`` (its train / held-out split follows the seed), at the budget's image size."""
    size = ctx.budget.settings.get("image_size")
    return load_dataset(data, image_size=size, seed=seed, subset=subset)


def final_samples(
    pipeline: DiffusionPipeline, count: int, seed: int, **kwargs
) -> torch.Tensor:
    """``count`` final samples (model space, CPU) from the seed's noise; extra arguments go to ``sample``."""
    with torch.no_grad():
        return pipeline.sample_final(count, seed=SAMPLE_SEED_OFFSET + seed, **kwargs)


def quality_ratio(scorer: QualityScorer, samples: torch.Tensor) -> float:
    """score / floor (M39 for points: sliced Wasserstein; features' Fréchet distance for images): 1 is what real
    data scores, lower is better; +inf when the samples are all non-finite (a diverged sampler)."""
    return score_ratio(scorer, scorer.score(samples))


def score_ratio(scorer: QualityScorer, scores: dict[str, float]) -> float:
    """:func:`quality_ratio` of scores already computed (a lab that reads other lenses of the same scores)."""
    return finite_or_inf(scores["score"] / scorer.floor) if scorer.floor > 0 else math.nan


def sample_progress(
    ctx: LabContext, stage: str, pipeline: DiffusionPipeline, count: int, seed: int, unit: float = 0.0, **kwargs
) -> Generator[LabProgress, None, torch.Tensor]:
    """Like :func:`final_samples`, yielding progress per network evaluation; returns the samples."""
    final = None
    with torch.no_grad():
        for step in pipeline.sample(count, seed=SAMPLE_SEED_OFFSET + seed, **kwargs):
            final = step.x
            yield ctx.progress(stage, step.index + 1, step.num_steps, unit)
    assert final is not None
    ctx.finish(unit)
    return final.detach().cpu()
