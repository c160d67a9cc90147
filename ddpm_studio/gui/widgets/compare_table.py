"""The Compare dialog's results table: one row per finished setting, its cells, their tooltips and thumbnails;
and the dialog's texts (progress, output folder) that hold no widget state.

Presentation only: the numbers come from :class:`~ddpm_studio.core.compare.CompareRow`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
)

from ddpm_studio.core import choices
from ddpm_studio.core.compare import CompareProgress, CompareRow, Setting, far_off_text
from ddpm_studio.core.scores.metrics import FAR_OFF_MARGIN

#: A thumbnail's side: 2-D samples and digits read at this size (at 64 pixels a scatter of 1,000 points was a
#: smudge); the tooltip shows it at 256.
THUMBNAIL_SIZE = 112
COLUMNS = ("setting", "final loss", "bound", "score", "far off", "off support", "wall time", "samples", "status")
#: Rows the table shows at the least, so the newest result is in view even in a low dialog.
MIN_VISIBLE_ROWS = 1
PHASE_NAMES = {"prepare": "preparing the data", "train": "training", "bound": "bound", "sample": "sampling"}


def make_table() -> QTableWidget:
    """The empty results table (objectName ``compareTable``): read-only, whole rows selected, thumbnail rows."""
    table = QTableWidget(0, len(COLUMNS), objectName="compareTable")
    table.setHorizontalHeaderLabels(list(COLUMNS))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 6)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(COLUMNS.index("status"), QHeaderView.ResizeMode.Stretch)
    # two-line headers ("bound ↓ / (nats/dim)") and one whole result row, whatever the dialog's height
    table.setMinimumHeight(2 * header.fontMetrics().lineSpacing() + 12 + MIN_VISIBLE_ROWS * (THUMBNAIL_SIZE + 6)
                           + 2 * table.frameWidth() + table.horizontalScrollBar().sizeHint().height())
    return table


def make_settings_list(settings: Sequence[Setting]) -> QListWidget:
    """The checkable list of settings (objectName ``compareSettingsList``), all checked, each with its tooltip;
    an item's UserRole data is its :class:`~ddpm_studio.core.compare.Setting`."""
    widget = QListWidget(objectName="compareSettingsList")
    for setting in settings:
        item = QListWidgetItem(setting.name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        item.setToolTip(setting_tooltip(setting))
        item.setData(Qt.ItemDataRole.UserRole, setting)
        widget.addItem(item)
    widget.setMaximumHeight(widget.sizeHintForRow(0) * len(settings) + 8)
    return widget


def free_folder(path: str | os.PathLike[str]) -> str:
    """``path`` when it is missing or empty, else the first ``path-2``, ``path-3``, … that is."""
    base = Path(path)
    candidate, n = base, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return str(candidate)


def progress_text(event: CompareProgress) -> str:
    """The progress bar's text, e.g. "run 2/6: mean/vlb — training 340/1500"."""
    phase = PHASE_NAMES.get(event.phase, event.phase)
    head = f"run {event.run + 1}/{event.num_runs}: {event.name} — {phase}"
    return head if event.phase == "prepare" else f"{head} {event.done}/{event.total}"


def format_number(value: float | None) -> str:
    """A table cell's number: four significant digits, "–" when missing."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def format_seconds(seconds: float) -> str:
    """12.3 -> "12.3 s"; 754 -> "12 min 34 s"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _choice_text(options: tuple[choices.Choice, ...], name: str) -> str:
    """A choice's label and MATH.md number from the one vocabulary, e.g. "noise (ε) (M7)"; the bare name if unknown."""
    choice = choices.find(options, name)
    return name if choice is None else f"{choice.label} ({choice.math})"


def setting_tooltip(setting: Setting) -> str:
    """What a setting trains, in the words of :mod:`ddpm_studio.core.choices`."""
    return (
        f"predicts {_choice_text(choices.PARAMETERIZATIONS, setting.parameterization)}, "
        f"variance {_choice_text(choices.VARIANCES, setting.variance)}, "
        f"trained on {_choice_text(choices.LOSSES, setting.loss)}"
    )


def score_header(metric: str, floor: float) -> str:
    """The score column's header with the real-data floor (lower is better)."""
    name = "SW" if metric == "sliced_wasserstein" else "Fréchet"
    return f"{name} score ↓\n(real data {format_number(floor)})"


def fill_row(table: QTableWidget, row: CompareRow) -> None:
    """Append ``row`` to ``table`` (whose columns are :data:`COLUMNS`): numbers right-aligned, problems in red."""
    index = table.rowCount()
    table.insertRow(index)
    wall = row.train_seconds + row.eval_seconds
    cells = [
        (
            row.name,
            f"{setting_tooltip(Setting(row.name, row.parameterization, row.variance, row.loss))}\n{row.run_dir}",
        ),
        (
            format_number(row.final_loss),
            "the last logged value of this run's own objective: not comparable across losses or parameterizations",
        ),
        (format_number(row.bound), bound_tip(row)),
        (format_number(row.score), score_tip(row)),
        (far_off_text(row), far_off_tip(row)),
        (off_support_text(row), off_support_tip(row)),
        (
            format_seconds(wall),
            f"training {format_seconds(row.train_seconds)}, bound + sampling + scoring "
            f"{format_seconds(row.eval_seconds)}",
        ),
        (row.status, ""),
    ]
    columns = [name for name in COLUMNS if name != "samples"]
    for name, (text, tip) in zip(columns, cells, strict=True):
        column = COLUMNS.index(name)
        item = QTableWidgetItem(text)
        item.setToolTip(tip)
        if name in ("final loss", "bound", "score", "far off", "off support", "wall time"):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if (name == "status" and row.status != "ok") or (name == "far off" and row.far_off_count):
            item.setForeground(Qt.GlobalColor.darkRed)
        table.setItem(index, column, item)
    table.setItem(index, COLUMNS.index("samples"), thumbnail_item(row.samples_png))


def thumbnail_item(path: str | None) -> QTableWidgetItem:
    item = QTableWidgetItem()
    pixmap = QPixmap(path) if path else QPixmap()
    if pixmap.isNull():
        item.setText("–")
        return item
    item.setData(
        Qt.ItemDataRole.DecorationRole,
        pixmap.scaled(
            THUMBNAIL_SIZE,
            THUMBNAIL_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        ),
    )
    item.setToolTip(f'<img src="{QUrl.fromLocalFile(path).toString()}" width="256"><br>{path}')
    return item

def score_tip(row: CompareRow) -> str:
    tip = f"{row.metric}; real data scores {format_number(row.floor)}"
    if row.far_off_count:
        tip += f"\nscored without the far-off samples; with them: {format_number(row.score_all)}"
    return tip

def far_off_tip(row: CompareRow) -> str:
    if row.far_off_count is None:
        return "only 2-D samples can be far off"
    return (
        f"samples outside the training data's bounding box enlarged by {FAR_OFF_MARGIN:.0%} of its longest side "
        "(real data: none); the score leaves them out, the thumbnail draws them in red at its edge"
    )

def off_support_text(row: CompareRow) -> str:
    """The share of samples off the data's support (2-D data, MATH.md M37), "–" where not measured."""
    value = row.extras.get("off_support")
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def off_support_tip(row: CompareRow) -> str:
    if row.extras.get("off_support") is None:
        return "measured for 2-D samples only"
    return ("share of the samples in a region less dense than the one holding 99 % of the data: the haze between "
            "and around the modes (M37; real data reads about 1 %)")


def bound_tip(row: CompareRow) -> str:
    if row.bound is None:
        return "the bound was not computed"
    parts = [
        f"L_T {format_number(row.prior)}",
        f"Σ L_t-1 {format_number(row.diffusion)}",
        f"L_0 {format_number(row.decoder)}",
    ]
    if row.bound_unit == "nats/dim":
        parts.append(f"Jacobian {format_number(row.jacobian)}")
    return " + ".join(parts) + f" ({row.bound_unit})"
