"""The Trajectory dock's settings row: how many samples, how many network evaluations, which method on which
timestep spacing, DDIM's η, Sample and "when training ends", Inpaint… (``inpaintButton``: RePaint, M57-M59); for
a class-conditional model a third row with the class to draw (``classCombo``: one class, or "all" for one row per
class) and the classifier-free guidance scale w (``guidanceSlider``, its value in ``guidanceLabel``; MATH.md M34).

The methods and spacings, their labels and help are the core's vocabulary (:mod:`ddpm_studio.core.choices`);
whether a method can spend the chosen number of evaluations is the core's rule
(:func:`ddpm_studio.core.sampling.check_num_steps`), reported here as one line for the status bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core import choices
from ddpm_studio.core.process.guidance import labels_for
from ddpm_studio.core.sampling import METHODS, check_num_steps, max_num_steps
from ddpm_studio.gui.style import spin_box

STEPS_TOOLTIP = (
    "Network evaluations (NFE) for every method, so runs with the same number cost the same. Ancestral and "
    "DDIM take one step per evaluation (fewer than T respaces the chain, M21); Heun spends two per step, so it "
    "can use up to 2T - 2."
)
#: The guidance slider moves in steps of 1 / GUIDANCE_TICKS up to GUIDANCE_SLIDER_MAX (w = 8 saturates digits).
#: A flow model's default evaluations in the studio: Euler at 20 NFE, the bar of issue 28's targets.
FLOW_DEFAULT_NFE = 20
GUIDANCE_TICKS = 4
#: Characters the method and spacing combos show at least when the dock is narrow (a 1024-px screen).
COMBO_MIN_CHARACTERS = 6
GUIDANCE_SLIDER_MAX = 10.0
DEFAULT_GUIDANCE = 3.0
GUIDANCE_TOOLTIP = (
    "Classifier-free guidance scale w (M34): (1 + w) ε(x, class) − w ε(x, ∅). 0 is the conditional model; "
    "larger w draws samples more typical of the class and less varied (diffusers' guidance_scale is 1 + w)."
)


def _choice_combo(name: str, options: tuple[choices.Choice, ...], what: str) -> QComboBox:
    """A combo of ``options``: their labels shown, code names as data, help (and MATH.md number) as item tips."""
    combo = QComboBox(objectName=name)
    _fill_choices(combo, options)
    combo.setToolTip(what)
    return combo


def _fill_choices(combo: QComboBox, options: tuple[choices.Choice, ...]) -> None:
    """Put ``options`` into ``combo`` (labels, code names as data, help as tips), keeping the current choice
    where the new options have it."""
    current = combo.currentData()
    combo.clear()
    for index, option in enumerate(options):
        combo.addItem(option.label, option.name)
        combo.setItemData(index, f"{option.help} ({option.math})" if option.math not in option.help else option.help,
                         Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(max(combo.findData(current), 0))


class SamplingBar(QWidget):
    """The row of sampling settings; its widgets keep the objectNames the window and tests address."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # two rows: one row of seven widgets outgrows the dock on a 1280-px screen and squeezes the Samples dock
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(QLabel("Samples"))
        self.numSamplesSpin = spin_box("numSamplesSpin", 1, 100_000, 1000, "How many samples to draw at once.")
        row.addWidget(self.numSamplesSpin)
        row.addWidget(QLabel("NFE"))
        self.sampleStepsSpin = spin_box("sampleStepsSpin", 1, 1000, 1000, STEPS_TOOLTIP)
        row.addWidget(self.sampleStepsSpin)
        self.sampleButton = QPushButton("Sample", objectName="sampleButton")
        self.sampleButton.setToolTip("Run the reverse process with the current model and record every step.")
        row.addWidget(self.sampleButton)
        self.autoSampleCheck = QCheckBox("when training ends", objectName="autoSampleCheck")
        self.autoSampleCheck.setChecked(True)
        self.autoSampleCheck.setToolTip("Sample automatically once a training run completes.")
        row.addWidget(self.autoSampleCheck)
        row.addStretch(1)
        rows.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Method"))
        self.methodCombo = _choice_combo("methodCombo", choices.METHODS,
                                         "The sampling method (hover an entry for what it does).")
        row.addWidget(self.methodCombo)
        row.addWidget(QLabel("spacing"))
        self.spacingCombo = _choice_combo("spacingCombo", choices.SPACINGS,
                                          "Which trained timesteps the method visits (hover an entry).")
        row.addWidget(self.spacingCombo)
        row.addWidget(QLabel("η"))
        self.etaSpin = QDoubleSpinBox(objectName="etaSpin")
        self.etaSpin.setRange(0.0, 1.0)
        self.etaSpin.setSingleStep(0.1)
        self.etaSpin.setToolTip("DDIM's η: 0 is deterministic, 1 matches ancestral sampling.")
        row.addWidget(self.etaSpin)
        row.addStretch(1)
        # the method row was already as wide as a 1024-px screen's dock: its combos now stretch into the room
        # there is and, where there is none, show their labels shortened (the list shows them whole), so that
        # Inpaint… fits beside them
        for combo in (self.methodCombo, self.spacingCombo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_MIN_CHARACTERS)
            index = row.indexOf(combo)
            row.setStretch(index, 1)
        row.takeAt(row.count() - 1)  # the stretch: the combos take the room
        self.inpaintButton = QPushButton("Inpaint…", objectName="inpaintButton")
        self.inpaintButton.setToolTip("Mark part of a digit (or fix one coordinate of 2-D data) and let the reverse "
                                      "process fill in the rest (RePaint, M57-M59).")
        row.addWidget(self.inpaintButton)
        rows.addLayout(row)
        self.classRow = QWidget(objectName="classRow")
        row = QHBoxLayout(self.classRow)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Class"))
        self.classCombo = QComboBox(objectName="classCombo")
        self.classCombo.setToolTip("The class to draw, or all: one row of samples per class.")
        row.addWidget(self.classCombo)
        row.addWidget(QLabel("guidance"))
        self.guidanceSlider = QSlider(Qt.Orientation.Horizontal, objectName="guidanceSlider")
        self.guidanceSlider.setRange(0, round(GUIDANCE_SLIDER_MAX * GUIDANCE_TICKS))
        self.guidanceSlider.setValue(round(DEFAULT_GUIDANCE * GUIDANCE_TICKS))
        self.guidanceSlider.setToolTip(GUIDANCE_TOOLTIP)
        row.addWidget(self.guidanceSlider, 1)
        self.guidanceLabel = QLabel(objectName="guidanceLabel")
        self.guidanceLabel.setMinimumWidth(self.guidanceLabel.fontMetrics().horizontalAdvance("w = 10.00"))
        row.addWidget(self.guidanceLabel)
        self.sweepButton = QPushButton("Sweep w…", objectName="guidanceSweepButton")
        self.sweepButton.setToolTip("Sample one x_T at several guidance scales side by side, with the trade-off.")
        row.addWidget(self.sweepButton)
        rows.addWidget(self.classRow)
        self.guidanceSlider.valueChanged.connect(self._guidance_changed)
        self._guidance_changed()
        self.num_classes: int | None = None
        self.process = "ddpm"  # the model's process: its samplers fill the combos (configure)
        self._classes_shown: tuple | None = None
        self.set_classes(None)
        self.methodCombo.currentIndexChanged.connect(self._method_changed)
        self._method_changed()

    @property
    def guidance(self) -> float:
        """The guidance scale w the slider shows."""
        return self.guidanceSlider.value() / GUIDANCE_TICKS

    def set_classes(self, num_classes: int | None, names: Sequence[str] | None = None) -> None:
        """Show the class row for a conditional model of K classes (names default to 0..K-1); hide it otherwise.

        The same classes again change nothing (the window calls this on every model update), and a rebuild keeps
        the chosen class where the new model has it, emitting ``currentIndexChanged`` only if the choice changed.
        """
        self.num_classes = num_classes or None
        self.classRow.setVisible(self.num_classes is not None)
        shown = None if self.num_classes is None else (self.num_classes, tuple(names or ()))
        if self.num_classes is None or shown == self._classes_shown:
            self._classes_shown = shown
            return
        self._classes_shown = shown
        current = self.classCombo.currentData()
        with QSignalBlocker(self.classCombo):  # the emptied and half-filled combo is no choice to react to
            self.classCombo.clear()
            self.classCombo.addItem("all (a row each)", None)
            for label in range(self.num_classes):
                self.classCombo.addItem(names[label] if names and label < len(names) else str(label), label)
        index = self.classCombo.findData(current) if current is not None else 0
        self.classCombo.setCurrentIndex(max(index, 0))

    def settings(self) -> dict:
        """The keyword arguments of the sampling job (:func:`ddpm_studio.gui.jobs.sampling.sample`).

        A conditional model adds ``labels`` (one per sample; "all" rounds the count up to a multiple of the
        classes, one row each) and ``guidance`` (w, M34).
        """
        method = self.methodCombo.currentData()
        settings = {
            "num_samples": self.numSamplesSpin.value(),
            "num_steps": self.sampleStepsSpin.value(),
            "method": method,
            "spacing": self.spacingCombo.currentData(),
            "eta": float(self.etaSpin.value()) if method == "ddim" else 0.0,
        }
        if self.num_classes is not None:
            labels: torch.Tensor = labels_for(self.classCombo.currentData(), settings["num_samples"], self.num_classes)
            settings.update(num_samples=int(labels.shape[0]), labels=labels, guidance=self.guidance)
        return settings

    def problem(self, num_timesteps: int) -> str | None:
        """Why the chosen method cannot spend the chosen evaluations on a T-step model, in words; None if it can.

        A flow's samplers take any number of evaluations (its time is continuous)."""
        if self.process == "flow":
            return None
        try:
            check_num_steps(self.methodCombo.currentData(), num_timesteps, self.sampleStepsSpin.value())
        except ValueError as error:
            return f"{self.methodCombo.currentText()}: {error}"
        return None

    def configure(self, kind: str, num_timesteps: int, process: str = "ddpm") -> None:
        """Limits and defaults for a model: all T steps and 1000 samples for points, 100 steps and 64 images.

        The spin reaches the most any method can use (Heun's 2T - 2); :meth:`problem` tells the others' limit.
        A flow model (``process`` "flow") offers the flow's samplers and time grids, Euler at 20 evaluations.
        """
        if process != self.process:
            self.process = process
            flow = process == "flow"
            _fill_choices(self.methodCombo, choices.FLOW_METHODS if flow else choices.METHODS)
            _fill_choices(self.spacingCombo, choices.FLOW_SPACINGS if flow else choices.SPACINGS)
        if process == "flow":
            self.sampleStepsSpin.setMaximum(1000)
            self.sampleStepsSpin.setValue(FLOW_DEFAULT_NFE)
            self.numSamplesSpin.setValue(64 if kind == "images" else 1000)
            return
        self.sampleStepsSpin.setMaximum(max(max_num_steps(method, num_timesteps) for method in METHODS))
        if kind == "images":
            self.sampleStepsSpin.setValue(min(100, num_timesteps))
            self.numSamplesSpin.setValue(64)
        else:
            self.sampleStepsSpin.setValue(num_timesteps)
            self.numSamplesSpin.setValue(1000)

    def set_running(self, running: bool) -> None:
        for widget in (self.numSamplesSpin, self.sampleStepsSpin, self.methodCombo, self.spacingCombo,
                       self.classCombo, self.guidanceSlider, self.sweepButton, self.inpaintButton):
            widget.setEnabled(not running)
        self.etaSpin.setEnabled(not running and self.methodCombo.currentData() == "ddim")

    def _guidance_changed(self, *_args) -> None:
        self.guidanceLabel.setText(f"w = {self.guidance:.2f}")

    def _method_changed(self, *_args) -> None:
        self.etaSpin.setEnabled(self.methodCombo.currentData() == "ddim" and self.methodCombo.isEnabled())
