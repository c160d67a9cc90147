"""The comparison's tables: ``compare.csv`` (every number) and ``compare.md`` (a heading, how the rows were made,
one row per setting with its thumbnail), rewritten after every finished run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ddpm_studio.core.compare.events import CompareRow
from ddpm_studio.core.compare.settings import budget_warning
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.io.export import save_csv
from ddpm_studio.core.io.runs import atomic_write_text
from ddpm_studio.core.scores.metrics import FAR_OFF_MARGIN
from ddpm_studio.core.scores.quality import QualityScorer

CSV_NAME = "compare.csv"
MARKDOWN_NAME = "compare.md"


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


def bound_unit(kind: str) -> str:
    """The bound's unit for this kind of data: bits/dim on the 8-bit grid, nats/dim for 2-D points."""
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
    unit = bound_unit(dataset.kind)
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
