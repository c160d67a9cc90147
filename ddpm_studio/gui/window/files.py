"""The main window's files: open a run, save it, export samples / trajectory / loss, and the recent-runs menu.

A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow`. Opening and saving are jobs on the runner (opening
replaces the model, saving reads it); a save asked for while training runs on the training job's thread.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ddpm_studio.core.app.session import OpenedRun, open_run, save_run
from ddpm_studio.core.models import count_parameters
from ddpm_studio.gui import export as gui_export
from ddpm_studio.gui.display import reference_points
from ddpm_studio.gui.jobs.runner import MODEL

MAX_RECENT_RUNS = 8


class FileControls:
    """Open, save, export and the recent runs (see the module docstring)."""

    # ================================================================== recent runs
    def recent_runs(self) -> list[str]:
        value = self.settings.value("recentRuns", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_run(self, run_dir: str) -> None:
        path = str(Path(run_dir).resolve())
        runs = [path] + [r for r in self.recent_runs() if r != path]
        self.settings.setValue("recentRuns", runs[:MAX_RECENT_RUNS])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recentMenu.clear()
        runs = self.recent_runs()
        for run in runs:
            action = self.recentMenu.addAction(run)
            action.triggered.connect(lambda _checked=False, r=run: self.open_run(r))
        self.recentMenu.setEnabled(bool(runs))

    def _last_folder(self) -> str:
        return str(self.settings.value("lastFolder", "") or "")

    def _remember_folder(self, path: str) -> None:
        self.settings.setValue("lastFolder", str(Path(path).parent))

    # ================================================================== open
    def open_run(self, run_dir: str | None = None) -> None:
        """Open a run folder (the CLI's format) to continue training or to sample it."""
        if self.training or self.sampling or self._model_locked:
            self._status("Stop the running work before opening another run.")
            return
        if not run_dir:
            run_dir = QFileDialog.getExistingDirectory(self, "Open a run folder", self._last_folder())
            if not run_dir:
                return
        self._remember_folder(run_dir)
        self._status(f"Opening {run_dir}…", 0)
        self.jobs.task("open", open_run, str(run_dir), writes={MODEL}, preempt=True, owner=self,
                       on_result=self._run_opened, on_error=lambda m: self._show_error("Cannot open the run", m),
                       on_done=self._task_done)
        self._set_progress("task")
        self._update_actions()

    def _run_opened(self, opened: OpenedRun) -> None:
        self._discard_model()
        self.session.adopt_opened(opened)
        self.setup.set_config(opened.config, opened.kind)
        T = opened.config.clock_size
        if opened.trainer is not None:
            trainer = opened.trainer
            self._show_model_info(str(trainer.device), trainer.num_parameters, trainer.step, trainer.kind, T)
            self.loss.set_progress(trainer.step, opened.config.train.steps, 0.0)
        else:
            assert opened.pipeline is not None
            self._show_model_info(str(opened.pipeline.device), count_parameters(opened.pipeline.network),
                                  opened.pipeline.step, opened.kind, T)
        self.trajectory.show_placeholder(opened.kind, reference_points(opened.dataset))
        self.samples_dock.set_snapshots(opened.snapshots, reference_points(opened.dataset))  # scrub it at once
        self._update_title()
        self._remember_run(opened.run_dir)
        self._status(f"Opened {opened.run_dir} at step {self.session.step:,}: raise the training steps and press "
                     "Continue, or press Sample.")
        if opened.warning:
            self._show_error("Opened with a warning", opened.warning)
        self._update_actions()

    # ================================================================== save
    def save_run(self) -> None:
        """Save the model to a run folder (asked for the first time; afterwards it is kept up to date)."""
        trainer = self.session.trainer
        if trainer is None or self._model_locked:
            self._status("Nothing to save yet: train a model first.")
            return
        run_dir = str(trainer.run_dir) if trainer.run_dir is not None else ""
        if not run_dir:
            run_dir = QFileDialog.getExistingDirectory(self, "Save the run into an empty folder",
                                                       self._last_folder())
            if not run_dir:
                return
            self._remember_folder(run_dir)
        if self.training:
            self._saves.request(run_dir, self.session.records)
            self._status(f"Saving to {run_dir} after the current step…", 0)
            return
        job = self.jobs.task("save", save_run, trainer, run_dir, list(self.session.records), reads={MODEL},
                             owner=self, on_result=self._run_saved,
                             on_error=lambda m: self._show_error("Cannot save the run", m), on_done=self._task_done)
        if job is None:
            self._status("The model is busy; save again when the running work has finished.")
            return
        self._status(f"Saving to {run_dir}…", 0)
        self._set_progress("task")
        self._update_actions()

    def _run_saved(self, run_dir) -> None:
        self.session.saved(str(run_dir))
        self._update_title()
        self._remember_run(str(run_dir))
        self._status(f"Run saved to {run_dir}.")

    def _task_done(self) -> None:
        if self._progress is None or self._progress[0] == "task":
            self._set_progress(None)
        self._update_actions()

    # ================================================================== export
    def _export_choices(self) -> set[str]:
        session, available = self.session, set()
        if session.samples is not None:
            available |= {"grid", "npz"}
            if session.samples.kind == "images":
                available.add("single")
        if session.trajectory is not None and len(session.trajectory):
            available.add("gif")
        if session.records:
            available.add("csv")
        return available

    def export(self, key: str | None = None) -> None:
        """Ask for a path with QFileDialog.getSaveFileName and write it on a job thread."""
        available = self._export_choices()
        if key is not None and key not in available:
            self._status("Nothing of that kind to export yet.")
            return
        if not available:
            self._status("Nothing to export yet: train, sample, then export.")
            return
        if key == "single":
            formats = [gui_export.SINGLE_FORMAT]
        else:
            formats = [f for f in gui_export.FORMATS if f.key in available and (key is None or f.key == key)]
        name = self.session.name.split(" ")[0]
        default = Path(self._last_folder() or Path.home()) / f"{name}{formats[0].suffix}"
        path, chosen = QFileDialog.getSaveFileName(self, "Export", str(default),
                                                   ";;".join(f.name_filter for f in formats))
        if not path:
            return
        try:
            fmt = formats[0] if len(formats) == 1 else gui_export.format_for(path, chosen)
        except ValueError as exc:
            self._show_error("Cannot export", str(exc))
            return
        target = gui_export.with_suffix(path, fmt)
        self._remember_folder(str(target))
        session = self.session
        jobs = {
            "grid": (gui_export.export_grid_png, session.samples),
            "single": (gui_export.export_single_png, session.samples, self.samples_dock.selected),
            "gif": (gui_export.export_trajectory_gif, session.trajectory),
            "npz": (gui_export.export_samples_npz, session.samples, session.trajectory),
            "csv": (gui_export.export_loss_csv, list(session.records)),
        }
        fn, *args = jobs[fmt.key]
        if fmt.options:  # e.g. a GIF of x_t alone
            fn = functools.partial(fn, **dict(fmt.options))
        self._status(f"Exporting {target.name}…", 0)
        self.jobs.task("export", fn, str(target), *args, owner=self,
                       on_result=lambda written: self._status(f"Exported {written}."),
                       on_error=lambda m: self._show_error("Cannot export", m), on_done=self._task_done)
        self._set_progress("task")
        self._update_actions()
