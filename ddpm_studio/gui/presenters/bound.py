"""The presenter of the Likelihood dock: it owns the bound job (MATH.md M14-M17), the dock only draws.

The dock validates the user's request and emits ``computeRequested(pipeline, x0)``; this presenter starts
:func:`ddpm_studio.gui.jobs.evaluation.bound` on the application's runner (it reads the model, so the runner never
runs it beside training) and hands each batch back to the dock's display methods on the GUI thread. A cancel is
``cancelRequested``; ``forgetRequested`` (a new model) stops the job and drops whatever it still sends, so no
stale term of the old model reaches the plot; ``shutdownRequested`` (the window closes) stops and joins it.
"""

from __future__ import annotations

from functools import partial

import torch
from PySide6.QtCore import QObject

from ddpm_studio.core.analysis.bound import BoundProgress, BoundResult
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.gui.docks.likelihood import LikelihoodDock
from ddpm_studio.gui.jobs import evaluation as job_eval
from ddpm_studio.gui.jobs.runner import MODEL, Job, runner


class BoundPresenter(QObject):
    """Starts, cancels and forgets the bound job of one :class:`LikelihoodDock` (a child of the dock)."""

    def __init__(self, dock: LikelihoodDock) -> None:
        super().__init__(dock)
        self.dock = dock
        self._job: Job | None = None
        dock.computeRequested.connect(self.start)
        dock.cancelRequested.connect(self.cancel)
        dock.forgetRequested.connect(self.forget)
        dock.shutdownRequested.connect(self.shutdown)

    @property
    def job(self) -> Job | None:
        return self._job

    def start(self, pipeline: DiffusionPipeline, x0: torch.Tensor) -> None:
        """x0: held-out examples in model space, (N, *data_shape), a CPU copy the job owns."""
        job = runner().start("bound", job_eval.bound, pipeline, x0, cooperative=True,
                             throttle=job_eval.bound_throttle(), reads={MODEL}, owner=self)
        if job is None:
            self.dock.job_refused("The model is busy (training changes its weights): compute the bound when it stops.")
            return
        job.on_events = partial(self._events, job)
        job.on_error = partial(self._failed, job)
        job.on_done = partial(self._done, job)
        self._job = job
        self.dock.job_started()

    def cancel(self) -> None:
        if self._job is not None and not self._job.stopping:
            self._job.stop()

    def forget(self) -> None:
        if self._job is not None:
            self._job.stop()
            self._job = None

    def shutdown(self) -> None:
        jobs = runner()
        jobs.stop(owner=self)
        jobs.join(owner=self)

    def _events(self, job: Job, items: list) -> None:
        if job is not self._job:
            return  # a cancelled computation of a model the dock has forgotten
        progress = [item for item in items if isinstance(item, BoundProgress)]
        if progress:
            self.dock.show_progress(progress)
        for item in items:
            if isinstance(item, BoundResult):
                self.dock.show_result(item)
            elif isinstance(item, job_eval.Cancelled):
                self.dock.show_cancelled(item.done, item.total)

    def _failed(self, job: Job, text: str) -> None:
        if job is self._job:
            self.dock.show_failure(text)

    def _done(self, job: Job) -> None:
        if job is self._job:
            self._job = None
            self.dock.job_ended()
