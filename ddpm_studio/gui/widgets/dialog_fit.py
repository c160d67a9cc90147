"""A dialog's size on a small screen: what it asks for, shrunk so that it and its frame fit (a 1024 x 768 projector).

Pure rectangles in :func:`dialog_size` (tested with a made-up screen); :func:`fitted_dialog_size` reads the screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: Room left for the window manager's frame (title bar, borders): ``availableGeometry`` includes it, the size
#: given to ``resize`` does not, and before the window is shown its frame is not known.
FRAME_ALLOWANCE = QSize(16, 40)


def dialog_size(preferred: QSize, available: QRect, frame: QSize = FRAME_ALLOWANCE) -> QSize:
    """A dialog's size: ``preferred``, shrunk so that it and its frame fit ``available`` (a 1024 x 768 projector)."""
    return preferred.boundedTo(QSize(available.width() - frame.width(), available.height() - frame.height()))


def fitted_dialog_size(dialog: QWidget, preferred: QSize) -> QSize:
    """:func:`dialog_size` on the screen the dialog (or its parent) is on."""
    parent = dialog.parentWidget()
    screen = (parent.screen() if parent is not None else None) or dialog.screen() or QGuiApplication.primaryScreen()
    return preferred if screen is None else dialog_size(preferred, screen.availableGeometry())

