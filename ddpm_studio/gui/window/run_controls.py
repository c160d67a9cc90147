"""The main window's run controls: Train / Continue, Pause, Stop, Sample, New (the data: ``data_controls.py``;
Inpaint…: ``inpaint_controls.py``).

A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses the window's docks, ``session`` and
``jobs``). Each action starts a job on the runner and hands the job's results to the session, then to the docks;
no maths and no thread bookkeeping happen here: the runner knows what runs, and refuses (or, for training, waits
for) a job that would touch the model while another one reads or writes it.
"""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox

from ddpm_studio.core.app.session import data_key
from ddpm_studio.core.config import ConfigError
from ddpm_studio.core.models import format_parameter_count
from ddpm_studio.core.threads import ThreadChoice
from ddpm_studio.core.training.events import (
    CheckpointSaved,
    Heartbeat,
    PreviewFailed,
    SnapshotTaken,
    TrainingFinished,
    TrainStep,
)
from ddpm_studio.core.training.resume import lr_horizon_change
from ddpm_studio.core.training.trainer import Trainer
from ddpm_studio.gui.display import reference_points
from ddpm_studio.gui.jobs import sampling as job_sampling
from ddpm_studio.gui.jobs import training as job_training
from ddpm_studio.gui.jobs.runner import MODEL, Job
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryFrame, TrajectoryStore

logger = logging.getLogger(__name__)



class RunControls:
    """Training, sampling and data loading for the main window (see the module docstring)."""

    # ================================================================== state
    @property
    def training(self) -> bool:
        return self.jobs.running("train")

    @property
    def sampling(self) -> bool:
        """Sampling a trajectory, racing samplers or sweeping the guidance scale (all read the model; none may
        overlap training)."""
        return self.jobs.running("sample") or self.jobs.running("race") or self.jobs.running("guidance sweep")

    @property
    def busy(self) -> bool:
        """Work running or about to: a job of this window, or the chosen data's pending load."""
        return self.jobs.busy or self._data_preview_timer.isActive()

    def _active_job(self) -> Job | None:
        return (self.jobs.job("train") or self.jobs.job("sample") or self.jobs.job("race")
                or self.jobs.job("guidance sweep"))

    @property
    def _model_locked(self) -> bool:
        """A job that replaces or saves the model runs (open, save)."""
        return self.jobs.running("open") or self.jobs.running("save")

    # ================================================================== setup reactions
    def _settings_changed(self) -> None:
        self.loss.set_num_timesteps(self.setup.num_timesteps())
        self._update_actions()

    def _show_schedule(self, *_args) -> None:
        """The Schedule dock shows the process on screen: DDPM's beta schedule, or the flow's path (M47)."""
        config = self.setup.config()
        if config.is_flow:
            self.schedule.set_flow_path(config.process.path)
        else:
            self.schedule.set_schedule(self.setup.schedule(), self.setup.num_timesteps())

    def _process_changed(self, process: str) -> None:
        """DDPM <-> flow in Setup: the schedule view, and (with no model open) the samplers offered."""
        self._show_schedule()
        if not self.session.has_model:
            self.trajectory.configure_sampling(self.setup.kind(), self.setup.config().clock_size, process)

    def _kind_changed(self, kind: str) -> None:
        if not self.session.has_model:
            self.trajectory.configure_sampling(kind, self.setup.config().clock_size, self.setup.process())
            self.trajectory.show_placeholder(kind, None)
            self.samples_dock.clear_data()  # the new data's preview follows once loaded

    # ================================================================== training
    def start_or_pause(self) -> None:
        """Space: start training when idle, otherwise pause or resume the running work."""
        if self._active_job() is not None:
            self.toggle_pause()
        elif self.trainButton.isEnabled():
            self.start_training()

    def start_training(self) -> None:
        if self.training or self.sampling or self._model_locked:
            return
        if not self.setup.valid:
            self._status(f"Cannot train: {self.setup.problem}")
            return
        config = self.setup.config()
        try:
            config.validate()
        except ConfigError as exc:
            self._show_error("Cannot train", str(exc))
            return
        session = self.session
        if session.can_continue(config):
            trainer, dataset = session.trainer, None
            # a new total moves the cosine's horizon: the user confirms the rule's own words (core.training.resume)
            change = lr_horizon_change(trainer.config, config.train.steps, trainer.step)
            if change is not None and QMessageBox.question(
                    self, "Continue training", change.describe(),
                    QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            ) != QMessageBox.StandardButton.Ok:
                return
            self._status(f"Continuing from step {trainer.step:,} to {config.train.steps:,}…")
        else:
            self._discard_model()
            session.start_new(config)
            trainer, dataset = None, session.cached_data(data_key(config))
            self._status("Preparing the data and the network…", 0)
        self._saves = job_training.SaveRequests()
        self._auto_sample = False
        self._train_total = config.train.steps
        # preempt: a bound still finishing its timestep reads the EMA weights this job will update; it is asked
        # to stop, and training starts once it has ended
        self.jobs.start("train", job_training.train, config, trainer, dataset, self._saves, cooperative=True,
                        throttle=job_training.training_throttle(), service=self._saves, writes={MODEL},
                        preempt=True, owner=self, on_events=self._training_events,
                        on_error=lambda message: self._show_error("Training stopped", message),
                        on_done=self._training_done)
        self._set_progress("train", 0, config.train.steps)
        self.stepLabel.setToolTip("")  # a new run has not stopped early (yet)
        self._update_actions()

    def _training_events(self, items: list) -> None:
        steps: list[TrainStep] = []
        # the last speed known: a batch holding only a preview or a checkpoint keeps it
        step, speed, finished = None, self.loss.speed, None
        for item in items:
            if isinstance(item, job_training.TrainerReady):
                self._trainer_ready(item.trainer, item.threads)
            elif isinstance(item, TrainStep):
                steps.append(item)
                speed = item.steps_per_sec
            elif isinstance(item, Heartbeat) and item.steps_per_sec > 0:
                speed = item.steps_per_sec  # between log lines (a digits step takes a second)
            elif isinstance(item, SampleSet):
                self.session.set_samples(item)
                self.samples_dock.show_samples(item)
            elif isinstance(item, SnapshotTaken):  # the Training slider's range grows as the run trains
                self.samples_dock.add_snapshot(item.snapshot, item.dropped)
            elif isinstance(item, PreviewFailed):
                self._status(item.message)
            elif isinstance(item, CheckpointSaved):
                self._status(f"Checkpoint saved at step {item.step:,}: {item.path}")
            elif isinstance(item, job_training.RunSaved):
                self._run_saved(item.run_dir)
            elif isinstance(item, job_training.SaveFailed):
                self._show_error("Cannot save the run", item.message)
            elif isinstance(item, TrainingFinished):
                finished = item
            step = getattr(item, "step", step)
        if steps:
            records = [event.to_record() for event in steps]
            self.session.add_records(records)  # the Loss dock observes the session
        if step is not None:
            self.loss.set_progress(step, self._train_total, speed)
            self.stepLabel.setText(f"step: {step:,} / {self._train_total:,}")
            if self.training:
                self._set_progress("train", step, self._train_total)
        if finished is not None:
            self.stepLabel.setText(f"step: {finished.step:,}")
            if finished.reason == "converged":
                # early stop: say so where it stays (the step label) and why, lens by lens, in the status bar
                self.stepLabel.setText(f"step: {finished.step:,} · stopped early")
                self.stepLabel.setToolTip(f"Stopped early at step {finished.step:,}: {finished.detail}.")
                self._status(f"Stopped early at step {finished.step:,}: held-out quality stopped improving; "
                             f"{self._last_check_verdict()} (numbers: hover the step label).", 0)
                self._auto_sample = self.trajectory.autoSampleCheck.isChecked()
            elif finished.reason == "completed":
                detail = f" ({finished.detail})" if finished.detail else ""
                self._status(f"Training completed at step {finished.step:,}{detail}.")
                self._auto_sample = self.trajectory.autoSampleCheck.isChecked()
            else:
                self._status(f"Training stopped at step {finished.step:,}.")

    def _last_check_verdict(self) -> str:
        """"last check clean" or "last check not clean: coverage, mode_spread": short enough for the status bar."""
        stopper = getattr(self.trainer, "early_stopper", None)
        last = stopper.history[-1] if stopper is not None and stopper.history else None
        if last is None or last.failed is None:
            return "see the step label's tooltip"
        return "last check clean" if not last.failed else f"last check not clean: {', '.join(last.failed)}"

    def _trainer_ready(self, trainer: Trainer, threads: ThreadChoice | None = None) -> None:
        self.session.adopt_trainer(trainer)
        self._show_model_info(str(trainer.device), trainer.num_parameters, trainer.step, trainer.kind,
                              trainer.config.clock_size)
        self.trajectory.show_placeholder(trainer.kind, reference_points(trainer.dataset))
        self.samples_dock.set_snapshots(list(trainer.snapshots.items), reference_points(trainer.dataset))
        on = f"{trainer.device}, {threads.threads} thread{'s' if threads.threads != 1 else ''}" if threads else \
            str(trainer.device)
        self._status(f"Training on {on}: {trainer.dataset.name}, "
                     f"{format_parameter_count(trainer.num_parameters)} parameters.")
        self._update_actions()

    def _training_done(self) -> None:
        self._set_progress(None)
        self.loss.flush()
        self._update_actions()
        if self._auto_sample and not self._closing:
            self._auto_sample = False
            self.sample()

    def toggle_pause(self) -> None:
        job = self._active_job()
        if job is None or job.stopping or not job.started_running:
            return
        if job.paused:
            self.jobs.resume(job)
            self._status("Resumed.")
        else:
            self.jobs.pause(job)
            self._status("Paused: press Space or Resume to go on.", 0)

    def stop(self) -> None:
        job = self._active_job()
        if job is None:
            return
        self.jobs.stop(job.name, owner=self)
        self._status("Stopping…", 0)

    def new_run(self) -> None:
        """Forget the current model (settings stay): the next Train starts from scratch."""
        if self.training or self.sampling or self._model_locked:
            return
        self._discard_model()
        self.session.discard()
        self._update_title()
        self._update_actions()
        self._data_preview_timer.start()  # the chosen data again, as before the first run

    def _discard_model(self) -> None:
        self.likelihood.clear()  # also cancels a bound still running, whose late terms it then ignores
        self._sampling_model = None
        self.samples_dock.clear()
        self.samples_dock.clear_snapshots()
        self.trajectory.clear(keep_data=True)  # redrawn by _trainer_ready only if the new run's data differs
        self.trajectory.samplingBar.set_classes(None)
        self.deviceLabel.setText("device: —")
        self.paramsLabel.setText("parameters: —")
        self.stepLabel.setText("step: —")

    # ================================================================== sampling
    def sample(self) -> None:
        if self.training or self.sampling or self._model_locked:
            return
        source = self.session.sample_source()
        if source is None:
            self._status("Nothing to sample yet: train a model or open a run.")
            return
        make_pipeline, dataset = source
        config = self.session.config
        T = config.diffusion.num_timesteps
        problem = self.trajectory.sampling_problem(T)
        if problem is not None:
            self._status(f"Cannot sample: {problem}.", 0)
            return
        settings = self.trajectory.sample_settings()
        job = self.jobs.start("sample", job_sampling.sample, make_pipeline, seed=self.setup.config().train.seed,
                              dataset=dataset, cooperative=True, throttle=job_sampling.sampling_throttle(),
                              reads={MODEL}, owner=self, on_events=self._sample_frames,
                              on_result=self._sampling_finished,
                              on_error=lambda message: self._show_error("Sampling stopped", message),
                              on_done=self._sampling_done, **settings)
        if job is None:
            self._status("The model is busy; try again when the running work has finished.")
            return
        labels = settings.get("labels")
        self.trajectory.begin_live(self.session.trainer.kind if self.session.trainer else self.session.pipeline.kind,
                                   reference_points(dataset), None if labels is None else labels.numpy())
        self.trajectory.set_sampling_running(True)
        self.session.set_trajectory(None)
        self._set_progress("sample", 0, settings["num_steps"])
        self._status(f"Sampling {settings['num_samples']} samples in {settings['num_steps']} steps…", 0)
        self._update_actions()

    def _sample_selected(self, index: int) -> None:
        self._status(f"Sample {index + 1} selected: File → Export selected sample (PNG) writes it alone.")

    def _sample_frames(self, frames: list[TrajectoryFrame]) -> None:
        frame = frames[-1]
        self.trajectory.show_live_frame(frame)
        if self.sampling:
            self._set_progress("sample", frame.step + 1, frame.num_steps)

    def _sampling_finished(self, store: TrajectoryStore | None) -> None:
        if store is None or len(store) == 0:
            self.trajectory.clear()
            return
        self.session.set_trajectory(store)
        self.trajectory.set_store(store)
        finished = "Final samples" if store.complete else "Samples (stopped early)"
        step = self.session.step
        samples = store.final_samples(f"{finished}: {store.caption}, after {step:,} training steps", step)
        self.session.set_samples(samples)
        self.samples_dock.show_samples(samples)
        verdict = f" {store.verdict_line}" if store.verdict_line else ""
        self._status(f"Sampled {store.caption}: {len(store)} frames stored "
                     f"({store.nbytes / 2**20:.1f} MB).{verdict} Scrub with the slider or ←/→.")

    def _sampling_done(self) -> None:
        self.trajectory.set_sampling_running(False)
        self._set_progress(None)
        self._update_actions()
