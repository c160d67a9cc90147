"""The main window's chrome: the Run toolbar, the File / Run / View / Help menus, the status bar's labels and
About. A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow`, whose slots the buttons and actions call;
every objectName is the window's contract (tests and the monkey test address them)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QMessageBox, QProgressBar, QPushButton, QToolBar

from ddpm_studio import __version__
from ddpm_studio.gui.style import set_media_button
from ddpm_studio.gui.widgets.status_bar import ElidingStatusBar


class WindowChrome:
    """Builds the toolbar, menus and status bar of a QMainWindow that has the run's slots."""

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
        self.followAction = self._action("&Follow run…", lambda: self.following.choose(), name="followAction")
        self.followAction.setToolTip("Watch a run folder that another process (the CLI, torchrun) is training")
        self.stopFollowAction = self._action("Stop following", lambda: self.following.stop(),
                                             name="stopFollowAction")
        self.stopFollowAction.setEnabled(False)
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
        file_menu.addAction(self.followAction)
        file_menu.addAction(self.stopFollowAction)
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
        self.pathsAction = self._action("Paths from noise to data…", self.open_paths, name="pathsAction")
        self.pathsAction.setToolTip("2-D runs: the ODE paths of DDPM, a flow and a reflowed flow side by side, "
                                    "with their straightness")
        self.labsAction = self._action("Labs…", self.open_labs, name="labsAction")
        self.labsAction.setToolTip("A paper's claim tested at desk scale: the runs, the measurements and a verdict")
        for action in (self.startPauseAction, self.stopAction, self.sampleAction):
            run_menu.addAction(action)
        run_menu.addSeparator()
        run_menu.addAction(self.compareAction)
        run_menu.addAction(self.pathsAction)
        run_menu.addSeparator()
        run_menu.addAction(self.labsAction)

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
        status = ElidingStatusBar(self)
        status.setObjectName("statusBar")
        self.setStatusBar(status)
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

    def _about(self) -> None:
        QMessageBox.about(self, "About DDPM Studio",
                          f"DDPM Studio {__version__}\n\nTrain denoising diffusion models and watch the reverse "
                          "process, step by step.")
