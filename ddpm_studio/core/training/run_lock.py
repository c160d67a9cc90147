"""One trainer per run folder: ``RUN/train.lock`` names the process that writes the folder (pid, host, start).

    lock = hold_run_lock(run_dir)      # RunLocked (one line, naming the other process) if a live trainer holds it
    ...                                 # train
    lock.release()                      # also done when the lock object is collected, or at exit

A second trainer, or a resume, on a folder whose lock names a live process is refused: two writers would
interleave their checkpoints and metrics lines. A lock whose process is gone (killed, the node rebooted, a
SLURM job cancelled with SIGKILL) is stale: it is taken over with a warning. A process is alive when the OS knows
its pid and, on Linux, it started when the lock says (a recycled pid is another process). A lock written on
another host cannot be checked from here; it is refused and the message says which file to delete when that job
is known to be gone.

Within one process the lock is counted, not refused: the studio, or a test, may build a second trainer on the
folder it already holds (the previous one about to be dropped); the file goes when the last holder releases it.
Under torchrun only rank 0 writes the folder, so only rank 0 holds the lock (the caller decides).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

from ddpm_studio.core.io.runs import RunError

logger = logging.getLogger(__name__)

LOCK_NAME = "train.lock"

# lock path -> how many holders in this process share it
_held: dict[Path, int] = {}
_held_guard = threading.Lock()


class RunLocked(RunError):
    """The run folder is being written by another live process; the message names it and says what to do."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock: enough to find the process (pid, host) and to tell a recycled pid from it (start)."""

    pid: int
    host: str
    started: str  # when it took the lock, local time, for the user
    process_start: int | None = None  # Linux: the process's start time in clock ticks after boot (None elsewhere)

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, since {self.started}"


@dataclass
class RunLock:
    """A held lock; :meth:`release` (idempotent) gives it up."""

    path: Path
    owner: LockOwner

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, _release, self.path, self.owner)

    def release(self) -> None:
        self._finalizer()


def current_owner() -> LockOwner:
    """This process as a lock owner."""
    return LockOwner(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"),
                     _process_start(os.getpid()))


def hold_run_lock(run_dir: str | os.PathLike[str]) -> RunLock:
    """Take ``run_dir``'s lock (creating the folder), or raise :class:`RunLocked` naming the live holder.

    A stale lock (its process is gone) is taken over with a warning logged (the CLI shows it as a note).
    """
    folder = Path(run_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return _hold(folder)
    except OSError as exc:  # a read-only or full disk: say so in one line, as the checkpoints would
        raise RunError(f"cannot write the lock file of {folder}: {exc.strerror or exc}; train into a folder you "
                       "can write") from None


def _hold(folder: Path) -> RunLock:
    path = (folder / LOCK_NAME).absolute()
    me = current_owner()
    with _held_guard:
        if _held.get(path):
            _held[path] += 1
            return RunLock(path, _read(path) or me)
        for _attempt in range(3):  # a stale lock removed, then another process may win the race for it
            if _create(path, me):
                _held[path] = 1
                return RunLock(path, me)
            other = _read(path)
            if other is None:  # empty or unreadable: not a lock this code wrote whole; clear it
                path.unlink(missing_ok=True)
                continue
            if other.host != me.host:
                raise RunLocked(f"{folder} is being trained by {other.describe()}; wait for it to finish, or train "
                                f"into another --out (if that job is gone, delete {path})")
            # our own pid, yet not held here: an earlier process that had this pid (a container's restart)
            if other.pid != me.pid and _alive(other):
                raise RunLocked(f"{folder} is being trained by {other.describe()}; wait for it to finish (or stop "
                                "it), or train into another --out")
            logger.warning("%s: took over the stale lock of %s (that process is gone)", folder, other.describe())
            if _read(path) == other:
                path.unlink(missing_ok=True)
        raise RunLocked(f"{folder}: another process keeps taking its lock {path}; try again")


def _release(path: Path, owner: LockOwner) -> None:
    """Drop one holder of ``path``; the last one removes the file if it still names this process."""
    with _held_guard:
        count = _held.get(path, 0) - 1
        if count > 0:
            _held[path] = count
            return
        _held.pop(path, None)
        on_disk = _read(path)
        if on_disk is not None and (on_disk.pid, on_disk.host) == (owner.pid, owner.host):
            path.unlink(missing_ok=True)


def _create(path: Path, owner: LockOwner) -> bool:
    """Create the lock file holding ``owner``, whole or not at all; False when it already exists."""
    text = json.dumps(asdict(owner))
    temporary = path.with_name(f".{path.name}.{owner.pid}.tmp")
    temporary.write_text(text, encoding="utf-8")
    try:
        os.link(temporary, path)  # atomic, and fails when the lock exists: a reader never sees half a lock
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive create, then write
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _read(path: Path) -> LockOwner | None:
    """The owner a lock file names; None when it is missing, empty or not a lock."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return LockOwner(int(raw["pid"]), str(raw["host"]), str(raw.get("started", "?")),
                         None if raw.get("process_start") is None else int(raw["process_start"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(owner: LockOwner) -> bool:
    """Whether the process a lock names (on this host) still runs, and is the one that took the lock."""
    if sys.platform == "win32":
        return _alive_windows(owner.pid)
    try:
        os.kill(owner.pid, 0)  # signal 0: only asks whether the pid exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    started = _process_start(owner.pid)
    return owner.process_start is None or started is None or started == owner.process_start


def _process_start(pid: int) -> int | None:
    """Linux: field 22 of /proc/PID/stat, the start time in clock ticks since boot; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and brackets: count from the last ')'
        return int(text[text.rindex(")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def _alive_windows(pid: int) -> bool:
    """Windows: os.kill would terminate the process, so ask for its exit code instead."""
    import ctypes

    kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel.CloseHandle(handle)
