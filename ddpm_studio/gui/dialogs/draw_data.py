"""Setup → Draw data…: draw a 2-D data set by hand, start from a built-in one, save it, train on it.

Click or drag on the canvas to place points with a brush (a radius, and a density: points per dab); Erase mode
removes the points under the brush; Undo takes back the last stroke, Clear all of them; Start from loads a toy or
mixture fitted to the canvas, to reshape. "Use this data" saves the drawing as a plain .npy file (where it was
last saved, or in the studio's drawn-data folder) and emits ``dataChosen(path)``: from then on it is a user's file
like any other, loaded, split and trained by the same code; the run folder keeps a copy of it
(:mod:`ddpm_studio.core.io.run_data`). A drawing too small for a held-out split the verdict can judge against is
refused in one line (:func:`ddpm_studio.core.data.drawn.drawn_problem`).

The maths of a dab or an eraser stroke is :mod:`ddpm_studio.core.data.drawn`; this dialog keeps the array and its
undo history, and writes only small files (a 5,000-point drawing is 80 kB) on the GUI thread.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, QStandardPaths, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.data import load_array_file
from ddpm_studio.core.data.drawn import (
    CANVAS_EXTENT,
    MIN_DRAWN_POINTS,
    START_DATASETS,
    dab,
    drawn_problem,
    erase,
    fit_to_canvas,
    starting_points,
)
from ddpm_studio.core.io.run_data import save_points
from ddpm_studio.gui.style import ERROR_TEXT_COLOR, HINT_TEXT_COLOR, WrapLabel
from ddpm_studio.gui.widgets.dialog_fit import fitted_dialog_size
from ddpm_studio.gui.widgets.draw_canvas import DrawCanvas

#: QSettings key of the folder "Use this data" saves unsaved drawings in (default: the studio's data folder).
FOLDER_KEY = "draw/folder"
#: Strokes that can be taken back.
UNDO_DEPTH = 50
#: While dragging, a new dab once the cursor has moved this share of the radius: even density along a stroke.
DAB_SPACING = 0.5


def drawn_data_folder(settings: QSettings) -> Path:
    """Where unsaved drawings go when used: the settings' ``draw/folder``, else <app data>/drawn."""
    chosen = settings.value(FOLDER_KEY, "")
    if chosen:
        return Path(str(chosen))
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".ddpm-studio") / "drawn"


class DrawDataDialog(QDialog):
    """The drawing dialog (objectName ``drawDataDialog``); see the module docstring.

    Args:
        folder: where "Use this data" saves a drawing that was not saved yet.
        seed: seeds the brush's points.
        start: a drawing to begin with: a built-in name, a points file, or None for an empty canvas.

    Signals:
        dataChosen(path): the drawing was saved to ``path`` and is to be the run's data.
    """

    dataChosen = Signal(str)

    def __init__(self, parent: QWidget | None, folder: Path, seed: int = 0, start: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawDataDialog")
        self.setWindowTitle("Draw your own 2-D data")
        self._folder = Path(folder)
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._points = np.empty((0, 2))
        self._undo: list[np.ndarray] = []
        self._last_dab: tuple[float, float] | None = None
        self._saved: tuple[Path, int] | None = None  # (file, edit count) of the last save
        self._edits = 0

        layout = QHBoxLayout(self)
        self.canvas = DrawCanvas(self)
        self.canvas.setMinimumSize(320, 320)
        self.canvas.setToolTip("Click or drag to place points; in Erase mode, to remove them.")
        layout.addWidget(self.canvas, 1)
        side = QVBoxLayout()
        layout.addLayout(side)

        brush = QGroupBox("Brush")
        form = QFormLayout(brush)
        self.radiusSpin = QDoubleSpinBox(objectName="brushRadiusSpin")
        self.radiusSpin.setRange(0.05, 2.0)
        self.radiusSpin.setSingleStep(0.05)
        self.radiusSpin.setValue(0.3)
        self.radiusSpin.setToolTip(f"Radius of the brush, in the canvas's units (it spans ±{CANVAS_EXTENT:g}).")
        self.radiusSpin.valueChanged.connect(self.canvas.set_brush_radius)
        self.canvas.set_brush_radius(self.radiusSpin.value())
        form.addRow("Radius", self.radiusSpin)
        self.densitySpin = QSpinBox(objectName="brushDensitySpin")
        self.densitySpin.setRange(1, 200)
        self.densitySpin.setValue(20)
        self.densitySpin.setToolTip("Points each dab places, uniformly on the brush's disc; dragging places a dab "
                                    "every half radius.")
        form.addRow("Density", self.densitySpin)
        self.drawModeButton = QPushButton("Draw", objectName="drawModeButton", checkable=True, checked=True)
        self.eraseModeButton = QPushButton("Erase", objectName="eraseModeButton", checkable=True)
        self.eraseModeButton.setToolTip("Remove the points under the brush.")
        modes = QButtonGroup(self)
        modes.setExclusive(True)
        row = QHBoxLayout()
        for button in (self.drawModeButton, self.eraseModeButton):
            modes.addButton(button)
            row.addWidget(button)
        form.addRow("Mode", row)
        edits = QHBoxLayout()
        self.undoButton = QPushButton("Undo", objectName="undoDrawingButton")
        self.undoButton.setToolTip("Take back the last stroke, load or clear.")
        self.undoButton.clicked.connect(self.undo)
        self.clearButton = QPushButton("Clear", objectName="clearDrawingButton")
        self.clearButton.clicked.connect(self.clear)
        edits.addWidget(self.undoButton)
        edits.addWidget(self.clearButton)
        form.addRow("", edits)
        side.addWidget(brush)

        start_box = QGroupBox("Start from")
        start_row = QHBoxLayout(start_box)
        self.startCombo = QComboBox(objectName="drawStartCombo")
        self.startCombo.addItems(list(START_DATASETS))
        self.startCombo.setToolTip("A built-in toy or mixture, fitted to the canvas, to reshape by hand.")
        self.loadStartButton = QPushButton("Load", objectName="loadStartButton")
        self.loadStartButton.clicked.connect(lambda: self.load_start(self.startCombo.currentText()))
        start_row.addWidget(self.startCombo, 1)
        start_row.addWidget(self.loadStartButton)
        side.addWidget(start_box)

        self.countLabel = QLabel(objectName="drawCountLabel")
        side.addWidget(self.countLabel)
        self.messageLabel = WrapLabel(objectName="drawMessageLabel")
        side.addWidget(self.messageLabel)
        side.addStretch(1)
        self.saveButton = QPushButton("Save as .npy…", objectName="saveDrawingButton")
        self.saveButton.clicked.connect(lambda: self.save_as())
        side.addWidget(self.saveButton)
        self.useButton = QPushButton("Use this data", objectName="useDrawingButton", default=True)
        self.useButton.setToolTip("Save the drawing and make it the run's data (Setup's Data).")
        self.useButton.clicked.connect(self.use_data)
        side.addWidget(self.useButton)
        self.cancelButton = QPushButton("Close", objectName="closeDrawingButton")
        self.cancelButton.clicked.connect(self.reject)
        side.addWidget(self.cancelButton)

        self.canvas.stroked.connect(self._stroke)
        self.canvas.strokeEnded.connect(self._end_stroke)
        if start:
            self._begin_with(start)
        self._update_count()
        self.resize(fitted_dialog_size(self, QSize(860, 600)))

    # ------------------------------------------------------------------ the drawing
    @property
    def points(self) -> np.ndarray:
        """The drawing: float64 (N, 2) in the canvas's units."""
        return self._points

    def set_points(self, points: np.ndarray, undoable: bool = True) -> None:
        if undoable:
            self._remember()
        self._points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self._edited()

    def load_start(self, name: str) -> None:
        """Replace the drawing by a built-in set (undoable)."""
        self.set_points(starting_points(name, seed=self._seed))
        self._say(f"Loaded {name}: reshape it with the brush, or erase parts of it.")

    def clear(self) -> None:
        self.set_points(np.empty((0, 2)))

    def undo(self) -> None:
        if self._undo:
            self._points = self._undo.pop()
            self._edited()

    def _begin_with(self, start: str) -> None:
        """An existing points file (e.g. an earlier drawing) or a built-in set as the first drawing."""
        if start in START_DATASETS:
            self.set_points(starting_points(start, seed=self._seed), undoable=False)
            return
        try:
            array = np.asarray(load_array_file(start), dtype=np.float64)
        except (ValueError, OSError):
            return
        if array.ndim == 2 and array.shape[1] == 2 and len(array) and np.isfinite(array).all():
            inside = np.abs(array).max() <= CANVAS_EXTENT
            self.set_points(array if inside else fit_to_canvas(array), undoable=False)

    def _remember(self) -> None:
        self._undo.append(self._points)
        del self._undo[:-UNDO_DEPTH]

    def _stroke(self, x: float, y: float, first: bool) -> None:
        radius = self.radiusSpin.value()
        if first:
            self._remember()
        elif self._last_dab is not None and math.dist(self._last_dab, (x, y)) < DAB_SPACING * radius:
            return
        self._last_dab = (x, y)
        if self.eraseModeButton.isChecked():
            self._points = erase(self._points, (x, y), radius)
        else:
            self._points = np.concatenate([self._points, dab((x, y), radius, self.densitySpin.value(), self._rng)])
        self._edited()

    def _end_stroke(self) -> None:
        self._last_dab = None

    def _edited(self) -> None:
        self._edits += 1
        self.canvas.set_points(self._points)
        self._update_count()

    def _update_count(self) -> None:
        count = len(self._points)
        missing = MIN_DRAWN_POINTS - count
        need = f": {missing} more to train" if missing > 0 else ""
        self.countLabel.setText(f"{count:,} point{'s' if count != 1 else ''}{need}")
        self.undoButton.setEnabled(bool(self._undo))

    def _say(self, text: str, error: bool = False) -> None:
        self.messageLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR if error else HINT_TEXT_COLOR};")
        self.messageLabel.setText(text)

    # ------------------------------------------------------------------ files
    def save_as(self, path: str | None = None) -> Path | None:
        """Save the drawing as .npy (asked for with a file dialog when ``path`` is None); the file, or None."""
        if not len(self._points):
            self._say("Nothing to save yet: draw some points first.", error=True)
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save the drawing", str(self._folder / "drawing.npy"),
                                                  "NumPy array (*.npy)")
            if not path:
                return None
        target = Path(path) if Path(path).suffix.lower() == ".npy" else Path(f"{path}.npy")
        try:
            save_points(target, self._points)
        except OSError as exc:
            self._say(f"Cannot save {target}: {exc.strerror or exc}", error=True)
            return None
        self._saved = (target, self._edits)
        self._say(f"Saved {len(self._points):,} points to {target}.")
        return target

    def _fresh_path(self) -> Path:
        """A new file in the drawn-data folder: a run trained on an earlier drawing keeps its own file."""
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path, number = self._folder / f"drawn-{stamp}.npy", 2
        while path.exists():
            path, number = self._folder / f"drawn-{stamp}-{number}.npy", number + 1
        return path

    def use_data(self) -> None:
        """Save the drawing (if changed since the last save) and make it the run's data; refused when too small."""
        problem = drawn_problem(self._points)
        if problem is not None:
            self._say(f"Cannot use this drawing: {problem}", error=True)
            return
        if self._saved is not None and self._saved[1] == self._edits:
            target: Path | None = self._saved[0]
        else:
            target = self.save_as(str(self._fresh_path()))
        if target is None:
            return
        self.dataChosen.emit(str(target))
        self.accept()
