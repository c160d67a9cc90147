"""Python's cyclic garbage collector, run on the GUI thread only while a studio window is open or a worker runs.

CPython runs the collector in whichever thread happens to allocate past the threshold. When that is a worker
thread (training, sampling) and the garbage holds Qt objects (a closed window's widgets, a plot item in a
reference cycle), their C++ destructors run on the worker: one took Qt's signal-slot mutex there and then
waited for the GIL, while the GUI thread held the GIL and waited for that mutex in a deferred deletion. Both
threads hung for good (seen once in a GUI test run, backtraces of both threads in gdb). pyqtgraph documents the
same hazard and the same remedy (``pyqtgraph.util.garbage_collector``): switch automatic collection off and
collect from a timer on the GUI thread instead.

:func:`acquire` is called by every main window and :func:`release` when it closes (after its workers have been
joined), and :func:`hold_while_running` by ``start_worker`` for every worker thread, so a dialog used without a
main window (the comparison dialog in a test hung the same way, in its worker's collection) is covered too;
automatic collection comes back once no window is open and no worker runs, so scripts and tests that go on
without an event loop keep the normal collector.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Slot

#: How often the GUI thread looks at the collector's counters (ms); a generation-0 pass takes well under 1 ms.
CHECK_INTERVAL_MS = 100


class _GuiThreadCollector(QObject):
    """Collects the generation whose allocation counter passed CPython's own threshold, like the automatic one."""

    def __init__(self) -> None:
        super().__init__(QCoreApplication.instance())
        self.users = 0
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    @Slot()
    def release_one(self) -> None:
        """A worker thread finished (delivered queued, so on the GUI thread)."""
        release()

    def check(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        generation = 0
        if counts[1] > thresholds[1]:
            generation = 2 if counts[2] > thresholds[2] else 1
        gc.collect(generation)


_collector: _GuiThreadCollector | None = None


def acquire() -> None:
    """A window opens (call on the GUI thread, with a QApplication): collect only on this thread from now on."""
    global _collector
    if _collector is None:
        _collector = _GuiThreadCollector()
    if _collector.users == 0:
        _collector.start()
    _collector.users += 1


def release() -> None:
    """A window closed and joined its workers: the last one gives automatic collection back."""
    if _collector is None or _collector.users == 0:
        return
    _collector.users -= 1
    if _collector.users == 0:
        _collector.stop()


def hold_while_running(thread: QThread) -> None:
    """Keep collection on the GUI thread until ``thread`` finishes (call on the GUI thread, before it starts)."""
    acquire()
    assert _collector is not None
    # queued: ``finished`` is emitted on the worker thread, and the collector's timer belongs to the GUI thread
    thread.finished.connect(_collector.release_one, Qt.ConnectionType.QueuedConnection)


def active() -> bool:
    """True while collection is confined to the GUI thread."""
    return _collector is not None and _collector.users > 0
