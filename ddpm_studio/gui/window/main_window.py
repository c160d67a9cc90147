"""The studio's main window: its docks, the wiring between them, and the window's events.

No maths happens here. Data flows one way: the Setup dock's settings become a core config, a job on the runner
turns it into events, and the window hands each event's display-ready copy to the dock that shows it. Docks
never talk to each other; every connection is made in :meth:`MainWindow._wire`.

The rest is in mixins, one job each: the toolbar, menus and status bar's widgets (:mod:`.window_chrome`), what may
be pressed and what the status bar says (:mod:`.window_status`), the saved geometry, layout and look
(:mod:`.window_state`), training, sampling and data (:mod:`.window_jobs`), run folders and exports
(:mod:`.window_files`), Compare settings and the sampler race (:mod:`.window_compare`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QWidget,
)

from ddpm_studio.core.app.session import Session
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.io.runs import CONFIG_NAME
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.training.trainer import Trainer
from ddpm_studio.gui import collector
from ddpm_studio.gui.dialogs.compare import CompareDialog
from ddpm_studio.gui.docks.learned import LearnedDock
from ddpm_studio.gui.docks.likelihood import LikelihoodDock
from ddpm_studio.gui.docks.loss import LossDock
from ddpm_studio.gui.docks.race import RaceDock
from ddpm_studio.gui.docks.samples import SamplesDock
from ddpm_studio.gui.docks.schedule import ScheduleDock
from ddpm_studio.gui.docks.setup import IMAGE_SUFFIXES, SetupDock
from ddpm_studio.gui.docks.trajectory import TrajectoryDock
from ddpm_studio.gui.jobs import training as job_training
from ddpm_studio.gui.jobs.runner import runner
from ddpm_studio.gui.jobs.setup import prepare_torch
from ddpm_studio.gui.presenters.bound import BoundPresenter
from ddpm_studio.gui.presenters.follow import RunFollowing
from ddpm_studio.gui.presenters.guidance_sweep import open_guidance_sweep
from ddpm_studio.gui.presenters.learned import LearnedRunner
from ddpm_studio.gui.presenters.race import RaceRunner
from ddpm_studio.gui.style import compact_combos, configure_pyqtgraph
from ddpm_studio.gui.trajectory_store import SampleSet, TrajectoryStore
from ddpm_studio.gui.widgets.dock_scroll import scroll_dock
from ddpm_studio.gui.window.chrome import WindowChrome
from ddpm_studio.gui.window.compare import WindowCompare
from ddpm_studio.gui.window.data_controls import DataControls
from ddpm_studio.gui.window.files import FileControls
from ddpm_studio.gui.window.inpaint_controls import InpaintControls
from ddpm_studio.gui.window.labs import WindowLabs
from ddpm_studio.gui.window.run_controls import RunControls
from ddpm_studio.gui.window.stage import Stage
from ddpm_studio.gui.window.state import LAYOUT_VERSION, WindowState
from ddpm_studio.gui.window.status import STATUS_TIMEOUT_MS, WindowStatus

__all__ = ["DATA_PREVIEW_DELAY_MS", "LAYOUT_VERSION", "STATUS_TIMEOUT_MS", "MainWindow"]

#: Settings must rest this long before the chosen data is loaded for the trajectory's background.
DATA_PREVIEW_DELAY_MS = 150

class MainWindow(RunControls, DataControls, InpaintControls, FileControls, WindowCompare, WindowLabs, WindowStatus,
                 WindowState, Stage, WindowChrome, QMainWindow):
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
        # (kind, T, process) the sampling controls are set up for
        self._sampling_model: tuple[str, int, str] | None = None
        self._layout_restored = False  # a saved dock layout was restored (else the default split is applied)
        self._docks_sized = False

        self.setup = SetupDock(self)
        self.loss = LossDock(self)
        self.schedule = ScheduleDock(self)
        self.trajectory = TrajectoryDock(self)
        self.samples_dock = SamplesDock(self)
        self.likelihood = LikelihoodDock(self)
        self.bound_presenter = BoundPresenter(self.likelihood)
        self.race = RaceDock(self)
        self.race_runner = RaceRunner(self.race, self)
        self.learned = LearnedDock(self)
        self.learned_runner = LearnedRunner(self.learned, self.session.sample_source, self)
        self._compare: CompareDialog | None = None
        self._paths = None  # the paths view (Run → Paths from noise to data…), made on first use
        self._draw_dialog = None  # Setup → Draw data…, while open
        self._inpaint_dialog = None  # Trajectory → Inpaint…, made on first use
        self.docks: list[QDockWidget] = [
            self.setup, self.trajectory, self.samples_dock, self.loss, self.schedule, self.likelihood, self.race,
            self.learned]
        for dock in self.docks:
            if dock is not self.setup:  # its form wraps instead: every setting reads whole (setup_options.py)
                compact_combos(dock)  # rows of controls that fit a 1024-pixel screen ...
            scroll_dock(dock)  # ... and a dock that scrolls rather than being cut off where they still do not
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
        self._show_schedule()
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
        # hidden BEFORE they join a tab group: tabifying two shown docks and hiding one afterwards leaves Qt's
        # tab bar of the pair drawn, unused, over the docks below it (a stale "Trajectory | Race" bar)
        self.race.hide()
        self.learned.hide()
        # the race opens on demand (the Trajectory dock's Race button), over the trajectory it compares with
        self.tabifyDockWidget(self.trajectory, self.race)
        # beside the trajectory, over the samples: the slider that scrubs the field stays in view
        self.tabifyDockWidget(self.samples_dock, self.learned)

    def _size_docks(self) -> None:
        """The default split, in proportion to the window (resizeDocks has no effect before it is laid out).

        The Setup dock as wide as its form's labels and fields on one line, but at most a quarter of the window
        (on a 1024-pixel screen its fields then go under their labels); the trajectory 65% of the rest of the
        width and 60% of the height, so the reverse process stays the largest view on a small screen too.
        """
        width = self.trajectory.width() + self.samples_dock.width()
        height = self.trajectory.height() + self.loss.height()
        setup = max(self.setup.minimumSizeHint().width(), min(self.setup.sizeHint().width(), self.width() // 4))
        self.resizeDocks([self.setup], [setup], Qt.Orientation.Horizontal)
        self.resizeDocks([self.trajectory, self.samples_dock], [width * 65 // 100, width * 35 // 100],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.trajectory, self.loss], [height * 60 // 100, height * 40 // 100],
                         Qt.Orientation.Vertical)
        # the loss curve and its row of controls under the trajectory; the schedule's two plots read narrower
        self.resizeDocks([self.loss, self.schedule], [width * 63 // 100, width * 37 // 100],
                         Qt.Orientation.Horizontal)

    def _wire(self) -> None:
        self.setup.settingsChanged.connect(self._settings_changed)
        self.setup.settingsChanged.connect(self._data_preview_timer.start)
        self.setup.scheduleChanged.connect(self._show_schedule)
        self.setup.processChanged.connect(self._process_changed)
        self.setup.kindChanged.connect(self._kind_changed)
        self.setup.dataPathChosen.connect(self.load_data_path)
        self.setup.drawDataButton.clicked.connect(self.draw_data)
        self.trajectory.sampleRequested.connect(self.sample)
        self.trajectory.raceRequested.connect(self.open_race)
        self.trajectory.sweepRequested.connect(lambda: open_guidance_sweep(self))
        self.trajectory.inpaintRequested.connect(self.open_inpaint)
        self.race.raceRequested.connect(self.start_race)
        self.race.lanes.otherRunRequested.connect(self.choose_race_run)
        self.race.stopRequested.connect(self.race_runner.stop)
        self.race_runner.runningChanged.connect(self._race_running_changed)
        self.race_runner.failed.connect(lambda message: self._show_error("The race stopped", message))
        self.trajectory.timestepChanged.connect(self.schedule.set_marker)
        self.samples_dock.selectedChanged.connect(self._sample_selected)
        self.learned_runner.connect_window(self)
        self.session.subscribe(self._show_session_change)

    def _show_session_change(self, what: str, detail: object = None) -> None:
        """The docks that show the session's run history follow it (the session is the one place it is kept)."""
        if what == "records":
            self.loss.add_records(detail)
        elif what == "records reset":
            self.loss.clear()
            self.loss.add_records(self.session.records)

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

    def _model_kind(self) -> str:
        session = self.session
        return session.trainer.kind if session.trainer is not None else session.pipeline.kind


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
        self._stop_labs()  # a lab runs on when its dialog is closed: stop it here and wait for it
        self._closing = True
        self.following.stop(quiet=True)
        self.likelihood.shutdown()
        self.jobs.stop(owner=self)
        self.jobs.join()
        super().closeEvent(event)
