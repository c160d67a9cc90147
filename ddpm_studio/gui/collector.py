"""Python's cyclic garbage collector, driven from the GUI thread only: installed once when the application starts.

CPython runs the automatic collector in whichever thread happens to allocate past the threshold. When that is a
job thread and the garbage holds Qt objects (a closed window's widgets, a plot item in a reference cycle), their
C++ destructors run there: one took Qt's signal-slot mutex on the worker and then waited for the GIL, while the
GUI thread held the GIL and waited for that mutex (seen as a hang of a GUI test run, both threads in gdb; later
once more with a dialog used without a window). pyqtgraph documents the same hazard and remedy
(``pyqtgraph.util.garbage_collector``): automatic collection off, and the GUI thread collects from a timer,
generation by generation at CPython's own thresholds.

So :func:`install` is called once, by :func:`ddpm_studio.gui.app.run_app` (and idempotently by every main
window, for scripts that build one directly), and by an autouse fixture in ``tests/conftest.py`` for every Qt
test, which calls :func:`uninstall` afterwards so the core's tests keep the normal collector. There is no
per-window or per-job reference count any more: while the collector is installed, no thread but the GUI thread
ever collects. :func:`collect_now` lets code that waits for jobs without an event loop (``JobRunner.join_all``)
collect at once instead of waiting for the timer.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

#: How often the GUI thread looks at the collector's counters (ms); a generation-0 pass takes well under 1 ms.
CHECK_INTERVAL_MS = 100


class GuiThreadCollector(QObject):
    """Collects the generation whose allocation counter passed CPython's own threshold, like the automatic one."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        generation = 0
        if counts[1] > thresholds[1]:
            generation = 2 if counts[2] > thresholds[2] else 1
        gc.collect(generation)


_collector: GuiThreadCollector | None = None


def install() -> None:
    """Automatic collection off; the GUI thread collects on a timer (call on the GUI thread, with a QApplication)."""
    global _collector
    gc.disable()
    if _collector is None:
        app = QCoreApplication.instance()
        assert app is not None, "create the QApplication first"
        _collector = GuiThreadCollector(app)


def uninstall() -> None:
    """Back to CPython's automatic collection (tests only: the studio keeps the collector until it exits)."""
    global _collector
    if _collector is not None:
        _collector._timer.stop()
        _collector.deleteLater()
        _collector = None
    gc.enable()


def installed() -> bool:
    return _collector is not None


def collect_now() -> None:
    """One pass on the calling thread (the GUI thread), e.g. after joining jobs without an event loop."""
    if _collector is not None:
        _collector.check()
