"""A guard against a reference-counting bug of PySide6 6.12 on Python 3.11 and older.

There, the binding hands Python the singletons ``None``, ``True`` and ``False`` without counting a reference:
every call of a Qt method that returns nothing (``QLabel.setText``, ``QCoreApplication.processEvents``, ...)
takes one reference from ``None`` for good, and every ``Signal.emit`` (which returns a bool) one from ``True``.
From Python 3.12 these objects are immortal (PEP 683) and the bug is harmless; before, a GUI makes the tens of
thousands of such calls they start with within minutes, and the interpreter aborts with "Fatal Python error:
none_dealloc: deallocating None" (or bool_dealloc).

:func:`protect_singletons` measures whether the installed binding has the bug and, only then, gives the three
singletons a reserve of references no session can use up (what Python 3.12 does for every interpreter).
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, QTimer, Signal

#: References added to each singleton when the bug is present: 2**40 leaking calls, years of use.
REFCOUNT_RESERVE = 1 << 40
_PROBE_CALLS = 64
_SINGLETONS = (None, True, False)


class _Probe(QObject):
    fired = Signal(int)


def pyside_leaks_singletons() -> bool:
    """True when a void Qt call costs ``None`` a reference, or an emit costs ``True`` one."""
    if sys.version_info >= (3, 12):
        return False  # immortal objects: their reference counts no longer move
    timer, probe = QTimer(), _Probe()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        timer.setInterval(1)
        probe.fired.emit(1)
    after = sys.getrefcount(None), sys.getrefcount(True)
    return any(a <= b - _PROBE_CALLS // 2 for a, b in zip(after, before))


def protect_singletons() -> bool:
    """Apply the reserve on CPython when the bug is measured; returns whether it was applied."""
    trace_refs = hasattr(sys, "getobjects")  # --with-trace-refs builds put two pointers before ob_refcnt
    if sys.implementation.name != "cpython" or trace_refs or not pyside_leaks_singletons():
        return False
    for singleton in _SINGLETONS:
        # ob_refcnt is the first field of every PyObject in CPython's other builds
        ctypes.c_ssize_t.from_address(id(singleton)).value += REFCOUNT_RESERVE
    return True
