"""File → Follow run…: watch a run folder another process is training (the CLI, torchrun, a synced folder).

The Loss dock grows as ``metrics.jsonl`` grows, preview images appear in a Preview dock, the status bar says
"following" with the run's step and the age of its last write, and each new checkpoint is offered by a status-bar
button ("Load step N"): the user chooses when the model to Sample is replaced.

The training slider (Samples dock) grows with the run's ``snapshots/``, as it does while the studio trains.

A ``QFileSystemWatcher`` on the folder, its ``checkpoints/``, ``samples/``, ``snapshots/`` and the metrics file
asks for a read; a slow timer asks too, for folders a watcher cannot see into (network or synced folders) and to
keep the age current. Every read is :meth:`~ddpm_studio.core.app.follow.RunFollower.poll` as a task on the window's job
runner (docs/ARCHITECTURE.md): no thread code here, one read at a time, nothing read on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QPushButton

from ddpm_studio.core.app.follow import FollowUpdate, RunFollower, describe_age, open_followed
from ddpm_studio.core.app.run_io import OpenedRun
from ddpm_studio.core.io.runs import CHECKPOINT_DIR, METRICS_NAME, SAMPLES_DIR, RunError
from ddpm_studio.core.training.snapshots import SNAPSHOT_DIR
from ddpm_studio.gui.jobs.runner import MODEL

#: The slow poll: network folders, where the watcher hears nothing, and the age in the status bar.
POLL_MS = 3000
#: A burst of file events (a checkpoint's temporary file, its rename, the folder) becomes one read.
SETTLE_MS = 200


class RunFollowing(QObject):
    """Follows one run folder for a :class:`~ddpm_studio.gui.window.main_window.MainWindow` (see the module
    docstring)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.follower: RunFollower | None = None
        self.offered_step: int | None = None  # the newest checkpoint, while it is newer than the loaded one
        self.loaded_step: int | None = None
        self._reading = False
        self._read_again = False
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._soon)
        self._watcher.fileChanged.connect(self._soon)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self._settle.timeout.connect(self.read)
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self.read)
        self.label = QLabel(objectName="followLabel")
        self.loadButton = QPushButton(objectName="loadCheckpointButton")
        self.loadButton.setToolTip("Load the followed run's newest checkpoint to Sample it")
        self.loadButton.clicked.connect(self.load_checkpoint)
        status = window.statusBar()
        status.insertPermanentWidget(0, self.label)
        status.insertPermanentWidget(1, self.loadButton)
        self.label.hide()
        self.loadButton.hide()
        self.previewDock: QDockWidget | None = None
        self.previewLabel: QLabel | None = None
        self._adopting = False
        window.session.subscribe(self._session_changed)

    @property
    def following(self) -> bool:
        return self.follower is not None

    @property
    def run_dir(self) -> Path | None:
        return self.follower.run_dir if self.follower is not None else None

    # ------------------------------------------------------------------ start and stop
    def choose(self) -> None:
        """File → Follow run…: ask for the folder, then :meth:`follow` it."""
        folder = QFileDialog.getExistingDirectory(self.window, "Follow a run folder another process is training",
                                                  self.window._last_folder())
        if folder:
            self.window._remember_folder(folder)
            self.follow(folder)

    def follow(self, run_dir: str) -> bool:
        """Start following ``run_dir`` (the current run is put away); False, with one message, if it cannot be."""
        window = self.window
        if window.training or window.sampling or window._model_locked:
            window._status("Stop the running work before following a run.")
            return False
        try:
            follower = RunFollower(run_dir)
        except RunError as exc:
            window._show_error("Cannot follow the run", str(exc))
            return False
        self.stop(quiet=True)
        window._discard_model()
        window.session.discard()
        window.session.name = f"{follower.run_dir.name} (following)"
        window._update_title()
        self.follower = follower
        self.offered_step = self.loaded_step = None
        self._watch()
        self._poll.start()
        self.label.setText(f"following {follower.run_dir.name}: reading…")
        self.label.show()
        window._status(f"Following {follower.run_dir}: its loss, previews and checkpoints appear as it trains.")
        window.stopFollowAction.setEnabled(True)
        self.read()
        return True

    def stop(self, quiet: bool = False) -> None:
        """Stop following (what was read stays on screen)."""
        if self.follower is None:
            return
        name = self.follower.run_dir.name
        self.follower = None
        self._poll.stop()
        self._settle.stop()
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)
        self.loadButton.hide()
        self.label.hide()
        self.window.stopFollowAction.setEnabled(False)
        if not quiet:
            self.window._status(f"Stopped following {name}.")

    def _session_changed(self, what: str, _detail: object = None) -> None:
        """Another run replaced the followed one (Open, New, Train): its lines must not land in that run."""
        if what == "model" and self.following and not self._adopting \
                and not self.window.session.name.endswith("(following)"):
            self.stop()

    # ------------------------------------------------------------------ reading
    def _watch(self) -> None:
        """Watch the folder, its checkpoints/ and samples/ and the metrics file (those that exist by now)."""
        if self.follower is None:
            return
        folder = self.follower.run_dir
        wanted = [folder, folder / CHECKPOINT_DIR, folder / SAMPLES_DIR, folder / SNAPSHOT_DIR, folder / METRICS_NAME]
        watched = set(self._watcher.files()) | set(self._watcher.directories())
        new = [str(p) for p in wanted if p.exists() and str(p) not in watched]
        if new:
            self._watcher.addPaths(new)

    def _soon(self, *_args) -> None:
        self._settle.start()

    def read(self) -> None:
        """Ask the follower for what is new, on a job (a read already running is asked to run once more)."""
        if self.follower is None:
            return
        if self._reading:
            self._read_again = True
            return
        self._reading = True
        follower = self.follower
        self.window.jobs.task("follow", follower.poll, owner=self.window,
                              on_result=lambda update: self._arrived(follower, update),
                              on_error=self._failed, on_done=self._read_done)

    def _read_done(self) -> None:
        self._reading = False
        if self._read_again and self.follower is not None:
            self._read_again = False
            self.read()

    def _failed(self, message: str) -> None:
        self._lost(f"reading the followed run failed: {message}")

    def _arrived(self, follower: RunFollower, update: FollowUpdate) -> None:
        if follower is not self.follower:  # a read of a run no longer followed
            return
        if update.error:
            self._lost(update.error)
            return
        window = self.window
        self._watch()  # checkpoints/ and samples/ appear after the start; a renamed file drops out of the watch
        if update.config is not None and update.kind is not None and not window.session.has_model:
            window.setup.set_config(update.config, update.kind)  # the followed run's settings, to read
        if update.reset:
            window.session.reset_records()  # the Loss dock observes the session
        if update.records:
            window.session.add_records(update.records)
        if update.total_steps:
            records = window.session.records
            speed = next((r.get("steps_per_sec") for r in reversed(records) if "steps_per_sec" in r), 0.0)
            window.loss.set_progress(update.step, update.total_steps, float(speed or 0.0))
        if update.previews:
            self._show_preview(*update.previews[-1])
        if update.snapshots or update.snapshots_dropped:  # the training slider scrubs the followed run too
            dock = window.samples_dock
            if update.snapshots_dropped and not update.snapshots:
                kept = [s for s in dock.scrubber.snapshots if s.step not in set(update.snapshots_dropped)]
                dock.set_snapshots(kept, dock.snapshot_reference)
            for snapshot in update.snapshots:
                dock.add_snapshot(snapshot, tuple(update.snapshots_dropped))
        if update.checkpoints:
            newest = update.checkpoints[-1][0]
            if self.loaded_step is None or newest > self.loaded_step:
                self.offered_step = newest
        self._show_state(update)

    def _show_state(self, update: FollowUpdate) -> None:
        assert self.follower is not None
        total = f" / {update.total_steps:,}" if update.total_steps else ""
        self.label.setText(f"following {self.follower.run_dir.name}: step {update.step:,}{total}, "
                           f"last write {describe_age(update.age)}")
        if self.offered_step is not None:
            self.loadButton.setText(f"Load step {self.offered_step:,}")
            self.loadButton.show()
        else:
            self.loadButton.hide()

    def _lost(self, message: str) -> None:
        """The folder vanished or cannot be read: stop following, say so once, keep everything shown."""
        self.stop(quiet=True)
        self.window._status(f"Following stopped: {message}", 0)

    def _show_preview(self, step: int, path: Path) -> None:
        pixmap = QPixmap(str(path))
        if pixmap.isNull():  # unreadable (removed meanwhile): the next preview will do
            return
        if self.previewDock is None:
            self._build_preview_dock()
        assert self.previewDock is not None and self.previewLabel is not None
        self.previewLabel.setPixmap(pixmap.scaled(self.previewLabel.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation)
                                    if self.previewLabel.width() > 32 else pixmap)
        self.previewLabel.setProperty("previewStep", step)
        self.previewDock.setWindowTitle(f"Preview (step {step:,})")
        self.previewDock.show()
        self.previewDock.raise_()

    def _build_preview_dock(self) -> None:
        """A Preview dock beside the Samples dock, made the first time a followed run has a preview."""
        window = self.window
        self.previewDock = QDockWidget("Preview", window, objectName="followPreviewDock")
        self.previewLabel = QLabel(objectName="followPreviewLabel", alignment=Qt.AlignmentFlag.AlignCenter)
        self.previewLabel.setMinimumSize(160, 160)
        self.previewDock.setWidget(self.previewLabel)
        window.tabifyDockWidget(window.samples_dock, self.previewDock)

    # ------------------------------------------------------------------ loading a checkpoint
    def load_checkpoint(self) -> None:
        """The status bar's "Load step N": the run's newest checkpoint becomes the model to Sample."""
        window = self.window
        if self.follower is None:
            return
        if window.training or window.sampling or window._model_locked:
            window._status("Stop the running work before loading the followed run's checkpoint.")
            return
        run_dir = str(self.follower.run_dir)
        window._status(f"Loading the newest checkpoint of {run_dir}…", 0)
        window.jobs.task("open", open_followed, run_dir, list(window.session.records), writes={MODEL}, preempt=True,
                         owner=window, on_result=self._loaded,
                         on_error=lambda m: window._show_error("Cannot load the checkpoint", m),
                         on_done=window._task_done)
        window._set_progress("task")
        window._update_actions()

    def _loaded(self, opened: OpenedRun) -> None:
        window = self.window
        self._adopting = True
        try:
            window._run_opened(opened)
        finally:
            self._adopting = False
        assert opened.pipeline is not None
        self.loaded_step = opened.pipeline.step
        if self.offered_step is not None and self.offered_step <= self.loaded_step:
            self.offered_step = None
        if self.follower is not None:
            window.session.name = f"{self.follower.run_dir.name} (following)"
            window._update_title()
            self.loadButton.setVisible(self.offered_step is not None)
        window._status(f"Loaded step {self.loaded_step:,} of the followed run: press Sample.")
