"""Default folders the studio offers: absolute paths, never relative to wherever the studio was started."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

#: The studio's own folder under the user's documents (comparisons and other outputs go below it).
STUDIO_FOLDER_NAME = "DDPM Studio"
COMPARE_FOLDER_NAME = "compare"
LABS_FOLDER_NAME = "labs"


def documents_folder() -> Path:
    """The user's documents folder (QStandardPaths), or the home folder on systems that have none."""
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(found) if found else Path.home()


def default_compare_folder(run_dir: str | Path | None = None, last_folder: str = "") -> str:
    """Where a comparison writes by default, as an absolute path.

    Next to the current run when it has a folder (``runs/moons`` -> ``runs/compare``), else in the folder last
    used for a run or an export, else under the user's documents (``~/Documents/DDPM Studio/compare``).
    """
    if run_dir:
        base = Path(run_dir).expanduser().resolve().parent
    elif last_folder:
        base = Path(last_folder).expanduser().resolve()
    else:
        base = documents_folder() / STUDIO_FOLDER_NAME
    return str(base / COMPARE_FOLDER_NAME)


def default_labs_folder(last_folder: str = "") -> str:
    """Where the labs write by default (one folder per lab below it), as an absolute path: beside the folder last
    used for a run, else under the user's documents (``~/Documents/DDPM Studio/labs``)."""
    base = Path(last_folder).expanduser().resolve() if last_folder else documents_folder() / STUDIO_FOLDER_NAME
    return str(base / LABS_FOLDER_NAME)
