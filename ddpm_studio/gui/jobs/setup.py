"""What the studio sets up before any job runs, and the names older code and tests import from here.

Jobs themselves live in :mod:`ddpm_studio.gui.jobs.runner` (the worker and the runner) and ``job_*.py`` (one module per
job: training, sampling, evaluation).
"""

from __future__ import annotations

import importlib
import os
import sys

import torch

from ddpm_studio.core.app.run_io import describe_error
from ddpm_studio.gui.display import (
    DATA_PREVIEW_IMAGES,
    MAX_REFERENCE_POINTS,
    data_preview,
    reference_points,
    to_display,
)
from ddpm_studio.gui.jobs.runner import Job, runner, running_jobs

__all__ = ["DATA_PREVIEW_IMAGES", "MAX_REFERENCE_POINTS", "data_preview", "describe_error", "join_all", "prepare_torch",
           "reference_points", "running_threads", "to_display"]

#: Python's thread switch interval while the studio runs (seconds; CPython's default is 0.005).
GUI_SWITCH_INTERVAL_S = 0.001


def prepare_torch() -> int:
    """Call on the GUI thread before any job starts: leave a core to the GUI, import torch's lazy parts.

    torch uses all cores but one, so the GUI thread always has one to itself while sampling and analysing; the
    training job sets the CLI's count on its own thread instead (:mod:`ddpm_studio.gui.jobs.training`).
    And torch.optim imports torch._dynamo the first time an optimiser is built: importing it on a job thread
    while the GUI thread's garbage collector runs corrupts the collector's lists (torch 2.13 on Python 3.11: a
    hang in gc's untrack_dicts or a segfault; reproduced without Qt, about one run in six), so it is imported
    here, once (about 1.5 s, the first time).

    It also shortens Python's thread switch interval from 5 ms to 1 ms. A job running Python-heavy code
    (loading data, building a network, a small model's training step) holds the GIL; the GUI thread then waits
    up to one interval each time it needs the GIL back, dozens of times per paint. Measured on the digits
    start-up (2 cores): the longest event-loop stall fell from 104 ms to 56 ms. Returns torch's thread count.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    threads = max(1, (os.cpu_count() or 1) - 1)
    torch.set_num_threads(threads)
    importlib.import_module("torch._dynamo")
    return threads


def running_threads() -> list[Job]:
    """Jobs that have not ended (each runs on its own thread); the tests check it is empty."""
    return running_jobs()


def join_all() -> None:
    """Stop every job and wait for it (see :meth:`JobRunner.join_all`)."""
    runner().join_all()
