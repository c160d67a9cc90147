"""A slider over the training steps of a run's snapshots (core/training/snapshots.py): "step S of N".

The widget only holds the series, the slider and ``snapshotX0Check`` (show the network's x0_hat half-way down the
snapshot's sampler instead of its final samples); the Samples dock shows the snapshot chosen. The slider's right
end follows the newest snapshot: while it sits there, a snapshot taken during training moves it on; moved back
by the user, it stays where it was while the range grows.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSlider, QVBoxLayout, QWidget

from ddpm_studio.core.training.snapshots import Snapshot
from ddpm_studio.gui.style import SteadyLabel

NO_SNAPSHOTS = "Training: no snapshots yet"


class TrainingScrubber(QWidget):
    """``trainingSlider`` over the snapshots, oldest left; ``snapshotChosen(Snapshot)`` when its value changes."""

    snapshotChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingScrubber")
        self.snapshots: list[Snapshot] = []
        # two lines, the label over the slider: the Samples dock is ~180 pixels wide on a 1024 x 768 screen
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        tip = ("Scrub through training: the samples of one fixed noise as the model drew them at each snapshot "
               "step (kept in the run folder's snapshots/)")
        # a steady label never relayouts the dock while training
        self.stepLabel = SteadyLabel(NO_SNAPSHOTS, objectName="trainingStepLabel")
        self.stepLabel.setToolTip(tip)
        column.addWidget(self.stepLabel)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="trainingSlider")
        self.slider.setToolTip(tip)
        self.slider.setPageStep(1)
        self.slider.setMinimumWidth(40)
        self.slider.valueChanged.connect(self._moved)
        row.addWidget(self.slider, 1)
        self.x0Check = QCheckBox("x0", objectName="snapshotX0Check")  # plain text: every font has it (test_gui_fit)
        self.x0Check.setToolTip("Show what the network predicted as the clean data (x̂₀) half-way down each "
                                "snapshot's sampler, from the same noisy state every time, instead of its samples")
        self.x0Check.toggled.connect(self._moved)
        row.addWidget(self.x0Check)
        column.addLayout(row)
        self._update_range(follow=False)

    # ------------------------------------------------------------------ what the dock asks
    @property
    def current(self) -> Snapshot | None:
        """The snapshot the slider points at (None without snapshots)."""
        return self.snapshots[self.slider.value()] if self.snapshots else None

    @property
    def showing_x0(self) -> bool:
        """The chosen snapshot is to be shown as its half-way x0_hat (checked, and the snapshot has one)."""
        current = self.current
        return self.x0Check.isChecked() and current is not None and current.x0_hat is not None

    @property
    def at_end(self) -> bool:
        """The slider sits at its right end (or there is nothing yet): it follows the newest snapshot."""
        return not self.snapshots or self.slider.value() == self.slider.maximum()

    def set_snapshots(self, snapshots: Iterable[Snapshot], emit: bool = False) -> None:
        """Replace the series (a run opened or adopted); the slider goes to the newest. ``emit``: show it."""
        self.snapshots = sorted(snapshots, key=lambda s: s.step)
        self._update_range(follow=True, emit=emit)

    def add(self, snapshot: Snapshot, dropped: Iterable[int] = ()) -> None:
        """A snapshot taken while training (``dropped``: steps the series pruned); at the right end, follow it."""
        follow = self.at_end
        current = self.current
        gone = set(dropped) | {snapshot.step}
        self.snapshots = sorted([s for s in self.snapshots if s.step not in gone] + [snapshot], key=lambda s: s.step)
        if not follow and current is not None and current.step in {s.step for s in self.snapshots}:
            index = next(i for i, s in enumerate(self.snapshots) if s.step == current.step)
            self._update_range(follow=False, index=index)
        else:
            self._update_range(follow=True, emit=True)

    def clear(self) -> None:
        self.snapshots = []
        self._update_range(follow=False)

    # ------------------------------------------------------------------ inner workings
    def _update_range(self, follow: bool, emit: bool = False, index: int | None = None) -> None:
        count = len(self.snapshots)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        if index is not None:
            self.slider.setValue(index)
        elif follow:
            self.slider.setValue(max(0, count - 1))
        self.slider.blockSignals(False)
        self.slider.setEnabled(count > 1)
        self.x0Check.setEnabled(any(s.x0_hat is not None for s in self.snapshots))
        self._label()
        if emit and self.current is not None:
            self.snapshotChosen.emit(self.current)

    def _label(self) -> None:
        current = self.current
        if current is None:
            self.stepLabel.setText(NO_SNAPSHOTS)
            return
        total = max(self.snapshots[-1].total_steps, self.snapshots[-1].step)
        self.stepLabel.setText(f"Training: step {current.step:,} of {total:,}")

    def _moved(self, _value: int) -> None:
        self._label()
        if self.current is not None:
            self.snapshotChosen.emit(self.current)
