"""The Setup dock's data choice: the data combo's entries (built-in sets and the user's files), the classes and
training-item counts of the data loaded so far, the class-conditional check they allow, and the batch size lowered
to fit a small data set (and given back when the data changes again).

The Draw data… button (``drawDataButton``) is made here too; the main window opens the drawing dialog on it.

A mixin of :class:`~ddpm_studio.gui.docks.setup.SetupDock`: it uses the dock's controls (``datasetCombo``,
``batchSpin``, ``conditionalCheck``), its signals (``kindChanged``, ``dataPathChosen``) and its ``config()``,
``_fill_training()`` and ``_changed()``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QPushButton

from ddpm_studio.core.config import fit_batch_size
from ddpm_studio.gui.docks.setup_options import (
    CONDITIONAL_TOOLTIP,
    DATA_FILTER,
    IMAGE_SUFFIXES,
    kind_defaults,
)


class SetupData:
    """The data set choice of the Setup dock (see the module docstring)."""

    def _draw_data_button(self) -> QPushButton:
        """Setup → Draw data…: the main window opens the drawing dialog on its click."""
        self.drawDataButton = QPushButton("Draw data…", objectName="drawDataButton")
        self.drawDataButton.setToolTip("Draw your own 2-D points (or reshape a built-in set) and train on them.")
        return self.drawDataButton

    # ------------------------------------------------------------------ public API
    def select_builtin(self, name: str) -> bool:
        """Choose a built-in data set by name; False if there is none of that name."""
        for index in range(self.datasetCombo.count()):
            data = self.datasetCombo.itemData(index)
            if isinstance(data, dict) and data.get("spec") == name:
                self.datasetCombo.setCurrentIndex(index)
                return True
        return False

    def add_data_source(self, spec: str, kind: str, name: str | None = None) -> None:
        """Offer a loaded file or folder in the data combo (once) and select it."""
        label = f"{name or Path(spec).name}  ({'2-D points' if kind == 'points' else 'images'})"
        for index in range(self.datasetCombo.count()):
            data = self.datasetCombo.itemData(index)
            if isinstance(data, dict) and data.get("spec") == spec:
                self.datasetCombo.setItemData(index, {"spec": spec, "kind": kind})
                self.datasetCombo.setCurrentIndex(index)
                return
        position = self.datasetCombo.count() - 2  # above the separator and "Open folder/file…"
        self.datasetCombo.insertItem(position, label, {"spec": spec, "kind": kind})
        self.datasetCombo.setItemData(position, spec, Qt.ItemDataRole.ToolTipRole)
        self.datasetCombo.setCurrentIndex(position)

    def set_data_size(self, spec: str, num_train: int, num_classes: int | None = None) -> None:
        """Record how many training items a loaded data set has.

        When it is the chosen data and the batch size is larger, the batch size is lowered to fit, with a note
        under the controls; a larger batch size chosen afterwards is explained as a problem (Train is disabled)
        instead of failing only once training starts.
        """
        known = self._data_sizes.get(spec)
        self._data_sizes[spec] = num_train
        self._data_classes[spec] = num_classes
        self._update_conditional()
        fitted = spec == self.data_spec() and self._fit_batch()
        if fitted or known != num_train:
            self._changed()

    def data_classes(self) -> int | None:
        """K of the chosen data when it is loaded and labelled; None otherwise."""
        return self._data_classes.get(self.data_spec())

    def _update_conditional(self) -> None:
        """The conditional check is usable only where the chosen data has labels (M34)."""
        classes = self.data_classes()
        self.conditionalCheck.setEnabled(classes is not None)
        self.conditionalCheck.setToolTip(CONDITIONAL_TOOLTIP if classes is not None else
                                         f"{CONDITIONAL_TOOLTIP} This data has no class labels (or is not loaded).")
        if classes is None:
            self.conditionalCheck.setChecked(False)

    # ------------------------------------------------------------------ reactions
    def _data_changed(self, index: int) -> None:
        data = self.datasetCombo.itemData(index)
        if not isinstance(data, dict):
            return
        if data["spec"] is None:  # "Open folder/file…": go back to the current data set, then ask
            self.datasetCombo.blockSignals(True)
            self.datasetCombo.setCurrentIndex(self._previous_data_index)
            self.datasetCombo.blockSignals(False)
            QTimer.singleShot(0, self.ask_for_data)
            return
        self._previous_data_index = index
        self._update_conditional()
        if self._filling:
            return
        if data["kind"] != self._kind:
            self._kind = data["kind"]
            self._base = kind_defaults(data["spec"], self._kind)
            self._fill_training(self._base, self._kind)
            self.kindChanged.emit(self._kind)
        self._restore_batch()
        self._fit_batch()
        self._changed()

    def _fit_key(self) -> tuple[str, int | None]:
        """What the batch size is fitted to: the chosen data and its training subset."""
        return self.data_spec(), self.subsetSpin.value() or None

    def _subset_changed(self, _value: int) -> None:
        """A subset smaller than the batch lowers the batch size too (a batch of 64 from 10 images repeats each
        image six times in every step); a larger one gives back the size it had."""
        if self._filling:
            return
        self._restore_batch()
        self._fit_batch()
        self._changed()

    def _restore_batch(self) -> None:
        """Leaving a data set (or subset) the batch size was lowered for gives back the size it had, unless
        changed since."""
        note, self._batch_note = self._batch_note, None
        if note is None or note[0] == self._fit_key() or self.batchSpin.value() != note[1]:
            self._batch_note = note
            return
        was_filling, self._filling = self._filling, True
        try:
            self.batchSpin.setValue(note[2])
        finally:
            self._filling = was_filling

    def _fit_batch(self) -> bool:
        """Lower the batch size to the chosen data's training items when it is known and smaller (with a note)."""
        spec = self.data_spec()
        size = self._data_sizes.get(spec)
        if size is None:
            return False
        subset = self.subsetSpin.value()
        of = f"{Path(spec).name} has only {size} training items"
        if 0 < subset < size:
            size, of = subset, f"training on a subset of {subset} items"
        train = self.config().train
        previous = fit_batch_size(train, size)
        if previous is None:
            return False
        was_filling, self._filling = self._filling, True
        try:
            self.batchSpin.setValue(train.batch_size)
        finally:
            self._filling = was_filling
        note = f"Batch size lowered from {previous} to {train.batch_size}: {of}."
        self._batch_note = (self._fit_key(), train.batch_size, previous, note)
        return True

    def ask_for_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open data: an array or IDX file, or any image inside an image folder", "", DATA_FILTER)
        if not path:
            return
        chosen = Path(path)
        if chosen.suffix.lower() in IMAGE_SUFFIXES:
            chosen = chosen.parent  # one image stands for its folder
        self.dataPathChosen.emit(str(chosen))
