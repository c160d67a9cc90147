"""Coalesce redraw requests: however often data arrives, a view redraws at most ~30 times a second."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from ddpm_studio.gui.style import REDRAW_INTERVAL_MS


class RedrawThrottle(QObject):
    """Call ``redraw`` once, at most every ``interval_ms``, after one or more :meth:`request` calls.

    Nothing runs while nobody asks, so an idle window costs no CPU; a burst of a thousand requests costs one
    redraw per interval.
    """

    def __init__(self, redraw: Callable[[], None], parent: QObject | None = None,
                 interval_ms: int = REDRAW_INTERVAL_MS) -> None:
        super().__init__(parent)
        self._redraw = redraw
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._fire)

    def request(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Redraw now (e.g. before a screenshot or an export of what is on screen)."""
        self._timer.stop()
        self._redraw()

    def _fire(self) -> None:
        self._redraw()
