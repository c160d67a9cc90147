"""The presenter of the Compare dialog: it owns the comparison job (Ho et al. 2020, Table 2); the dialog only
collects settings and draws rows.

The dialog emits ``startRequested(ComparisonRequest)``, ``cancelRequested`` and ``shutdownRequested``; this
presenter runs :func:`ddpm_studio.gui.jobs.evaluation.compare` on the application's runner and hands its items to
the dialog's display methods on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from ddpm_studio.core.compare import CompareFinished, CompareProgress, CompareRow
from ddpm_studio.gui.dialogs.compare import CompareDialog, ComparisonRequest
from ddpm_studio.gui.jobs import evaluation as job_eval
from ddpm_studio.gui.jobs.runner import Job, runner


class ComparePresenter(QObject):
    """Starts, cancels and joins the comparison of one :class:`CompareDialog` (a child of the dialog)."""

    def __init__(self, dialog: CompareDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self._job: Job | None = None
        dialog.startRequested.connect(self.start)
        dialog.cancelRequested.connect(self.cancel)
        dialog.shutdownRequested.connect(self.shutdown)

    def start(self, request: ComparisonRequest) -> None:
        self._job = runner().start(
            "compare", job_eval.compare, request.data, request.steps, request.out_dir, request.settings,
            request.num_timesteps, schedule=request.schedule, eval_examples=request.eval_examples,
            cooperative=True, throttle=job_eval.CompareThrottle(), owner=self,
            on_events=self._events, on_error=self.dialog.show_failure, on_done=self._done,
        )
        self.dialog.job_started()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.stop()

    def shutdown(self) -> None:
        jobs = runner()
        jobs.stop(owner=self)
        jobs.join(owner=self)

    def _events(self, items: list) -> None:
        progress = [item for item in items if isinstance(item, CompareProgress)]
        for item in items:
            if isinstance(item, CompareProgress) and item is progress[-1]:  # only the newest progress is drawn
                self.dialog.show_progress(item)
            elif isinstance(item, CompareRow):
                self.dialog.add_row(item)
            elif isinstance(item, CompareFinished):
                self.dialog.show_finished(item)
            elif isinstance(item, job_eval.Cancelled):
                self.dialog.show_cancelled()

    def _done(self) -> None:
        self._job = None
        self.dialog.job_ended()
