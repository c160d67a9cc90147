"""The presentation mode's stage: the pictures get the room, not only larger fonts.

Larger text alone leaves a 16-pixel digit 16 pixels tall on a 1024 x 768 projector. On the stage the Setup dock
joins the Loss dock's tabs under the pictures, so the trajectory and the samples span the whole width, and they
take 70 % of the height; image grids show at most :data:`STAGE_TILES` images, each drawn larger (four rows of a
class-conditional grid, a 4 x 4 grid otherwise). Leaving the stage puts the layout back as it was.

A mixin of :class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses the docks, ``settings`` and
``saveState`` / ``restoreState``); :mod:`.state` calls :meth:`Stage.enter_stage` and :meth:`Stage.leave_stage`.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, QTimer

#: Images an image grid shows on the stage: 4 x 4 sixteen-pixel digits fill a projector's panel.
STAGE_TILES = 16
#: Share of the height the pictures (trajectory and samples) get on the stage.
STAGE_PICTURE_SHARE = 70
#: QSettings key of the dock layout from before the stage (a stage saved at exit is left for it next time).
NORMAL_STATE_KEY = "window/normalState"


class Stage:
    """Enter and leave the presentation layout (see the module docstring)."""

    def enter_stage(self) -> None:
        from ddpm_studio.gui.window.state import LAYOUT_VERSION

        if not self.settings.value("view/presentation", False, type=bool) or self.settings.value(NORMAL_STATE_KEY) \
                is None:
            self.settings.setValue(NORMAL_STATE_KEY, self.saveState(LAYOUT_VERSION))
        self.setup.setFloating(False)
        self.tabifyDockWidget(self.loss, self.setup)
        self.loss.raise_()
        for dock in (self.trajectory, self.samples_dock):
            dock.setFloating(False)
            dock.show()
        self.trajectory.set_tile_limit(STAGE_TILES)
        self.samples_dock.set_tile_limit(STAGE_TILES)
        QTimer.singleShot(0, self._size_stage)  # sizes mean something once the new layout has been applied

    def _size_stage(self) -> None:
        if not self.presentationAction.isChecked():
            return
        width = self.trajectory.width() + self.samples_dock.width()
        height = self.trajectory.height() + self.loss.height()
        self.resizeDocks([self.trajectory, self.samples_dock], [width * 62 // 100, width * 38 // 100],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.trajectory, self.loss], [height * STAGE_PICTURE_SHARE // 100,
                                                        height * (100 - STAGE_PICTURE_SHARE) // 100],
                         Qt.Orientation.Vertical)

    def leave_stage(self) -> None:
        from ddpm_studio.gui.window.state import LAYOUT_VERSION

        self.trajectory.set_tile_limit(None)
        self.samples_dock.set_tile_limit(None)
        normal = self.settings.value(NORMAL_STATE_KEY)
        self.settings.remove(NORMAL_STATE_KEY)
        if isinstance(normal, QByteArray) and not normal.isEmpty() and self.restoreState(normal, LAYOUT_VERSION):
            return
        self.reset_layout()
