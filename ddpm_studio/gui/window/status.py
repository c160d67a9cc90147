"""What the main window lets the user press, and what its status bar says: the enabled state of every button
and action, the title, status messages and errors, the progress bar, and the model's device, size and step.
A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it reads the window's jobs, session and docks).
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox

from ddpm_studio.core.models import format_parameter_count

logger = logging.getLogger(__name__)

STATUS_TIMEOUT_MS = 8000


class WindowStatus:
    """The window's enabled actions and status bar (see the module docstring)."""

    def _update_actions(self) -> None:
        if self._closing:
            return
        training, sampling = self.training, self.sampling
        locked = self._model_locked
        idle = not training and not sampling and not locked
        job = self._active_job()
        session = self.session
        self.trainButton.setEnabled(idle and self.setup.valid)
        continuing = idle and self.setup.valid and session.can_continue(self.setup.config())
        self.trainButton.setText("Continue" if continuing else "Train")
        active = job is not None and not job.stopping and job.started_running
        self.pauseButton.setEnabled(active)
        self.pauseButton.setText("Resume" if job is not None and job.paused else "Pause")
        self.stopButton.setEnabled(job is not None and not job.stopping)
        self.stopAction.setEnabled(job is not None)
        has_model = session.has_model
        self.trajectory.set_sampling_available(has_model and idle)
        self.race.set_available(has_model and idle)
        self.sampleAction.setEnabled(has_model and idle)
        self.setup.set_busy(training or locked)
        # the bound may run beside sampling, but not while training changes the weights it reads
        self.likelihood.set_busy(
            training or locked or not has_model,
            "Training is changing the weights" if training else "Train a model or open a run first",
        )
        self.compareAction.setEnabled(idle)
        self.openAction.setEnabled(idle)
        self.newAction.setEnabled(idle)
        self.recentMenu.setEnabled(idle and bool(self.recent_runs()))
        self.saveAction.setEnabled(session.trainer is not None and not locked)
        exporting = self.jobs.running("export")
        available = self._export_choices()
        self.exportButton.setEnabled(bool(available) and not exporting)
        self.exportAction.setEnabled(bool(available) and not exporting)
        for key, action in self.exportActions.items():
            action.setEnabled(key in available and not exporting)

    def _update_title(self) -> None:
        self.setWindowTitle(f"DDPM Studio — {self.session.name}")

    def _status(self, text: str, timeout: int = STATUS_TIMEOUT_MS) -> None:
        self.statusBar().showMessage(text, timeout)

    def _show_error(self, title: str, message: str) -> None:
        self._status(f"{title}: {message}", 0)
        if self._closing:
            logger.warning("%s: %s", title, message)
            return
        QMessageBox.warning(self, title, message)

    def _set_progress(self, kind: str | None, value: int = 0, total: int = 0) -> None:
        """Show training / sampling progress, a busy bar for tasks, or nothing."""
        if kind is None and any(self.jobs.running(name) for name in ("open", "save", "export", "data")):
            kind, value, total = "task", 0, 0
        self._progress = None if kind is None else (kind, value, total)
        if kind is None:
            self.progressBar.setVisible(False)
            return
        self.progressBar.setVisible(True)
        self.progressBar.setRange(0, total)
        self.progressBar.setValue(value)
        self.progressBar.setFormat({"train": "training %p%", "sample": "sampling %p%"}.get(kind, "working…"))

    def _show_model_info(self, device: str, num_parameters: int | None, step: int, kind: str, T: int) -> None:
        self.deviceLabel.setText(f"device: {device}")
        self.paramsLabel.setText(
            f"parameters: {format_parameter_count(num_parameters)}" if num_parameters is not None
            else "parameters: —")
        self.stepLabel.setText(f"step: {step:,}")
        self.loss.set_num_timesteps(T)
        config = self.session.config
        process = config.process.name if config is not None else "ddpm"
        if self._sampling_model != (kind, T, process):
            self._sampling_model = (kind, T, process)
            self.trajectory.configure_sampling(kind, T, process)
            self.race.configure(kind, T, process)
        names = getattr(self.session.dataset, "class_names", None)  # None: no data loaded, or numbered classes
        self.trajectory.samplingBar.set_classes(config.model.num_classes if config is not None else None, names)
