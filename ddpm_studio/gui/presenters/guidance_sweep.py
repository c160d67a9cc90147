"""The presenter of the guidance sweep dialog: it owns the sweep job; the dialog asks and draws.

:func:`open_guidance_sweep` is what Trajectory → Sweep w… does: it makes the window's dialog (once), with its
presenter as a child, and sets it up for the window's model and the Trajectory dock's sampler and class.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from ddpm_studio.core.analysis.guidance_sweep import GuidanceProgress
from ddpm_studio.gui.dialogs.guidance import GuidanceSweepDialog
from ddpm_studio.gui.display import SweepDisplayRow, SweepEnded, reference_points
from ddpm_studio.gui.jobs.guidance_sweep import sweep_job
from ddpm_studio.gui.jobs.runner import MODEL, Job, Throttle, runner


class GuidanceSweepPresenter(QObject):
    """Runs and stops the sweep one :class:`GuidanceSweepDialog` asks for (a child of the dialog). The job's
    owner is the dialog's parent window, so the window's close stops and joins it with its other jobs."""

    def __init__(self, dialog: GuidanceSweepDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.job: Job | None = None
        dialog.runRequested.connect(self.run)
        dialog.stopRequested.connect(self.stop)

    def run(self, scales: list[float]) -> None:
        source = self.dialog.source
        if source is None or self.job is not None:
            return
        pipeline, kind, dataset, label, settings, seed = source
        job = runner().start("guidance sweep", sweep_job, pipeline, scales, label, settings["num_samples"],
                             settings["num_steps"], settings["method"], settings["spacing"], seed, dataset,
                             cooperative=True, throttle=Throttle(urgent=(SweepDisplayRow, SweepEnded)),
                             reads={MODEL}, owner=self.dialog.parent(), on_events=self._events,
                             on_error=self.dialog.show_failure, on_done=self._done)
        if job is None:
            self.dialog.refuse("The model is busy; try again when the running work has finished.")
            return
        self.job = job
        self.dialog.begin(scales, kind, reference_points(dataset))

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def _events(self, items: list) -> None:
        for item in items:
            if isinstance(item, GuidanceProgress):
                self.dialog.show_progress(item)
            elif isinstance(item, SweepDisplayRow):
                self.dialog.add_row(item)
            elif isinstance(item, SweepEnded):
                self.dialog.show_end(item)

    def _done(self) -> None:
        self.job = None
        self.dialog.job_ended()


def open_guidance_sweep(window) -> GuidanceSweepDialog | None:
    """Trajectory → Sweep w…: the window's sweep dialog, set up for its model and the Trajectory's settings."""
    source = window.session.sample_source()
    if source is None:
        return None
    dialog = getattr(window, "_guidance_sweep", None)
    if dialog is None:
        dialog = window._guidance_sweep = GuidanceSweepDialog(window)
        GuidanceSweepPresenter(dialog)
    bar = window.trajectory.samplingBar
    make_pipeline, dataset = source
    dialog.configure(make_pipeline, window._model_kind(), dataset, bar.classCombo.currentData(),
                     bar.classCombo.currentText(), bar.settings(), window.setup.config().train.seed)
    dialog.show()
    dialog.raise_()
    return dialog
