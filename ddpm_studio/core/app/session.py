"""The studio's app model, Qt-free: the run, its data and results, and the rules of what may happen to them.

A :class:`Session` owns what a window shows: the run's config, its trainer (or, for a run opened without its
data, a pipeline to sample), the data set and a small cache of loaded ones, the loss records, the latest samples,
the sampled trajectory and the run folder. Jobs on other threads never write here: their results are handed to
the session on the GUI thread (``adopt_trainer``, ``add_records``, ``set_samples`` ...), and every change is
announced to the listeners registered with :meth:`Session.subscribe` (plain callables, called with the name of
what changed), so a test drives a session without a display.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddpm_studio.core.app.run_io import OpenedRun, comparison_config, open_run, probe_dataset, save_run
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.training.resume import CONTINUABLE_TRAIN_FIELDS, resume_conflicts
from ddpm_studio.core.training.trainer import Trainer

__all__ = [
    "CONTINUABLE_TRAIN_FIELDS",
    "DATA_CACHE_SIZE",
    "OpenedRun",
    "Session",
    "comparison_config",
    "data_key",
    "open_run",
    "probe_dataset",
    "resume_conflicts",
    "save_run",
]

#: Loaded data sets kept for the next training run.
DATA_CACHE_SIZE = 3
UNTITLED = "untitled"

#: A listener is called with what changed: "model", "records" (with the appended records as ``detail``), "records
#: reset" (the whole history was replaced: read ``session.records``), "samples", "trajectory", "name".
Listener = Callable[..., None]


def data_key(config: RunConfig) -> tuple:
    """What a loaded data set depends on: (spec, num_points, num_images, seed, image_size)."""
    return (config.data.dataset, config.data.num_points, config.data.num_images, config.train.seed,
            config.data.image_size)


class Session:
    """One run in the studio: everything the docks present, and the rules of Continue and New."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.pipeline: DiffusionPipeline | None = None  # a run opened without its data: sample-only
        self.dataset: DataSet | None = None
        self.records: list[dict] = []
        self.samples: Any = None  # the latest samples shown (a presenter's display copy)
        self.trajectory: Any = None  # the latest sampled trajectory (a presenter's store)
        self.run_dir: str | None = None
        self.name = UNTITLED
        self._opened_config: RunConfig | None = None
        self._data_cache: OrderedDict[tuple, DataSet] = OrderedDict()
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------ observing
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, what: str, detail: Any = None) -> None:
        for listener in list(self._listeners):
            listener(what, detail)

    # ------------------------------------------------------------------ what is there
    @property
    def config(self) -> RunConfig | None:
        """The run's config: the trainer's, or the opened run's when it can only be sampled."""
        if self.trainer is not None:
            return self.trainer.config
        return self._opened_config if self.pipeline is not None else None

    @property
    def has_model(self) -> bool:
        return self.trainer is not None or self.pipeline is not None

    @property
    def step(self) -> int:
        if self.trainer is not None:
            return self.trainer.step
        return self.pipeline.step if self.pipeline is not None else 0

    def model_pipeline(self) -> DiffusionPipeline | None:
        """The EMA weights to sample or evaluate (shares the trainer's weights: nothing may train meanwhile)."""
        return self.trainer.pipeline() if self.trainer is not None else self.pipeline

    def sample_source(self) -> tuple[Callable[[], DiffusionPipeline], DataSet | None] | None:
        """(a pipeline factory to call on a job thread, the data for the forward comparison), or None."""
        if self.trainer is not None:
            return self.trainer.pipeline, self.trainer.dataset
        if self.pipeline is not None:
            pipeline = self.pipeline
            return (lambda: pipeline), self.dataset
        return None

    def can_continue(self, config: RunConfig) -> bool:
        """Continue (not start over): a trainer in memory, steps left, nothing changed that resume_conflicts names.

        The device is part of the rule's continuable fields for a run loaded from disk; a trainer in memory
        stays where its tensors are, so here it must be the same.
        """
        trainer = self.trainer
        return (trainer is not None and trainer.step < config.train.steps
                and config.train.device == trainer.config.train.device
                and not resume_conflicts(trainer.config, config))

    # ------------------------------------------------------------------ changes (GUI thread)
    def discard(self) -> None:
        """Forget the model and its results (New run, or before a new training run); the data cache stays."""
        self.trainer, self.pipeline, self.dataset, self._opened_config = None, None, None, None
        self.records, self.samples, self.trajectory = [], None, None
        self.run_dir, self.name = None, UNTITLED
        self._changed("records reset")
        self._changed("model")

    def start_new(self, config: RunConfig) -> None:
        """A new training run from ``config`` is about to be built (the old one is forgotten)."""
        self.discard()
        self.name = f"{Path(config.data.dataset).name} (unsaved)"
        self._changed("name")

    def adopt_trainer(self, trainer: Trainer) -> None:
        """A job built (or continued) ``trainer``: it is the session's model from now on."""
        self.trainer, self.pipeline, self.dataset = trainer, None, trainer.dataset
        self.remember_data(data_key(trainer.config), trainer.dataset)  # the next run skips loading it
        self._changed("model")

    def adopt_opened(self, opened: OpenedRun) -> None:
        """A job opened a run folder: its trainer (or pipeline), data and loss history replace the current run."""
        self.discard()
        self.trainer, self.pipeline, self.dataset = opened.trainer, opened.pipeline, opened.dataset
        self._opened_config = opened.config
        self.records = list(opened.records)
        self.run_dir = opened.run_dir
        self.name = Path(opened.run_dir).name
        self._changed("records reset")
        self._changed("model")

    def saved(self, run_dir: str) -> None:
        self.run_dir = str(run_dir)
        self.name = Path(str(run_dir)).name
        self._changed("name")

    def add_records(self, records: list[dict]) -> None:
        """Append loss reports (``TrainStep.to_record()`` dicts): the one place a run's history grows."""
        self.records.extend(records)
        self._changed("records", list(records))

    def reset_records(self, records: list[dict] | None = None) -> None:
        """Replace the whole history (a followed run that started over)."""
        self.records = list(records or [])
        self._changed("records reset")

    def set_samples(self, samples: Any) -> None:
        self.samples = samples
        self._changed("samples")

    def set_trajectory(self, trajectory: Any) -> None:
        self.trajectory = trajectory
        self._changed("trajectory")

    # ------------------------------------------------------------------ the data cache
    def cached_data(self, key: tuple) -> DataSet | None:
        return self._data_cache.get(key)

    def remember_data(self, key: tuple, dataset: DataSet) -> None:
        """Keep a loaded data set for the next training run (the newest few only)."""
        self._data_cache.pop(key, None)
        self._data_cache[key] = dataset
        while len(self._data_cache) > DATA_CACHE_SIZE:
            self._data_cache.popitem(last=False)
