"""The desk version of Ho et al. 2020, Table 2: train several settings on the same data, seed and budget, then
tabulate final loss, bound, sample quality and wall time, with each run's samples.

:func:`iter_compare` is a generator (the studio's worker drives it and may stop between any two steps; the CLI
drives it with a progress bar). Every setting trains into ``out_dir/<folder>/``, a normal run folder that
``ddpm-studio sample`` and ``evaluate`` accept, and gets ``samples.png``, ``samples.npz`` and
``evaluation.json`` there. After every finished run the tables ``out_dir/compare.csv`` and ``out_dir/compare.md``
are rewritten, so a stopped comparison still leaves the rows it finished.

On 2-D data the score leaves out far-off samples and the tables count them beside it
(:mod:`ddpm_studio.core.far_off`); :func:`budget_warning` says when the step budget is below what reproduced
Ho et al.'s ordering here (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.device import resolve_device
from ddpm_studio.core.diffusion import LOSSES, PARAMETERIZATIONS
from ddpm_studio.core.evaluation import BoundProgress, BoundResult, QualityScorer, iter_bound
from ddpm_studio.core.export import save_csv, save_npz, save_png
from ddpm_studio.core.far_off import data_box, score_without_far_off, thumbnail
from ddpm_studio.core.metrics import FAR_OFF_MARGIN
from ddpm_studio.core.runs import RunError, atomic_write_text, list_checkpoints
from ddpm_studio.core.training.config import RunConfig, default_config
from ddpm_studio.core.training.events import TrainStep
from ddpm_studio.core.training.trainer import Trainer, TrainingDiverged

CSV_NAME = "compare.csv"
MARKDOWN_NAME = "compare.md"
SAMPLES_PNG = "samples.png"
#: Held-out examples the bound is averaged over (it costs T forward passes per batch of them).
EVAL_EXAMPLES = 512
#: The EMA of a short run must forget its random initial weights: its time constant 1 / (1 - decay) is capped at
#: this fraction of the training steps (0.999 would still hold 37% of the initial weights after 1000 steps).
EMA_HORIZON_FRACTION = 0.1


@dataclass(frozen=True)
class Setting:
    """One row of the comparison: what the network predicts, its variance and the training objective."""

    name: str
    parameterization: str  # eps (M7), mean (M8), x0 (M9) or v (M10)
    variance: str  # fixed_large (M11), fixed_small (M12) or learned (M13)
    loss: str  # simple (M18), vlb (M17) or hybrid (M19)

    @property
    def folder(self) -> str:
        """The run folder's name: the setting's name with "/" replaced by "-"."""
        return self.name.replace("/", "-")


#: Ho et al.'s Table 2 rows (mean with the bound and with the simple loss, eps with the simple loss), plus x0
#: and v predictions and Nichol & Dhariwal's learned variance with the hybrid loss. The fixed variance is
#: sigma_t^2 = beta_t (M11), Ho et al.'s choice.
DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("eps/simple", "eps", "fixed_large", "simple"),
    Setting("mean/vlb", "mean", "fixed_large", "vlb"),
    Setting("mean/simple", "mean", "fixed_large", "simple"),
    Setting("x0/simple", "x0", "fixed_large", "simple"),
    Setting("v/simple", "v", "fixed_large", "simple"),
    Setting("learned/hybrid", "eps", "learned", "hybrid"),
)


def parse_setting(name: str) -> Setting:
    """A setting from its name: "<param>/<loss>" with a fixed (large) variance, or "learned/<loss>" (eps with
    a learned variance, M13; the loss must be vlb or hybrid).

    Raises:
        ValueError: an unknown parameterization or loss, or a learned variance with the simple loss.
    """
    name = name.strip()
    first, _, loss = name.partition("/")
    if loss not in LOSSES or (first not in PARAMETERIZATIONS and first != "learned"):
        raise ValueError(
            f"unknown setting {name!r}: write <param>/<loss> with param in {', '.join(PARAMETERIZATIONS)} or "
            f"'learned', and loss in {', '.join(LOSSES)} (e.g. eps/simple, mean/vlb, learned/hybrid)"
        )
    if first == "learned":
        if loss == "simple":
            raise ValueError("learned/simple cannot train: L_simple gives a learned variance no signal (M19)")
        return Setting(name, "eps", "learned", loss)
    return Setting(name, first, "fixed_large", loss)


def parse_settings(text: str) -> list[Setting]:
    """A comma-separated list of setting names (see :func:`parse_setting`), duplicates refused."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("no settings given; e.g. eps/simple,mean/vlb")
    if len(set(names)) != len(names):
        raise ValueError(f"a setting is listed twice in {text!r}")
    return [parse_setting(name) for name in names]


def compare_config(data: str, kind: str, steps: int, seed: int = 0) -> RunConfig:
    """The base settings of a comparison: the defaults for the data's kind, with ``steps`` steps, no previews,
    a checkpoint only at the end, and an EMA short enough for the budget (EMA_HORIZON_FRACTION).
    """
    config = default_config(data, kind)
    config.train.steps = steps
    config.train.seed = seed
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.ema_decay = min(config.train.ema_decay, 1.0 - 1.0 / max(1.0, EMA_HORIZON_FRACTION * steps))
    return config


#: Fewest training steps per setting at which a comparison reproduced Ho et al.'s Table 2 ordering, by kind of data.
#: Points: eps/simple scored best of eps/simple, mean/vlb and mean/simple with at most 1% of its samples far off, on
#: the moons at 300 and 1,000 steps (seeds 0 and 1 at 300), not at 100 (2% far off, the plain score ranking it
#: worst) or 30 (98% far off): benchmarks/RESULTS.md, "Comparisons: the step budget". Images: unweighted runs drew
#: recognisable digits only after 800-1,000 steps (RESULTS.md, "Digits"); before that the scores compare blurs.
TABLE2_MIN_STEPS: dict[str, int] = {"points": 300, "images": 1000}
_BUDGET_EVIDENCE = {
    "points": "on the moons eps/simple ranked first with its samples on the plot from 300 steps; at 100 it still "
    "threw 2% of them far off, at 30 nearly all",
    "images": "unweighted runs drew recognisable digits only after 800-1,000 steps, so below that the scores "
    "compare blurs",
}


def budget_warning(kind: str | None, steps: int) -> str | None:
    """One sentence when ``steps`` per setting is below :data:`TABLE2_MIN_STEPS` for the data's ``kind``
    ("points" or "images"), else None (also for an unknown kind)."""
    needed = TABLE2_MIN_STEPS.get(kind or "")
    if needed is None or steps >= needed:
        return None
    return (
        f"{steps} steps per setting is too few to trust the ranking: Ho et al.'s Table 2 ordering (eps/simple "
        f"best) needs about {needed:,} here ({_BUDGET_EVIDENCE[kind]}; benchmarks/RESULTS.md)."
    )


# ---------------------------------------------------------------------------- events
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
            far-off samples (:func:`~ddpm_studio.core.far_off.score_without_far_off`).
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


# ---------------------------------------------------------------------------- the loop
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
    probe_config = base_config or RunConfig()
    dataset = load_dataset(
        data_spec,
        image_size=probe_config.data.image_size,
        num_points=probe_config.data.num_points,
        num_images=probe_config.data.num_images,
        seed=seed,
    )
    base = copy.deepcopy(base_config) if base_config is not None else compare_config(data_spec, dataset.kind, steps)
    base.data.dataset = data_spec
    base.train.steps = steps
    base.train.seed = seed
    base.train.preview_every = 0  # a comparison samples once, at the end
    base.train.preview_steps = min(base.train.preview_steps, base.diffusion.num_timesteps)
    configs = [_setting_config(base, setting) for setting in settings]  # validated up front: fail before training
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


def run_compare(data: str, steps: int, out_dir: str | os.PathLike[str], **kwargs) -> list[CompareRow]:
    """Run :func:`iter_compare` to the end; the rows."""
    rows: list[CompareRow] = []
    for event in iter_compare(data, steps, out_dir, **kwargs):
        if isinstance(event, CompareFinished):
            rows = list(event.rows)
    return rows


def _setting_config(base: RunConfig, setting: Setting) -> RunConfig:
    config = copy.deepcopy(base)
    config.diffusion.parameterization = setting.parameterization
    config.diffusion.variance = setting.variance
    config.train.loss = setting.loss
    # the rows reproduce the papers' objectives as written (Ho et al. Table 2, Nichol & Dhariwal), unweighted
    config.train.snr_gamma = 0.0
    return config.validate()


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
        bound_unit=_bound_unit(dataset.kind),
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


# ---------------------------------------------------------------------------- tables
#: Extra quality columns, in table order, with their Markdown headers.
_EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("off_support", "off-support"),
    ("confidence", "confidence"),
    ("coverage", "coverage"),
    ("nonfinite", "non-finite"),
)
CSV_HEADER: list[str] = [
    "name",
    "parameterization",
    "variance",
    "loss",
    "steps",
    "status",
    "final_loss",
    "bound",
    "bound_unit",
    "prior",
    "diffusion",
    "decoder",
    "jacobian",
    "score",
    "floor",
    "metric",
    *[name for name, _ in _EXTRA_COLUMNS],
    "train_seconds",
    "eval_seconds",
    "samples_png",
    # added by issue 13, at the end so that readers of the older columns by position still work
    "far_off_count",
    "far_off",
    "score_all",
]


@dataclass(frozen=True)
class TableDescription:
    """What the tables need to say about how the rows were made.

    Attributes:
        title: the Markdown heading. lines: sentences printed above the table.
        bound_unit: "bits/dim" or "nats/dim". score_label: the score column's header.
        extras: the extra columns this data set has (keys of CompareRow.extras).
    """

    title: str
    lines: tuple[str, ...]
    bound_unit: str
    score_label: str
    extras: tuple[str, ...]


def _bound_unit(kind: str) -> str:
    return "bits/dim" if kind == "images" else "nats/dim"


def table_description(
    config: RunConfig,
    dataset: DataSet,
    scorer: QualityScorer,
    eval_examples: int,
    num_samples: int,
    sample_steps: int | None,
) -> TableDescription:
    """The heading and the sentences above the table, from the shared settings of a comparison."""
    d, t = config.diffusion, config.train
    unit = _bound_unit(dataset.kind)
    items = "images" if dataset.kind == "images" else "points"
    steps_text = f"{sample_steps} respaced" if sample_steps else f"{d.num_timesteps}"
    lines = [
        f"Every setting: {t.steps} training steps, seed {t.seed}, {config.model.preset} network, {d.schedule} "
        f"schedule with T = {d.num_timesteps}, batch {t.batch_size}, lr {t.lr:g}, EMA decay {t.ema_decay:.4g}.",
        f"Bound: the full variational bound (M14, every t) on {eval_examples} held-out {items}, in {unit}"
        + (" in the data's own coordinates (standardisation Jacobian included)" if items == "points" else "")
        + "; lower is better.",
    ]
    if scorer.metric == "sliced_wasserstein":
        score_label = f"SW (floor {scorer.floor:.3g})"
        lines.append(
            f"Score: sliced Wasserstein distance of {num_samples} samples ({steps_text} ancestral steps) to half "
            f"the held-out points; the floor {scorer.floor:.4g} is the other half's distance (real data). "
            f"Off-support: share of samples far from every training point (real data: "
            f"{scorer.floor_extras.get('off_support', float('nan')):.1%})."
        )
        lines.append(
            f"Far off: samples outside the training data's bounding box enlarged by {FAR_OFF_MARGIN:.0%} of its "
            "longest side on every side (count and share; real data: none). The score leaves them out, so that "
            "one stray sample cannot decide a row's rank; read it with this count (compare.csv's score_all keeps "
            "the score with them). The thumbnails draw them in red, clamped to the edge."
        )
    else:
        info = scorer.feature_info
        net_text = ""
        if info is not None:
            net_text = f" ({info.mode}, validation {info.metric_name} {info.validation_metric:.3g})"
        score_label = f"Fréchet (floor {scorer.floor:.3g})"
        lines.append(
            f"Score: squared Fréchet distance of {num_samples} samples ({steps_text} ancestral steps) to the "
            f"training images, in the 64-d features of a small network trained on this data set{net_text}; "
            f"the floor {scorer.floor:.4g} is the held-out images' distance. Not FID: the features are not "
            "Inception's, so only rows of this table compare."
        )
        if "confidence" in scorer.floor_extras:
            lines.append(
                f"Confidence: mean top-class probability of that classifier (real: "
                f"{scorer.floor_extras['confidence']:.3f}); coverage: share of classes drawn at least 1/3 as often "
                f"as in the data (real: {scorer.floor_extras['coverage']:.2f})."
            )
    warning = budget_warning(dataset.kind, t.steps)
    if warning:
        lines.append(f"**Warning**: {warning}")
    lines.append(
        "Final loss: the last logged value of each run's own objective (MSE of its target for simple, the "
        "per-dimension bound estimate for vlb): not comparable across objectives or parameterizations."
    )
    extras = tuple(name for name, _ in _EXTRA_COLUMNS if name in scorer.floor_extras or name == "nonfinite")
    return TableDescription(
        title=f"Comparison on {dataset.name}",
        lines=tuple(lines),
        bound_unit=unit,
        score_label=score_label,
        extras=extras,
    )


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}"


def _relative(path: str | None, out_dir: Path) -> str | None:
    """A path inside ``out_dir`` written relative to it (so the table's image links survive a move)."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def far_off_text(row: CompareRow) -> str:
    """The far-off cell: "0", "1 (0.24%)", or "–" when the row has no count (images, unscored rows)."""
    if row.far_off_count is None or row.far_off is None:
        return "–"
    return f"{row.far_off_count} ({row.far_off:.2%})" if row.far_off_count else "0"


def markdown_table(rows: Sequence[CompareRow], description: TableDescription, out_dir: Path) -> str:
    """The comparison as Markdown: heading, the description sentences, one table row per setting with a
    thumbnail image link (relative to ``out_dir``).
    """
    headers = ["setting", "final loss", f"bound ({description.bound_unit})", description.score_label]
    far_column = description.score_label.startswith("SW")  # 2-D data: far-off samples sit beside the score
    headers += ["far off"] if far_column else []
    headers += [dict(_EXTRA_COLUMNS)[name] for name in description.extras]
    headers += ["train s", "status", "samples"]
    lines = [
        f"# {description.title}",
        "",
        *description.lines,
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for row in rows:
        cells = [f"{row.name}", _number(row.final_loss), _number(row.bound), _number(row.score)]
        cells += [far_off_text(row)] if far_column else []
        for name in description.extras:
            value = row.extras.get(name)
            cells.append(
                "–" if value is None else f"{value:.1%}" if name in ("off_support", "nonfinite") else f"{value:.3f}"
            )
        cells += [f"{row.train_seconds:.1f}", row.status]
        link = _relative(row.samples_png, out_dir)
        cells.append(f"![{row.name}]({link})" if link else "–")
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(
    out_dir: str | os.PathLike[str], rows: Sequence[CompareRow], description: TableDescription
) -> tuple[Path, Path]:
    """Write ``compare.csv`` (every number, full precision) and ``compare.md`` into ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    csv_rows = []
    for row in rows:
        record = asdict(row)
        extras = record.pop("extras")
        record.update({name: extras.get(name) for name, _ in _EXTRA_COLUMNS})
        record["samples_png"] = _relative(row.samples_png, out_dir)
        csv_rows.append([record[name] for name in CSV_HEADER])
    csv_path = save_csv(out_dir / CSV_NAME, CSV_HEADER, csv_rows)
    md_path = atomic_write_text(out_dir / MARKDOWN_NAME, markdown_table(rows, description, out_dir))
    return csv_path, md_path
