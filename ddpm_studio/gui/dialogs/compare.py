"""The Compare dialog: Ho et al. 2020, Table 2 at desk scale, filled in row by row while the runs train.

Public API (objectName ``compareDialog``):

- ``CompareDialog(parent, data, default_out_dir)``: ``data`` prefills the data set (a built-in name or a path);
  ``default_out_dir`` the output folder (when it already holds files, the first free ``<folder>-2``, ``-3``, …
  is offered instead, so a second comparison never collides with the first).
- ``start()`` / ``cancel()``: what the Start / Cancel button does; ``running`` says whether a comparison runs.
- ``reject()`` / ``closeEvent()`` (Close button, Escape, the window's close box, ``close()``) cancel the
  comparison and wait for its worker thread before the dialog goes away.
- ``rows``: the :class:`~ddpm_studio.core.compare.CompareRow` of every finished setting; ``finished``: the
  :class:`~ddpm_studio.core.compare.CompareFinished` once every setting ran (None before).
- Signal ``message(str)``: status text for the main window's status bar.
- The dialog starts nothing itself: it emits ``startRequested(ComparisonRequest)``, ``cancelRequested`` and
  ``shutdownRequested``; its presenter (:class:`~ddpm_studio.gui.presenters.compare.ComparePresenter`) runs the
  job and calls back ``job_started``, ``show_progress``, ``add_row``, ``show_finished``, ``show_cancelled``,
  ``show_failure`` and ``job_ended``.

Controls: ``compareDataCombo``, ``compareStepsSpin``, ``compareTimestepsSpin``, ``compareScheduleCombo``,
``compareEvalSpin``, ``compareSettingsList`` (checkable), ``compareOutEdit`` + ``compareOutButton`` (a
QFileDialog.getExistingDirectory), ``compareStartButton`` (reads "Cancel" while running),
``compareProgressBar`` ("run 2/6: mean/vlb — training 340/1500"), ``compareBudgetNote`` (shown when the steps are
too few to reproduce Ho et al.'s ordering, :func:`~ddpm_studio.core.compare.budget_warning`), ``compareTable``
(its "far off" column counts the samples the score leaves out, :mod:`~ddpm_studio.core.scores.far_off`; the thumbnails
draw them in red at their edge), ``compareStatusLabel`` and ``compareOpenFolderButton``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core import choices
from ddpm_studio.core.compare import (
    CSV_NAME,
    DEFAULT_SETTINGS,
    EVAL_EXAMPLES,
    CompareFinished,
    CompareProgress,
    CompareRow,
    Setting,
    budget_warning,
)
from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import BUILTIN_DATASETS
from ddpm_studio.gui.style import ERROR_TEXT_COLOR, HINT_TEXT_COLOR
from ddpm_studio.gui.widgets.compare_table import (
    COLUMNS,
    fill_row,
    free_folder,
    make_settings_list,
    make_table,
    progress_text,
    score_header,
)
from ddpm_studio.gui.widgets.dialog_fit import fitted_dialog_size

#: The shortest chain the linear schedule allows (the rule lives in core/choices; kept here for old imports).
LINEAR_MIN_T = choices.LINEAR_MIN_T
DEFAULT_T = 1000
START_TEXT = "Start"
CANCEL_TEXT = "Cancel"


@dataclass(frozen=True)
class ComparisonRequest:
    """What Start asks the presenter to run: the arguments of :func:`ddpm_studio.core.compare.iter_compare`."""

    data: str  # a built-in data set's name or a path
    steps: int  # training steps per setting
    out_dir: Path
    settings: list[Setting]
    num_timesteps: int
    schedule: str
    eval_examples: int


class CompareDialog(QDialog):
    """Train several settings on the same data, seed and budget; tabulate loss, bound, score, time, samples."""

    message = Signal(str)
    startRequested = Signal(object)  # ComparisonRequest
    cancelRequested = Signal()
    shutdownRequested = Signal()  # closing: stop the comparison and wait for it

    def __init__(self, parent: QWidget | None, data: str, default_out_dir: str) -> None:
        super().__init__(parent)
        self.setObjectName("compareDialog")
        self.setWindowTitle("Compare settings")
        self.resize(fitted_dialog_size(self, QSize(1040, 700)))
        self.rows: list[CompareRow] = []
        self.finished: CompareFinished | None = None
        self._running = self._stopping = False  # as the presenter reports them
        self._out_dir: Path | None = None
        self._rows_data = ""  # the data set the rows were made on
        kind = BUILTIN_DATASETS.get(data, "points")
        defaults = default_config(data, kind)

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Each checked setting trains on the same data, seed and budget, one after another; then "
            "the exact bound on held-out data, samples and a quality score (Ho et al. 2020, Table 2)."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        layout.addWidget(intro)

        top = QHBoxLayout()
        self._form = QWidget()
        form = QFormLayout(self._form)
        form.setContentsMargins(0, 0, 0, 0)
        self.compareDataCombo = QComboBox(objectName="compareDataCombo")
        self.compareDataCombo.setEditable(True)
        self.compareDataCombo.addItems(list(BUILTIN_DATASETS))
        self.compareDataCombo.setCurrentText(data)
        self.compareDataCombo.setToolTip("A built-in data set, or the path of a file or folder.")
        form.addRow("data", self.compareDataCombo)
        self.compareStepsSpin = QSpinBox(objectName="compareStepsSpin")
        self.compareStepsSpin.setRange(1, 10_000_000)
        self.compareStepsSpin.setSingleStep(100)
        self.compareStepsSpin.setValue(defaults.train.steps)
        self.compareStepsSpin.setToolTip("Training steps of every setting (the same budget for each row).")
        form.addRow("steps per setting", self.compareStepsSpin)
        self.compareTimestepsSpin = QSpinBox(objectName="compareTimestepsSpin")
        self.compareTimestepsSpin.setRange(1, 100_000)
        self.compareTimestepsSpin.setValue(DEFAULT_T)
        self.compareTimestepsSpin.setToolTip("Diffusion steps T; the bound costs T forward passes per batch.")
        form.addRow("T", self.compareTimestepsSpin)
        self.compareScheduleCombo = QComboBox(objectName="compareScheduleCombo")
        for index, schedule in enumerate(choices.SCHEDULES):
            self.compareScheduleCombo.addItem(schedule.name)
            self.compareScheduleCombo.setItemData(
                index, f"{schedule.label} ({schedule.math}): {schedule.help}", Qt.ItemDataRole.ToolTipRole
            )
        self.compareScheduleCombo.setCurrentText(defaults.diffusion.schedule)
        form.addRow("schedule", self.compareScheduleCombo)
        self.compareEvalSpin = QSpinBox(objectName="compareEvalSpin")
        self.compareEvalSpin.setRange(1, 100_000)
        self.compareEvalSpin.setValue(EVAL_EXAMPLES)
        self.compareEvalSpin.setToolTip("Held-out examples each bound averages.")
        form.addRow("bound examples", self.compareEvalSpin)
        out_row = QHBoxLayout()
        self.compareOutEdit = QLineEdit(free_folder(default_out_dir), objectName="compareOutEdit")
        self.compareOutEdit.setToolTip("One run folder per setting is written here, plus compare.csv and compare.md.")
        out_row.addWidget(self.compareOutEdit, 1)
        self.compareOutButton = QPushButton("Choose…", objectName="compareOutButton")
        out_row.addWidget(self.compareOutButton)
        form.addRow("output folder", out_row)
        top.addWidget(self._form, 3)

        self.compareSettingsList = make_settings_list(DEFAULT_SETTINGS)
        settings_box = QGroupBox("settings (prediction / loss)")
        QVBoxLayout(settings_box).addWidget(self.compareSettingsList)
        top.addWidget(settings_box, 2)
        layout.addLayout(top)

        run_row = QHBoxLayout()
        self.compareStartButton = QPushButton(START_TEXT, objectName="compareStartButton")
        self.compareStartButton.setDefault(True)
        run_row.addWidget(self.compareStartButton)
        self.compareProgressBar = QProgressBar(objectName="compareProgressBar")
        self.compareProgressBar.setRange(0, 1)
        self.compareProgressBar.setValue(0)
        self.compareProgressBar.setFormat("")
        run_row.addWidget(self.compareProgressBar, 1)
        layout.addLayout(run_row)

        self.compareBudgetNote = QLabel(objectName="compareBudgetNote")
        self.compareBudgetNote.setWordWrap(True)
        self.compareBudgetNote.setStyleSheet(f"color: {ERROR_TEXT_COLOR};")
        self.compareBudgetNote.setVisible(False)
        layout.addWidget(self.compareBudgetNote)

        self.compareTable = make_table()
        layout.addWidget(self.compareTable, 1)

        bottom = QHBoxLayout()
        self.compareStatusLabel = QLabel(objectName="compareStatusLabel")
        self.compareStatusLabel.setWordWrap(True)
        self.compareStatusLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom.addWidget(self.compareStatusLabel, 1)
        self.compareOpenFolderButton = QPushButton("Open folder", objectName="compareOpenFolderButton")
        self.compareOpenFolderButton.setEnabled(False)
        bottom.addWidget(self.compareOpenFolderButton)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)

        self.compareStartButton.clicked.connect(self._toggle)
        self.compareOutButton.clicked.connect(self._choose_folder)
        self.compareOpenFolderButton.clicked.connect(self._open_folder)
        for signal in (
            self.compareDataCombo.currentTextChanged,
            self.compareStepsSpin.valueChanged,
            self.compareTimestepsSpin.valueChanged,
            self.compareScheduleCombo.currentTextChanged,
            self.compareOutEdit.textChanged,
            self.compareSettingsList.itemChanged,
        ):
            signal.connect(self._update_controls)
        self._update_controls()

    # ------------------------------------------------------------------ public API
    @property
    def running(self) -> bool:
        return self._running

    def checked_settings(self) -> list[Setting]:
        items = (self.compareSettingsList.item(i) for i in range(self.compareSettingsList.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def problem(self) -> str | None:
        """Why Start cannot run now, or None."""
        if not self.compareDataCombo.currentText().strip():
            return "Choose a data set."
        if not self.checked_settings():
            return "Check at least one setting."
        if not self.compareOutEdit.text().strip():
            return "Choose an output folder."
        rule = choices.linear_schedule_problem(
            self.compareScheduleCombo.currentText(), self.compareTimestepsSpin.value()
        )
        return None if rule is None else f"{rule[0].upper()}{rule[1:]}."

    def start(self) -> None:
        """Start the comparison with the dialog's settings (a message says why not)."""
        if self.running:
            return
        problem = self.problem()
        if problem is not None:
            self._status(problem, error=True)
            return
        self.rows, self.finished = [], None
        self._rows_data = self.compareDataCombo.currentText().strip()
        self.compareTable.setRowCount(0)
        self._set_header(COLUMNS.index("bound"), "bound")
        self._set_header(COLUMNS.index("score"), "score")
        self._out_dir = Path(self.compareOutEdit.text().strip()).expanduser()
        settings = self.checked_settings()
        self._settings_count = len(settings)
        self.startRequested.emit(ComparisonRequest(
            data=self.compareDataCombo.currentText().strip(),
            steps=self.compareStepsSpin.value(),
            out_dir=self._out_dir,
            settings=settings,
            num_timesteps=self.compareTimestepsSpin.value(),
            schedule=self.compareScheduleCombo.currentText(),
            eval_examples=self.compareEvalSpin.value(),
        ))  # the presenter answers with job_started

    def job_started(self) -> None:
        self._running, self._stopping = True, False
        self.compareProgressBar.setRange(0, 0)  # busy until the first progress report
        self.compareProgressBar.setFormat("starting…")
        self._status(f"Comparing {self._settings_count} settings in {self._out_dir}…")
        self._update_controls()

    def cancel(self) -> None:
        """Stop after the current step; the finished rows are already in compare.csv and compare.md."""
        if self._running and not self._stopping:
            self._stopping = True
            self.cancelRequested.emit()
            self._status("Cancelling after the current step…")
            self._update_controls()

    def reject(self) -> None:
        self._stop_and_join()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop_and_join()
        super().closeEvent(event)

    # ------------------------------------------------------------------ the worker
    def _toggle(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.start()

    def _stop_and_join(self) -> None:
        """Stop the comparison (it quits at the next step) and wait for its job."""
        self.shutdownRequested.emit()

    # ------------------------------------------------------------------ what the presenter reports
    def show_progress(self, event: CompareProgress) -> None:
        self.compareProgressBar.setFormat(progress_text(event))
        if event.phase == "prepare":
            self.compareProgressBar.setRange(0, 0)
        else:
            self.compareProgressBar.setRange(0, max(1, event.total))
            self.compareProgressBar.setValue(event.done)
        self.compareProgressBar.setToolTip(f"latest loss {event.loss:.4g}" if event.loss is not None else "")

    def add_row(self, row: CompareRow) -> None:
        self.rows.append(row)
        if len(self.rows) == 1:
            self._set_header(COLUMNS.index("bound"), f"bound ↓\n({row.bound_unit})")
            self._set_header(COLUMNS.index("score"), score_header(row.metric, row.floor))
        fill_row(self.compareTable, row)
        self.compareTable.scrollToBottom()
        self.compareOpenFolderButton.setEnabled(True)
        if len(self.rows) == 1:  # a data file's kind is known now: the budget note may apply to it
            self._update_budget_note()
        self.message.emit(f"Compared {row.name}: {row.status}.")

    def show_finished(self, finished: CompareFinished) -> None:
        self.finished = finished
        self._status(f"Done: {len(finished.rows)} settings; wrote {finished.csv_path} and {finished.markdown_path}.")
        self.message.emit(f"Comparison written to {finished.csv_path}.")

    def show_cancelled(self) -> None:
        where = f"; the {len(self.rows)} finished row(s) are in {self._out_dir / CSV_NAME}" if self.rows else ""
        self._status(f"Cancelled{where}.")
        self.message.emit("Comparison cancelled.")

    def show_failure(self, text: str) -> None:
        self._status(f"The comparison stopped: {text}", error=True)
        self.message.emit(f"The comparison stopped: {text}")

    def job_ended(self) -> None:
        self._running = self._stopping = False
        if self.finished is not None:
            self.compareProgressBar.setRange(0, 1)
            self.compareProgressBar.setValue(1)
            self.compareProgressBar.setFormat(f"{len(self.rows)} settings compared")
        else:
            self.compareProgressBar.setRange(0, 1)
            self.compareProgressBar.setValue(0)
            self.compareProgressBar.setFormat(f"stopped after {len(self.rows)} setting(s)")
        if self._out_dir is not None:  # offer a fresh folder, so that Start again does not collide
            self.compareOutEdit.setText(free_folder(self._out_dir))
        self._update_controls()

    # ------------------------------------------------------------------ display
    def _set_header(self, column: int, text: str) -> None:
        self.compareTable.setHorizontalHeaderItem(column, QTableWidgetItem(text))

    def _status(self, text: str, error: bool = False) -> None:
        self.compareStatusLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR};" if error else "")
        self.compareStatusLabel.setText(text)

    def _update_budget_note(self) -> None:
        """Show :func:`budget_warning` for the chosen data and steps (a data file's kind is known from its rows)."""
        data = self.compareDataCombo.currentText().strip()
        kind = BUILTIN_DATASETS.get(data)
        if kind is None and self.rows and data == self._rows_data:
            kind = "points" if self.rows[0].metric == "sliced_wasserstein" else "images"
        warning = budget_warning(kind, self.compareStepsSpin.value()) if kind else None
        self.compareBudgetNote.setText(f"⚠ {warning}" if warning else "")
        self.compareBudgetNote.setVisible(warning is not None)

    def _update_controls(self, *_args) -> None:
        if not self.running:
            self._update_budget_note()
        running = self.running
        self._form.setEnabled(not running)
        self.compareSettingsList.setEnabled(not running)
        stopping = running and self._stopping
        self.compareStartButton.setText(CANCEL_TEXT if running else START_TEXT)
        self.compareStartButton.setEnabled(not stopping if running else self.problem() is None)
        problem = None if running else self.problem()
        self.compareStartButton.setToolTip(
            problem or ("Stop after the current step" if running else "Train and evaluate every checked setting")
        )

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the comparison", self.compareOutEdit.text())
        if folder:
            self.compareOutEdit.setText(folder)

    def _open_folder(self) -> None:
        if self._out_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._out_dir)))
