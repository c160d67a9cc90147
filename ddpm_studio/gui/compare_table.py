"""The Compare dialog's results table: one row per finished setting, its cells, their tooltips and thumbnails.

Presentation only: the numbers come from :class:`~ddpm_studio.core.compare.CompareRow`.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from ddpm_studio.core.compare import CompareRow, Setting, far_off_text
from ddpm_studio.core.metrics import FAR_OFF_MARGIN

THUMBNAIL_SIZE = 64
COLUMNS = ("setting", "final loss", "bound", "score", "far off", "wall time", "samples", "status")
SETTING_HELP = {
    "eps": "predicts the noise ε (M7)",
    "mean": "predicts the posterior mean μ̃ (M8)",
    "x0": "predicts x_0 (M9)",
    "v": "predicts v (M10)",
}
VARIANCE_HELP = {"fixed_large": "σ² = β (M11)", "fixed_small": "σ² = β̃ (M12)", "learned": "learned σ² (M13)"}
LOSS_HELP = {"simple": "L_simple (M18)", "vlb": "the bound L_vlb (M17)", "hybrid": "L_hybrid (M19)"}


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


def setting_tooltip(setting: Setting) -> str:
    return (
        f"{SETTING_HELP.get(setting.parameterization, setting.parameterization)}, "
        f"{VARIANCE_HELP.get(setting.variance, setting.variance)}, "
        f"trained on {LOSS_HELP.get(setting.loss, setting.loss)}"
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
        if name in ("final loss", "bound", "score", "far off", "wall time"):
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
