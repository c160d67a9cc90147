"""The studio's main window: docks, toolbar, menus, shortcuts, settings, and the wiring between them.

No maths happens here. Data flows one way: the Setup dock's settings become a core config, a worker on a QThread
turns it into events, and the window hands each event's display-ready copy to the dock that shows it. Docks
never talk to each other; every connection is made in :meth:`MainWindow._wire`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
    QWidget,
)

from ddpm_studio import __version__
from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.models import count_parameters, format_parameter_count
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.runs import CONFIG_NAME
from ddpm_studio.core.training.config import ConfigError, RunConfig
from ddpm_studio.core.training.trainer import Trainer
from ddpm_studio.gui import export as gui_export
from ddpm_studio.gui import gc_guard
from ddpm_studio.gui.compare_dialog import CompareDialog
from ddpm_studio.gui.docks.likelihood import LikelihoodDock
from ddpm_studio.gui.docks.loss import LossDock
from ddpm_studio.gui.docks.samples import SamplesDock
from ddpm_studio.gui.docks.schedule import ScheduleDock
from ddpm_studio.gui.docks.setup import IMAGE_SUFFIXES, SetupDock, data_kind
from ddpm_studio.gui.docks.trajectory import TrajectoryDock
from ddpm_studio.gui.look import NORMAL, PRESENTATION, apply_look
from ddpm_studio.gui.screen_fit import fits, fitted_geometry
from ddpm_studio.gui.style import configure_pyqtgraph, set_media_button
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryFrame, TrajectoryStore
from ddpm_studio.gui.workers import (
    OpenedRun,
    SamplingWorker,
    TaskWorker,
    TrainingWorker,
    Worker,
    join_all,
    open_run,
    prepare_torch,
    probe_dataset,
    reference_points,
    save_run,
    start_worker,
)

logger = logging.getLogger(__name__)

LAYOUT_VERSION = 2  # bumped when docks are added: an older saved layout falls back to the default
MAX_RECENT_RUNS = 8
STATUS_TIMEOUT_MS = 8000
#: Settings must rest this long before the chosen data is loaded for the trajectory's background.
DATA_PREVIEW_DELAY_MS = 150
#: Loaded data sets kept for the next training run.
DATA_CACHE_SIZE = 3
# Training settings that may differ from a stopped run's without starting it over ("Continue").
_CONTINUABLE_TRAIN_FIELDS = ("steps", "log_every", "preview_every", "preview_count", "preview_steps")


def _comparable(config: RunConfig) -> dict:
    raw = config.to_dict()
    for key in _CONTINUABLE_TRAIN_FIELDS:
        raw["train"].pop(key, None)
    return raw


def _load_keyed(key: tuple) -> tuple[tuple, DataSet]:
    """Load the data a cache key names: (spec, num_points, num_images, seed, image_size) -> (key, data set)."""
    spec, num_points, num_images, seed, image_size = key
    dataset = load_dataset(spec, image_size=image_size, num_points=num_points, num_images=num_images, seed=seed)
    return key, dataset


class MainWindow(QMainWindow):
    """DDPM Studio's window. ``settings`` defaults to the user's QSettings (tests pass a temporary file)."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        prepare_torch()
        gc_guard.acquire()  # the garbage collector runs on this thread only while the window is open
        self._gc_released = False
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QSettings("DDPM Studio", "ddpm-studio")
        self._fit_to_screen(restored=False)  # before the docks are sized: their default split follows it
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)

        self.trainer: Trainer | None = None
        self.pipeline: DiffusionPipeline | None = None  # a run opened without its data: sample-only
        self.dataset: DataSet | None = None
        self.records: list[dict] = []
        self.samples: SampleSet | None = None
        self.store: TrajectoryStore | None = None
        self.run_name = "untitled"
        self._train_worker: TrainingWorker | None = None
        self._sample_worker: SamplingWorker | None = None
        self._tasks: list[TaskWorker] = []  # running one-shot tasks (kept referenced until done)
        self._trainer_tasks = 0  # running tasks that read or replace the trainer (open, save)
        self._data_cache: dict[tuple, DataSet] = {}
        # the chosen data is loaded (and 2-D data drawn behind the trajectory panels) before any model exists;
        # settings settle first: typing a point count should not load five data sets
        self._data_preview_timer = QTimer(self)
        self._data_preview_timer.setSingleShot(True)
        self._data_preview_timer.setInterval(DATA_PREVIEW_DELAY_MS)
        self._data_preview_timer.timeout.connect(self._preview_data)
        self._auto_sample = False
        self._closing = False
        self._progress: tuple[str, int, int] | None = None
        self._sampling_model: tuple[str, int] | None = None  # (kind, T) the sampling controls are set up for
        self._layout_restored = False  # a saved dock layout was restored (else the default split is applied)
        self._docks_sized = False

        self.setup = SetupDock(self)
        self.loss = LossDock(self)
        self.schedule = ScheduleDock(self)
        self.trajectory = TrajectoryDock(self)
        self.samples_dock = SamplesDock(self)
        self.likelihood = LikelihoodDock(self)
        self._compare: CompareDialog | None = None
        self.docks: list[QDockWidget] = [
            self.setup, self.trajectory, self.samples_dock, self.loss, self.schedule, self.likelihood]
        for dock in self.docks:
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self._arrange_docks()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_settings()
        self._wire()
        self.likelihood.set_source(
            lambda: self.trainer.pipeline() if self.trainer is not None else self.pipeline,
            lambda: self.dataset.heldout if self.dataset is not None else None,
        )
        self.likelihood.message.connect(self._status)
        self.likelihood.failed.connect(lambda message: self._show_error("The bound could not be computed", message))
        self.schedule.set_schedule(self.setup.schedule(), self.setup.num_timesteps())
        self.loss.set_num_timesteps(self.setup.num_timesteps())
        self.trajectory.configure_sampling(self.setup.kind(), self.setup.num_timesteps())
        self._update_title()
        self._update_actions()
        self._data_preview_timer.start()

    # ================================================================== construction
    def _arrange_docks(self) -> None:
        area = Qt.DockWidgetArea
        self.addDockWidget(area.LeftDockWidgetArea, self.setup)
        self.addDockWidget(area.RightDockWidgetArea, self.trajectory)
        self.splitDockWidget(self.trajectory, self.loss, Qt.Orientation.Vertical)
        self.splitDockWidget(self.trajectory, self.samples_dock, Qt.Orientation.Horizontal)
        self.splitDockWidget(self.loss, self.schedule, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.schedule, self.likelihood)
        self.schedule.raise_()

    def _size_docks(self) -> None:
        """The default split, in proportion to the window (resizeDocks has no effect before it is laid out).

        The Setup dock as narrow as its form allows; the trajectory 65% of the rest of the width and 60% of
        the height, so the reverse process stays the largest view on a small screen too.
        """
        width = self.trajectory.width() + self.samples_dock.width()
        height = self.trajectory.height() + self.loss.height()
        self.resizeDocks([self.setup], [self.setup.minimumSizeHint().width()], Qt.Orientation.Horizontal)
        self.resizeDocks([self.trajectory, self.samples_dock], [width * 65 // 100, width * 35 // 100],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.trajectory, self.loss], [height * 60 // 100, height * 40 // 100],
                         Qt.Orientation.Vertical)

    def _button(self, text: str, name: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text, objectName=name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Run", self)
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        self.trainButton = self._button("Train", "trainButton", "Train with the settings on the left (Space)",
                                        self.start_training)
        self.pauseButton = self._button("Pause", "pauseButton", "Pause or resume the running work (Space)",
                                        self.toggle_pause)
        self.stopButton = self._button("Stop", "stopButton", "Stop training or sampling (Esc)", self.stop)
        # style-drawn icons beside plain words: a media glyph in the text needs a font that has it
        set_media_button(self.trainButton, "play", "Train")
        set_media_button(self.pauseButton, "pause", "Pause")
        set_media_button(self.stopButton, "stop", "Stop")
        self.exportButton = self._button("Export…", "exportButton", "Export samples, trajectory or loss (Ctrl+E)",
                                         lambda: self.export())
        for button in (self.trainButton, self.pauseButton, self.stopButton, self.exportButton):
            toolbar.addWidget(button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

    def _action(self, text: str, slot, shortcut=None, name: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if name:
            action.setObjectName(name)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.newAction = self._action("&New run", self.new_run, QKeySequence.StandardKey.New, "newAction")
        self.openAction = self._action("&Open run…", lambda: self.open_run(), QKeySequence.StandardKey.Open,
                                       "openAction")
        self.recentMenu = QMenu("Open &recent", self)
        self.saveAction = self._action("&Save run…", self.save_run, QKeySequence.StandardKey.Save, "saveAction")
        self.exportAction = self._action("&Export…", lambda: self.export(), "Ctrl+E", "exportAction")
        self.exportActions = {
            "grid": self._action("Export sample grid (PNG)…", lambda: self.export("grid")),
            "single": self._action("Export selected sample (PNG)…", lambda: self.export("single")),
            "gif": self._action("Export trajectory (GIF)…", lambda: self.export("gif")),
            "npz": self._action("Export samples (NPZ)…", lambda: self.export("npz")),
            "csv": self._action("Export loss history (CSV)…", lambda: self.export("csv")),
        }
        self.quitAction = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "quitAction")
        file_menu.addAction(self.newAction)
        file_menu.addAction(self.openAction)
        file_menu.addMenu(self.recentMenu)
        file_menu.addAction(self.saveAction)
        file_menu.addSeparator()
        file_menu.addAction(self.exportAction)
        for action in self.exportActions.values():
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quitAction)

        run_menu = bar.addMenu("&Run")
        self.startPauseAction = self._action("Start / pause", self.start_or_pause, Qt.Key.Key_Space,
                                             "startPauseAction")
        self.stopAction = self._action("Stop", self.stop, Qt.Key.Key_Escape, "stopAction")
        self.sampleAction = self._action("Sample", self.sample, "Ctrl+R", "sampleAction")
        self.compareAction = self._action("Compare settings…", self.open_compare, name="compareAction")
        for action in (self.startPauseAction, self.stopAction, self.sampleAction):
            run_menu.addAction(action)
        run_menu.addSeparator()
        run_menu.addAction(self.compareAction)

        view_menu = bar.addMenu("&View")
        for dock in self.docks:
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self.resetLayoutAction = self._action("Reset layout", self.reset_layout, name="resetLayoutAction")
        view_menu.addAction(self.resetLayoutAction)
        self.presentationAction = QAction("&Presentation mode", self, objectName="presentationAction")
        self.presentationAction.setCheckable(True)
        self.presentationAction.setShortcut(QKeySequence("F5"))
        self.presentationAction.setToolTip("Larger text and thicker lines, for a projector")
        self.presentationAction.toggled.connect(self.set_presentation)
        view_menu.addAction(self.presentationAction)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("About DDPM Studio", self._about))
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.deviceLabel = QLabel(objectName="deviceLabel")
        self.paramsLabel = QLabel(objectName="paramsLabel")
        self.stepLabel = QLabel(objectName="stepLabel")
        self.progressBar = QProgressBar(objectName="progressBar")
        self.progressBar.setFixedWidth(220)
        # the bar keeps its place while hidden: showing it must not resize the status bar, because that
        # relayouts every dock and repaints every plot in the moment training starts (a ~200 ms stall)
        policy = self.progressBar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.progressBar.setSizePolicy(policy)
        self.progressBar.setVisible(False)
        for widget in (self.deviceLabel, self.paramsLabel, self.stepLabel, self.progressBar):
            status.addPermanentWidget(widget)
        self.deviceLabel.setText("device: —")
        self.paramsLabel.setText("parameters: —")
        self.stepLabel.setText("step: —")

    def _wire(self) -> None:
        self.setup.settingsChanged.connect(self._settings_changed)
        self.setup.settingsChanged.connect(self._data_preview_timer.start)
        self.setup.scheduleChanged.connect(self.schedule.set_schedule)
        self.setup.kindChanged.connect(self._kind_changed)
        self.setup.dataPathChosen.connect(self.load_data_path)
        self.trajectory.sampleRequested.connect(self.sample)
        self.trajectory.timestepChanged.connect(self.schedule.set_marker)
        self.samples_dock.selectedChanged.connect(self._sample_selected)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty() and self.restoreGeometry(geometry):
            self._fit_to_screen(restored=True)
        state = self.settings.value("window/state")
        self._layout_restored = isinstance(state, QByteArray) and not state.isEmpty() and \
            self.restoreState(state, LAYOUT_VERSION)
        self.presentationAction.setChecked(self.settings.value("view/presentation", False, type=bool))

    def _fit_to_screen(self, restored: bool) -> None:
        """Keep a restored geometry that fits its screen; otherwise the preferred size, shrunk to fit, centred."""
        screen = QGuiApplication.screenAt(self.geometry().center()) if restored else None
        screen = screen or self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        available = screen.availableGeometry()
        if restored and (self.isMaximized() or fits(self.geometry(), available)):
            return
        self.setGeometry(fitted_geometry(available))

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("view/presentation", self.presentationAction.isChecked())
        self.settings.sync()

    def set_presentation(self, on: bool) -> None:
        """View > Presentation mode: larger text and thicker lines for a projected classroom, or back."""
        if self.presentationAction.isChecked() != on:
            self.presentationAction.setChecked(on)  # toggled() calls back here
            return
        apply_look(self, PRESENTATION if on else NORMAL)
        self.settings.setValue("view/presentation", on)

    def reset_layout(self) -> None:
        """Every dock back where it started, docked and visible."""
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks:
            dock.setFloating(False)
            dock.show()
        self._size_docks()

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

    # ================================================================== state
    @property
    def training(self) -> bool:
        return self._train_worker is not None

    @property
    def busy(self) -> bool:
        """Work running or about to: training, sampling, a one-shot task, or the chosen data's pending load."""
        return self.training or self.sampling or bool(self._tasks) or self._data_preview_timer.isActive()

    @property
    def sampling(self) -> bool:
        return self._sample_worker is not None

    def _active_worker(self) -> Worker | None:
        return self._train_worker or self._sample_worker

    def _can_continue(self, config: RunConfig) -> bool:
        trainer = self.trainer
        return (trainer is not None and trainer.step < config.train.steps
                and _comparable(trainer.config) == _comparable(config))

    def _update_actions(self) -> None:
        training, sampling = self.training, self.sampling
        locked = self._trainer_tasks > 0
        idle = not training and not sampling and not locked
        worker = self._active_worker()
        can_train = idle and self.setup.valid
        self.trainButton.setEnabled(can_train)
        continuing = idle and self.trainer is not None and self.setup.valid and self._can_continue(self.setup.config())
        self.trainButton.setText("Continue" if continuing else "Train")
        self.pauseButton.setEnabled(worker is not None and not worker.stopping)
        self.pauseButton.setText("Resume" if worker is not None and worker.paused else "Pause")
        self.stopButton.setEnabled(worker is not None and not worker.stopping)
        self.stopAction.setEnabled(worker is not None)
        has_model = self.trainer is not None or self.pipeline is not None
        self.trajectory.set_sampling_available(has_model and idle)
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
        self.saveAction.setEnabled(self.trainer is not None and not locked)
        exporting = any(task.label == "export" for task in self._tasks)
        available = self._export_choices()
        self.exportButton.setEnabled(bool(available) and not exporting)
        self.exportAction.setEnabled(bool(available) and not exporting)
        for key, action in self.exportActions.items():
            action.setEnabled(key in available and not exporting)

    def _update_title(self) -> None:
        self.setWindowTitle(f"DDPM Studio — {self.run_name}")

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
        if kind is None and self._tasks:
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
        if self._sampling_model != (kind, T):
            self._sampling_model = (kind, T)
            self.trajectory.configure_sampling(kind, T)

    # ================================================================== setup reactions
    def _settings_changed(self) -> None:
        self.loss.set_num_timesteps(self.setup.num_timesteps())
        self._update_actions()

    def _kind_changed(self, kind: str) -> None:
        if self.trainer is None and self.pipeline is None:
            self.trajectory.configure_sampling(kind, self.setup.num_timesteps())
            self.trajectory.show_placeholder(kind, None)

    def _data_key(self, config: RunConfig) -> tuple:
        """What a loaded data set depends on: (spec, num_points, num_images, seed, image_size)."""
        return (config.data.dataset, config.data.num_points, config.data.num_images, config.train.seed,
                config.data.image_size)

    def _remember_data(self, key: tuple, dataset: DataSet) -> None:
        """Keep a loaded data set for the next training run (the newest few only)."""
        self._data_cache.pop(key, None)
        self._data_cache[key] = dataset
        while len(self._data_cache) > DATA_CACHE_SIZE:
            self._data_cache.pop(next(iter(self._data_cache)))

    def _preview_data(self) -> None:
        """Before any model exists, load the chosen data off-thread and draw 2-D data behind the trajectory panels.

        Students see the distribution the model will learn before they press Train. And the moment training
        starts stays light: the run takes the loaded data from the cache (loading the digits is ~0.3 s of
        Python that would compete with the GUI thread for the GIL), and the scatters' first, slow paint has
        already happened.
        """
        if self._closing or self.trainer is not None or self.pipeline is not None or self.training:
            return
        if not self.setup.valid:
            return
        config = self.setup.config()
        key = self._data_key(config)
        dataset = self._data_cache.get(key)
        if dataset is not None:
            if dataset.kind == "points":
                self.trajectory.show_placeholder("points", reference_points(dataset))
            return
        if data_kind(config.data.dataset) is None:
            return  # a user's file or folder: loaded once when chosen (load_data_path), never again behind their back
        if any(task.label == "data preview" for task in self._tasks):
            self._data_preview_timer.start()  # one at a time: look again when it is done
            return
        # bound methods, not lambdas: PySide6 runs a lambda connected to a worker's signal on the worker thread
        task = TaskWorker(_load_keyed, key, label="data preview")
        task.result.connect(self._data_previewed)
        task.failed.connect(self._data_preview_failed)
        self._start_task(task, quiet=True)

    def _data_preview_failed(self, message: str) -> None:
        logger.info("data preview failed: %s", message)  # Train reports bad data with a message box

    def _data_previewed(self, result: tuple[tuple, DataSet]) -> None:
        key, dataset = result
        self._remember_data(key, dataset)
        if key == self._data_key(self.setup.config()):
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
        task = TaskWorker(probe_dataset, path, config.data.num_points, config.data.num_images, config.train.seed,
                          label="data")
        task.result.connect(self._data_loaded)
        task.failed.connect(self._data_failed)
        self._status(f"Loading {Path(path).name}…", 0)
        self._start_task(task)

    def _data_loaded(self, result: tuple[str, DataSet]) -> None:
        spec, dataset = result
        config = self.setup.config()
        self._remember_data((spec, config.data.num_points, config.data.num_images, config.train.seed, None), dataset)
        self.setup.add_data_source(spec, dataset.kind, dataset.name)
        skipped = f"; skipped {len(dataset.skipped)} unreadable file(s)" if dataset.skipped else ""
        self._status(f"Loaded {dataset.name}: {len(dataset.train):,} training items, {dataset.kind}{skipped}.")

    def _data_failed(self, message: str) -> None:
        self._show_error("Cannot use this data", message)

    # ================================================================== training
    def start_or_pause(self) -> None:
        """Space: start training when idle, otherwise pause or resume the running work."""
        if self._active_worker() is not None:
            self.toggle_pause()
        elif self.trainButton.isEnabled():
            self.start_training()

    def start_training(self) -> None:
        if self.training or self.sampling or self._trainer_tasks:
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
        if self._can_continue(config):
            worker = TrainingWorker(config, trainer=self.trainer)
            self._status(f"Continuing from step {self.trainer.step:,} to {config.train.steps:,}…")
        else:
            self._discard_model()
            dataset = self._data_cache.get(self._data_key(config))
            worker = TrainingWorker(config, dataset=dataset)
            self.run_name = f"{Path(config.data.dataset).name} (unsaved)"
            self._update_title()
            self._status("Preparing the data and the network…", 0)
        worker.trainerReady.connect(self._trainer_ready)
        worker.lossPoints.connect(self._loss_points)
        worker.progress.connect(self._training_progress)
        worker.preview.connect(self._preview)
        worker.previewFailed.connect(self._status)
        worker.checkpointSaved.connect(self._checkpoint_saved)
        worker.runSaved.connect(self._run_saved)
        worker.saveFailed.connect(self._save_failed)
        worker.finishedTraining.connect(self._training_finished)
        worker.failed.connect(self._training_failed)
        worker.done.connect(self._training_done)
        self._train_worker = worker
        self._auto_sample = False
        start_worker(worker)
        self._set_progress("train", 0, config.train.steps)
        self._update_actions()

    def open_compare(self) -> None:
        """Run → Compare settings: train several settings on the same data and budget (Ho et al. Table 2)."""
        if self._compare is None:
            folder = Path(self._last_folder())
            self._compare = CompareDialog(self, self.setup.config().data.dataset, str(folder / "compare"))
            self._compare.message.connect(self._status)
        self._compare.open()  # window-modal: nothing else trains while it runs

    def _discard_model(self) -> None:
        self.likelihood.clear()
        self.trainer, self.pipeline, self.dataset = None, None, None
        self._sampling_model = None
        self.records = []
        self.samples, self.store = None, None
        self.loss.clear()
        self.samples_dock.clear()
        self.trajectory.clear(keep_data=True)  # redrawn by _trainer_ready only if the new run's data differs
        self.deviceLabel.setText("device: —")
        self.paramsLabel.setText("parameters: —")
        self.stepLabel.setText("step: —")

    def _trainer_ready(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.pipeline = None
        self.dataset = trainer.dataset
        self._remember_data(self._data_key(trainer.config), trainer.dataset)  # the next run skips loading it
        self._show_model_info(str(trainer.device), trainer.num_parameters, trainer.step, trainer.kind,
                              trainer.diffusion.num_timesteps)
        self.trajectory.show_placeholder(trainer.kind, reference_points(trainer.dataset))
        self._status(f"Training on {trainer.device}: {trainer.dataset.name}, "
                     f"{format_parameter_count(trainer.num_parameters)} parameters.")
        self._update_actions()

    def _loss_points(self, events: list) -> None:
        records = [event.to_record() for event in events]
        self.records.extend(records)
        self.loss.add_records(records)

    def _training_progress(self, step: int, total: int, steps_per_sec: float) -> None:
        self.loss.set_progress(step, total, steps_per_sec)
        self.stepLabel.setText(f"step: {step:,} / {total:,}")
        if self.training:
            self._set_progress("train", step, total)

    def _preview(self, samples: SampleSet) -> None:
        self.samples = samples
        self.samples_dock.show_samples(samples)

    def _checkpoint_saved(self, step: int, path: str) -> None:
        self._status(f"Checkpoint saved at step {step:,}: {path}")

    def _training_finished(self, step: int, reason: str) -> None:
        self.stepLabel.setText(f"step: {step:,}")
        if reason == "completed":
            self._status(f"Training completed at step {step:,}.")
            self._auto_sample = self.trajectory.autoSampleCheck.isChecked()
        else:
            self._status(f"Training stopped at step {step:,}.")

    def _training_failed(self, message: str) -> None:
        self._show_error("Training stopped", message)

    def _training_done(self) -> None:
        self._train_worker = None
        self._set_progress(None)
        self.loss.flush()
        self._update_actions()
        if self._auto_sample and not self._closing:
            self._auto_sample = False
            self.sample()

    def toggle_pause(self) -> None:
        worker = self._active_worker()
        if worker is None or worker.stopping:
            return
        if worker.paused:
            worker.resume()
            self._status("Resumed.")
        else:
            worker.pause()
            self._status("Paused: press Space or Resume to go on.", 0)
        self._update_actions()

    def stop(self) -> None:
        worker = self._active_worker()
        if worker is None:
            return
        worker.stop()
        self._status("Stopping…", 0)
        self._update_actions()

    def new_run(self) -> None:
        """Forget the current model (settings stay): the next Train starts from scratch."""
        if self.training or self.sampling or self._trainer_tasks:
            return
        self._discard_model()
        self.run_name = "untitled"
        self._update_title()
        self._update_actions()

    # ================================================================== sampling
    def sample(self) -> None:
        if self.training or self.sampling or self._trainer_tasks:
            return
        if self.trainer is not None:
            make_pipeline, dataset = self.trainer.pipeline, self.trainer.dataset
            kind, T = self.trainer.kind, self.trainer.diffusion.num_timesteps
        elif self.pipeline is not None:
            pipeline = self.pipeline
            make_pipeline, dataset = (lambda: pipeline), self.dataset
            kind, T = pipeline.kind, pipeline.diffusion.num_timesteps
        else:
            self._status("Nothing to sample yet: train a model or open a run.")
            return
        settings = self.trajectory.sample_settings()
        settings["num_steps"] = min(settings["num_steps"], T)
        worker = SamplingWorker(make_pipeline, seed=self.setup.config().train.seed, dataset=dataset, **settings)
        worker.frame.connect(self._sample_frame)
        worker.progress.connect(self._sampling_progress)
        worker.finishedSampling.connect(self._sampling_finished)
        worker.failed.connect(self._sampling_failed)
        worker.done.connect(self._sampling_done)
        self._sample_worker = worker
        self.trajectory.begin_live(kind, reference_points(dataset))
        self.trajectory.set_sampling_running(True)
        self.store = None
        start_worker(worker)
        self._set_progress("sample", 0, settings["num_steps"])
        self._status(f"Sampling {settings['num_samples']} samples in {settings['num_steps']} steps…", 0)
        self._update_actions()

    def _sample_selected(self, index: int) -> None:
        self._status(f"Sample {index + 1} selected: File → Export selected sample (PNG) writes it alone.")

    def _sample_frame(self, frame: TrajectoryFrame) -> None:
        self.trajectory.show_live_frame(frame)

    def _sampling_progress(self, done: int, total: int) -> None:
        if self.sampling:
            self._set_progress("sample", done, total)

    def _sampling_finished(self, store: TrajectoryStore) -> None:
        if len(store) == 0:
            self.trajectory.clear()
            return
        self.store = store
        self.trajectory.set_store(store)
        finished = "Final samples" if store.complete else "Samples (stopped early)"
        step = self.trainer.step if self.trainer is not None else getattr(self.pipeline, "step", 0)
        self.samples = store.final_samples(f"{finished}: {store.caption}, after {step:,} training steps", step)
        self.samples_dock.show_samples(self.samples)
        self._status(f"Sampled {store.caption}: {len(store)} frames stored "
                     f"({store.nbytes / 2**20:.1f} MB). Scrub with the slider or ←/→.")

    def _sampling_failed(self, message: str) -> None:
        self._show_error("Sampling stopped", message)

    def _sampling_done(self) -> None:
        self._sample_worker = None
        self.trajectory.set_sampling_running(False)
        self._set_progress(None)
        self._update_actions()

    # ================================================================== tasks: open, save, export
    def _start_task(self, task: TaskWorker, locks_trainer: bool = False, quiet: bool = False) -> None:
        """Run a one-shot task; ``quiet`` ones (a few ms, e.g. the data preview) show no busy bar."""
        task.done.connect(self._task_done)
        self._tasks.append(task)
        task.locks_trainer = locks_trainer
        self._trainer_tasks += int(locks_trainer)
        start_worker(task)
        if not quiet and (self._progress is None or self._progress[0] == "task"):
            self._set_progress("task")
        self._update_actions()

    def _task_done(self) -> None:
        for task in [t for t in self._tasks if t.is_done]:
            self._tasks.remove(task)
            self._trainer_tasks -= int(task.locks_trainer)
        if not self._tasks and (self._progress is None or self._progress[0] == "task"):
            self._set_progress(None)
        self._update_actions()

    def open_run(self, run_dir: str | None = None) -> None:
        """Open a run folder (the CLI's format) to continue training or to sample it."""
        if self.training or self.sampling or self._trainer_tasks:
            self._status("Stop the running work before opening another run.")
            return
        if not run_dir:
            run_dir = QFileDialog.getExistingDirectory(self, "Open a run folder", self._last_folder())
            if not run_dir:
                return
        self._remember_folder(run_dir)
        task = TaskWorker(open_run, str(run_dir), label="open")
        task.result.connect(self._run_opened)
        task.failed.connect(self._open_failed)
        self._status(f"Opening {run_dir}…", 0)
        self._start_task(task, locks_trainer=True)

    def _run_opened(self, opened: OpenedRun) -> None:
        self._discard_model()
        self.trainer, self.pipeline, self.dataset = opened.trainer, opened.pipeline, opened.dataset
        self.setup.set_config(opened.config, opened.kind)
        self.records = list(opened.records)
        self.loss.add_records(self.records)
        T = opened.config.diffusion.num_timesteps
        if opened.trainer is not None:
            trainer = opened.trainer
            self._show_model_info(str(trainer.device), trainer.num_parameters, trainer.step, trainer.kind, T)
            self.loss.set_progress(trainer.step, opened.config.train.steps, 0.0)
        else:
            assert opened.pipeline is not None
            self._show_model_info(str(opened.pipeline.device), count_parameters(opened.pipeline.network),
                                  opened.pipeline.step, opened.kind, T)
        self.trajectory.show_placeholder(opened.kind, reference_points(opened.dataset))
        self.run_name = Path(opened.run_dir).name
        self._update_title()
        self._remember_run(opened.run_dir)
        step = opened.trainer.step if opened.trainer is not None else opened.pipeline.step
        self._status(f"Opened {opened.run_dir} at step {step:,}: raise the training steps and press Continue, "
                     "or press Sample.")
        if opened.warning:
            self._show_error("Opened with a warning", opened.warning)
        self._update_actions()

    def _open_failed(self, message: str) -> None:
        self._show_error("Cannot open the run", message)

    def save_run(self) -> None:
        """Save the model to a run folder (asked for the first time; afterwards it is kept up to date)."""
        trainer = self.trainer
        if trainer is None or self._trainer_tasks:
            self._status("Nothing to save yet: train a model first.")
            return
        run_dir = str(trainer.run_dir) if trainer.run_dir is not None else ""
        if not run_dir:
            run_dir = QFileDialog.getExistingDirectory(self, "Save the run into an empty folder",
                                                       self._last_folder())
            if not run_dir:
                return
            self._remember_folder(run_dir)
        if self._train_worker is not None:
            self._train_worker.request_save(run_dir, self.records)
            self._status(f"Saving to {run_dir} after the current step…", 0)
            return
        task = TaskWorker(save_run, trainer, run_dir, list(self.records), label="save")
        task.result.connect(self._run_saved)
        task.failed.connect(self._save_failed)
        self._status(f"Saving to {run_dir}…", 0)
        self._start_task(task, locks_trainer=True)

    def _run_saved(self, run_dir) -> None:
        self.run_name = Path(str(run_dir)).name
        self._update_title()
        self._remember_run(str(run_dir))
        self._status(f"Run saved to {run_dir}.")

    def _save_failed(self, message: str) -> None:
        self._show_error("Cannot save the run", message)

    def _last_folder(self) -> str:
        return str(self.settings.value("lastFolder", "") or "")

    def _remember_folder(self, path: str) -> None:
        self.settings.setValue("lastFolder", str(Path(path).parent))

    def _export_choices(self) -> set[str]:
        available = set()
        if self.samples is not None:
            available |= {"grid", "npz"}
            if self.samples.kind == "images":
                available.add("single")
        if self.store is not None and len(self.store):
            available.add("gif")
        if self.records:
            available.add("csv")
        return available

    def export(self, key: str | None = None) -> None:
        """Ask for a path with QFileDialog.getSaveFileName and write it on a worker thread."""
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
        default = Path(self._last_folder() or Path.home()) / f"{self.run_name.split(' ')[0]}{formats[0].suffix}"
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
        jobs = {
            "grid": (gui_export.export_grid_png, self.samples),
            "single": (gui_export.export_single_png, self.samples, self.samples_dock.selected),
            "gif": (gui_export.export_trajectory_gif, self.store),
            "npz": (gui_export.export_samples_npz, self.samples, self.store),
            "csv": (gui_export.export_loss_csv, list(self.records)),
        }
        fn, *args = jobs[fmt.key]
        task = TaskWorker(fn, str(target), *args, label="export")
        task.result.connect(self._exported)
        task.failed.connect(self._export_failed)
        self._status(f"Exporting {target.name}…", 0)
        self._start_task(task)

    def _exported(self, path) -> None:
        self._status(f"Exported {path}.")

    def _export_failed(self, message: str) -> None:
        self._show_error("Cannot export", message)

    # ================================================================== window events
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._layout_restored and not self._docks_sized:
            QTimer.singleShot(0, self._size_docks)  # once the docks have their first sizes to share out
        self._docks_sized = True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and all(url.isLocalFile() for url in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if not urls:
            return
        path = Path(urls[0].toLocalFile())
        event.acceptProposedAction()
        if path.is_dir() and (path / CONFIG_NAME).is_file():
            self.open_run(str(path))
        else:
            self.load_data_path(str(path.parent if path.suffix.lower() in IMAGE_SUFFIXES else path))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop every worker and wait for its thread, so no QThread outlives the window."""
        self._closing = True
        self._data_preview_timer.stop()
        self._save_settings()
        for worker in [self._train_worker, self._sample_worker, *self._tasks]:
            if worker is not None:
                worker.stop()
        self.trajectory.playButton.setChecked(False)
        # these join their own threads first, so join_all() never waits for a whole bound or comparison
        self.likelihood.shutdown()
        if self._compare is not None:
            self._compare.close()
        join_all()
        if not self._gc_released:  # no worker runs any more: automatic collection may come back
            self._gc_released = True
            gc_guard.release()
        super().closeEvent(event)

    def _about(self) -> None:
        QMessageBox.about(self, "About DDPM Studio",
                          f"DDPM Studio {__version__}\n\nTrain denoising diffusion models and watch the reverse "
                          "process, step by step.")
