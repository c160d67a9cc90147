"""The result pane of the Labs dialog: one lab report drawn (objectName ``labsResult``, a scroll area).

``LabReportView.show_report(report, folder)`` draws report.json's content: the verdict in words and colour (green
holds, red does not hold, amber inconclusive), the paper's claim beside what was measured, the checks, the
measurements, the report's extra tables, the folder's PNG plots (scaled to the pane's width) and the notes;
``show_none()`` the empty state. It reads nothing but the folder's plots and starts no work.

Parts: ``labsVerdictLabel``, ``labsSubtitleLabel``, ``labsClaimBox`` / ``labsClaimLabel``, ``labsMeasuredBox`` /
``labsReasonLabel``, ``labsChecksTable``, ``labsMeasurementsTable``, ``labsTablesLabel``, ``labsPlots`` (QLabels
of the PNGs) and ``labsNotesLabel``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.labs.rules import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, describe
from ddpm_studio.gui.style import HINT_TEXT_COLOR

#: The verdict in words and its colour (text, background): green, red, amber.
VERDICT_WORDS = {
    HOLDS: "The claim holds",
    DOES_NOT_HOLD: "The claim does not hold",
    INCONCLUSIVE: "Inconclusive",
}
VERDICT_COLORS = {HOLDS: ("#1b5e20", "#e3f4e4"), DOES_NOT_HOLD: ("#b00020", "#fde7ea"),
                  INCONCLUSIVE: ("#8a5a00", "#fff3d6")}
#: The widest a plot is drawn (its PNG's own width if smaller): larger only blurs a 100-dpi chart.
PLOT_MAX_WIDTH = 900


def knob_text(value: Any) -> str:
    """A budget or setting value as the pane reads it: lists joined with "/"."""
    return "/".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)


def _value_text(value: Any) -> str:
    """A report number (a float, or "inf" / "nan" for non-finite ones) in four significant digits."""
    number = float(value)
    return f"{number:.4g}" if math.isfinite(number) else str(value)


def _text_label(name: str) -> QLabel:
    label = QLabel(objectName=name)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{html.escape(text)}</b>")
    label.setContentsMargins(0, 8, 0, 0)
    return label


def _table(name: str, columns: Sequence[str], sentence_columns: Sequence[int]) -> QTableWidget:
    """A read-only table as tall as its rows; ``sentence_columns`` share the width, the others fit their text."""
    table = QTableWidget(0, len(columns), objectName=name)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(True)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the pane scrolls, not the table
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader()
    for index in range(len(columns)):
        mode = QHeaderView.ResizeMode.Stretch if index in sentence_columns else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(index, mode)
    return table


def _fit_table(table: QTableWidget) -> None:
    """As tall as its rows: the result pane scrolls as a whole, so a table never scrolls inside it."""
    table.resizeRowsToContents()
    height = table.horizontalHeader().height() + 2 * table.frameWidth()
    height += sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(height)


class LabReportView(QScrollArea):
    """A lab report, drawn (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labsResult")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._plot_pixmaps: list[QPixmap] = []
        self.labsPlots: list[QLabel] = []
        body = QWidget(objectName="labsResultBody")
        column = QVBoxLayout(body)
        self.labsVerdictLabel = QLabel(objectName="labsVerdictLabel")
        self.labsVerdictLabel.setWordWrap(True)
        font = self.labsVerdictLabel.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.labsVerdictLabel.setFont(font)
        column.addWidget(self.labsVerdictLabel)
        self.labsSubtitleLabel = QLabel(objectName="labsSubtitleLabel")
        self.labsSubtitleLabel.setWordWrap(True)
        self.labsSubtitleLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        column.addWidget(self.labsSubtitleLabel)

        # the claim beside the measurement: what the paper says, and what this machine measured
        beside = QHBoxLayout()
        self.labsClaimBox = QGroupBox("The paper's claim", objectName="labsClaimBox")
        self.labsClaimLabel = _text_label("labsClaimLabel")
        QVBoxLayout(self.labsClaimBox).addWidget(self.labsClaimLabel)
        beside.addWidget(self.labsClaimBox, 1)
        self.labsMeasuredBox = QGroupBox("Measured here", objectName="labsMeasuredBox")
        self.labsReasonLabel = _text_label("labsReasonLabel")
        QVBoxLayout(self.labsMeasuredBox).addWidget(self.labsReasonLabel)
        beside.addWidget(self.labsMeasuredBox, 1)
        column.addLayout(beside)

        self.labsChecksHeading = _heading("The checks (each rule, fixed before the run)")
        column.addWidget(self.labsChecksHeading)
        # the claim and the numbers are sentences: both share the width
        self.labsChecksTable = _table("labsChecksTable", ("claim", "verdict", "numbers"), (0, 2))
        column.addWidget(self.labsChecksTable)
        self.labsMeasurementsHeading = _heading("Measurements")
        column.addWidget(self.labsMeasurementsHeading)
        self.labsMeasurementsTable = _table("labsMeasurementsTable", ("quantity", "per seed", "mean ± spread"), (0,))
        column.addWidget(self.labsMeasurementsTable)
        self.labsTablesLabel = _text_label("labsTablesLabel")
        self.labsTablesLabel.setTextFormat(Qt.TextFormat.MarkdownText)
        column.addWidget(self.labsTablesLabel)
        self.labsPlotsHeading = _heading("Plots")
        column.addWidget(self.labsPlotsHeading)
        self._plots_column = QVBoxLayout()
        column.addLayout(self._plots_column)
        self.labsNotesHeading = _heading("Notes")
        column.addWidget(self.labsNotesHeading)
        self.labsNotesLabel = _text_label("labsNotesLabel")
        column.addWidget(self.labsNotesLabel)
        column.addStretch(1)
        self.setWidget(body)
        self.show_none()

    # ------------------------------------------------------------------ drawing
    def show_none(self) -> None:
        """The empty state: no report yet, and how to get one."""
        self.labsVerdictLabel.setText("No report yet")
        self.labsVerdictLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR}; padding: 8px;")
        self.labsSubtitleLabel.setText("")
        self.labsReasonLabel.setText("")
        self.labsClaimLabel.setText("Run a lab, or open the folder of one that ran before (Open report…): its "
                                    "verdict, the claim beside the measurement, the checks, the plots and the notes "
                                    "show here.")
        for widget in (self.labsMeasuredBox, self.labsChecksHeading, self.labsChecksTable,
                       self.labsMeasurementsHeading, self.labsMeasurementsTable, self.labsTablesLabel,
                       self.labsPlotsHeading, self.labsNotesHeading, self.labsNotesLabel):
            widget.setVisible(False)

    def show_report(self, report: Mapping[str, Any], folder: Path) -> None:
        """Draw ``report`` (report.json's content) of the lab folder ``folder``."""
        verdict = str(report["verdict"])
        text, background = VERDICT_COLORS.get(verdict, VERDICT_COLORS[INCONCLUSIVE])
        self.labsVerdictLabel.setText(VERDICT_WORDS.get(verdict, verdict))
        self.labsVerdictLabel.setStyleSheet(f"color: {text}; background: {background}; padding: 8px; "
                                            f"border: 2px solid {text}; border-radius: 4px;")
        subtitle = [f"lab {report['lab']}"]
        if report.get("budget"):
            subtitle.append(f"{report['budget']} budget")
        if isinstance(report.get("seconds"), (int, float)):
            subtitle.append(f"{report['seconds'] / 60:.1f} min")
        if report.get("finished"):
            subtitle.append(f"finished {report['finished']}")
        subtitle.append(str(folder))
        self.labsSubtitleLabel.setText(" · ".join(subtitle))
        e = html.escape
        claim = [f"<p>{e(str(report['claim']))}</p>"]
        if report.get("paper_numbers"):
            claim.append(f"<p><b>The paper's numbers.</b> {e(str(report['paper_numbers']))}</p>")
        claim.append(f"<p style='color:{HINT_TEXT_COLOR}'>{e(str(report['paper']))}"
                     f"{', ' + e(str(report['source'])) if report.get('source') else ''}</p>")
        self.labsClaimLabel.setText("".join(claim))
        measured = [f"<p><b>Verdict: {e(verdict)}.</b> {e(str(report['reason']))}</p>"]
        if report.get("metric"):
            measured.append(f"<p><b>Metric.</b> {e(str(report['metric']))}</p>")
        setting = report.get("setting") or {}
        if setting:
            knobs = ", ".join(f"{key} {knob_text(value)}" for key, value in setting.items())
            measured.append(f"<p style='color:{HINT_TEXT_COLOR}'>Setting: {e(knobs)}</p>")
        self.labsReasonLabel.setText("".join(measured))
        self._fill_checks(report.get("checks") or [])
        self._fill_measurements(report.get("measurements") or {})
        tables = report.get("tables") or {}
        self.labsTablesLabel.setText("\n\n".join(f"**{title}**\n\n" + "\n".join(lines)
                                                 for title, lines in tables.items()))
        self.labsTablesLabel.setVisible(bool(tables))
        self._show_plots(Path(folder), [str(name) for name in report.get("plots") or []])
        notes = [str(note) for note in report.get("notes") or []]
        self.labsNotesLabel.setText("".join(f"<p>• {e(note)}</p>" for note in notes))
        self.labsNotesHeading.setVisible(bool(notes))
        self.labsNotesLabel.setVisible(bool(notes))
        for widget in (self.labsClaimBox, self.labsMeasuredBox, self.labsChecksHeading, self.labsChecksTable,
                       self.labsMeasurementsHeading, self.labsMeasurementsTable, self.labsSubtitleLabel):
            widget.setVisible(True)
        self.verticalScrollBar().setValue(0)

    def _fill_checks(self, checks: Sequence[Mapping[str, Any]]) -> None:
        table = self.labsChecksTable
        table.setRowCount(len(checks))
        for row, check in enumerate(checks):
            verdict = str(check.get("verdict", ""))
            cells = (str(check.get("claim", "")), verdict, str(check.get("reason", "")))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 1 and verdict in VERDICT_COLORS:
                    color, background = VERDICT_COLORS[verdict]
                    item.setForeground(QBrush(QColor(color)))
                    item.setBackground(QBrush(QColor(background)))
                table.setItem(row, column, item)
        _fit_table(table)

    def _fill_measurements(self, measurements: Mapping[str, Mapping[str, Any]]) -> None:
        table = self.labsMeasurementsTable
        table.setRowCount(len(measurements))
        for row, (name, entry) in enumerate(measurements.items()):
            seeds, values = entry.get("seeds") or [], entry.get("values") or []
            per_seed = ", ".join(f"{_value_text(v)} (seed {s})" for s, v in zip(seeds, values, strict=False))
            numbers = [float(v) for v in values]
            summary = describe(numbers) if numbers else "–"
            for column, text in enumerate((str(name), per_seed, summary)):
                table.setItem(row, column, QTableWidgetItem(text))
        _fit_table(table)

    def _show_plots(self, folder: Path, names: Sequence[str]) -> None:
        for label in self.labsPlots:
            self._plots_column.removeWidget(label)
            label.deleteLater()
        self.labsPlots, self._plot_pixmaps = [], []
        for name in names:
            pixmap = QPixmap(str(folder / name))
            label = QLabel(objectName=f"labsPlot{len(self.labsPlots)}")
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            if pixmap.isNull():
                label.setText(f"({name} is missing from the folder)")
                label.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
            label.setToolTip(str(folder / name))
            self._plots_column.addWidget(label)
            self.labsPlots.append(label)
            self._plot_pixmaps.append(pixmap)
        self.labsPlotsHeading.setVisible(bool(names))
        self._scale_plots()

    def _scale_plots(self) -> None:
        width = max(200, self.viewport().width() - 30)
        for label, pixmap in zip(self.labsPlots, self._plot_pixmaps, strict=True):
            if not pixmap.isNull():
                target = min(width, pixmap.width(), PLOT_MAX_WIDTH)
                label.setPixmap(pixmap.scaledToWidth(target, Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._plot_pixmaps:  # the plots follow the pane's width
            self._scale_plots()
