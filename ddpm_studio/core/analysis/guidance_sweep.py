"""The guidance sweep: fidelity against diversity as the classifier-free guidance scale w grows (MATH.md M34).

Every w samples the same class-balanced requests from the same x_T, so the rows differ only by w. Each row holds
the share of samples a download-free classifier reads as the requested class (fidelity: the feature network's
classifier for digits, the nearest training point's label for 2-D toys), the quality score of
:class:`~ddpm_studio.core.scores.quality.QualityScorer` (Fréchet distance in its features for images, sliced
Wasserstein for points; it grows when samples lose the data's spread) and, for labelled images, class coverage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.guidance import GuidanceError, check_guidance, labels_for
from ddpm_studio.core.scores.quality import QualityScorer

#: The default scales of ``evaluate --guidance-sweep`` and the studio's sweep.
SWEEP_GUIDANCE: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class GuidanceProgress:
    """A sampling step of one sweep row: ``index`` of ``num_steps`` done for row ``row`` of ``num_rows``."""

    guidance: float
    row: int
    num_rows: int
    index: int
    num_steps: int


@dataclass(frozen=True)
class GuidanceRow:
    """The samples of one guidance scale and how they score.

    Attributes:
        guidance: w. accuracy: share of samples classified as their requested class (NaN without labels).
        score, floor: the :class:`QualityScorer` score of the samples and of real held-out data (lower is better).
        scores: every value the scorer returned (coverage, confidence, off_support ...). seconds: sampling time.
        samples: the final samples in model space (N, *data_shape), on the CPU. labels: the requested classes (N,).
    """

    guidance: float
    accuracy: float
    score: float
    floor: float
    seconds: float
    samples: torch.Tensor
    labels: torch.Tensor
    scores: dict[str, float] = field(default_factory=dict)

    def record(self) -> dict[str, float]:
        """One table row: w, accuracy, score, floor, seconds and the scorer's other values (for CSV / JSON)."""
        extras = {k: v for k, v in self.scores.items() if k not in ("score", "floor")}
        return {"guidance": self.guidance, "accuracy": self.accuracy, "score": self.score, "floor": self.floor,
                "seconds": self.seconds, **extras}


def class_accuracy(predicted: torch.Tensor | None, labels: torch.Tensor) -> float:
    """Share of ``predicted`` (N,) equal to the requested ``labels`` (N,); NaN when there is no classifier."""
    if predicted is None or labels.numel() == 0:
        return float("nan")
    return float((predicted == labels.cpu()).double().mean())


def iter_guidance_sweep(
    pipeline: DiffusionPipeline,
    scales: Sequence[float],
    num_samples: int,
    scorer: QualityScorer,
    label: int | None = None,
    seed: int = 0,
    num_steps: int | None = None,
    method: str = "ancestral",
    spacing: str = "linspace",
) -> Iterator[GuidanceProgress | GuidanceRow]:
    """Sample at every w of ``scales`` from one x_T and score each set (M34).

    Args:
        scales: guidance scales w >= 0, in the order wanted.
        num_samples: samples per w; with ``label`` None they are spread over the K classes in equal rows (rounded
            up to a multiple of K), so the quality score compares class-balanced samples with the data.
        label: one class for every sample, or None for all classes.
        seed, num_steps, method, spacing: as :meth:`DiffusionPipeline.sample`; the seed fixes x_T for every w.
    Yields:
        a :class:`GuidanceProgress` per network evaluation and a :class:`GuidanceRow` per w; stop pulling to cancel.
    Raises:
        GuidanceError: an unconditional run, a bad w.
    """
    num_classes = pipeline.num_classes
    if not num_classes:
        raise GuidanceError("a guidance sweep needs a conditional run (train with --conditional)")
    scales = [check_guidance(w) for w in scales]
    labels = labels_for(label, num_samples, num_classes)
    count = int(labels.shape[0])
    for row, w in enumerate(scales):
        started = time.perf_counter()
        final = None
        steps = pipeline.sample(count, num_steps=num_steps, method=method, seed=seed, spacing=spacing,
                                labels=labels, guidance=w)
        for step in steps:
            final = step.x
            yield GuidanceProgress(guidance=w, row=row, num_rows=len(scales), index=step.index + 1,
                                   num_steps=step.num_steps)
        assert final is not None
        seconds = time.perf_counter() - started
        samples = final.detach().cpu()
        scores = scorer.score(samples)
        yield GuidanceRow(
            guidance=w,
            accuracy=class_accuracy(scorer.predicted_classes(samples), labels),
            score=scores["score"],
            floor=scores["floor"],
            seconds=seconds,
            samples=samples,
            labels=labels,
            scores=scores,
        )
