"""Run folders for the studio: open one to continue or sample it, save a trainer into one, load a user's data.

Qt-free and slow (files, networks): the studio calls these on a job thread, a notebook calls them directly.
``describe_error`` turns any exception these raise into the one line a message box or the CLI shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ddpm_studio.core.compare import compare_config
from ddpm_studio.core.config import ConfigError, RunConfig
from ddpm_studio.core.data import BUILTIN_DATASETS, DataError, DataSet, load_dataset
from ddpm_studio.core.device import available_devices
from ddpm_studio.core.io.run_data import load_stand_in
from ddpm_studio.core.io.runs import RunError, append_metrics, list_checkpoints, read_metrics
from ddpm_studio.core.pipeline import DiffusionPipeline, load_pipeline, load_run_config
from ddpm_studio.core.training.run_lock import RunLocked
from ddpm_studio.core.training.snapshots import Snapshot, read_snapshots
from ddpm_studio.core.training.trainer import CheckpointWriteError, Trainer, TrainingDiverged

#: Errors whose message already is the one line a user reads (anything else gets its type name in front).
KNOWN_ERRORS = (TrainingDiverged, CheckpointWriteError, DataError, ConfigError, RunError)


def describe_error(exc: BaseException) -> str:
    """The one line a message box shows for an exception raised by a job."""
    if isinstance(exc, KNOWN_ERRORS):
        return str(exc)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return ("out of memory: choose a smaller batch size, fewer samples or a smaller model preset "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def save_run(trainer: Trainer, run_dir: str | os.PathLike[str], records: list[dict]) -> Path:
    """Write the trainer to ``run_dir`` in the CLI's run-folder format: config, loss history, checkpoint.

    Call from the thread that owns the trainer (or while nothing trains). A new folder must be empty (or not
    exist yet): one that holds another run, or any of the user's files, is refused, so nothing is overwritten.
    """
    run_dir = Path(run_dir)
    same = trainer.run_dir is not None and Path(trainer.run_dir).resolve() == run_dir.resolve()
    if not same:
        if list_checkpoints(run_dir) or (run_dir / "metrics.jsonl").exists():
            raise RunError(f"{run_dir} already holds a run; choose an empty folder (nothing was overwritten)")
        entries = sorted(entry.name for entry in run_dir.iterdir()) if run_dir.is_dir() else []
        if entries or (run_dir.exists() and not run_dir.is_dir()):
            held = f"holds {len(entries)} item(s) such as {entries[0]!r}" if entries else "is a file"
            raise RunError(f"{run_dir} {held}; a run is saved into an empty folder: choose or create one "
                           "(nothing was written)")
        trainer.set_run_dir(run_dir)
        if records:
            try:
                append_metrics(run_dir, records)
            except OSError as exc:
                raise CheckpointWriteError(f"cannot write the loss history to {run_dir}: {exc}") from exc
    path = trainer.save_checkpoint()
    assert path is not None
    return run_dir


@dataclass
class OpenedRun:
    """A run folder loaded for the studio: a trainer to continue, or (data missing) a pipeline to sample."""

    run_dir: str
    config: RunConfig
    kind: str
    records: list[dict]
    trainer: Trainer | None
    pipeline: DiffusionPipeline | None
    dataset: DataSet | None
    warning: str | None
    snapshots: list[Snapshot] = field(default_factory=list)  # the run's training snapshots, oldest first


def open_run(run_dir: str) -> OpenedRun:
    """Load a run folder written by the CLI or the studio, ready to continue training (slow: call off-thread).

    A device the run names but this machine lacks falls back to "auto"; data that cannot be found any more
    still gives a pipeline to sample from, with a warning. A diffusers model folder opens sample-only.
    """
    from ddpm_studio.core.app.diffusers_import import is_diffusers_folder, load_diffusers_pipeline

    if is_diffusers_folder(run_dir):
        pipeline = load_diffusers_pipeline(run_dir)
        return OpenedRun(run_dir, pipeline.config, pipeline.kind, [], None, pipeline, None, None)
    config = load_run_config(run_dir)
    records = read_metrics(run_dir)
    warning = None
    device = config.train.device
    if device != "auto" and device.split(":")[0] not in {d.split(":")[0] for d in available_devices()}:
        config.train.device = "auto"
        warning = f"the run was trained on {device!r}, which this machine lacks; it continues on 'auto'"
    try:
        # a points file that has gone: the copy the run kept (core.io.run_data) stands in for it
        trainer = Trainer(config, run_dir=run_dir, dataset=load_stand_in(run_dir, config), resume=True)
    except (DataError, RuntimeError, RunLocked) as exc:  # e.g. data moved away, a training state from another
        # device, or a trainer of another process writing the folder (follow it to watch it live)
        pipeline = load_pipeline(run_dir, config.train.device)
        reason = ("its data could not be loaded" if isinstance(exc, DataError)
                  else "another process trains it" if isinstance(exc, RunLocked)
                  else "its training state cannot be resumed here")
        note = f"{reason} ({describe_error(exc)}): you can sample it, not continue training it"
        dataset = None
        if not isinstance(exc, DataError):  # the data itself is fine: keep it for the forward comparison
            dataset = load_dataset(config.data.dataset, image_size=config.data.image_size,
                                   num_points=config.data.num_points, num_images=config.data.num_images,
                                   seed=config.train.seed, subset=config.data.subset)
        return OpenedRun(run_dir, config, pipeline.kind, records, None, pipeline, dataset,
                         f"{warning}; {note}" if warning else note, read_snapshots(run_dir))
    return OpenedRun(run_dir, config, trainer.kind, records, trainer, None, trainer.dataset, warning,
                     list(trainer.snapshots.items))


def probe_dataset(spec: str, num_points: int, num_images: int, seed: int) -> tuple[str, DataSet]:
    """Load a user's file or folder (slow for big folders: call off-thread); returns (spec, data set)."""
    return spec, load_dataset(spec, num_points=num_points, num_images=num_images, seed=seed)


def comparison_config(
    data: str, steps: int, num_timesteps: int, schedule: str | None = None, seed: int = 0
) -> RunConfig:
    """The shared settings of a comparison run from the dialog (what ``ddpm-studio compare`` builds from flags).

    :func:`~ddpm_studio.core.compare.compare_config` for the data's kind, with T and the schedule replaced.
    A path is loaded once to learn its kind (slow for a big folder: call it off the GUI thread).

    Raises:
        DataError: the data cannot be loaded. ConfigError: the settings do not validate (e.g. a linear
            schedule with T <= 20).
    """
    kind = BUILTIN_DATASETS.get(data) or load_dataset(data, seed=seed).kind
    config = compare_config(data, kind, steps, seed=seed)
    config.diffusion.num_timesteps = num_timesteps
    if schedule is not None:
        config.diffusion.schedule = schedule
    # previews are off in a comparison, but the config still requires preview_steps <= T
    config.train.preview_steps = min(config.train.preview_steps, num_timesteps)
    return config.validate()
