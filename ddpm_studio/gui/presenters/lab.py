"""The presenter of the Labs dialog: it owns the lab job (one lab at a time) and says where it is in the status bar.

The dialog emits ``runRequested(LabRequest)``, ``cancelRequested``, ``openRequested(folder)`` and
``shutdownRequested``; this presenter runs :func:`ddpm_studio.gui.jobs.lab.lab` on the application's runner, reads
reports (:func:`~ddpm_studio.core.labs.report.read_report`) and hands the results to the dialog's display methods
on the GUI thread. The status bar line ("lab NAME: stage (xx %)") goes out as ``message(text, timeout_ms)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.labs.context import LabProgress
from ddpm_studio.core.labs.report import read_report
from ddpm_studio.core.labs.runner import LabFinished, folder_lab
from ddpm_studio.gui.dialogs.labs import RESUME, START_OVER, LabRequest, LabsDialog, gui_wording
from ddpm_studio.gui.jobs import lab as job_lab
from ddpm_studio.gui.jobs.runner import Job, runner

#: How long the last word of a lab (its verdict, a cancel, a failure) stays in the status bar.
DONE_MESSAGE_MS = 15000


class LabPresenter(QObject):
    """Starts, cancels and joins the lab of one :class:`LabsDialog` (a child of the dialog).

    Attributes:
        overrides: extra keyword arguments of ``iter_lab`` (``settings=``, ``seeds=``, ``device=``): empty in the
            studio; the tests give a lab tiny settings through it.
    """

    message = Signal(str, int)  # status-bar text, timeout in ms (0: until replaced)

    def __init__(self, dialog: LabsDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.overrides: dict[str, Any] = {}
        self._job: Job | None = None
        self._request: LabRequest | None = None
        dialog.runRequested.connect(self.run)
        dialog.cancelRequested.connect(self.cancel)
        dialog.openRequested.connect(self.open_folder)
        dialog.shutdownRequested.connect(self.shutdown)

    @property
    def running(self) -> bool:
        return self._job is not None

    def run(self, request: LabRequest) -> None:
        if self._job is not None:
            self.dialog.show_failure(f"lab {self._request.name} is running: cancel it first (one lab at a time)")
            return
        if not (request.resume or request.force) and folder_lab(request.out_dir) == request.name:
            # the CLI refuses this folder without --resume / --force; a person is asked instead
            answer = self.dialog.ask_existing(request)
            if answer is None:
                return
            request = LabRequest(request.name, request.budget, request.out_dir, resume=answer == RESUME,
                                 force=answer == START_OVER)
        job = runner().start(
            "lab", job_lab.lab, request.name, request.budget, request.out_dir, resume=request.resume,
            force=request.force, **self.overrides, cooperative=True, throttle=job_lab.LabThrottle(),
            writes={job_lab.LAB}, owner=self, on_events=self._events, on_error=self._failed, on_done=self._done,
        )
        if job is None:  # the runner refuses a second lab (another dialog's)
            self.dialog.show_failure("another lab is running: cancel it first (one lab at a time)")
            return
        self._job, self._request = job, request
        self.dialog.job_started(request)
        self.message.emit(f"lab {request.name}: starting ({request.budget})…", 0)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.stop()
            self.message.emit(f"lab {self._request.name}: cancelling at the next step…", 0)

    def shutdown(self) -> None:
        """Stop the lab and wait for it (the window closes): it ends at its next step, its runs kept."""
        jobs = runner()
        jobs.stop(owner=self)
        jobs.join(owner=self)

    def open_folder(self, folder: str) -> None:
        """Show the report of a lab folder; a folder with no (or a broken) report.json is one sentence."""
        try:
            report = read_report(folder)
        except RunError as exc:
            self.dialog.show_failure(str(exc))
            return
        self.dialog.show_report(report, Path(folder))

    # ------------------------------------------------------------------ what the job hands over
    def _events(self, items: list) -> None:
        name = self._request.name if self._request is not None else "?"
        progress = [item for item in items if isinstance(item, LabProgress)]
        if progress:  # only the newest is drawn
            newest = progress[-1]
            self.dialog.show_progress(newest.stage, newest.overall)
            self.message.emit(f"lab {name}: {newest.stage} ({newest.overall:.0%})", 0)
        for item in items:
            if isinstance(item, LabFinished):
                self.dialog.show_report(item.report, item.json_path.parent)
                self.message.emit(f"lab {name}: {item.report['verdict']} (report in {item.json_path.parent})",
                                  DONE_MESSAGE_MS)
            elif isinstance(item, job_lab.LabCancelled):
                self.dialog.show_cancelled(item.stage)
                self.message.emit(f"lab {name}: cancelled at {item.overall:.0%}; its trained runs are kept",
                                  DONE_MESSAGE_MS)

    def _failed(self, text: str) -> None:
        self.dialog.show_failure(text)
        name = self._request.name if self._request is not None else "?"
        self.message.emit(f"lab {name} stopped: {gui_wording(text)}", DONE_MESSAGE_MS)

    def _done(self) -> None:
        self._job = None
        self.dialog.job_ended()
