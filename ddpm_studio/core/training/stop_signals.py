"""Signals as stop requests: a handler only sets the trainer's stop flag, the loop honours it at a step boundary.

    with StopOnSignals(trainer.request_stop) as stop:      # SIGINT (Ctrl-C) by default
        for event in trainer.train():
            ...
    if stop.received is not None:                           # TrainingFinished(reason="stopped"), checkpoint saved
        return stop.exit_code                               # 128 + the signal's number: 130 for SIGINT

A signal raised as an exception (Python's default KeyboardInterrupt for SIGINT) can land anywhere in a step: in
the middle of the optimiser's update, between the update and the EMA blend, inside the metrics write. A flag
cannot: the step, and the work after it, finish, and the checkpoint is the state of a step boundary, from which a
resume is bit-identical to a straight run. A second signal of the same kind while the first is being honoured
(an early-stop check takes ~0.4 s) raises KeyboardInterrupt, the user's "now"; the trainer then still saves a
consistent state where it can (:meth:`~ddpm_studio.core.training.trainer.Trainer.train`).

More signals (SIGTERM from a scheduler, say) go in ``signals``: each is handled the same way.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any


class StopOnSignals:
    """A context manager that turns ``signals`` into calls of ``request_stop`` while it is active.

    Handlers can only be installed in the main thread; elsewhere (a studio worker thread) it does nothing, and
    the caller stops the trainer by :meth:`request_stop` as before. The previous handlers come back on exit.
    """

    def __init__(self, request_stop: Callable[[], None], signals: Iterable[int] = (signal.SIGINT,)) -> None:
        self._request_stop = request_stop
        self._signals = tuple(signals)
        self._previous: dict[int, Any] = {}
        self.received: int | None = None  # the first signal that asked for the stop

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self._signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            # asked again while stopping: the user will not wait for the step boundary
            raise KeyboardInterrupt
        self.received = signum
        self._request_stop()

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the received signal (128 + its number), 0 when none came."""
        return 0 if self.received is None else 128 + int(self.received)
