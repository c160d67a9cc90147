"""The training job: builds (or continues) a Trainer on its thread and yields the core's events as display copies.

Yields :class:`TrainerReady` once the trainer exists, then the trainer's own events (``TrainStep``,
``PreviewFailed``, ``CheckpointSaved``, ``TrainingFinished``) with each ``PreviewReady`` turned into a
:class:`~ddpm_studio.gui.trajectory_store.SampleSet` (numpy copies). :class:`SaveRequests` is the job's service: a
save the user asks for runs on the job's thread between two steps (or at once while paused) and answers with
:class:`RunSaved` or :class:`SaveFailed`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch

from ddpm_studio.core.app.run_io import describe_error, save_run
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.device import resolve_device
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.threads import ThreadChoice, training_threads
from ddpm_studio.core.training.early_preview import EarlyPreview
from ddpm_studio.core.training.events import CheckpointSaved, PreviewFailed, PreviewReady, TrainingFinished
from ddpm_studio.core.training.previews import off_support_note
from ddpm_studio.core.training.speed import with_speed
from ddpm_studio.core.training.trainer import CheckpointWriteError, Trainer
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.jobs.runner import Throttle
from ddpm_studio.gui.trajectory_store import SampleSet

#: Loss and progress updates while training (2 Hz). A loss curve still reads as live, and each update (loss
#: plot redraw and paint, status bar) costs ~17 ms of GUI-thread CPU, mostly Python that a small, Python-bound
#: training step must wait for (the GIL); at 30 Hz that alone made a 2-D run tens of percent slower
#: (benchmarks/RESULTS.md, "The studio's cost").
TRAIN_EMIT_INTERVAL_S = 0.5


@dataclass(frozen=True)
class TrainerReady:
    trainer: Trainer
    #: torch's CPU threads for this run and why (:func:`~ddpm_studio.core.threads.training_threads`); None off the CPU
    threads: ThreadChoice | None = None


@dataclass(frozen=True)
class RunSaved:
    run_dir: str


@dataclass(frozen=True)
class SaveFailed:
    message: str


def training_throttle() -> Throttle:
    """Loss points at 2 Hz; the trainer, previews, checkpoints, saves and the end at once."""
    return Throttle(TRAIN_EMIT_INTERVAL_S, urgent=(TrainerReady, SampleSet, PreviewFailed, CheckpointSaved,
                                                   TrainingFinished))


class SaveRequests:
    """A save asked for on the GUI thread, done on the training job's thread (its ``service``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: tuple[str, list[dict]] | None = None
        self.trainer: Trainer | None = None

    def request(self, run_dir: str, records: list[dict]) -> None:
        with self._lock:
            self._request = (run_dir, list(records))

    def __call__(self) -> list:
        with self._lock:
            request, self._request = self._request, None
        if request is None or self.trainer is None:
            return []
        try:
            return [RunSaved(str(save_run(self.trainer, *request)))]
        except (RunError, CheckpointWriteError, OSError) as exc:
            return [SaveFailed(describe_error(exc))]


def train(config: RunConfig, trainer: Trainer | None, dataset: DataSet | None, saves: SaveRequests, *,
          stop: threading.Event):
    """The job: continue ``trainer`` (``config.train`` becomes its training settings) or build one from ``config``.

    It trains on the threads ``ddpm-studio train`` would use (:func:`training_threads`: the free cores for
    images, one for points), not the one core fewer the studio keeps for its other jobs: an image step spends its
    time in kernels that release the GIL, and the GUI thread, idle between its 2 Hz updates, takes its turn on a
    core from the OS scheduler; so the studio trains images at the CLI's speed and still answers (stalls measured:
    benchmarks/RESULTS.md, "The studio's cost"). The count is set on this job's own thread (OpenMP keeps one per
    thread) and put back when the job ends, whatever ends it.
    """
    # before anything else runs on this thread: set after the trainer was built (its network, its first ops),
    # the count did not speed the digits step at all (0.32 s a step on "two" threads against 0.33 on one)
    choice = _thread_choice(config, trainer, dataset)
    threads_before = torch.get_num_threads()
    if choice is not None:
        torch.set_num_threads(choice.threads)
    try:
        if trainer is None:
            trainer = Trainer(config, dataset=dataset)  # in memory until the user saves
        else:
            trainer.config.train = config.train
        if choice is None and trainer.device.type == "cpu":  # the data was still loading: its kind is known now
            choice = training_threads(trainer.kind, trainer.device.type)
            torch.set_num_threads(choice.threads)
        saves.trainer = trainer
        yield TrainerReady(trainer, choice)
        if stop.is_set():
            yield TrainingFinished(trainer.step, "stopped")
            return
        yield from _train(trainer, stop)
    finally:
        torch.set_num_threads(threads_before)


def _thread_choice(config: RunConfig, trainer: Trainer | None, dataset: DataSet | None) -> ThreadChoice | None:
    """:func:`training_threads` for this run on the CPU (None on a GPU, or when the kind is not known yet)."""
    if trainer is not None:
        kind, device = trainer.kind, trainer.device
    elif dataset is not None:
        kind, device = dataset.kind, resolve_device(config.train.device)
    else:
        return None
    return training_threads(kind, device.type) if device.type == "cpu" else None


def _train(trainer: Trainer, stop: threading.Event):
    """The loop of :func:`train`: the trainer's events, previews as display copies, an early preview."""
    pipeline = trainer.pipeline()
    reference = reference_points(trainer.dataset)
    early = EarlyPreview(trainer.config.train.preview_every, trainer.step)  # something to look at in seconds
    for event in with_speed(trainer.train()):  # heartbeats say the speed too: a digits step takes a second
        if stop.is_set():
            trainer.request_stop()
        if isinstance(event, PreviewReady):
            yield _preview_set(trainer, pipeline, reference, event.samples, event.step, "Preview")
        else:
            yield event
        if early.due(trainer.step) and not stop.is_set():
            yield _preview_set(trainer, pipeline, reference, trainer.preview(), trainer.step, "Early preview")


def _preview_set(trainer: Trainer, pipeline, reference, samples, step: int, what: str) -> SampleSet:
    """A preview as the Samples dock shows it: display copies and a caption (off-support share for points)."""
    caption = f"{what} at step {step} ({trainer.config.train.preview_steps} steps)"
    shown = to_display(pipeline, samples)
    if pipeline.kind == "points" and (note := off_support_note(shown, reference)):
        caption = f"{caption}  ·  {note}"
    return SampleSet(pipeline.kind, shown, reference, caption, step)
