"""The main window's saved state: its geometry (fitted to the screen it opens on), the dock layout, the
presentation look (and its stage, :mod:`.stage`), and View → Reset layout. A mixin of
:class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses the window's ``settings``, ``docks``,
``presentationAction`` and ``_size_docks``).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QGuiApplication

from ddpm_studio.gui.window.look import NORMAL, PRESENTATION, apply_look
from ddpm_studio.gui.window.screen_fit import fits, fitted_geometry

LAYOUT_VERSION = 3  # bumped when docks are added: an older saved layout falls back to the default


class WindowState:
    """Restores and saves the window's QSettings (see the module docstring)."""

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
        if on:
            self.enter_stage()  # the pictures get the room (window/stage.py)
        else:
            self.leave_stage()
        self.settings.setValue("view/presentation", on)

    def reset_layout(self) -> None:
        """Every dock back where it started: docked, and shown as at the first start (the race and the learned
        dock open on demand), on the stage again in presentation mode.

        Showing every dock brought the race and the learned dock up in their tab groups: two more tab bars over
        the trajectory and the samples, and, once one was closed again, its pair's bar left drawn.
        """
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks:
            dock.setFloating(False)
            dock.setVisible(dock not in (self.race, self.learned))
        self._size_docks()
        if self.presentationAction.isChecked():
            self.enter_stage()
