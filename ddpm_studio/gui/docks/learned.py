"""The "What the network learned" dock (objectName ``learnedDock``): four tabs beside the optimum it trains towards.

Field (2-D: the network's arrows beside the ideal denoiser's at the trajectory's t, over the heat map of their
difference; for a class-conditional run both guided towards the Trajectory dock's class and w, M34 and M38),
Error over t, Memorization (images: samples beside their nearest training images, the copy rate, the ideal
denoiser's own samples) and Density (2-D: the exact ODE log-density, its held-out mean beside the bound). The work
runs on jobs that :class:`~ddpm_studio.gui.presenters.learned.LearnedRunner` starts; this dock only holds the controls
and draws what arrives. Opened from View and from the Trajectory dock's Field toggle.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDockWidget, QTabWidget, QVBoxLayout, QWidget

from ddpm_studio.gui.docks.learned_views import DensityView, ErrorView, FieldView, MemorizationView
from ddpm_studio.gui.style import SteadyLabel

#: The tabs, by the name the runner's jobs use.
TABS = ("field", "error", "memorization", "density")
POINTS_ONLY = ("field", "density")
IMAGES_ONLY = ("memorization",)


class LearnedDock(QDockWidget):
    """Tabs Field / Error over t / Memorization / Density and a message line.

    Signals:
        errorRequested(int, int): measure the error at this many timesteps on this many examples.
        memorizationRequested(int, int): draw this many samples with this many network evaluations.
        densityRequested(int, int): the ODE density on an n x n grid with K levels.
        fieldSettingsChanged: the field's quantity or grid size changed (or the field was switched on).
        stopRequested(str): stop the named view's job.
    """

    errorRequested = Signal(int, int)
    memorizationRequested = Signal(int, int)
    densityRequested = Signal(int, int)
    fieldSettingsChanged = Signal()
    stopRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("What the network learned", parent)
        self.setObjectName("learnedDock")
        self.field_t = -1
        self._field_on = False
        self._kind = "points"
        self._running: set[str] = set()
        self._available = False
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tabs = QTabWidget(objectName="learnedTabs")
        self.field = FieldView()
        self.error = ErrorView()
        self.memorization = MemorizationView()
        self.density = DensityView()
        self.views = {"field": self.field, "error": self.error, "memorization": self.memorization,
                      "density": self.density}
        for name, title in zip(TABS, ("Field", "Error over t", "Memorization", "Density")):
            self.tabs.addTab(self.views[name], title)
        layout.addWidget(self.tabs, 1)
        self.messageLabel = SteadyLabel("", objectName="learnedMessage")
        layout.addWidget(self.messageLabel)
        self.setWidget(body)
        self.field.settingsChanged.connect(self.fieldSettingsChanged)
        self._runs = {"error": self.error, "memorization": self.memorization, "density": self.density}
        self.error.requested.connect(lambda *a: self._request("error", self.errorRequested, a))
        self.memorization.requested.connect(lambda *a: self._request("memorization", self.memorizationRequested, a))
        self.density.requested.connect(lambda *a: self._request("density", self.densityRequested, a))
        self._update()

    # ------------------------------------------------------------------ settings the runner reads
    def field_wanted(self) -> bool:
        return self._field_on and self._kind == "points"

    def quantity(self) -> str:
        return self.field.quantityCombo.currentData()

    def field_size(self) -> int:
        return self.field.sizeSpin.value()

    # ------------------------------------------------------------------ state from the window
    def set_field_on(self, on: bool) -> None:
        """The Trajectory dock's Field toggle: show the Field tab and draw at the slider's t."""
        self._field_on = on
        if on:
            self.show()
            self.raise_()
            self.tabs.setCurrentWidget(self.field)
            self.fieldSettingsChanged.emit()

    def set_model(self, kind: str, num_timesteps: int, available: bool) -> None:
        """What the model is (points or images, T) and whether a job may read it now."""
        self._kind, self._available = kind, available
        self.memorization.stepsSpin.setMaximum(num_timesteps)
        self.density.levelsSpin.setMaximum(max(2, num_timesteps))
        self.density.levelsSpin.setValue(min(self.density.levelsSpin.value(), num_timesteps))
        self._update()

    def show_trajectory_points(self, points: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """The trajectory's points (N, 2) at the slider's t; with ``labels`` (N,) coloured by requested class."""
        self.field.show_points(points if self._kind == "points" else None, labels)
        self.error.mark(self.field_t)

    def set_running(self, view: str, running: bool) -> None:
        (self._running.add if running else self._running.discard)(view)
        if view in self._runs:
            self._runs[view].run.set_running(running)
        if running:
            self.messageLabel.setText("")
        self._update()

    def set_message(self, view: str, text: str) -> None:
        titles = {"field": "Field", "error": "Error over t", "memorization": "Memorization", "density": "Density"}
        self.messageLabel.setText(f"{titles.get(view, view)}: {text}")

    def _update(self) -> None:
        for name, view in self._runs.items():
            fits = not (name in POINTS_ONLY and self._kind != "points") and \
                not (name in IMAGES_ONLY and self._kind != "images")
            view.run.button.setEnabled(name in self._running or (self._available and fits))
            view.run.button.setToolTip("" if fits else
                                       f"For {'2-D point' if name in POINTS_ONLY else 'image'} runs.")
        for name in POINTS_ONLY + IMAGES_ONLY:
            fits = self._kind == ("points" if name in POINTS_ONLY else "images")
            self.tabs.setTabEnabled(TABS.index(name), fits)

    def _request(self, view: str, signal, args) -> None:
        if view in self._running:
            self.stopRequested.emit(view)
        else:
            signal.emit(*args)

    # ------------------------------------------------------------------ results in
    def show_field(self, field) -> None:
        self.field.show_field(field)

    def begin_error(self) -> None:
        self.error.begin()

    def add_error_point(self, t: int, error: float) -> None:
        self.error.add_point(t, error)

    def show_progress(self, stage: str, done: int, total: int) -> None:
        view = {"sampling": "memorization", "ideal samples": "memorization", "ODE": "density",
                "bound": "density"}.get(stage)
        if view is not None:
            self._runs[view].run.show_progress(done, total)
            self.messageLabel.setText(f"{stage}: {done:,} / {total:,}")

    def show_memorization(self, result) -> None:
        self.memorization.show_result(result)
        self.messageLabel.setText("")

    def show_density(self, result) -> None:
        self.density.show_result(result)
        self.messageLabel.setText("")
