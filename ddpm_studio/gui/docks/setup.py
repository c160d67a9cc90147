"""The Setup dock: data set, network, diffusion process and training settings, checked as they change.

The parameterization choices use the seed notes' words ("noise (ε)", "mean (fixed variance)", "mean + variance
(learned)") plus x₀ and v. Invalid combinations are explained in a label under the controls and make
:attr:`SetupDock.valid` false (the main window then disables Train); nothing is changed behind the user's back.
"""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.core import choices
from ddpm_studio.core.config import (
    MAX_T_POWER,
    MIN_T_POWER,
    ConfigError,
    RunConfig,
    snr_weighting_applies,
)
from ddpm_studio.core.data import BUILTIN_DATASETS
from ddpm_studio.core.data.remote import REMOTE_SETS
from ddpm_studio.core.device import available_devices
from ddpm_studio.core.models import MODEL_PRESETS
from ddpm_studio.gui.docks.setup_data import SetupData
from ddpm_studio.gui.docks.setup_options import (
    CONDITIONAL_TOOLTIP,
    DATA_FILTER,
    IMAGE_SUFFIXES,
    LOSSES,
    OPEN_DATA_TEXT,
    PARAMETERIZATIONS,
    SCHEDULES,
    VARIANCES,
    _FormScroll,
    data_kind,
    kind_defaults,
    remote_tooltip,
    wrap_form_rows,
)
from ddpm_studio.gui.style import ERROR_TEXT_COLOR, HINT_TEXT_COLOR

# what the main window, the run controls and the tests import from here, though setup_options defines it
__all__ = [
    "DATA_FILTER",
    "IMAGE_SUFFIXES",
    "LOSSES",
    "OPEN_DATA_TEXT",
    "PARAMETERIZATIONS",
    "SCHEDULES",
    "VARIANCES",
    "SetupDock",
    "data_kind",
]


class SetupDock(SetupData, QDockWidget):
    """Every setting of a run; :meth:`config` turns them into a :class:`RunConfig`. The data choice (the combo's
    entries, the batch size that fits, the classes): :class:`~ddpm_studio.gui.docks.setup_data.SetupData`.

    Signals:
        settingsChanged: any control changed (the main window re-reads :attr:`valid` and :meth:`config`).
        scheduleChanged(name, T): the noise schedule or T changed.
        kindChanged(kind): the data set switched between "points" and "images".
        dataPathChosen(path): the user picked a file or folder to load (the main window loads it off-thread and
            calls :meth:`add_data_source` or shows why it failed).
    """

    settingsChanged = Signal()
    scheduleChanged = Signal(str, int)
    kindChanged = Signal(str)
    processChanged = Signal(str)  # "ddpm" or "flow" (M47-M51), when the process combo changes
    dataPathChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Setup", parent)
        self.setObjectName("setupDock")
        self._kind = "points"
        self._base = kind_defaults("moons", "points")
        self._previous_data_index = 0
        self._filling = False
        self.valid = True
        self.problem: str | None = None
        self._data_sizes: dict[str, int] = {}  # training items of each data set loaded so far, by spec
        self._data_classes: dict[str, int | None] = {}  # classes of each data set loaded so far (None: unlabelled)
        # after the batch size was lowered to fit a data set: ((spec, subset), lowered size, size before, note)
        self._batch_note: tuple[tuple[str, int | None], int, int, str] | None = None

        body = QWidget()
        layout = QVBoxLayout(body)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(form)

        self.datasetCombo = QComboBox(objectName="datasetCombo")
        for name, kind in BUILTIN_DATASETS.items():
            self.datasetCombo.addItem(f"{name}  ({'2-D points' if kind == 'points' else 'images'})",
                                      {"spec": name, "kind": kind})
            if name in REMOTE_SETS:  # the standard sets: say what choosing one costs the first time
                self.datasetCombo.setItemData(self.datasetCombo.count() - 1, remote_tooltip(name),
                                              Qt.ItemDataRole.ToolTipRole)
        self.datasetCombo.insertSeparator(self.datasetCombo.count())
        self.datasetCombo.addItem(OPEN_DATA_TEXT, {"spec": None, "kind": None})
        self.datasetCombo.setToolTip("A built-in data set, or your own: a folder of images, a .npy/.npz/.csv "
                                     "array or an IDX file (you can also drop it on the window).")
        form.addRow("Data", self.datasetCombo)
        form.addRow("", self._draw_data_button())
        self.subsetSpin = self._spin("subsetSpin", 0, 100_000_000, 0, "Train on only this many training items, "
                                     "drawn with the seed (--subset): 10 digits are copied, all 1,797 are not.")
        self.subsetSpin.setSpecialValueText("all")
        self.subsetSpin.valueChanged.connect(self._subset_changed)
        form.addRow("Train on", self.subsetSpin)

        self.presetCombo = self._combo("presetCombo", [(name, name) for name in MODEL_PRESETS])
        for index, preset in enumerate(MODEL_PRESETS.values()):
            self.presetCombo.setItemData(index, preset["description"], Qt.ItemDataRole.ToolTipRole)
        form.addRow("Model", self.presetCombo)
        self.processCombo = self._combo("processCombo", [(c.label, c.name) for c in choices.PROCESSES])
        for index, c in enumerate(choices.PROCESSES):
            self.processCombo.setItemData(index, f"{c.help} ({c.math})", Qt.ItemDataRole.ToolTipRole)
        self.processCombo.setToolTip("DDPM's diffusion, or flow matching on the linear path (rectified flow): the "
                                     "same data and network, a different path from noise to data (MATH.md M47).")
        form.addRow("Process", self.processCombo)
        self.flowTargetCombo = self._combo("flowTargetCombo", [(c.label, c.name) for c in choices.FLOW_TARGETS])
        self.flowTargetCombo.setToolTip("What the flow's network predicts; the three convert into one another "
                                        "exactly (M48). The velocity is the usual choice.")
        form.addRow("Flow predicts", self.flowTargetCombo)
        self.timeSamplingCombo = self._combo("timeSamplingCombo",
                                             [(c.label, c.name) for c in choices.TIME_SAMPLINGS])
        for index, c in enumerate(choices.TIME_SAMPLINGS):
            self.timeSamplingCombo.setItemData(index, c.help, Qt.ItemDataRole.ToolTipRole)
        self.timeSamplingCombo.setToolTip("Which times t in [0, 1] a training batch visits (M51).")
        form.addRow("Flow times", self.timeSamplingCombo)
        self._form = form
        self.conditionalCheck = QCheckBox("class-conditional", objectName="conditionalCheck")
        self.conditionalCheck.setToolTip(CONDITIONAL_TOOLTIP)
        self.conditionalCheck.setEnabled(False)
        form.addRow("Classes", self.conditionalCheck)

        self.parameterizationCombo = self._combo(
            "parameterizationCombo", [(p.label, index) for index, p in enumerate(PARAMETERIZATIONS)])
        for index, p in enumerate(PARAMETERIZATIONS):
            self.parameterizationCombo.setItemData(index, p.tooltip, Qt.ItemDataRole.ToolTipRole)
        self.parameterizationCombo.setToolTip("What the network predicts at each step.")
        form.addRow("Predicts", self.parameterizationCombo)
        self.varianceCombo = self._combo("varianceCombo", VARIANCES)
        self.varianceCombo.setToolTip("σ_t² of each reverse step (M11-M13).")
        form.addRow("Variance", self.varianceCombo)
        self.lossCombo = self._combo("lossCombo", LOSSES)
        form.addRow("Loss", self.lossCombo)
        self.snrGammaSpin = self._double_spin(
            "snrGammaSpin", 1, 0.0, 1000.0, 1.0,
            "Min-SNR-γ weighting of the simple loss (Hang et al. 2023): the loss of low-noise steps is capped at "
            "γ times their x₀ error, so they stop dominating training. 5 halves the steps to recognisable digits; "
            "off gives Ho et al.'s L_simple (M18). Not for the VLB loss or the mean parameterization.")
        self.snrGammaSpin.setSpecialValueText("off")
        form.addRow("Min-SNR γ", self.snrGammaSpin)
        self.tPowerSpin = self._double_spin(
            "tPowerSpin", 2, MIN_T_POWER, MAX_T_POWER, 0.5,
            "Which timesteps a training batch visits: t = ⌊T·u^k⌋ with u uniform (M40). k = 1 is Ho et al.'s "
            "uniform t; k > 1 trains more at low noise, where a 2-D denoiser learns the data's sharp edges (k = 3, "
            "the points default, took the spiral's off-support haze from 7.8 % to 2.1 % at 3,000 steps).")
        form.addRow("Low-t skew k", self.tPowerSpin)
        self.scheduleCombo = self._combo("scheduleCombo", SCHEDULES)
        form.addRow("Schedule", self.scheduleCombo)
        self.timestepsSpin = self._spin("timestepsSpin", 1, 100_000, 1000, "Number of diffusion steps T.")
        form.addRow("T", self.timestepsSpin)
        # what each process shows: DDPM's process settings, or the flow's (the other's rows are hidden)
        self._ddpm_rows = (self.parameterizationCombo, self.varianceCombo, self.lossCombo, self.snrGammaSpin,
                           self.tPowerSpin, self.scheduleCombo, self.timestepsSpin)
        self._flow_rows = (self.flowTargetCombo, self.timeSamplingCombo)
        self.processCombo.currentIndexChanged.connect(self._process_changed)
        self._show_process_rows()

        self.stepsSpin = self._spin("stepsSpin", 1, 100_000_000, self._base.train.steps, "Optimiser steps in all.")
        self.stepsSpin.setSingleStep(500)
        form.addRow("Training steps", self.stepsSpin)
        self.batchSpin = self._spin("batchSpin", 1, 1_000_000, 256, "Examples per optimiser step.")
        form.addRow("Batch size", self.batchSpin)
        self.lrSpin = QDoubleSpinBox(objectName="lrSpin")
        self.lrSpin.setDecimals(6)
        self.lrSpin.setRange(1e-6, 1.0)
        self.lrSpin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.lrSpin.setToolTip("AdamW peak learning rate (after the warm-up).")
        self.lrSpin.valueChanged.connect(self._changed)
        form.addRow("Learning rate", self.lrSpin)
        self.seedSpin = self._spin("seedSpin", 0, 2_147_483_647, 0, "Seeds the weights, batches and noise.")
        form.addRow("Seed", self.seedSpin)
        self.deviceCombo = self._combo("deviceCombo", [("auto", "auto")] + [(d, d) for d in available_devices()])
        form.addRow("Device", self.deviceCombo)

        more = QGroupBox("Logging and previews")
        more_form = QFormLayout(more)
        self.logEverySpin = self._spin("logEverySpin", 1, 1_000_000, 10, "Steps between two loss points.")
        more_form.addRow("Loss every", self.logEverySpin)
        self.previewEverySpin = self._spin("previewEverySpin", 0, 100_000_000, 500,
                                           "Steps between two preview batches (0: no previews).")
        more_form.addRow("Preview every", self.previewEverySpin)
        self.previewCountSpin = self._spin("previewCountSpin", 1, 1024, 16, "Samples in a preview.")
        more_form.addRow("Preview samples", self.previewCountSpin)
        self.warmupSpin = self._spin("warmupSpin", 0, 100_000_000, 100, "Linear learning-rate warm-up steps.")
        more_form.addRow("Warm-up", self.warmupSpin)
        self.emaSpin = QDoubleSpinBox(objectName="emaSpin")
        self.emaSpin.setDecimals(4)
        self.emaSpin.setRange(0.0, 0.9999)
        self.emaSpin.setSingleStep(0.001)
        self.emaSpin.setToolTip("Decay of the weights' moving average that sampling uses.")
        self.emaSpin.valueChanged.connect(self._changed)
        more_form.addRow("EMA decay", self.emaSpin)
        self.earlyStopCheck = QCheckBox("when quality plateaus", objectName="earlyStopCheck")
        self.earlyStopCheck.setToolTip("2-D points: every 500 steps (the points default) score samples against "
                                       "held-out data (SW and off-support share); stop after 3 checks without a "
                                       "gain.")
        self.earlyStopCheck.toggled.connect(self._changed)
        more_form.addRow("Early stop", self.earlyStopCheck)
        self.tensorboardCheck = QCheckBox("TensorBoard logs", objectName="tensorboardCheck")
        self.tensorboardCheck.setToolTip("Also write the loss, learning rate, speed, bound and previews as "
                                         "TensorBoard events into the run folder (needs the tensorboard package).")
        self.tensorboardCheck.toggled.connect(self._changed)
        more_form.addRow("", self.tensorboardCheck)
        layout.addWidget(more)

        self.messageLabel = QLabel(objectName="setupMessage")
        self.messageLabel.setWordWrap(True)
        self.messageLabel.setTextFormat(Qt.TextFormat.PlainText)
        self.messageLabel.setMinimumHeight(48)
        self.messageLabel.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.messageLabel)
        layout.addStretch(1)

        self._controls = body
        wrap_form_rows(body)
        scroll = _FormScroll(objectName="setupScroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setWidget(scroll)

        self.datasetCombo.currentIndexChanged.connect(self._data_changed)
        self._fill_training(self._base, "points")
        self._recheck()

    # ------------------------------------------------------------------ building blocks
    def _combo(self, name: str, items) -> QComboBox:
        combo = QComboBox(objectName=name)
        for label, data in items:
            combo.addItem(label, data)
        combo.currentIndexChanged.connect(self._changed)
        return combo

    def _spin(self, name: str, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox(objectName=name)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._changed)
        return spin

    def _double_spin(self, name: str, decimals: int, low: float, high: float, step: float,
                     tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(objectName=name)
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self._changed)
        return spin

    @staticmethod
    def _select(combo: QComboBox, data) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)

    # ------------------------------------------------------------------ public API
    def kind(self) -> str:
        return self._kind

    def process(self) -> str:
        """"ddpm" or "flow", as the process combo shows."""
        return self.processCombo.currentData()

    def data_spec(self) -> str:
        return self.datasetCombo.currentData()["spec"]

    def num_timesteps(self) -> int:
        return self.timestepsSpin.value()

    def schedule(self) -> str:
        return self.scheduleCombo.currentData()

    def set_busy(self, busy: bool) -> None:
        """Lock every control while a run trains, so the settings on screen are the ones in use."""
        self._controls.setEnabled(not busy)

    def config(self) -> RunConfig:
        """The settings on screen as a run config (not validated: see :attr:`valid` and :attr:`problem`)."""
        c = copy.deepcopy(self._base)
        c.data.dataset = self.data_spec()
        c.data.subset = self.subsetSpin.value() or None
        c.model.preset = self.presetCombo.currentData()
        param = PARAMETERIZATIONS[self.parameterizationCombo.currentData()]
        c.diffusion.parameterization = param.name
        c.diffusion.variance = self.varianceCombo.currentData()
        c.diffusion.schedule = self.schedule()
        c.diffusion.num_timesteps = self.num_timesteps()
        t = c.train
        t.loss = self.lossCombo.currentData()
        # the weighting has no meaning for the bound or a mean target: greyed out there, and off in the run
        t.snr_gamma = float(self.snrGammaSpin.value()) if self._snr_weighting_applies() else 0.0
        t.t_power = float(self.tPowerSpin.value())
        t.steps = self.stepsSpin.value()
        t.batch_size = self.batchSpin.value()
        t.lr = float(self.lrSpin.value())
        t.seed = self.seedSpin.value()
        t.device = self.deviceCombo.currentData()
        t.log_every = self.logEverySpin.value()
        t.preview_every = self.previewEverySpin.value()
        t.preview_count = self.previewCountSpin.value()
        t.preview_steps = max(1, min(t.preview_steps, c.diffusion.num_timesteps))
        t.warmup = self.warmupSpin.value()
        t.ema_decay = float(self.emaSpin.value())
        t.early_stop = self.earlyStopCheck.isChecked() and self._kind == "points"
        t.tensorboard = self.tensorboardCheck.isChecked()
        c.model.num_classes = self.data_classes() if self.conditionalCheck.isChecked() else None
        c.process.name = self.process()
        if c.is_flow:
            # the flow's own settings; DDPM's (hidden while the flow is chosen) go back to their neutral values,
            # which the config requires of a flow run
            c.process.target = self.flowTargetCombo.currentData()
            c.process.time_sampling = self.timeSamplingCombo.currentData()
            t.loss, t.snr_gamma, t.t_power = "simple", 0.0, 1.0
            if c.diffusion.variance == "learned":
                c.diffusion.variance = "fixed_large"
            c.model.num_classes = None
        return c

    def set_config(self, config: RunConfig, kind: str) -> None:
        """Show a run's settings (e.g. an opened run folder); its data set is added to the combo if needed."""
        self._filling = True
        try:
            self._base = copy.deepcopy(config)
            spec = config.data.dataset
            if data_kind(spec) is not None:
                self.select_builtin(spec)
            else:
                self.add_data_source(spec, kind)
            self._kind = kind
            self._previous_data_index = self.datasetCombo.currentIndex()
            self._fill_training(config, kind)
        finally:
            self._filling = False
        self.kindChanged.emit(kind)
        self._changed()

    # ------------------------------------------------------------------ reactions
    def _fill_training(self, config: RunConfig, kind: str) -> None:
        was_filling, self._filling = self._filling, True
        try:
            self._select(self.presetCombo, config.model.preset)
            self.subsetSpin.setValue(config.data.subset or 0)
            d = config.diffusion
            variance_kind = "learned" if d.variance == "learned" else "fixed"
            for index, p in enumerate(PARAMETERIZATIONS):
                if p.name == d.parameterization and p.variance in (None, variance_kind):
                    self.parameterizationCombo.setCurrentIndex(index)
                    break
            self._select(self.varianceCombo, d.variance)
            self._select(self.scheduleCombo, d.schedule)
            self.timestepsSpin.setValue(d.num_timesteps)
            t = config.train
            self._select(self.lossCombo, t.loss)
            self.snrGammaSpin.setValue(t.snr_gamma)
            self.tPowerSpin.setValue(t.t_power)
            self.stepsSpin.setValue(t.steps)
            self.batchSpin.setValue(t.batch_size)
            self.lrSpin.setValue(t.lr)
            self.seedSpin.setValue(min(t.seed, self.seedSpin.maximum()))
            self._select(self.deviceCombo, t.device)
            self.logEverySpin.setValue(t.log_every)
            self.previewEverySpin.setValue(t.preview_every)
            self.previewCountSpin.setValue(t.preview_count)
            self.warmupSpin.setValue(t.warmup)
            self.emaSpin.setValue(t.ema_decay)
            self.earlyStopCheck.setChecked(t.early_stop)
            self.earlyStopCheck.setEnabled(kind == "points")
            self.tensorboardCheck.setChecked(t.tensorboard)
            if config.model.num_classes:  # an opened conditional run: its data's classes are its own
                self._data_classes[config.data.dataset] = config.model.num_classes
            self._update_conditional()
            self.conditionalCheck.setChecked(bool(config.model.num_classes))
            self._select(self.processCombo, config.process.name)
            self._select(self.flowTargetCombo, config.process.target)
            self._select(self.timeSamplingCombo, config.process.time_sampling)
            self._show_process_rows()
        finally:
            self._filling = was_filling

    def _process_changed(self, *_args) -> None:
        self._show_process_rows()
        if not self._filling:
            self.processChanged.emit(self.process())

    def _show_process_rows(self) -> None:
        """Show the chosen process's settings; a flow run is unconditional (the check is off and greyed)."""
        flow = self.process() == "flow"
        for widget in self._ddpm_rows:
            self._form.setRowVisible(widget, not flow)
        for widget in self._flow_rows:
            self._form.setRowVisible(widget, flow)
        self._update_conditional()

    def _update_conditional(self) -> None:
        """As :class:`SetupData`'s, and a flow run is unconditional: the check is off and greyed."""
        super()._update_conditional()
        if getattr(self, "processCombo", None) is not None and self.process() == "flow":
            self.conditionalCheck.setChecked(False)
            self.conditionalCheck.setEnabled(False)
            self.conditionalCheck.setToolTip("Class-conditional flow runs are not built yet: DDPM only.")

    def _changed(self, *_args) -> None:
        if self._filling:
            return
        self._recheck()
        self.scheduleChanged.emit(self.schedule(), self.num_timesteps())
        self.settingsChanged.emit()

    def _snr_weighting_applies(self) -> bool:
        """Whether the min-SNR setting means anything for the loss and target on screen."""
        param = PARAMETERIZATIONS[self.parameterizationCombo.currentData()]
        return snr_weighting_applies(self.lossCombo.currentData(), param.name)

    def _recheck(self) -> None:
        """Explain the first invalid combination in place, or a hint about a valid but poor one."""
        self.snrGammaSpin.setEnabled(self._snr_weighting_applies())
        param = PARAMETERIZATIONS[self.parameterizationCombo.currentData()]
        variance = self.varianceCombo.currentData()
        loss = self.lossCombo.currentData()
        problem = None
        if param.variance == "fixed" and variance == "learned":
            problem = (f"“{param.label}” keeps σ² fixed, but Variance is “learned”. Choose a fixed variance, or "
                       "the parameterization “mean + variance (learned)”.")
        elif param.variance == "learned" and variance != "learned":
            problem = f"“{param.label}” lets the network predict σ² too: set Variance to “learned”."
        elif variance == "learned" and loss == "simple":
            problem = ("A learned variance needs the VLB or hybrid loss: L_simple gives σ² no gradient "
                       "(MATH.md M19). Choose “VLB” or “hybrid”.")
        else:
            try:
                self.config().validate()
            except ConfigError as exc:
                problem = str(exc)
        spec, batch = self.data_spec(), self.batchSpin.value()
        size = self._data_sizes.get(spec)
        if problem is None and size is not None and batch > size:
            problem = (f"Batch size {batch} is larger than the {size} training items of {Path(spec).name}: "
                       f"choose at most {size}.")
        hint = None
        if problem is None and param.name == "mean" and loss == "simple":
            hint = ("Ho et al. (Table 2) found that predicting the mean trains well only on the bound: expect "
                    "poorer samples with L_simple than with “VLB”.")
        if hint is None and self._batch_note is not None and self._batch_note[:2] == (self._fit_key(), batch):
            hint = self._batch_note[3]
        self.problem = problem
        self.valid = problem is None
        if problem:
            self.messageLabel.setStyleSheet(f"color: {ERROR_TEXT_COLOR};")
            self.messageLabel.setText("Cannot train: " + problem)
        else:
            self.messageLabel.setStyleSheet(f"color: {HINT_TEXT_COLOR};")
            self.messageLabel.setText(hint or "")
