"""The Race dock's lane choices: for each of the 2-4 lanes a sampler and its grid, and, once another run is added,
which run the lane samples (``raceRunCombo<lane>``), so DDPM and flow lanes race from the same noise.

A lane offers its own run's samplers: DDPM's (ancestral, DDIM, the solvers, on timestep spacings) or a flow's
(Euler, Heun, midpoint, DPM-Solver++, on flow time grids). The other run is loaded by the window (a job) and given
here as its pipeline; the race core (:mod:`ddpm_studio.core.analysis.race`) starts every lane from the same
x_T, which a flow lane reads as x_1 (MATH.md M49).
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ddpm_studio.core.analysis.race import MAX_RUNNERS, Runner
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.sampling import FLOW_METHODS, FLOW_SPACINGS, METHODS, SPACINGS

#: The lanes offered when the dock opens: the classic two and the two few-step solvers of today.
DEFAULT_LANES: tuple[tuple[str, str], ...] = (
    ("ancestral", "linspace"), ("ddim", "linspace"), ("dpmpp_2m", "karras"), ("heun", "karras"),
)
#: A flow model's lanes: its first- and second-order ODE solvers and the multistep one.
FLOW_LANES: tuple[tuple[str, str], ...] = (
    ("euler", "linspace"), ("heun", "linspace"), ("midpoint", "linspace"), ("dpmpp_2m", "linspace"),
)
OFF = ""
#: The run combo's entry for the race's own run.
OWN_RUN = "this run"


class RaceLanes(QWidget):
    """``raceMethodCombo<i>``, ``raceSpacingCombo<i>``, ``raceRunCombo<i>`` and ``raceOtherRunButton``.

    Signals:
        changed: a lane's choice changed (the dock re-checks the race).
        otherRunRequested: "Add a run…" was pressed (the window asks for the folder and loads it).
    """

    changed = Signal()
    otherRunRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._own_flow = False
        self._other: tuple[str, DiffusionPipeline] | None = None
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        grid = QGridLayout()
        self.methodCombos: list[QComboBox] = []
        self.spacingCombos: list[QComboBox] = []
        self.runCombos: list[QComboBox] = []
        for lane in range(MAX_RUNNERS):
            run = QComboBox(objectName=f"raceRunCombo{lane}")
            run.setToolTip("Which run this lane samples: the open run, or the run added with “Add a run…”")
            run.addItem(OWN_RUN, None)
            run.setVisible(False)
            method = QComboBox(objectName=f"raceMethodCombo{lane}")
            spacing = QComboBox(objectName=f"raceSpacingCombo{lane}")
            run.currentIndexChanged.connect(lambda _index, lane=lane: self._run_changed(lane))
            method.currentIndexChanged.connect(lambda _index: self.changed.emit())
            spacing.currentIndexChanged.connect(lambda _index: self.changed.emit())
            # two lanes a row: twelve combos in one row would make the window wider than a 1280-pixel screen
            for offset, widget in enumerate((run, method, spacing)):
                grid.addWidget(widget, lane // 2, (lane % 2) * 3 + offset)
            self.runCombos.append(run)
            self.methodCombos.append(method)
            self.spacingCombos.append(spacing)
            self._fill(lane, flow=False, default=DEFAULT_LANES[lane])
        column.addLayout(grid)
        other = QHBoxLayout()
        self.otherRunButton = QPushButton("Add a run…", objectName="raceOtherRunButton")
        self.otherRunButton.setToolTip("Race another trained run on the same data beside this one (a DDPM run "
                                       "beside a flow run: the same noise starts both)")
        self.otherRunButton.clicked.connect(self.otherRunRequested)
        other.addWidget(self.otherRunButton)
        self.otherRunLabel = QLabel("", objectName="raceOtherRunLabel")
        other.addWidget(self.otherRunLabel, 1)
        column.addLayout(other)

    # ------------------------------------------------------------------ what the dock asks
    @property
    def other_run(self) -> tuple[str, DiffusionPipeline] | None:
        """(name, pipeline) of the added run, or None."""
        return self._other

    def lane_is_flow(self, lane: int) -> bool:
        """Whether lane ``lane`` samples a flow run (its own run's process, or the added run's)."""
        pipeline = self.runCombos[lane].currentData()
        return pipeline.is_flow if pipeline is not None else self._own_flow

    def runners(self) -> list[Runner]:
        """The lanes switched on, in order; a lane of the added run carries its pipeline and name."""
        chosen = []
        for lane, (method, spacing) in enumerate(zip(self.methodCombos, self.spacingCombos)):
            if method.currentData() == OFF:
                continue
            pipeline = self.runCombos[lane].currentData()
            name = self._other[0] if pipeline is not None and self._other is not None else ""
            chosen.append(Runner(method.currentData(), spacing.currentData(), pipeline, name))
        return chosen

    def set_own_process(self, flow: bool) -> None:
        """The race's own run is a flow run (or a DDPM): its lanes offer that process's samplers."""
        if flow == self._own_flow:
            return
        self._own_flow = flow
        defaults = FLOW_LANES if flow else DEFAULT_LANES
        for lane in range(MAX_RUNNERS):
            if self.runCombos[lane].currentData() is None:
                self._fill(lane, flow, defaults[lane])
        self.changed.emit()

    def set_other_run(self, name: str, pipeline: DiffusionPipeline) -> None:
        """Offer ``pipeline`` (another run, ``name``) in every lane's run combo; the last two lanes take it."""
        self._other = (name, pipeline)
        process = "flow" if pipeline.is_flow else "DDPM"
        self.otherRunLabel.setText(f"added: {name} ({process}, step {pipeline.step:,})")
        for lane, run in enumerate(self.runCombos):
            with QSignalBlocker(run):
                while run.count() > 1:
                    run.removeItem(1)
                run.addItem(name, pipeline)
            run.setVisible(True)
            run.setCurrentIndex(1 if lane >= MAX_RUNNERS // 2 else 0)
            self._run_changed(lane)
        self.changed.emit()

    def clear_other_run(self) -> None:
        """Drop the added run (the open run changed): every lane races the open run again."""
        if self._other is None:
            return
        self._other = None
        self.otherRunLabel.setText("")
        for lane, run in enumerate(self.runCombos):
            with QSignalBlocker(run):
                while run.count() > 1:
                    run.removeItem(1)
                run.setCurrentIndex(0)
            run.setVisible(False)
            self._run_changed(lane)
        self.changed.emit()

    def set_running(self, running: bool) -> None:
        for widget in (*self.methodCombos, *self.spacingCombos, *self.runCombos, self.otherRunButton):
            widget.setEnabled(not running)

    # ------------------------------------------------------------------ inner workings
    def _run_changed(self, lane: int) -> None:
        """A lane's run changed: offer that run's process's samplers, keeping the choice where it still exists."""
        flow = self.lane_is_flow(lane)
        defaults = FLOW_LANES if flow else DEFAULT_LANES
        current = (self.methodCombos[lane].currentData(), self.spacingCombos[lane].currentData())
        methods = FLOW_METHODS if flow else METHODS
        keep = current if current[0] in (*methods, OFF) and current[1] in (FLOW_SPACINGS if flow else SPACINGS) \
            else defaults[lane]
        self._fill(lane, flow, keep)
        self.changed.emit()

    def _fill(self, lane: int, flow: bool, default: tuple[str, str]) -> None:
        method, spacing = self.methodCombos[lane], self.spacingCombos[lane]
        with QSignalBlocker(method), QSignalBlocker(spacing):
            method.clear()
            method.addItem("(off)", OFF)
            for name in FLOW_METHODS if flow else METHODS:
                method.addItem(name, name)
            method.setCurrentIndex(max(method.findData(default[0]), 0))
            spacing.clear()
            for name in FLOW_SPACINGS if flow else SPACINGS:
                spacing.addItem(name, name)
            spacing.setCurrentIndex(max(spacing.findData(default[1]), 0))
