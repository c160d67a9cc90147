"""Trajectory → Inpaint…: mark part of a digit (or, for 2-D data, fix one coordinate) and let the reverse process
fill in the rest, RePaint-style (MATH.md M57-M59).

Images: one digit of the training data or of the latest samples, drawn large (:class:`MaskCanvas`); paint the
pixels to regenerate with a round brush (or erase the paint), or take a half with one click. 2-D points: keep x
(or y) at a value, chosen on a scatter of the data by dragging a line or typing it, and draw the other coordinate:
samples of p(y | x), the 2-D meaning of "fill in the unknown part".

The resampling options are the paper's jump length L and resamplings r (r = 1: none); the line under them says
what they cost in network evaluations (:func:`~ddpm_studio.core.sampling.repaint_evaluations`). "Inpaint" emits
``inpaintRequested(request)``; the window runs it on the job runner like Sample, and the result goes to the
Samples dock and the trajectory slider as plain samples do. This view starts no work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core.sampling import DEFAULT_JUMP_LENGTH, DEFAULT_JUMP_N_SAMPLE, repaint_evaluations
from ddpm_studio.gui.style import HINT_TEXT_COLOR, SAMPLE_COLOR, WrapLabel, pin_axes, spin_box
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.dialog_fit import fitted_dialog_size
from ddpm_studio.gui.widgets.mask_canvas import MaskCanvas

#: Grid points a DDPM model inpaints on by default: 50 of M21 (with L = 5, r = 3: 140 evaluations).
DEFAULT_INPAINT_STEPS = 50
#: Completions of the one masked digit drawn at once: a 4 x 4 grid in the Samples dock.
DEFAULT_INPAINT_SAMPLES = 16
#: 2-D completions drawn at once: enough points to see the conditional's modes along the kept line.
DEFAULT_INPAINT_POINTS = 500


@dataclass(frozen=True)
class InpaintRequest:
    """What the dialog asks the window to run.

    Attributes:
        kind: "images" or "points".
        known: images uint8 (H, W, C), the one digit to complete; points float (2,) in the data's coordinates.
        regenerate: images bool (H, W), True where pixels are regenerated; points bool (2,), True for the
            coordinate that is drawn.
        num_samples: completions drawn (each from its own x_T). num_steps: grid points K (M21).
        jump_length, jump_n_sample: L and r of M59.
    """

    kind: str
    known: np.ndarray
    regenerate: np.ndarray
    num_samples: int
    num_steps: int
    jump_length: int
    jump_n_sample: int

    @property
    def caption(self) -> str:
        """"RePaint, 50 steps, L = 5, r = 3 (140 evaluations), 45 % regenerated" for the samples' caption."""
        evaluations = repaint_evaluations(self.num_steps, self.jump_length, self.jump_n_sample)
        if self.kind == "points":
            kept = "x" if not self.regenerate[0] else "y"
            what = f"{kept} = {float(self.known[0 if kept == 'x' else 1]):.3g} kept"
        else:
            what = f"{100 * float(self.regenerate.mean()):.0f} % regenerated"
        resampling = (f"L = {self.jump_length}, r = {self.jump_n_sample} ({evaluations} evaluations)"
                      if self.jump_n_sample > 1 else "no resampling")
        return f"RePaint, {self.num_steps} steps, {resampling}, {what}"


class InpaintDialog(QDialog):
    """The inpainting dialog (objectName ``inpaintDialog``); see the module docstring.

    Signals:
        inpaintRequested(request): an :class:`InpaintRequest` to run.
    """

    inpaintRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inpaintDialog")
        self.setWindowTitle("Inpaint: let the reverse process fill in a part")
        self.kind = "images"
        self._sources: dict[str, np.ndarray] = {}
        self._reference = np.empty((0, 2), np.float32)

        layout = QHBoxLayout(self)
        # the images' canvas and the points' plot share the left side; one of them is shown
        self.canvas = MaskCanvas(self)
        self.canvas.setToolTip("Paint the part to regenerate (red); in Erase mode, take paint away.")
        layout.addWidget(self.canvas, 1)
        self.plot = pg.PlotWidget(axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.plot.setObjectName("inpaintPlot")
        self.plot.setMinimumSize(300, 300)
        pin_axes(self.plot.getPlotItem())
        self.plot.getPlotItem().setAspectLocked(True)
        self.plot.getPlotItem().setMenuEnabled(False)
        self._scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*SAMPLE_COLOR, 90))
        self.plot.addItem(self._scatter)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen((230, 60, 60), width=2))
        self.line.sigPositionChanged.connect(self._line_moved)
        self.plot.addItem(self.line)
        layout.addWidget(self.plot, 1)

        side = QVBoxLayout()
        layout.addLayout(side)
        # ---- images: which digit, and the brush
        self.imageBox = QGroupBox("Digit and mask")
        form = QFormLayout(self.imageBox)
        self.sourceCombo = QComboBox(objectName="inpaintSourceCombo")
        self.sourceCombo.setToolTip("Complete a training image or one of the latest samples.")
        self.sourceCombo.currentIndexChanged.connect(self._source_changed)
        form.addRow("From", self.sourceCombo)
        self.itemSpin = spin_box("inpaintItemSpin", 1, 1, 1, "Which image of the source.")
        self.itemSpin.valueChanged.connect(self._show_item)
        form.addRow("Image", self.itemSpin)
        self.brushSpin = QDoubleSpinBox(objectName="maskBrushSpin")
        self.brushSpin.setRange(0.5, 8.0)
        self.brushSpin.setSingleStep(0.5)
        self.brushSpin.setValue(1.5)
        self.brushSpin.setSuffix(" px")
        self.brushSpin.setToolTip("The brush's radius in image pixels.")
        self.brushSpin.valueChanged.connect(self._brush_changed)
        form.addRow("Brush", self.brushSpin)
        self.eraseButton = QPushButton("Erase", objectName="maskEraseButton")
        self.eraseButton.setCheckable(True)
        self.eraseButton.setToolTip("Drag to keep pixels again (take the red paint away).")
        self.eraseButton.toggled.connect(self._erase_toggled)
        self.clearButton = QPushButton("Clear", objectName="maskClearButton")
        self.clearButton.clicked.connect(lambda: self.canvas.set_mask(np.zeros_like(self.canvas.mask)))
        row = QHBoxLayout()
        row.addWidget(self.eraseButton)
        row.addWidget(self.clearButton)
        form.addRow(row)
        halves = QHBoxLayout()
        self.halfButtons: dict[str, QPushButton] = {}
        for name, label in (("top", "Top"), ("bottom", "Bottom"), ("left", "Left"), ("right", "Right")):
            button = QPushButton(label, objectName=f"mask{label}Button")
            button.setToolTip(f"Regenerate the {name} half.")
            button.clicked.connect(lambda _checked=False, n=name: self.mask_half(n))
            halves.addWidget(button)
            self.halfButtons[name] = button
        form.addRow("Half", halves)
        side.addWidget(self.imageBox)
        # ---- points: which coordinate is kept, and where
        self.pointBox = QGroupBox("Known coordinate")
        form = QFormLayout(self.pointBox)
        self.axisCombo = QComboBox(objectName="inpaintAxisCombo")
        self.axisCombo.addItem("keep x, draw y", 0)
        self.axisCombo.addItem("keep y, draw x", 1)
        self.axisCombo.setToolTip("Samples of p(y | x) (or p(x | y)): the kept coordinate is fixed, the model "
                                  "fills in the other.")
        self.axisCombo.currentIndexChanged.connect(self._axis_changed)
        form.addRow(self.axisCombo)
        self.valueSpin = QDoubleSpinBox(objectName="inpaintValueSpin")
        self.valueSpin.setRange(-1e6, 1e6)
        self.valueSpin.setDecimals(3)
        self.valueSpin.setSingleStep(0.1)
        self.valueSpin.setToolTip("The kept coordinate's value, in the data's units (or drag the red line).")
        self.valueSpin.valueChanged.connect(self._value_changed)
        form.addRow("value", self.valueSpin)
        side.addWidget(self.pointBox)
        # ---- the run
        box = QGroupBox("RePaint")
        form = QFormLayout(box)
        self.countSpin = spin_box("inpaintCountSpin", 1, 10_000, DEFAULT_INPAINT_SAMPLES,
                                  "Completions to draw, each from its own noise.")
        form.addRow("Samples", self.countSpin)
        self.stepsSpin = spin_box("inpaintStepsSpin", 1, 1000, DEFAULT_INPAINT_STEPS,
                                  "Grid points K of the respaced chain (M21); resampling multiplies the evaluations.")
        form.addRow("Steps", self.stepsSpin)
        self.jumpSpin = spin_box("jumpLengthSpin", 1, 1000, DEFAULT_JUMP_LENGTH,
                                 "Jump length L (M59): how many grid points each resampling goes back up.")
        form.addRow("Jump length", self.jumpSpin)
        self.resampleSpin = spin_box("jumpSamplesSpin", 1, 50, DEFAULT_JUMP_N_SAMPLE,
                                     "Resamplings r (M59): each jump point is passed r times; 1 = no resampling.")
        form.addRow("Resamplings", self.resampleSpin)
        self.costLabel = WrapLabel(objectName="inpaintCostLabel")
        self.costLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        form.addRow(self.costLabel)
        for spin in (self.stepsSpin, self.jumpSpin, self.resampleSpin):
            spin.valueChanged.connect(self._update_cost)
        side.addWidget(box)
        self.noteLabel = WrapLabel(objectName="inpaintNoteLabel")
        self.noteLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
        side.addWidget(self.noteLabel)
        side.addStretch(1)
        buttons = QHBoxLayout()
        self.inpaintButton = QPushButton("Inpaint", objectName="inpaintRunButton")
        self.inpaintButton.setDefault(True)
        self.inpaintButton.setToolTip("Run RePaint; the samples and the trajectory appear as for Sample.")
        self.inpaintButton.clicked.connect(self._emit)
        self.closeButton = QPushButton("Close", objectName="closeInpaintButton")
        self.closeButton.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(self.inpaintButton)
        buttons.addWidget(self.closeButton)
        side.addLayout(buttons)
        self.canvas.maskChanged.connect(self._update_note)
        self._brush_changed(self.brushSpin.value())
        self._update_cost()
        self.resize(fitted_dialog_size(self, QSize(820, 560)))

    # ------------------------------------------------------------------ set up by the window
    def configure_images(self, sources: dict[str, np.ndarray], num_steps: int) -> None:
        """Offer ``sources`` (name -> uint8 (N, H, W, C) images, e.g. "training data", "latest samples")."""
        self.kind = "images"
        self._sources = {name: images for name, images in sources.items() if images is not None and len(images)}
        self.sourceCombo.blockSignals(True)
        self.sourceCombo.clear()
        for name in self._sources:
            self.sourceCombo.addItem(name)
        self.sourceCombo.blockSignals(False)
        self._set_kind_widgets()
        self.stepsSpin.setValue(num_steps)
        self._source_changed()

    def configure_points(self, reference: np.ndarray | None, num_steps: int) -> None:
        """2-D data: the scatter of ``reference`` (M, 2) data-space points; the line starts at their mean's x."""
        self.kind = "points"
        self._reference = np.empty((0, 2), np.float32) if reference is None else np.asarray(reference, np.float32)
        self._scatter.setData(pos=self._reference)
        self._set_kind_widgets()
        self.stepsSpin.setValue(num_steps)
        if self.countSpin.value() == DEFAULT_INPAINT_SAMPLES:
            self.countSpin.setValue(DEFAULT_INPAINT_POINTS)  # a conditional's shape needs a cloud, not 16 dots
        if len(self._reference):
            axis = self.axisCombo.currentData()
            self.valueSpin.setValue(float(np.median(self._reference[:, axis])))
        self._update_note()

    def _set_kind_widgets(self) -> None:
        images = self.kind == "images"
        self.canvas.setVisible(images)
        self.imageBox.setVisible(images)
        self.plot.setVisible(not images)
        self.pointBox.setVisible(not images)

    # ------------------------------------------------------------------ images
    @property
    def image(self) -> np.ndarray | None:
        """The digit shown, uint8 (H, W, C), or None without a source."""
        images = self._sources.get(self.sourceCombo.currentText())
        if images is None:
            return None
        return images[min(self.itemSpin.value(), len(images)) - 1]

    def _source_changed(self, *_args) -> None:
        images = self._sources.get(self.sourceCombo.currentText())
        self.itemSpin.setMaximum(max(1, 0 if images is None else len(images)))
        self._show_item()

    def _show_item(self, *_args) -> None:
        image = self.image
        if image is not None:
            self.canvas.set_image(image)
        self._update_note()

    def mask_half(self, name: str) -> None:
        """Regenerate one half ("top", "bottom", "left", "right") of the digit; the rest is kept."""
        h, w = self.canvas.mask.shape
        mask = np.zeros((h, w), bool)
        if name == "top":
            mask[: h // 2] = True
        elif name == "bottom":
            mask[h // 2 :] = True
        elif name == "left":
            mask[:, : w // 2] = True
        else:
            mask[:, w // 2 :] = True
        self.canvas.set_mask(mask)

    def _brush_changed(self, radius: float) -> None:
        self.canvas.radius = float(radius)

    def _erase_toggled(self, on: bool) -> None:
        self.canvas.erasing = on

    # ------------------------------------------------------------------ points
    def _axis_changed(self, *_args) -> None:
        axis = self.axisCombo.currentData()
        self.line.setAngle(90 if axis == 0 else 0)
        if len(self._reference):
            self.valueSpin.setValue(float(np.median(self._reference[:, axis])))
        self._value_changed(self.valueSpin.value())

    def _value_changed(self, value: float) -> None:
        if abs(float(self.line.value()) - value) > 1e-9:
            self.line.setValue(value)
        self._update_note()

    def _line_moved(self, *_args) -> None:
        self.valueSpin.setValue(float(self.line.value()))

    # ------------------------------------------------------------------ the request
    def request(self) -> InpaintRequest | None:
        """The request the dialog would emit now; None when there is nothing to regenerate (or no digit)."""
        common = {"num_samples": self.countSpin.value(), "num_steps": self.stepsSpin.value(),
                  "jump_length": self.jumpSpin.value(), "jump_n_sample": self.resampleSpin.value()}
        if self.kind == "points":
            axis = self.axisCombo.currentData()
            known = np.zeros(2, np.float32)
            known[axis] = self.valueSpin.value()
            regenerate = np.ones(2, bool)
            regenerate[axis] = False
            return InpaintRequest("points", known, regenerate, **common)
        image = self.image
        if image is None or not self.canvas.mask.any():
            return None
        return InpaintRequest("images", image.copy(), self.canvas.mask.copy(), **common)

    def _emit(self) -> None:
        request = self.request()
        if request is None:
            self.noteLabel.setText("Paint the part to regenerate first (or pick a half).")
            return
        self.inpaintRequested.emit(request)

    def _update_cost(self, *_args) -> None:
        evaluations = repaint_evaluations(self.stepsSpin.value(), self.jumpSpin.value(), self.resampleSpin.value())
        self.costLabel.setText(f"{evaluations:,} network evaluations (a plain run: {self.stepsSpin.value():,}).")

    def _update_note(self, *_args) -> None:
        if self.kind == "points":
            axis = "x" if self.axisCombo.currentData() == 0 else "y"
            other = "y" if axis == "x" else "x"
            self.noteLabel.setText(f"Keeps {axis} = {self.valueSpin.value():.3g} and draws {other} from the model: "
                                   f"samples of p({other} | {axis}) (M57-M59).")
            return
        share = float(self.canvas.mask.mean()) if self.canvas.mask.size else 0.0
        self.noteLabel.setText(f"{100 * share:.0f} % of the pixels to regenerate; the rest is kept exactly.")

    def set_running(self, running: bool) -> None:
        """While a run is on, Inpaint waits (the window refuses a second one anyway)."""
        self.inpaintButton.setEnabled(not running)
