"""What a lab's experiment works with: its budget, its out folder, training with reuse, and the measurements.

An experiment is a generator over a :class:`LabContext`. It trains through :meth:`LabContext.train` (the project's
:class:`~ddpm_studio.core.training.trainer.Trainer`, one normal run folder per run under ``OUT/runs/``), samples
through the pipelines it gets back, scores with the project's scorers, and records one number per seed and
quantity with :meth:`LabContext.record`. It yields :class:`LabProgress` so that a caller can show a bar and stop
between any two steps.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.io.export import save_png
from ddpm_studio.core.io.runs import RunError, list_checkpoints, read_config
from ddpm_studio.core.labs.recipe import Budget, LabRecipe
from ddpm_studio.core.labs.rules import mean, spread
from ddpm_studio.core.pipeline import DiffusionPipeline, load_pipeline
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.core.training.events import TrainStep
from ddpm_studio.core.training.trainer import Trainer, TrainingDiverged

RUNS_FOLDER = "runs"


@dataclass(frozen=True)
class LabProgress:
    """Where a lab is: the stage in words, progress inside it, and the share of the whole lab done (0..1)."""

    stage: str
    done: int
    total: int
    overall: float


@dataclass
class TrainedRun:
    """A run a lab trained or reused: its pipeline (None when it diverged), folder and training time."""

    key: str
    pipeline: DiffusionPipeline | None
    run_dir: Path
    seconds: float
    reused: bool
    diverged_at: int | None = None


@dataclass
class LabContext:
    """The state of one lab run (see the module docstring).

    Attributes:
        recipe, budget_name, budget: what runs.
        out_dir: the lab's folder; runs go into ``out_dir/runs/<key>/``.
        resume: reuse finished runs (and continue interrupted ones) instead of refusing them.
        device: where to train and sample ("auto": CUDA > MPS > CPU).
        measurements: quantity -> {seed: value}, filled by :meth:`record`.
        tables: Markdown tables the experiment adds to report.md (title -> lines).
        plots: PNG file names written into ``out_dir``.
        notes: sentences the experiment adds to report.md (what it saw on the way).
        work: the experiment's own estimate of its units of work (:meth:`plan`); ``done`` counts finished ones.
    """

    recipe: LabRecipe
    budget_name: str
    budget: Budget
    out_dir: Path
    resume: bool = False
    device: str = "auto"
    measurements: dict[str, dict[int, float]] = field(default_factory=dict)
    tables: dict[str, list[str]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    work: float = 1.0
    done: float = 0.0
    _scorers: dict[int, QualityScorer] = field(default_factory=dict)

    # ------------------------------------------------------------------ budget
    @property
    def seeds(self) -> tuple[int, ...]:
        return self.budget.seeds

    def setting(self, key: str) -> Any:
        """One of the budget's knobs (KeyError naming the lab when the recipe lacks it)."""
        try:
            return self.budget.settings[key]
        except KeyError:
            raise KeyError(f"lab {self.recipe.name}: its {self.budget_name} budget has no setting {key!r}") from None

    # ------------------------------------------------------------------ progress
    def plan(self, units: float) -> None:
        """Declare the lab's work in units (one unit: one training run or one evaluation of comparable cost)."""
        self.work = max(1e-9, float(units))

    def progress(self, stage: str, done: int = 0, total: int = 1, unit: float = 0.0) -> LabProgress:
        """Progress ``done`` of ``total`` through a stage worth ``unit`` units (not yet counted as done)."""
        share = unit * min(1.0, done / max(1, total))
        return LabProgress(stage, done, total, min(1.0, (self.done + share) / self.work))

    def finish(self, units: float = 1.0) -> None:
        """Count ``units`` more units of work as done."""
        self.done += units

    # ------------------------------------------------------------------ training
    def train(
        self,
        key: str,
        config: RunConfig,
        dataset: DataSet,
        stage: str,
        unit: float = 1.0,
        prepare: Callable[[Path], None] | None = None,
        start_from: DiffusionPipeline | None = None,
    ) -> Generator[LabProgress, None, TrainedRun]:
        """Train ``config`` on ``dataset`` into ``out_dir/runs/<key>/``, or reuse that run when it already holds
        this config trained to its last step (``resume`` only: without it a lab refuses folders holding runs).

        ``prepare(run_dir)`` writes files the run reads before it starts (a reflow's couplings); ``start_from`` gives
        a fresh run its initial weights (a reflow starts from its parent's EMA network; a resumed run its own).
        A run that diverges is a result, not an error: it comes back with ``pipeline=None`` and ``diverged_at``.
        Yields progress every training step; returns (as the generator's value) the :class:`TrainedRun`.
        """
        run_dir = self.out_dir / RUNS_FOLDER / key
        config = config.validate()
        started = time.perf_counter()
        wanted = config.to_dict()
        if run_dir.exists():
            same = _same_settings(_saved_config(run_dir), json.loads(json.dumps(wanted)))
            checkpoints = list_checkpoints(run_dir) if same else []
            diverged = _diverged_marker(run_dir) if same else None
            if diverged is not None:
                self.finish(unit)
                yield self.progress(f"{stage} (diverged before, at step {diverged})")
                return TrainedRun(key, None, run_dir, 0.0, True, diverged)
            if checkpoints and checkpoints[-1][0] >= config.train.steps:
                self.finish(unit)
                yield self.progress(f"{stage} (reused)")
                return TrainedRun(key, load_pipeline(run_dir, device=self._device()), run_dir, 0.0, True)
            if not same:
                shutil.rmtree(run_dir)  # another budget's or version's run (or a broken folder): train afresh
        resume = bool(list_checkpoints(run_dir)) if run_dir.exists() else False
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)
        if prepare is not None and not resume:
            run_dir.mkdir(parents=True, exist_ok=True)
            prepare(run_dir)
        trainer = Trainer(config, run_dir=run_dir, dataset=dataset, resume=resume)
        if start_from is not None and not resume:
            trainer.net.load_state_dict(start_from.network.state_dict())
            trainer.ema.model.load_state_dict(start_from.network.state_dict())
        try:
            for event in trainer.train():
                if isinstance(event, TrainStep):
                    yield self.progress(stage, trainer.step, config.train.steps, unit)
        except TrainingDiverged as exc:
            (run_dir / "diverged.json").write_text(json.dumps({"step": exc.step}), encoding="utf-8")
            self.finish(unit)
            return TrainedRun(key, None, run_dir, time.perf_counter() - started, False, exc.step)
        self.finish(unit)
        return TrainedRun(key, trainer.pipeline(), run_dir, time.perf_counter() - started, False)

    def _device(self) -> str:
        from ddpm_studio.core.device import resolve_device

        return str(resolve_device(self.device))

    def scorer(self, dataset: DataSet, seed: int = 0) -> QualityScorer:
        """The project's quality scorer for ``dataset`` (cached per data set; images train their feature network
        once into ``out_dir``)."""
        key = id(dataset)
        if key not in self._scorers:
            self._scorers[key] = QualityScorer(dataset, cache_dir=self.out_dir, device=self._device(), seed=seed)
        return self._scorers[key]

    # ------------------------------------------------------------------ results
    def record(self, name: str, seed: int, value: float) -> None:
        """One measurement of quantity ``name`` for ``seed`` (NaN: not measurable; +inf: diverged)."""
        self.measurements.setdefault(name, {})[int(seed)] = float(value)

    def values(self, name: str) -> list[float]:
        """The recorded values of ``name`` in seed order."""
        by_seed = self.measurements.get(name, {})
        return [by_seed[s] for s in sorted(by_seed)]

    def point(self, name: str) -> tuple[float, float]:
        """(mean, spread) of ``name`` over the seeds (M60): one point of a chart."""
        values = self.values(name)
        return mean(values), spread(values)

    def per_seed(self) -> dict[str, list[float]]:
        """Every quantity's values in seed order (what the rules read)."""
        return {name: self.values(name) for name in self.measurements}

    def save_plot(self, name: str, image: np.ndarray) -> Path:
        """Write a PNG into the lab folder and list it in the report."""
        path = save_png(self.out_dir / name, image)
        if name not in self.plots:
            self.plots.append(name)
        return path

    def add_table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        """A Markdown table for report.md."""
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.tables[title] = lines


def _saved_config(run_dir: Path) -> dict | None:
    try:
        return read_config(run_dir)
    except RunError:
        return None


def _same_settings(saved: dict | None, wanted: dict) -> bool:
    """Whether a run folder's config.json holds ``wanted`` (config.json also records the package version)."""
    return saved is not None and {key: saved.get(key) for key in wanted} == wanted


def _diverged_marker(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / "diverged.json").read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def finite_or_inf(value: float) -> float:
    """NaN scores of a sampler that produced only non-finite samples read as +inf (infinitely bad)."""
    return math.inf if math.isnan(value) else value


def budget_dict(budget: Budget) -> dict:
    """The budget as JSON-ready data."""
    data = asdict(budget)
    data["seeds"] = list(budget.seeds)
    data["settings"] = dict(budget.settings)
    return data
