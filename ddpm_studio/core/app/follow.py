"""Follow a run folder that another process is writing (the CLI, ``torchrun``, a synced folder), Qt-free.

:class:`RunFollower` remembers how far it has read. Each :meth:`RunFollower.poll` reads only the bytes appended
to ``metrics.jsonl`` since the last one (a torn last line is left for the next poll, never parsed), and lists the
checkpoints and preview images that appeared. It never raises for a folder that vanished or cannot be read: the
update carries one line in ``error`` and the follower stays usable (a folder that comes back is read again).

The writer's side makes this safe: :func:`~ddpm_studio.core.io.runs.append_metrics` writes each batch of lines in
one write and flushes it; checkpoints, previews and ``config.json`` are written to a temporary file and renamed
(:func:`~ddpm_studio.core.io.runs.atomic_write_bytes`), so a complete name always holds a complete file.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import BUILTIN_DATASETS
from ddpm_studio.core.io.runs import CONFIG_NAME, METRICS_NAME, SAMPLES_DIR, RunError, list_checkpoints
from ddpm_studio.core.training.snapshots import Snapshot, list_snapshot_files

_PREVIEW_RE = re.compile(r"^preview_(\d+)\.png$")


@dataclass
class FollowUpdate:
    """What changed in a followed run since the previous poll.

    Attributes:
        records: metrics lines completed since then, oldest first (dicts as written by the trainer).
        reset: the metrics file was replaced or shortened (e.g. a resume dropped lines after its checkpoint):
            ``records`` then holds the whole file again and a presenter should clear what it showed first.
        checkpoints: (step, path) of checkpoints that appeared, oldest first.
        previews: (step, path) of preview images (``samples/preview_<step>.png``) that appeared, oldest first.
        snapshots: training snapshots (``snapshots/step_<step>.npz``, core/training/snapshots.py) that appeared
            or were rewritten (a resumed run redoes those after its checkpoint), oldest first; damaged or
            half-written ones wait for the next poll. snapshots_dropped: steps whose files went (pruned, resumed).
        step: the newest training step the run has reported (metrics or checkpoints); 0 before any.
        total_steps: the run's ``train.steps`` from its config.json (None when unreadable).
        age: seconds since the run last wrote metrics or a checkpoint (None before it wrote any).
        error: one line when the folder cannot be read (vanished, moved, permissions); None when all is well.
        config: the run's settings when its config.json is new or changed since the last poll (else None);
            ``kind`` beside it: "points" / "images" for a built-in data set, None for a user's file or folder.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    previews: list[tuple[int, Path]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    snapshots_dropped: list[int] = field(default_factory=list)
    step: int = 0
    total_steps: int | None = None
    age: float | None = None
    error: str | None = None
    config: RunConfig | None = None
    kind: str | None = None

    @property
    def changed(self) -> bool:
        """Whether anything new arrived (a presenter can skip redrawing otherwise)."""
        return bool(self.records or self.reset or self.checkpoints or self.previews or self.snapshots
                    or self.snapshots_dropped)


def check_run_folder(run_dir: str | os.PathLike[str]) -> Path:
    """``run_dir`` if it is a run folder that can be followed; :class:`RunError` in one line otherwise.

    A run whose trainer has not written ``config.json`` yet is refused too: it has nothing to follow yet.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise RunError(f"{folder} is not a folder")
    if not (folder / CONFIG_NAME).is_file():
        raise RunError(f"{folder} is not a DDPM Studio run folder (it has no {CONFIG_NAME}; a run that has just "
                       "started writes it before its first step)")
    return folder


class RunFollower:
    """Reads a live run folder incrementally (see the module docstring); one instance per followed folder.

    Args:
        run_dir: the run folder (checked with :func:`check_run_folder`).
        clock: wall-clock seconds, for the age (tests pass their own).
    """

    def __init__(self, run_dir: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        self.run_dir = check_run_folder(run_dir)
        self._clock = clock
        self._offset = 0  # bytes of metrics.jsonl consumed (complete lines only)
        self._inode: int | None = None
        self._checkpoints: set[int] = set()
        self._previews: set[str] = set()
        self._snapshots: dict[int, int] = {}  # step -> mtime_ns of the snapshot file read
        self._step = 0
        self._last_write: float | None = None
        self._lost = False
        self._total: int | None = None
        self._config_stamp: int | None = None

    @property
    def step(self) -> int:
        return self._step

    def poll(self) -> FollowUpdate:
        """Read what is new (cheap when nothing is: a few ``stat`` calls); never raises for I/O trouble."""
        update = FollowUpdate()
        try:
            check_run_folder(self.run_dir)
            self._read_metrics(update)
            self._read_checkpoints(update)
            self._read_previews(update)
            self._read_snapshots(update)
            self._read_config(update)
        except (OSError, RunError) as exc:
            update.error = _vanished(self.run_dir, exc)
            self._lost = True  # a folder that comes back is another folder: read it from the start
            self._config_stamp = None
        update.step = self._step
        update.total_steps = self._total
        update.age = None if self._last_write is None else max(0.0, self._clock() - self._last_write)
        return update

    # ------------------------------------------------------------------ the parts
    def _read_metrics(self, update: FollowUpdate) -> None:
        path = self.run_dir / METRICS_NAME
        try:
            info = path.stat()
        except FileNotFoundError:
            return  # no line logged yet
        replaced = self._inode is not None and (info.st_ino != self._inode or info.st_size < self._offset)
        if replaced or self._lost:  # a resume truncates through a rename; a vanished folder came back
            self._offset, update.reset, self._lost = 0, True, False
        self._inode = info.st_ino
        self._note_write(info.st_mtime)
        if info.st_size == self._offset:
            return
        with open(path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk.rfind(b"\n") + 1  # a torn last line (no newline yet) waits for the next poll
        self._offset += complete
        for line in chunk[:complete].splitlines():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a garbled line (a crash mid-write long ago) is skipped, as read_metrics does
            if isinstance(record, dict):
                update.records.append(record)
                step = record.get("step")
                if isinstance(step, int) and not isinstance(step, bool):
                    self._step = step if update.reset else max(self._step, step)

    def _read_checkpoints(self, update: FollowUpdate) -> None:
        for step, path in list_checkpoints(self.run_dir):
            if step in self._checkpoints:
                continue
            self._checkpoints.add(step)
            update.checkpoints.append((step, path))
            self._step = max(self._step, step)
            try:
                self._note_write(path.stat().st_mtime)
            except OSError:
                pass  # pruned between the listing and the stat

    def _read_previews(self, update: FollowUpdate) -> None:
        folder = self.run_dir / SAMPLES_DIR
        if not folder.is_dir():
            return
        found = []
        for entry in folder.iterdir():
            match = _PREVIEW_RE.match(entry.name)
            if match and entry.name not in self._previews:
                self._previews.add(entry.name)
                found.append((int(match.group(1)), entry))
        update.previews.extend(sorted(found))

    def _read_snapshots(self, update: FollowUpdate) -> None:
        present: dict[int, Path] = dict(list_snapshot_files(self.run_dir))
        for step in sorted(set(self._snapshots) - set(present)):
            del self._snapshots[step]
            update.snapshots_dropped.append(step)
        for step, path in sorted(present.items()):
            try:
                stamp = path.stat().st_mtime_ns
                if self._snapshots.get(step) == stamp:
                    continue
                snapshot = Snapshot.from_file(path)
            except (OSError, ValueError, KeyError):
                continue  # pruned between the listing and the read, or not a snapshot: never raised
            self._snapshots[step] = stamp
            update.snapshots.append(snapshot)

    def _read_config(self, update: FollowUpdate) -> None:
        """The train.steps of config.json every time (a resume may raise it); the whole config when it changed."""
        path = self.run_dir / CONFIG_NAME
        stamp = path.stat().st_mtime_ns
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            config = RunConfig.from_dict(raw)
        except (OSError, ValueError):  # ConfigError is a ValueError: a config from another version
            return
        self._total = config.train.steps
        if stamp != self._config_stamp:
            self._config_stamp = stamp
            update.config, update.kind = config, BUILTIN_DATASETS.get(config.data.dataset)

    def _note_write(self, mtime: float) -> None:
        self._last_write = mtime if self._last_write is None else max(self._last_write, mtime)


def _vanished(run_dir: Path, exc: BaseException) -> str:
    if not run_dir.exists():
        return f"the run folder {run_dir} is gone (deleted or moved); following stopped reading it"
    if isinstance(exc, RunError):
        return str(exc)
    return f"cannot read the run folder {run_dir}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)


def describe_age(seconds: float | None) -> str:
    """'12 s ago', '3 min ago', '2 h ago' (the status bar's wording); 'nothing written yet' for None."""
    if seconds is None:
        return "nothing written yet"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def open_followed(run_dir: str | os.PathLike[str], records: list[dict[str, Any]]):
    """The followed run's newest loadable checkpoint as a sample-only :class:`~ddpm_studio.core.app.run_io.OpenedRun`.

    ``records`` are the metrics lines the follower has delivered so far (the file may already hold more, which
    the next poll delivers: reading it here would show them twice).

    Read-only, unlike :func:`~ddpm_studio.core.app.run_io.open_run`: a Trainer resuming the folder would rewrite the
    files the other process is writing (config.json, metrics.jsonl). Slow (loads weights): call off-thread.
    """
    from ddpm_studio.core.app.run_io import OpenedRun
    from ddpm_studio.core.pipeline import load_pipeline, load_run_config

    config = load_run_config(run_dir)
    pipeline = load_pipeline(run_dir)
    return OpenedRun(str(run_dir), config, pipeline.kind, list(records), None, pipeline, None, None)
