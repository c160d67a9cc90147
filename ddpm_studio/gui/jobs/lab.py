"""The lab job (Run → Labs…): :func:`~ddpm_studio.core.labs.runner.iter_lab` on the runner, cancellable at each
yield, its progress throttled and its report handed back.

A lab trains its own runs into its own folder, so it reads and writes nothing of the open run; it declares the
resource :data:`LAB` so that the runner never runs two labs at once (two labs on two cores would each take twice as
long, and their CPU timings in the reports would mean nothing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddpm_studio.core.labs.context import LabProgress
from ddpm_studio.core.labs.runner import LabFinished, iter_lab
from ddpm_studio.gui.jobs.runner import Throttle

#: The resource a lab writes: only one lab runs at a time.
LAB = "lab"
#: Progress goes to the dialog and the status bar at most this often (a status line needs no 30 Hz).
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class LabCancelled:
    """The lab stopped when asked, in ``stage`` with ``overall`` (0..1) of it done; its trained runs stay."""

    stage: str = ""
    overall: float = 0.0


class LabThrottle(Throttle):
    """Only the newest progress, at ~10 Hz; a new stage, the report and a cancel at once.

    A stage change goes at once because a lab can sit in one stage for seconds without yielding (sampling and
    scoring a run): held back, the status bar would name the stage before."""

    def __init__(self) -> None:
        super().__init__(interval=PROGRESS_INTERVAL_S, latest_only=True, urgent=(LabFinished, LabCancelled))
        self._stage: str | None = None

    def due(self, item: object) -> bool:
        if isinstance(item, LabProgress) and item.stage != self._stage:
            self._stage = item.stage
            self._last = time.monotonic()
            return True
        return super().due(item)


def lab(name: str, budget: str, out_dir: str | Path, resume: bool = False, force: bool = False,
        device: str = "auto", settings: Mapping[str, Any] | None = None, seeds: tuple[int, ...] | None = None, *,
        stop: threading.Event):
    """Run lab ``name`` with ``budget`` into ``out_dir``; yields LabProgress, then LabFinished or LabCancelled.

    A :class:`~ddpm_studio.core.labs.runner.LabFolderError` (a folder the lab may not write into) is raised before
    anything is written, and reaches the dialog as its one-sentence message.
    """
    if stop.is_set():
        yield LabCancelled()
        return
    events = iter_lab(name, budget, Path(out_dir), resume=resume, force=force, device=device, settings=settings,
                      seeds=seeds)
    last: LabProgress | None = None
    try:
        for event in events:
            yield event
            if isinstance(event, LabFinished):
                return
            last = event
            if stop.is_set():
                yield LabCancelled(last.stage, last.overall)
                return
    finally:
        events.close()  # the lab's generator runs its finally blocks (a trainer's lock) here, on the job's thread
