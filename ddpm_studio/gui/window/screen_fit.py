"""Where the main window opens: its preferred size, shrunk to the screen it is on and centred there.

A fixed 1500 x 920 window on a 1366 x 768 laptop or a 1280 x 720 projector hangs off the screen, with the
bottom docks and the status bar out of sight. These functions are pure (rectangles in, rectangle out) so the
rule is tested with a made-up screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize

from ddpm_studio.gui.widgets.dialog_fit import FRAME_ALLOWANCE

#: The size the window asks for on a screen that has room for it.
PREFERRED_SIZE = QSize(1500, 920)


def fitted_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE,
                    frame: QSize = FRAME_ALLOWANCE) -> QRect:
    """The window's client rectangle: ``preferred`` or less so that it and its frame fit ``available``, centred.

    Args:
        available: the screen's available geometry (``QScreen.availableGeometry()``: without task bars).
        preferred: the size wanted when there is room.
        frame: the frame's extra width and height around the client area.
    """
    width = max(1, min(preferred.width(), available.width() - frame.width()))
    height = max(1, min(preferred.height(), available.height() - frame.height()))
    border = frame.width() // 2  # left, right and bottom borders alike; the rest of the height is the title bar
    title_bar = frame.height() - border
    frame_left = available.left() + (available.width() - width - frame.width()) // 2
    frame_top = available.top() + max(0, (available.height() - height - frame.height()) // 2)
    return QRect(max(available.left(), frame_left + border), frame_top + title_bar, width, height)

def with_frame(client: QRect, frame: QSize = FRAME_ALLOWANCE) -> QRect:
    """The rectangle a window of this client area covers with its frame (see :func:`fitted_geometry`)."""
    border = frame.width() // 2
    return client.adjusted(-border, border - frame.height(), border, border)


def fits(client: QRect, available: QRect, frame: QSize = FRAME_ALLOWANCE) -> bool:
    """Whether a window with this client area, and its frame, lies wholly on the available part of a screen."""
    return available.contains(with_frame(client, frame))

