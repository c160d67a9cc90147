"""The Labs dialog (Run → Labs…): a paper's claim, its experiment at desk scale, and the verdict in words (issue 29).

Public API (objectName ``labsDialog``):

- ``LabsDialog(parent, out_root)``: the labs of :mod:`ddpm_studio.core.labs`; each lab's folder defaults to
  ``out_root/NAME``.
- ``select(name)``, ``selected_name()``; ``run(budget)`` ("quick" / "full": what the Run buttons do),
  ``cancel()``, ``open_folder(folder)`` (what Open report… does once a folder is chosen); ``running``.
- ``shutdown()``: stop the running lab and wait for it (the window calls it when it closes). Closing the dialog
  does *not* stop a lab: a full budget takes up to two hours, and its progress stays in the status bar.
- ``report`` / ``report_folder``: the report shown (report.json's content) and its folder, or None.
- The dialog starts nothing itself: it emits ``runRequested(LabRequest)``, ``cancelRequested``,
  ``openRequested(str)`` and ``shutdownRequested``; its presenter
  (:class:`~ddpm_studio.gui.presenters.lab.LabPresenter`) calls back ``job_started``, ``show_progress``,
  ``show_report``, ``show_cancelled``, ``show_failure``, ``job_ended`` and asks ``ask_existing``.

Widgets: ``labsList`` (name and claim per lab), ``labsDetails`` (paper, source, claim, the paper's numbers, metric,
rules, budgets), ``labsOutEdit`` + ``labsBrowseButton``, ``labsResumeCheck``, ``labsForceCheck``,
``labsRunQuickButton``, ``labsRunFullButton``, ``labsCancelButton``, ``labsOpenButton``, ``labsProgressBar``,
``labsStageLabel``, ``labsStatusLabel``, ``labsTabs`` and the result pane ``labsResult`` (a scroll area) with
``labsVerdictLabel``, ``labsReasonLabel``, ``labsClaimBox``, ``labsMeasuredBox``, ``labsChecksTable``,
``labsMeasurementsTable``, ``labsTablesLabel``, ``labsPlots`` (QLabels of the folder's PNGs) and
``labsNotesLabel``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.labs import LAB_MODULES, LabRecipe, get_recipe
from ddpm_studio.core.labs.recipe import Budget
from ddpm_studio.gui.style import ERROR_TEXT_COLOR, HINT_TEXT_COLOR
from ddpm_studio.gui.widgets.dialog_fit import fitted_dialog_size
from ddpm_studio.gui.widgets.lab_report import VERDICT_COLORS, VERDICT_WORDS, LabReportView, knob_text

PREFERRED_SIZE = QSize(1180, 780)
__all__ = ["RESUME", "START_OVER", "VERDICT_COLORS", "VERDICT_WORDS", "LabRequest", "LabsDialog"]

#: The answers of :meth:`LabsDialog.ask_existing`.
RESUME, START_OVER = "resume", "force"


@dataclass(frozen=True)
class LabRequest:
    """What a Run button asks the presenter to run: the arguments of ``iter_lab``."""

    name: str
    budget: str  # "quick" or "full"
    out_dir: Path
    resume: bool = False
    force: bool = False


def budget_line(budget: Budget) -> str:
    """"3 seeds, about 6 min; data moons, steps 1500" (a budget as the details pane and the buttons read it)."""
    knobs = ", ".join(f"{key} {knob_text(value)}" for key, value in budget.settings.items())
    seeds = len(budget.seeds)
    return f"{seeds} seed{'s' if seeds != 1 else ''}, about {_minutes(budget.minutes)}; {knobs}"


def _minutes(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def gui_wording(message: str) -> str:
    """The core's folder messages name the CLI's flags; here they are the dialog's check boxes."""
    return (message.replace("pass --resume", "check Resume").replace("pass --force", "check Start over")
            .replace("--force", "Start over").replace("--resume", "Resume").replace("--out ", ""))


def details_html(recipe: LabRecipe) -> str:
    """The details pane: the paper, the claim, the paper's numbers, the metric, the rules and the two budgets."""
    e = html.escape
    rules = "".join(f"<li>{e(rule.text())}</li>" for rule in recipe.rules)
    notes = "".join(f"<li>{e(note)}</li>" for note in recipe.notes)
    return (
        f"<p><b>{e(recipe.paper)}</b><br>{e(recipe.source)}</p>"
        f"<p><b>Claim.</b> {e(recipe.claim)}</p>"
        f"<p><b>The paper's numbers.</b> {e(recipe.paper_numbers)}</p>"
        f"<p><b>Metric.</b> {e(recipe.metric)}</p>"
        f"<p><b>The verdict rules</b> (fixed before the run; the claim holds only if every rule holds):</p>"
        f"<ul>{rules}</ul>"
        f"<p><b>Budgets</b> (timed on 2 CPU cores):</p>"
        f"<ul><li><b>quick</b>: {e(budget_line(recipe.quick))}</li>"
        f"<li><b>full</b>: {e(budget_line(recipe.full))}</li></ul>"
        + (f"<p><b>Keep in mind.</b></p><ul>{notes}</ul>" if notes else "")
    )


class LabsDialog(QDialog):
    """The labs, each lab's claim and details, a run of its quick or full budget, and its report (see above)."""

    message = Signal(str)
    runRequested = Signal(object)  # LabRequest
    cancelRequested = Signal()
    openRequested = Signal(str)  # a folder whose report to show
    shutdownRequested = Signal()  # the window closes: stop the lab and wait for it

    def __init__(self, parent: QWidget | None, out_root: str) -> None:
        super().__init__(parent)
        self.setObjectName("labsDialog")
        self.setWindowTitle("Labs: a paper's claim, tested at desk scale")
        self.resize(fitted_dialog_size(self, PREFERRED_SIZE))
        self._out_root = Path(out_root).expanduser()
        self._running = self._stopping = False
        self._request: LabRequest | None = None
        self._started = 0.0
        self.report: dict[str, Any] | None = None
        self.report_folder: Path | None = None

        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self.labsList = QListWidget(objectName="labsList")
        self.labsList.setWordWrap(True)
        self.labsList.setSpacing(4)  # one lab from the next: its name line and its claim read as a pair
        self.labsList.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.labsList.setMinimumWidth(220)
        self.labsList.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.labsList.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        for name in LAB_MODULES:
            recipe = get_recipe(name)
            item = QListWidgetItem(f"{name}\n{recipe.claim}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{recipe.paper}, {recipe.source}")
            self.labsList.addItem(item)
        splitter.addWidget(self.labsList)

        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        self.labsTabs = QTabWidget(objectName="labsTabs")
        self.labsDetails = QLabel(objectName="labsDetails")
        self.labsDetails.setWordWrap(True)
        self.labsDetails.setTextFormat(Qt.TextFormat.RichText)
        self.labsDetails.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.labsDetails.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.labsDetails.setContentsMargins(6, 6, 6, 6)
        self.labsTabs.addTab(self._scrolled(self.labsDetails, "labsDetailsScroll"), "The lab")
        self.labsResult = LabReportView()
        self.labsTabs.addTab(self.labsResult, "Result")
        # the result's parts by their names, as the dialog's own (what tests and the window read)
        view = self.labsResult
        self.labsVerdictLabel, self.labsReasonLabel, self.labsClaimLabel = (
            view.labsVerdictLabel, view.labsReasonLabel, view.labsClaimLabel)
        self.labsChecksTable, self.labsMeasurementsTable = view.labsChecksTable, view.labsMeasurementsTable
        self.labsTablesLabel, self.labsNotesLabel = view.labsTablesLabel, view.labsNotesLabel
        column.addWidget(self.labsTabs, 1)
        column.addWidget(self._build_run_box())
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([300, 880])
        layout.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.labsStatusLabel = QLabel(objectName="labsStatusLabel")
        self.labsStatusLabel.setWordWrap(True)
        self.labsStatusLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom.addWidget(self.labsStatusLabel, 1)
        self.labsOpenFolderButton = QPushButton("Show folder", objectName="labsOpenFolderButton")
        self.labsOpenFolderButton.setToolTip("The report's folder in the file manager (report.md, plots, runs/)")
        self.labsOpenFolderButton.setEnabled(False)
        bottom.addWidget(self.labsOpenFolderButton)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)

        self.labsList.currentItemChanged.connect(self._lab_chosen)
        self.labsRunQuickButton.clicked.connect(lambda: self.run("quick"))
        self.labsRunFullButton.clicked.connect(lambda: self.run("full"))
        self.labsCancelButton.clicked.connect(self.cancel)
        self.labsBrowseButton.clicked.connect(self._browse)
        self.labsOpenButton.clicked.connect(self._choose_report)
        self.labsOpenFolderButton.clicked.connect(self._show_folder)
        self.labsOutEdit.textChanged.connect(self._update_controls)
        # Resume reuses a folder's runs and Start over deletes them: one or the other, never both
        self.labsResumeCheck.toggled.connect(lambda on: on and self.labsForceCheck.setChecked(False))
        self.labsForceCheck.toggled.connect(lambda on: on and self.labsResumeCheck.setChecked(False))
        self.labsList.setCurrentRow(0)
        self._update_controls()

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _scrolled(body: QWidget, name: str) -> QScrollArea:
        scroll = QScrollArea(objectName=name)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        return scroll

    def _build_run_box(self) -> QGroupBox:
        box = QGroupBox("Run the selected lab")
        rows = QVBoxLayout(box)
        folder = QHBoxLayout()
        folder.addWidget(QLabel("folder"))
        self.labsOutEdit = QLineEdit(objectName="labsOutEdit")
        self.labsOutEdit.setToolTip("The lab writes report.json, report.md, its plots and its trained runs (runs/) "
                                    "here.")
        folder.addWidget(self.labsOutEdit, 1)
        self.labsBrowseButton = QPushButton("Browse…", objectName="labsBrowseButton")
        folder.addWidget(self.labsBrowseButton)
        self.labsOpenButton = QPushButton("Open report…", objectName="labsOpenButton")
        self.labsOpenButton.setToolTip("Show the report of a lab folder written before (by the studio or by "
                                       "ddpm-studio lab)")
        folder.addWidget(self.labsOpenButton)
        rows.addLayout(folder)

        buttons = QHBoxLayout()
        self.labsResumeCheck = QCheckBox("Resume", objectName="labsResumeCheck")
        self.labsResumeCheck.setToolTip("Reuse the runs this lab already trained in the folder (after a cancel)")
        buttons.addWidget(self.labsResumeCheck)
        self.labsForceCheck = QCheckBox("Start over", objectName="labsForceCheck")
        self.labsForceCheck.setToolTip("Delete what the folder holds of a lab (runs, report, plots) and start over")
        buttons.addWidget(self.labsForceCheck)
        buttons.addStretch(1)
        self.labsRunQuickButton = QPushButton("Run quick", objectName="labsRunQuickButton")
        self.labsRunQuickButton.setDefault(True)
        self.labsRunFullButton = QPushButton("Run full", objectName="labsRunFullButton")
        self.labsCancelButton = QPushButton("Cancel", objectName="labsCancelButton")
        self.labsCancelButton.setToolTip("Stop at the next step; the runs already trained stay (Resume reuses them)")
        for button in (self.labsRunQuickButton, self.labsRunFullButton, self.labsCancelButton):
            buttons.addWidget(button)
        rows.addLayout(buttons)

        progress = QHBoxLayout()
        self.labsProgressBar = QProgressBar(objectName="labsProgressBar")
        self.labsProgressBar.setRange(0, 1000)
        self.labsProgressBar.setValue(0)
        self.labsProgressBar.setTextVisible(True)
        self.labsProgressBar.setFormat("")
        self.labsProgressBar.setMaximumWidth(260)
        progress.addWidget(self.labsProgressBar)
        self.labsStageLabel = QLabel(objectName="labsStageLabel")
        self.labsStageLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        progress.addWidget(self.labsStageLabel, 1)
        rows.addLayout(progress)
        return box

    # ------------------------------------------------------------------ public API
    @property
    def labsPlots(self) -> list[QLabel]:  # noqa: N802 (named as its widgets)
        """The QLabels of the shown report's plots."""
        return self.labsResult.labsPlots

    @property
    def running(self) -> bool:
        return self._running

    def selected_name(self) -> str:
        item = self.labsList.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else next(iter(LAB_MODULES))

    def select(self, name: str) -> None:
        for row in range(self.labsList.count()):
            if self.labsList.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.labsList.setCurrentRow(row)
                return

    def default_folder(self, name: str) -> str:
        return str(self._out_root / name)

    def run(self, budget: str) -> None:
        """Ask for the selected lab with ``budget`` ("quick" or "full") in the folder of the field."""
        if self._running:
            return
        text = self.labsOutEdit.text().strip()
        if not text:
            self._status("Choose the lab's folder.", error=True)
            return
        self._request = LabRequest(self.selected_name(), budget, Path(text).expanduser(),
                                   resume=self.labsResumeCheck.isChecked(), force=self.labsForceCheck.isChecked())
        self.runRequested.emit(self._request)  # the presenter answers with job_started or show_failure

    def cancel(self) -> None:
        """Stop the lab at its next step; the runs it trained stay in the folder (Resume reuses them)."""
        if self._running and not self._stopping:
            self._stopping = True
            self.cancelRequested.emit()
            self._status("Cancelling at the next step…")
            self._update_controls()

    def open_folder(self, folder: str) -> None:
        """Show the report of a lab folder (the presenter reads it: show_report or show_failure)."""
        self.openRequested.emit(str(folder))

    def shutdown(self) -> None:
        self.shutdownRequested.emit()

    def ask_existing(self, request: LabRequest) -> str | None:
        """The folder already holds this lab: Resume (reuse its runs), Start over (delete them) or Cancel (None)."""
        box = QMessageBox(QMessageBox.Icon.Question, "The folder holds this lab",
                          f"{request.out_dir} already holds lab {request.name}. Resume reuses the runs it trained; "
                          "Start over deletes its runs, report and plots first.", parent=self)
        resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
        start_over = box.addButton("Start over", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(resume)
        box.exec()
        clicked = box.clickedButton()
        return RESUME if clicked is resume else START_OVER if clicked is start_over else None

    # ------------------------------------------------------------------ what the presenter reports
    def job_started(self, request: LabRequest) -> None:
        self._request = request
        self._running, self._stopping = True, False
        self._started = time.monotonic()
        self.labsProgressBar.setRange(0, 0)  # busy until the first progress
        self.labsProgressBar.setFormat("")
        self.labsStageLabel.setText("starting…")
        how = " (resuming)" if request.resume else " (starting over)" if request.force else ""
        self._status(f"Running {request.name} ({request.budget}){how} in {request.out_dir}…")
        self._update_controls()

    def show_progress(self, stage: str, overall: float) -> None:
        self.labsProgressBar.setRange(0, 1000)
        self.labsProgressBar.setValue(round(1000 * overall))
        self.labsProgressBar.setFormat(f"{overall:.0%}")
        elapsed = time.monotonic() - self._started
        left = ""
        if overall >= 0.05 and elapsed > 10:  # the first stages' pace says little about the rest
            left = f" — about {max(1, round(elapsed * (1 - overall) / overall / 60))} min left"
        self.labsStageLabel.setText(f"{stage}{left}")

    def show_report(self, report: Mapping[str, Any], folder: Path) -> None:
        """Draw a report in the result pane (:class:`~ddpm_studio.gui.widgets.lab_report.LabReportView`) and
        make its folder the one the Run buttons use."""
        self.report, self.report_folder = dict(report), Path(folder)
        self.labsResult.show_report(report, folder)
        self.labsOpenFolderButton.setEnabled(True)
        if report["lab"] in LAB_MODULES and not self._running:
            self.select(str(report["lab"]))  # before the tab switch: choosing a lab shows its details tab
            self.labsOutEdit.setText(str(folder))  # Run again here then resumes or starts this folder over
        self.labsTabs.setCurrentWidget(self.labsResult)
        self._status(f"{report['lab']}: {report['verdict']}. The report is in {folder}.")

    def show_cancelled(self, stage: str) -> None:
        where = f" in “{stage}”" if stage else ""
        self._status(f"Cancelled{where}; the runs already trained stay in the folder: check Resume and run again "
                     "to reuse them.")

    def show_failure(self, text: str) -> None:
        """A one-sentence problem (a folder the lab may not use, a report that cannot be read, a failed run)."""
        self._status(gui_wording(text), error=True)
        self.message.emit(f"Labs: {gui_wording(text)}")

    def job_ended(self) -> None:
        self._running = self._stopping = False
        self.labsProgressBar.setRange(0, 1000)
        if self.report is not None and self._request is not None and self.report.get("lab") == self._request.name \
                and self.report_folder == self._request.out_dir:
            self.labsProgressBar.setValue(1000)
            self.labsProgressBar.setFormat("done")
        else:
            self.labsProgressBar.setValue(0)
            self.labsProgressBar.setFormat("")
        self.labsStageLabel.setText("")
        self._update_controls()

    def _status(self, text: str, error: bool = False) -> None:
        self.labsStatusLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR};" if error else "")
        self.labsStatusLabel.setText(text)

    def _lab_chosen(self, current: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        if current is None:
            return
        name = current.data(Qt.ItemDataRole.UserRole)
        recipe = get_recipe(name)
        self.labsDetails.setText(details_html(recipe))
        self.labsRunQuickButton.setText(f"Run quick (~{_minutes(recipe.quick.minutes)})")
        self.labsRunFullButton.setText(f"Run full (~{_minutes(recipe.full.minutes)})")
        self.labsRunQuickButton.setToolTip(budget_line(recipe.quick))
        self.labsRunFullButton.setToolTip(budget_line(recipe.full))
        # the folder follows the lab unless the user typed one of their own
        before = previous.data(Qt.ItemDataRole.UserRole) if previous is not None else None
        text = self.labsOutEdit.text().strip()
        if not self._running and (not text or before is None or text == self.default_folder(before)
                                  or (self.report_folder is not None and text == str(self.report_folder))):
            self.labsOutEdit.setText(self.default_folder(name))
        if not self._running:
            self.labsTabs.setCurrentIndex(0)

    def _update_controls(self, *_args: object) -> None:
        running = self._running
        has_folder = bool(self.labsOutEdit.text().strip())
        for widget in (self.labsRunQuickButton, self.labsRunFullButton):
            widget.setEnabled(not running and has_folder)
        for widget in (self.labsOutEdit, self.labsBrowseButton, self.labsResumeCheck, self.labsForceCheck,
                       self.labsOpenButton):
            widget.setEnabled(not running)
        self.labsCancelButton.setEnabled(running and not self._stopping)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the lab", self.labsOutEdit.text())
        if folder:
            self.labsOutEdit.setText(folder)

    def _choose_report(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a lab folder (its report.json)",
                                                  self.labsOutEdit.text())
        if folder:
            self.open_folder(folder)

    def _show_folder(self) -> None:
        if self.report_folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report_folder)))

