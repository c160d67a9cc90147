"""What a running comparison yields: progress, one row per finished setting, and the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CompareProgress:
    """Where the comparison is.

    Attributes:
        run: index of the setting being run (0-based) of ``num_runs``; name: its name.
        phase: "prepare" (loading data, the feature network), "train", "bound" or "sample".
        done, total: progress within the phase (steps, timesteps or sampling steps).
        loss: the latest logged training loss of this run (None before the first log).
    """

    run: int
    num_runs: int
    name: str
    phase: str
    done: int
    total: int
    loss: float | None = None


@dataclass(frozen=True)
class CompareRow:
    """One finished setting.

    Attributes:
        status: "ok", or what went wrong ("diverged at step N", "bound failed: ...").
        final_loss: the last logged value of the run's own objective (not comparable across losses).
        bound, bound_unit, prior, diffusion, decoder, jacobian: see
            :class:`~ddpm_studio.core.evaluation.BoundResult` (None when the bound failed).
        score, floor, metric, extras: see :class:`~ddpm_studio.core.evaluation.QualityScorer` (lower score is
            better); extras holds off_support or confidence / coverage. On 2-D data the score leaves out the
            far-off samples (:func:`~ddpm_studio.core.scores.far_off.score_without_far_off`).
        train_seconds: training wall time (the trainer's clock); eval_seconds: bound + sampling + scoring.
        run_dir: the run folder; samples_png: its thumbnail.
        far_off_count, far_off: how many of the scored samples are far off, and their share (2-D data; None
            for images and unscored rows). score_all: the score with every finite sample, far-off ones included.
    """

    name: str
    parameterization: str
    variance: str
    loss: str
    steps: int
    status: str
    final_loss: float | None
    bound: float | None
    bound_unit: str
    prior: float | None
    diffusion: float | None
    decoder: float | None
    jacobian: float | None
    score: float | None
    floor: float
    metric: str
    train_seconds: float
    eval_seconds: float
    run_dir: str
    samples_png: str | None
    extras: dict[str, float] = field(default_factory=dict)
    far_off_count: int | None = None
    far_off: float | None = None
    score_all: float | None = None


@dataclass(frozen=True)
class CompareFinished:
    """Every setting ran: the rows and the two table files."""

    rows: tuple[CompareRow, ...]
    csv_path: Path
    markdown_path: Path


CompareEvent = CompareProgress | CompareRow | CompareFinished
