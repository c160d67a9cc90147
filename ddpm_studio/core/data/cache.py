"""Where downloaded data sets live: ``$DDPM_STUDIO_CACHE``, else the platform's user cache folder.

    Linux and BSD   $XDG_CACHE_HOME/ddpm-studio, else ~/.cache/ddpm-studio
    macOS           ~/Library/Caches/ddpm-studio
    Windows         %LOCALAPPDATA%\\ddpm-studio\\Cache

Each standard set gets one folder, ``CACHE/data/NAME``, holding its files under their official names, so a user
without internet can place them there by hand (the download errors name that folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The environment variable that moves the cache (a cluster's scratch space, a shared course folder).
CACHE_ENV = "DDPM_STUDIO_CACHE"

APP_FOLDER = "ddpm-studio"


def cache_root() -> Path:
    """The cache folder: ``$DDPM_STUDIO_CACHE`` when set (and not empty), else the platform's user cache folder."""
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP_FOLDER / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_FOLDER
    # the XDG base directory rule: a relative $XDG_CACHE_HOME is invalid and must be ignored
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / APP_FOLDER


def dataset_folder(name: str) -> Path:
    """The folder that holds the files of the standard data set ``name`` (not created here)."""
    return cache_root() / "data" / name
