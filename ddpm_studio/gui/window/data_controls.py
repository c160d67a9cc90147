"""The main window's data controls: the chosen data previewed before training, a user's file or drawing loaded.

A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses the window's docks, ``session`` and
``jobs``). Data is always loaded on the runner's threads; the session caches it, so that Train reuses it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ddpm_studio.core.app.session import data_key, probe_dataset
from ddpm_studio.core.catalog import REMOTE_DATASETS
from ddpm_studio.core.data import DataSet, load_dataset, take_subset
from ddpm_studio.gui.dialogs.draw_data import DrawDataDialog, drawn_data_folder
from ddpm_studio.gui.display import data_preview, reference_points
from ddpm_studio.gui.docks.setup import data_kind

logger = logging.getLogger(__name__)


def load_keyed(key: tuple) -> tuple[tuple, DataSet]:
    """Load the data a cache key names: (spec, num_points, num_images, seed, image_size) -> (key, data set)."""
    spec, num_points, num_images, seed, image_size = key
    dataset = load_dataset(spec, image_size=image_size, num_points=num_points, num_images=num_images, seed=seed)
    return key, dataset


def trained_items(dataset: DataSet, config) -> DataSet:
    """The part of ``dataset`` a run of ``config`` trains on: its subset (the trainer's draw) when it has one."""
    subset = config.data.subset
    if subset is None or not 1 <= subset < len(dataset.train) or dataset.range_items is not None:
        return dataset
    return take_subset(dataset, subset, config.train.seed)


class DataControls:
    """Setup's data: previews, loading a path, the drawing dialog (a mixin of the main window)."""

    def _preview_data(self) -> None:
        """Before any model exists, load the chosen data off-thread and show it: 2-D data behind the trajectory
        panels, a grid of training images (labelled as data) in the Samples panel.

        Students see the distribution the model will learn before they press Train. And the moment training
        starts stays light: the run takes the loaded data from the session's cache, and the scatters' first,
        slow paint has already happened.
        """
        if self._closing or self.session.has_model or self.training or not self.setup.valid:
            return
        config = self.setup.config()
        key = data_key(config)
        dataset = self.session.cached_data(key)
        if dataset is not None:
            dataset = trained_items(dataset, config)  # a subset of 10 previews those 10, not the whole set
            if dataset.kind == "points":
                self.trajectory.show_placeholder("points", reference_points(dataset))
                self.samples_dock.clear_data()
            elif (images := data_preview(dataset)) is not None:
                self.samples_dock.show_samples(images)
            return
        if data_kind(key[0]) is None:
            return  # a user's file or folder: loaded once when chosen (load_data_path), never again behind their back
        if self.jobs.running("data preview"):
            self._data_preview_timer.start()  # one at a time: look again when it is done
            return
        self.jobs.task("data preview", load_keyed, key, owner=self, on_result=self._data_previewed,
                       on_error=lambda message: self._data_preview_failed(key[0], message))

    def _data_preview_failed(self, spec: str, message: str) -> None:
        """A built-in set that could not be loaded (a standard set offline): the reason stays in the status bar;
        no dialog, since a preview starts by itself whenever the settings change."""
        logger.info("data preview failed: %s", message)
        if spec in REMOTE_DATASETS:
            self._status(f"Cannot load {spec}: {message}", 0)

    def _data_previewed(self, result: tuple[tuple, DataSet]) -> None:
        key, dataset = result
        self.session.remember_data(key, dataset)
        self.setup.set_data_size(key[0], len(dataset.train), dataset.num_classes)
        if key == data_key(self.setup.config()):
            self._preview_data()

    def choose_data(self, spec: str) -> None:
        """Select a built-in data set by name, or load a file / folder (``--data`` and drops)."""
        if data_kind(spec) is not None:
            self.setup.select_builtin(spec)
        else:
            self.load_data_path(spec)

    def load_data_path(self, path: str) -> None:
        """Load a user's data off the GUI thread; bad data gives a message box and changes nothing."""
        if self.training:
            self._status("Stop training before choosing other data.")
            return
        config = self.setup.config()
        self._status(f"Loading {Path(path).name}…", 0)
        self.jobs.task("data", probe_dataset, path, config.data.num_points, config.data.num_images,
                       config.train.seed, owner=self, on_result=self._data_loaded,
                       on_error=lambda message: self._show_error("Cannot use this data", message))

    def draw_data(self) -> DrawDataDialog | None:
        """Setup → Draw data…: the drawing dialog, starting from the chosen 2-D data; what it saves is loaded as a
        file would be (:meth:`load_data_path`)."""
        if self.training:
            self._status("Stop training before choosing other data.")
            return None
        spec = self.setup.data_spec()
        start = spec if self.setup.kind() == "points" else None
        dialog = DrawDataDialog(self, drawn_data_folder(self.settings), self.setup.config().train.seed, start)
        dialog.dataChosen.connect(self.load_data_path)
        dialog.finished.connect(dialog.deleteLater)
        self._draw_dialog = dialog
        dialog.open()
        return dialog

    def _data_loaded(self, result: tuple[str, DataSet]) -> None:
        spec, dataset = result
        config = self.setup.config()
        self.session.remember_data((spec, config.data.num_points, config.data.num_images, config.train.seed, None),
                                   dataset)
        self.setup.add_data_source(spec, dataset.kind, dataset.name)
        # a batch larger than the data is fitted, with a note; labelled data enables the conditional check
        self.setup.set_data_size(spec, len(dataset.train), dataset.num_classes)
        skipped = f"; skipped {len(dataset.skipped)} unreadable file(s)" if dataset.skipped else ""
        self._status(f"Loaded {dataset.name}: {len(dataset.train):,} training items, {dataset.kind}{skipped}.")
