"""DDPM Studio's desktop GUI (PySide6 + pyqtgraph): presents :mod:`ddpm_studio.core`, never does its maths."""

from ddpm_studio.gui.compat import protect_singletons

protect_singletons()  # before any other Qt call: see ddpm_studio/gui/compat.py

from ddpm_studio.gui.window.main_window import MainWindow  # noqa: E402

__all__ = ["MainWindow"]
