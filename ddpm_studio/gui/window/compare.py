"""The main window's comparisons: Run → Compare settings (several settings trained on the same data and budget)
and the sampler race (Trajectory → Race…). A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses
the window's ``race`` dock and ``race_runner``, ``session`` and ``setup``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from ddpm_studio.gui.dialogs.compare import CompareDialog
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

    def _race_running_changed(self) -> None:
        if not self.race_runner.running:
            self._status("Race finished: slide the noise level to compare the lanes at the same σ.")
        self._update_actions()
