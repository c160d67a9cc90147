"""Running a comparison: train every setting on the same data, seed and budget, bound, sample and score it.

:func:`iter_compare` is a generator (the studio's worker drives it and may stop between any two steps; the CLI
drives it with a progress bar). Every setting trains into ``out_dir/<folder>/``, a normal run folder that
``ddpm-studio sample`` and ``evaluate`` accept, and gets ``samples.png``, ``samples.npz`` and
``evaluation.json`` there; after every finished run the tables are rewritten (:mod:`.report`).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ddpm_studio.core.analysis.bound import BoundProgress, BoundResult, iter_bound
from ddpm_studio.core.compare.events import CompareEvent, CompareFinished, CompareProgress, CompareRow
from ddpm_studio.core.compare.report import bound_unit, table_description, write_tables
from ddpm_studio.core.compare.settings import (
    DEFAULT_SETTINGS,
    EVAL_EXAMPLES,
    Setting,
    compare_config,
    setting_config,
)
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.device import resolve_device
from ddpm_studio.core.io.export import save_npz, save_png
from ddpm_studio.core.io.runs import RunError, atomic_write_text, list_checkpoints
from ddpm_studio.core.scores.far_off import data_box, score_without_far_off, thumbnail
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.core.training.events import TrainStep
from ddpm_studio.core.training.trainer import Trainer, TrainingDiverged

SAMPLES_PNG = "samples.png"


def iter_compare(
    data: str,
    steps: int,
    out_dir: str | os.PathLike[str],
    settings: Sequence[Setting] | None = None,
    seed: int = 0,
    eval_examples: int = EVAL_EXAMPLES,
    sample_count: int | None = None,
    sample_steps: int | None = None,
    base_config: RunConfig | None = None,
    dataset: DataSet | None = None,
) -> Iterator[CompareEvent]:
    """Train every setting in turn on the same data, seed and budget, evaluate it and tabulate.

    Per setting: train ``steps`` steps into ``out_dir/<setting.folder>/``; the exact bound (every t of the
    config's T, :func:`~ddpm_studio.core.evaluation.iter_bound`) on the first ``eval_examples`` held-out
    examples; ``sample_count`` samples with ``sample_steps`` ancestral steps; their quality score. Yields
    :class:`CompareProgress` often (every training step), a :class:`CompareRow` per finished setting and
    :class:`CompareFinished` at the end. Stop pulling to cancel: the finished rows are already in the tables.

    Args:
        data: a built-in data set name or a path (as for ``train --data``).
        steps: training steps per setting.
        out_dir: the comparison folder; created, and must not already hold these settings' trained runs.
        settings: default :data:`DEFAULT_SETTINGS`.
        seed: the one seed every run uses (data split, initial weights, batches, sampling).
        eval_examples: held-out examples for the bound (fewer if the held-out set is smaller).
        sample_count: samples to score; default the scorer's ``sample_count`` (the size the floor uses).
        sample_steps: sampling steps K <= T (respaced, M21); None: all T.
        base_config: the settings to vary (model, schedule, T, batch size, lr, ...); its data, steps and seed
            are replaced by the arguments. Default :func:`compare_config`.
        dataset: ``data`` already loaded with ``base_config``'s data settings and ``seed`` (a caller that read it
            to learn its kind hands it over, so the file is read once); None: loaded here.

    Raises:
        RunError: a setting's run folder already holds a trained run.
        ValueError / ConfigError / DataError: bad arguments (before anything is trained).
    """
    settings = list(DEFAULT_SETTINGS if settings is None else settings)
    if not settings:
        raise ValueError("a comparison needs at least one setting")
    if len({s.folder for s in settings}) != len(settings):
        raise ValueError("two settings share a run folder name")
    out_dir = Path(out_dir)
    for setting in settings:
        if list_checkpoints(out_dir / setting.folder):
            raise RunError(
                f"{out_dir / setting.folder} already holds a trained run; choose another --out folder "
                "(nothing was overwritten)"
            )
    data_spec = os.path.abspath(data) if os.path.exists(data) else data
    yield CompareProgress(0, len(settings), settings[0].name, "prepare", 0, 1)
    if dataset is None:
        data_config = (base_config or RunConfig()).data
        dataset = load_dataset(
            data_spec,
            image_size=data_config.image_size,
            num_points=data_config.num_points,
            num_images=data_config.num_images,
            seed=seed,
        )
    base = copy.deepcopy(base_config) if base_config is not None else compare_config(data_spec, dataset.kind, steps)
    base.data.dataset = data_spec
    base.train.steps = steps
    base.train.seed = seed
    base.train.preview_every = 0  # a comparison samples once, at the end
    base.train.preview_steps = min(base.train.preview_steps, base.diffusion.num_timesteps)
    configs = [setting_config(base, setting) for setting in settings]  # validated up front: fail before training
    device = resolve_device(base.train.device)
    scorer = QualityScorer(dataset, cache_dir=out_dir, device=device, seed=seed)
    num_samples = sample_count or scorer.sample_count
    heldout = dataset.heldout[: max(1, eval_examples)]
    rows: list[CompareRow] = []
    for index, (setting, config) in enumerate(zip(settings, configs, strict=True)):
        row = yield from _run_one(
            index,
            len(settings),
            setting,
            config,
            dataset,
            out_dir / setting.folder,
            scorer,
            heldout,
            num_samples,
            sample_steps,
            seed,
        )
        rows.append(row)
        csv_path, md_path = write_tables(
            out_dir, rows, table_description(base, dataset, scorer, int(heldout.shape[0]), num_samples, sample_steps)
        )
        yield row
    yield CompareFinished(tuple(rows), csv_path, md_path)


def _run_one(
    index: int,
    num_runs: int,
    setting: Setting,
    config: RunConfig,
    dataset: DataSet,
    run_dir: Path,
    scorer: QualityScorer,
    heldout: torch.Tensor,
    num_samples: int,
    sample_steps: int | None,
    seed: int,
) -> Generator[CompareProgress, None, CompareRow]:
    """Train, bound, sample and score one setting; returns (as the generator's value) its :class:`CompareRow`."""
    trainer = Trainer(config, run_dir=run_dir, dataset=dataset)
    final_loss: float | None = None
    status = "ok"
    try:
        for event in trainer.train():
            if isinstance(event, TrainStep):
                final_loss = event.loss
            yield CompareProgress(index, num_runs, setting.name, "train", trainer.step, config.train.steps, final_loss)
    except TrainingDiverged as exc:
        # one unstable setting (mean/vlb at a high learning rate, say) is itself a result: record it, go on
        status = f"diverged at step {exc.step}"
    started = time.perf_counter()
    pipeline = trainer.pipeline()
    bound: BoundResult | None = None
    if status == "ok":
        try:
            for record in iter_bound(pipeline, heldout):
                if isinstance(record, BoundProgress):
                    yield CompareProgress(index, num_runs, setting.name, "bound", record.done, record.total, final_loss)
                else:
                    bound = record
        except ValueError as exc:  # the network produced NaN / inf
            status = f"bound failed: {exc}"
    scores: dict[str, float] = {}
    samples_png: Path | None = None
    if not status.startswith("diverged"):  # a diverged run's EMA holds NaN weights: nothing to sample
        final = None
        for step in pipeline.sample(num_samples, num_steps=sample_steps, seed=seed):
            final = step.x
            yield CompareProgress(index, num_runs, setting.name, "sample", step.index + 1, step.num_steps, final_loss)
        assert final is not None
        samples = final.detach().cpu()
        box = data_box(dataset) if dataset.kind == "points" else None
        scores = score_without_far_off(scorer, samples, box)
        samples_png = save_png(run_dir / SAMPLES_PNG, thumbnail(pipeline, samples, dataset.heldout, box))
        save_npz(run_dir / "samples.npz", samples=pipeline.to_saved_array(samples))
    eval_seconds = time.perf_counter() - started
    own_fields = ("score", "floor", "far_off_count", "far_off", "score_all")
    extras = {k: v for k, v in scores.items() if k not in own_fields and not k.endswith("_floor")}
    row = CompareRow(
        name=setting.name,
        parameterization=setting.parameterization,
        variance=setting.variance,
        loss=setting.loss,
        steps=trainer.step,
        status=status,
        final_loss=final_loss,
        bound=bound.per_dim if bound else None,
        bound_unit=bound_unit(dataset.kind),
        prior=bound.prior if bound else None,
        diffusion=bound.diffusion if bound else None,
        decoder=bound.decoder if bound else None,
        jacobian=bound.jacobian if bound else None,
        score=scores.get("score"),
        floor=scorer.floor,
        metric=scorer.metric,
        train_seconds=trainer.elapsed,
        eval_seconds=eval_seconds,
        run_dir=str(run_dir),
        samples_png=str(samples_png) if samples_png else None,
        extras=extras,
        far_off_count=int(scores["far_off_count"]) if "far_off_count" in scores else None,
        far_off=scores.get("far_off"),
        score_all=scores.get("score_all"),
    )
    evaluation = {"row": asdict(row), "bound": bound.to_dict() if bound else None, "scores": scores}
    atomic_write_text(run_dir / "evaluation.json", json.dumps(evaluation, indent=2, allow_nan=True) + "\n")
    return row
