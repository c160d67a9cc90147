"""The main window's labs: Run → Labs… (a paper's claim tested at desk scale, issue 29). A mixin of
:class:`~ddpm_studio.gui.window.main_window.MainWindow` (it uses the window's ``_status`` and ``_last_folder``).

The dialog is modeless and made once: closing it leaves a running lab running (a full budget takes up to two
hours, and its progress stays in the status bar); reopening it shows the lab where it is. The window's
``closeEvent`` calls :meth:`WindowLabs._stop_labs`, which stops the lab and waits for it.
"""

from __future__ import annotations

from ddpm_studio.gui.dialogs.labs import LabsDialog
from ddpm_studio.gui.paths import default_labs_folder
from ddpm_studio.gui.presenters.lab import LabPresenter


class WindowLabs:
    """Opens the Labs dialog and stops its lab when the window closes (see the module docstring)."""

    _labs: LabsDialog | None = None
    labs_presenter: LabPresenter | None = None

    def open_labs(self) -> None:
        """Run → Labs…: the labs, each lab's claim, a run of its quick or full budget, and its report."""
        if self._labs is None:
            self._labs = LabsDialog(self, default_labs_folder(self._last_folder()))
            self.labs_presenter = LabPresenter(self._labs)  # a child of the dialog: it runs the lab asked for
            self.labs_presenter.message.connect(self._status)
            self._labs.message.connect(self._status)
        self._labs.show()
        self._labs.raise_()
        self._labs.activateWindow()

    def _stop_labs(self) -> None:
        """Stop a running lab at its next step and wait for it; its trained runs stay (Resume reuses them)."""
        if self._labs is not None:
            self._labs.shutdown()
            self._labs.close()
