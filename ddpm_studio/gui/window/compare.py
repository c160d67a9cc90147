"""The main window's comparisons: Run → Compare settings (several settings trained on the same data and budget)
and the sampler race (Trajectory → Race…). A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses
the window's ``race`` dock and ``race_runner``, ``session`` and ``setup``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from ddpm_studio.gui.dialogs.compare import CompareDialog
from ddpm_studio.gui.dialogs.paths import PathsDialog
from ddpm_studio.gui.display import reference_points
from ddpm_studio.gui.jobs.paths import paths_job
from ddpm_studio.gui.jobs.runner import MODEL
from ddpm_studio.gui.paths import default_compare_folder
from ddpm_studio.gui.presenters.compare import ComparePresenter


class WindowCompare:
    """Opens the comparison dialog and runs the sampler race (see the module docstring)."""

    def open_compare(self) -> None:
        """Run → Compare settings: train several settings on the same data and budget (Ho et al. Table 2)."""
        if self._compare is None:
            run_dir = self.trainer.run_dir if self.trainer is not None else None
            out_dir = default_compare_folder(run_dir, self._last_folder())
            self._compare = CompareDialog(self, self.setup.config().data.dataset, out_dir)
            ComparePresenter(self._compare)  # a child of the dialog: it runs the comparison the dialog asks for
            self._compare.message.connect(self._status)
        self._compare.open()  # window-modal: nothing else trains while it runs

    # ================================================================== the paths view
    def open_paths(self) -> None:
        """Run → Paths from noise to data: the open run fills its panel (DDPM, flow or reflow), the rest are
        chosen in the dialog (issue 28's paths view)."""
        if self._paths is None:
            self._paths = PathsDialog(self)
            self._paths.drawRequested.connect(self.draw_paths)
        config = self.session.config
        if config is not None and self.session.has_model:
            slot = 0 if not config.is_flow else (2 if config.process.couplings else 1)
            self._paths.set_source(slot, None)
        self._paths.show()
        self._paths.raise_()

    def draw_paths(self) -> None:
        dialog = self._paths
        if dialog is None or not dialog.sources:
            if dialog is not None:
                dialog.show_failure("choose at least one run (a 2-D run of DDPM, flow or reflow)")
            return
        sources = []
        for slot, source in sorted(dialog.sources.items()):
            if source is None:
                if not self.session.has_model:
                    continue
                sources.append((slot, self.session.model_pipeline))
            else:
                sources.append((slot, source))
        reference = reference_points(self.session.dataset)
        job = self.jobs.start("paths", paths_job, sources, reads={MODEL}, owner=self, cooperative=True,
                              on_events=lambda items: [dialog.add_picture(p, reference) for p in items],
                              on_error=dialog.show_failure, on_done=dialog.finished)
        if job is None:
            dialog.show_failure("the model is busy (training or sampling): stop it, then draw")
            return
        dialog.set_running(True)

    # ================================================================== the sampler race
    def open_race(self) -> None:
        """Show the Race dock (Trajectory → Race…) set up for the current model."""
        config = self.session.config
        if config is not None:
            self.race.configure(self._model_kind(), config.diffusion.num_timesteps, config.process.name)
        self.race.show()
        self.race.raise_()
        # the race shows 2 x 4 panels and a plot: give it three quarters of the height beside the Loss dock
        height = self.race.height() + self.loss.height()
        self.resizeDocks([self.race, self.loss], [height * 3 // 4, height // 4], Qt.Orientation.Vertical)

    def start_race(self, runners: list, num_steps: int, num_samples: int) -> None:
        source = self.session.sample_source()
        if source is None or self.training or self.sampling or self._model_locked:
            return
        make_pipeline, dataset = source
        self.race_runner.start(make_pipeline, self._model_kind(), dataset, runners, num_steps, num_samples,
                               self.setup.config().train.seed)
        self._status(f"Racing {len(runners)} samplers at {num_steps} network evaluations each…", 0)

    def choose_race_run(self) -> None:
        """The Race dock's "Add a run…": pick another trained run (DDPM or flow, or a diffusers folder) and load it
        on a job; its lanes then race beside the open run's, from the same noise."""
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Race another run on the same data", self._last_folder())
        if folder:
            self._remember_folder(folder)
            self.add_race_run(folder)

    def add_race_run(self, folder: str) -> None:
        """Load ``folder``'s newest weights on a job and offer them to the Race dock's lanes."""
        from pathlib import Path

        from ddpm_studio.core.app.diffusers_import import load_any_pipeline

        device = self.setup.config().train.device
        name = Path(folder).name

        def added(pipeline) -> None:
            own = self.session.config
            kind = self._model_kind() if own is not None else pipeline.kind
            if pipeline.kind != kind:
                self._show_error("Cannot race that run", f"{name} models {pipeline.kind}, the open run {kind}: "
                                 "race runs of the same data")
                return
            self.race.lanes.set_other_run(name, pipeline)
            self._status(f"Racing {name} beside the open run: pick each lane's run, then Race.")

        job = self.jobs.task("race-run", load_any_pipeline, folder, device, owner=self, on_result=added,
                             on_error=lambda message: self._show_error("Cannot race that run", message))
        if job is None:
            self._status("Another task is loading; try again in a moment.")
        else:
            self._status(f"Loading {name} to race it…", 0)

    def _race_running_changed(self) -> None:
        if not self.race_runner.running:
            self._status("Race finished: slide the noise level to compare the lanes at the same σ.")
        self._update_actions()
