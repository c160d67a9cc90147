"""Files bundled with DDPM Studio (the top-level ``resources/`` folder, installed as ``ddpm_studio.resources``)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

#: ``resources/`` beside the package in a source checkout that was not pip-installed.
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "resources"


def read_resource(name: str) -> bytes:
    """The bytes of bundled file ``name``, from the installed package or, failing that, the source tree.

    Raises:
        FileNotFoundError: the file is in neither place (a broken install).
    """
    try:
        return (importlib.resources.files("ddpm_studio.resources") / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        path = _SOURCE_TREE / name
        if not path.is_file():
            raise FileNotFoundError(f"bundled resource {name!r} is missing; reinstall DDPM Studio") from None
        return path.read_bytes()
