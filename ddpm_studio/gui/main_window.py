"""The studio's main window: docks, toolbar, menus, shortcuts, settings, and the wiring between them.

No maths happens here. Data flows one way: the Setup dock's settings become a core config, a job on the runner
turns it into events, and the window hands each event's display-ready copy to the dock that shows it. Docks
never talk to each other; every connection is made in :meth:`MainWindow._wire`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.models import format_parameter_count
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.runs import CONFIG_NAME
from ddpm_studio.core.session import Session
from ddpm_studio.core.training.trainer import Trainer
from ddpm_studio.gui import collector, job_training
from ddpm_studio.gui.compare_dialog import CompareDialog
from ddpm_studio.gui.docks.learned import LearnedDock
from ddpm_studio.gui.docks.likelihood import LikelihoodDock
from ddpm_studio.gui.docks.loss import LossDock
from ddpm_studio.gui.docks.race import RaceDock
from ddpm_studio.gui.docks.samples import SamplesDock
from ddpm_studio.gui.docks.schedule import ScheduleDock
from ddpm_studio.gui.docks.setup import IMAGE_SUFFIXES, SetupDock
from ddpm_studio.gui.docks.trajectory import TrajectoryDock
from ddpm_studio.gui.follow import RunFollowing
from ddpm_studio.gui.guidance_dialog import open_guidance_sweep
from ddpm_studio.gui.jobs import runner
from ddpm_studio.gui.learned_worker import LearnedRunner
from ddpm_studio.gui.look import NORMAL, PRESENTATION, apply_look
from ddpm_studio.gui.paths import default_compare_folder
from ddpm_studio.gui.race_worker import RaceRunner
from ddpm_studio.gui.screen_fit import fits, fitted_geometry
from ddpm_studio.gui.style import configure_pyqtgraph
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryStore
from ddpm_studio.gui.window_chrome import WindowChrome
from ddpm_studio.gui.window_files import FileControls
from ddpm_studio.gui.window_jobs import RunControls
from ddpm_studio.gui.workers import prepare_torch

logger = logging.getLogger(__name__)

LAYOUT_VERSION = 3  # bumped when docks are added: an older saved layout falls back to the default
STATUS_TIMEOUT_MS = 8000
#: Settings must rest this long before the chosen data is loaded for the trajectory's background.
DATA_PREVIEW_DELAY_MS = 150

class MainWindow(RunControls, FileControls, WindowChrome, QMainWindow):
    """DDPM Studio's window. ``settings`` defaults to the user's QSettings (tests pass a temporary file)."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        prepare_torch()
        collector.install()  # once per application (run_app does it first): only the GUI thread collects
        self.setObjectName("mainWindow")
        self.settings = settings if settings is not None else QSettings("DDPM Studio", "ddpm-studio")
        self._fit_to_screen(restored=False)  # before the docks are sized: their default split follows it
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)

        self.session = Session()
        self.jobs = runner()
        self._saves = job_training.SaveRequests()
        self._train_total = 0
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
        self.race = RaceDock(self)
        self.race_runner = RaceRunner(self.race, self)
        self.learned = LearnedDock(self)
        self.learned_runner = LearnedRunner(self.learned, self.session.sample_source, self)
        self._compare: CompareDialog | None = None
        self.docks: list[QDockWidget] = [
            self.setup, self.trajectory, self.samples_dock, self.loss, self.schedule, self.likelihood, self.race,
            self.learned]
        for dock in self.docks:
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self._arrange_docks()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        self.following = RunFollowing(self)  # File → Follow run… (its status-bar widgets join the bar's)
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_settings()
        self._wire()
        self.likelihood.set_source(self.session.model_pipeline, self._heldout)
        self.likelihood.message.connect(self._status)
        self.likelihood.failed.connect(lambda message: self._show_error("The bound could not be computed", message))
        self.schedule.set_schedule(self.setup.schedule(), self.setup.num_timesteps())
        self.loss.set_num_timesteps(self.setup.num_timesteps())
        self.trajectory.configure_sampling(self.setup.kind(), self.setup.num_timesteps())
        self.jobs.changed.connect(self._update_actions)
        self._update_title()
        self._update_actions()
        self._data_preview_timer.start()

    def _heldout(self):
        dataset = self.session.dataset
        return dataset.heldout if dataset is not None else None

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
        # the race opens on demand (the Trajectory dock's Race button), over the trajectory it compares with
        self.tabifyDockWidget(self.trajectory, self.race)
        self.trajectory.raise_()
        # beside the trajectory, over the samples: the slider that scrubs the field stays in view
        self.tabifyDockWidget(self.samples_dock, self.learned)
        self.samples_dock.raise_()
        self.race.hide()
        self.learned.hide()

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

    def _wire(self) -> None:
        self.setup.settingsChanged.connect(self._settings_changed)
        self.setup.settingsChanged.connect(self._data_preview_timer.start)
        self.setup.scheduleChanged.connect(self.schedule.set_schedule)
        self.setup.kindChanged.connect(self._kind_changed)
        self.setup.dataPathChosen.connect(self.load_data_path)
        self.trajectory.sampleRequested.connect(self.sample)
        self.trajectory.raceRequested.connect(self.open_race)
        self.trajectory.sweepRequested.connect(lambda: open_guidance_sweep(self))
        self.race.raceRequested.connect(self.start_race)
        self.race.stopRequested.connect(self.race_runner.stop)
        self.race_runner.runningChanged.connect(self._race_running_changed)
        self.race_runner.failed.connect(lambda message: self._show_error("The race stopped", message))
        self.trajectory.timestepChanged.connect(self.schedule.set_marker)
        self.samples_dock.selectedChanged.connect(self._sample_selected)
        self.learned_runner.connect_window(self)

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

    # ================================================================== the app model, as the tests and docks read it
    @property
    def trainer(self) -> Trainer | None:
        return self.session.trainer

    @property
    def pipeline(self) -> DiffusionPipeline | None:
        return self.session.pipeline

    @property
    def dataset(self) -> DataSet | None:
        return self.session.dataset

    @property
    def records(self) -> list[dict]:
        return self.session.records

    @property
    def samples(self) -> SampleSet | None:
        return self.session.samples

    @property
    def store(self) -> TrajectoryStore | None:
        return self.session.trajectory

    @property
    def run_name(self) -> str:
        return self.session.name

    # ================================================================== what may be pressed
    def _update_actions(self) -> None:
        if self._closing:
            return
        training, sampling = self.training, self.sampling
        locked = self._model_locked
        idle = not training and not sampling and not locked
        job = self._active_job()
        session = self.session
        self.trainButton.setEnabled(idle and self.setup.valid)
        continuing = idle and self.setup.valid and session.can_continue(self.setup.config())
        self.trainButton.setText("Continue" if continuing else "Train")
        active = job is not None and not job.stopping and job.started_running
        self.pauseButton.setEnabled(active)
        self.pauseButton.setText("Resume" if job is not None and job.paused else "Pause")
        self.stopButton.setEnabled(job is not None and not job.stopping)
        self.stopAction.setEnabled(job is not None)
        has_model = session.has_model
        self.trajectory.set_sampling_available(has_model and idle)
        self.race.set_available(has_model and idle)
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
        self.saveAction.setEnabled(session.trainer is not None and not locked)
        exporting = self.jobs.running("export")
        available = self._export_choices()
        self.exportButton.setEnabled(bool(available) and not exporting)
        self.exportAction.setEnabled(bool(available) and not exporting)
        for key, action in self.exportActions.items():
            action.setEnabled(key in available and not exporting)

    def _update_title(self) -> None:
        self.setWindowTitle(f"DDPM Studio — {self.session.name}")

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
        if kind is None and any(self.jobs.running(name) for name in ("open", "save", "export", "data")):
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
        config = self.session.config
        self.trajectory.samplingBar.set_classes(config.model.num_classes if config is not None else None)

    def open_compare(self) -> None:
        """Run → Compare settings: train several settings on the same data and budget (Ho et al. Table 2)."""
        if self._compare is None:
            run_dir = self.trainer.run_dir if self.trainer is not None else None
            out_dir = default_compare_folder(run_dir, self._last_folder())
            self._compare = CompareDialog(self, self.setup.config().data.dataset, out_dir)
            self._compare.message.connect(self._status)
        self._compare.open()  # window-modal: nothing else trains while it runs

    # ================================================================== the sampler race
    def open_race(self) -> None:
        """Show the Race dock (Trajectory → Race…) set up for the current model."""
        config = self.session.config
        if config is not None:
            self.race.configure(self._model_kind(), config.diffusion.num_timesteps)
        self.race.show()
        self.race.raise_()
        # the race shows 2 x 4 panels and a plot: give it three quarters of the height beside the Loss dock
        height = self.race.height() + self.loss.height()
        self.resizeDocks([self.race, self.loss], [height * 3 // 4, height // 4], Qt.Orientation.Vertical)

    def _model_kind(self) -> str:
        session = self.session
        return session.trainer.kind if session.trainer is not None else session.pipeline.kind

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
        """Stop every job and wait for it, so no thread outlives the window."""
        self._data_preview_timer.stop()
        self._save_settings()
        self.trajectory.playButton.setChecked(False)
        if self._compare is not None:
            self._compare.close()  # cancels and joins its comparison
        self._closing = True
        self.following.stop(quiet=True)
        self.likelihood.shutdown()
        self.jobs.stop(owner=self)
        self.jobs.join()
        super().closeEvent(event)
