"""The main window's inpainting controls: Trajectory → Inpaint… and its runs (RePaint, MATH.md M57-M59).

A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow`: an inpainting runs on the runner as Sample
does (it reads the model, Stop cancels it) and its frames and samples go where a plain run's go.
"""

from __future__ import annotations

from ddpm_studio.core.sampling.repaint import FLOW_REFUSAL
from ddpm_studio.gui.dialogs.inpaint import DEFAULT_INPAINT_STEPS, InpaintDialog, InpaintRequest
from ddpm_studio.gui.display import reference_points
from ddpm_studio.gui.jobs import sampling as job_sampling
from ddpm_studio.gui.jobs.runner import MODEL


class InpaintControls:
    """Inpaint… and its job (a mixin of the main window)."""

    def open_inpaint(self) -> InpaintDialog | None:
        """Trajectory → Inpaint…: the dialog, with the digits it can start from (the training data's, the latest
        samples) or, for 2-D data, its scatter. A flow run is refused in one line (the core's words)."""
        source = self.session.sample_source()
        if source is None:
            self._status("Nothing to inpaint with yet: train a model or open a run.")
            return None
        config = self.session.config
        if config.is_flow:
            self._status(f"Cannot inpaint: {FLOW_REFUSAL}.", 0)
            return None
        dialog = self._inpaint_dialog
        if dialog is None:
            dialog = self._inpaint_dialog = InpaintDialog(self)
            dialog.inpaintRequested.connect(self.start_inpaint)
        steps = min(DEFAULT_INPAINT_STEPS, config.diffusion.num_timesteps)
        _make_pipeline, dataset = source
        if self._model_kind() == "images":
            samples = self.session.samples
            sources = {}
            if dataset is not None and dataset.kind == "images":
                sources["training data"] = dataset.to_uint8_images(dataset.train[:64])
            if samples is not None and samples.kind == "images" and not samples.is_data:
                sources["latest samples"] = samples.data
            if not sources:
                self._status("Nothing to inpaint: no training images or samples are loaded.")
                return None
            dialog.configure_images(sources, steps)
        else:
            dialog.configure_points(reference_points(dataset), steps)
        dialog.set_running(self.sampling)
        dialog.show()
        dialog.raise_()
        return dialog

    def start_inpaint(self, request: InpaintRequest) -> None:
        """Run the dialog's request on the runner as Sample runs (reads the model, cancellable with Stop); its
        frames and samples go where a plain run's go."""
        if self.training or self.sampling or self._model_locked:
            self._status("The model is busy; try again when the running work has finished.")
            return
        source = self.session.sample_source()
        if source is None:
            return
        make_pipeline, dataset = source
        job = self.jobs.start("sample", job_sampling.inpaint, make_pipeline, request.known, request.regenerate,
                              request.num_samples, request.num_steps, seed=self.setup.config().train.seed,
                              dataset=dataset, jump_length=request.jump_length, jump_n_sample=request.jump_n_sample,
                              caption=request.caption, cooperative=True, throttle=job_sampling.sampling_throttle(),
                              reads={MODEL}, owner=self, on_events=self._sample_frames,
                              on_result=self._sampling_finished,
                              on_error=lambda message: self._show_error("Inpainting stopped", message),
                              on_done=self._inpaint_done)
        if job is None:
            self._status("The model is busy; try again when the running work has finished.")
            return
        self.trajectory.begin_live(self._model_kind(), reference_points(dataset), None)
        self.trajectory.set_sampling_running(True)
        if self._inpaint_dialog is not None:
            self._inpaint_dialog.set_running(True)
        self.session.set_trajectory(None)
        self._set_progress("sample", 0, request.num_steps)
        self._status(f"Inpainting {request.num_samples} samples: {request.caption}…", 0)
        self._update_actions()

    def _inpaint_done(self) -> None:
        if self._inpaint_dialog is not None:
            self._inpaint_dialog.set_running(False)
        self._sampling_done()
