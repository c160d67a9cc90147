"""The guidance-sweep job (Trajectory → Sweep w…): one seeded x_T sampled at every classifier-free guidance scale w
(MATH.md M34), each row scored and turned into a display copy before it crosses to the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ddpm_studio.core.analysis.guidance_sweep import GuidanceRow, iter_guidance_sweep
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.scores.heldout import load_run_dataset
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.gui.display import SweepDisplayRow, SweepEnded, to_display


def sweep_job(pipeline: Callable[[], DiffusionPipeline], scales: list[float], label: int | None, num_samples: int,
              num_steps: int, method: str, spacing: str, seed: int, dataset: DataSet | None, *,
              stop: threading.Event):
    """The job: every w from one seeded x_T; yields progress, a :class:`SweepDisplayRow` per w, a SweepEnded."""
    pipeline_ = pipeline()
    pipeline_.require_ddpm("Classifier-free guidance")
    data = dataset if dataset is not None else load_run_dataset(pipeline_.config, with_subset=False)
    scorer = QualityScorer(data, device=pipeline_.device)
    metric = "Fréchet distance (features)" if scorer.metric == "frechet_features" else "sliced Wasserstein"
    for item in iter_guidance_sweep(pipeline_, scales, num_samples, scorer, label=label, seed=seed,
                                    num_steps=num_steps, method=method, spacing=spacing):
        if isinstance(item, GuidanceRow):
            yield SweepDisplayRow(item.guidance, to_display(pipeline_, item.samples), item.labels.numpy().copy(),
                                  item.accuracy, item.score, item.floor)
        else:
            yield item
        if stop.is_set():
            yield SweepEnded(metric, True)
            return
    yield SweepEnded(metric, False)
