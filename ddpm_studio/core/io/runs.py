"""Run folders: ``config.json``, ``metrics.jsonl``, safetensors checkpoints and samples, all written atomically.

Layout of a run folder::

    config.json                      every setting plus the package version
    metrics.jsonl                    one JSON object per logged step
    checkpoints/step_00001000.safetensors
    samples/                         preview and final sample images

Checkpoints are safetensors files (tensors + string metadata): loading them never unpickles, so a file from
anywhere cannot run code. Every write goes to a temporary file in the same folder, is fsynced and then renamed
over the target, so a crash leaves either the old file or the new one, never a torn one. The file gets the
permissions a plain ``open(path, "w")`` would give it (0o666 less the umask, or the mode of the file it
replaces), not the private 0o600 of a temporary file, so a shared course folder can read what the studio writes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

CHECKPOINT_FORMAT = "ddpm-studio-checkpoint"
CHECKPOINT_VERSION = 1
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"
_CHECKPOINT_RE = re.compile(r"^step_(\d+)\.safetensors$")


class RunError(ValueError):
    """A run folder or checkpoint cannot be used; the message says why in one line."""


# ------------------------------------------------------------------ atomic writes
#: Mode bits a new file asks for before the umask, as ``open()`` does.
DEFAULT_FILE_MODE = 0o666
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc/self/status).

    Elsewhere it is read the only portable way, by setting it and putting it back, under a lock; another thread
    creating a file at that very instant could still see a 0o077 umask (a file more private, never less).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """What ``open(path, "w")`` would leave: an existing file keeps its mode, a new one gets 0o666 & ~umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return DEFAULT_FILE_MODE & ~current_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file + fsync + rename (never a torn file).

    The temporary file is created 0o600 (tempfile.mkstemp); it is given the mode a plain write would have
    given ``path`` before the rename, so the result is as readable as any other file the user creates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # POSIX; Windows has no mode bits to fix
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ metrics
def append_metrics(run_dir: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append one JSON line per record to ``metrics.jsonl`` and flush it to disk.

    A crash can at worst leave a torn last line, which :func:`read_metrics` skips.
    """
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    if not lines:
        return
    path = Path(run_dir) / METRICS_NAME
    with open(path, "a", encoding="utf-8") as handle:
        # a previous crash may have left a line without its newline: start on a fresh line
        if handle.tell() > 0 and not _ends_with_newline(path):
            handle.write("\n")
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete record of ``metrics.jsonl`` (torn or garbled lines are skipped); [] when absent."""
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def truncate_metrics(run_dir: str | os.PathLike[str], last_step: int) -> None:
    """Drop metric lines after ``last_step`` (written after the checkpoint a resume starts from)."""
    path = Path(run_dir) / METRICS_NAME
    if not path.is_file():
        return
    kept = [r for r in read_metrics(run_dir) if int(r.get("step", 0)) <= last_step]
    atomic_write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))


# ------------------------------------------------------------------ config
def write_config(run_dir: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    from ddpm_studio import __version__

    payload = {"package_version": __version__, **config}
    return atomic_write_text(Path(run_dir) / CONFIG_NAME, json.dumps(payload, indent=2) + "\n")


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw JSON of ``config.json``; :class:`RunError` when the folder is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_NAME
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a folder")
    if not path.is_file():
        raise RunError(f"{run_dir} is not a DDPM Studio run folder (it has no {CONFIG_NAME})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RunError(f"{path} does not hold a JSON object")
    return raw


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> Path:
    """Write tensors + JSON metadata as one safetensors file, atomically.

    Args:
        tensors: name -> tensor (moved to CPU and made contiguous here).
        metadata: JSON-serialisable; stored under the "ddpm_studio" metadata key next to the format tag.
    """
    cpu = {k: _own_storage(v.detach().to("cpu").contiguous()) for k, v in tensors.items()}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_VERSION),
        "ddpm_studio": json.dumps(metadata, separators=(",", ":")),
    }
    return atomic_write_bytes(path, st_save(cpu, metadata=meta))


def _own_storage(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``, copied when it is a view into a larger buffer (a network trained through one flat parameter
    tensor): safetensors refuses tensors that share memory."""
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        return tensor.clone()
    return tensor


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; never unpickles anything.

    Raises:
        RunError: the file is missing, is not a safetensors file (a pickle ``.pt`` is refused here), or was not
            written by DDPM Studio, or is from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    if _looks_like_pickle(data):
        raise RunError(
            f"{path.name} is a pickle / torch.save file; DDPM Studio only loads .safetensors checkpoints, "
            "because unpickling can run code from the file"
        )
    try:
        tensors = st_load(data)
        meta = _safetensors_metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path.name} is damaged or truncated: not a readable safetensors file ({exc})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path.name} is a safetensors file but not a DDPM Studio checkpoint")
    try:
        version = int(meta.get("format_version", "0"))
        metadata = json.loads(meta["ddpm_studio"])
    except (KeyError, ValueError) as exc:
        raise RunError(f"{path.name} has damaged metadata ({exc})") from None
    if version > CHECKPOINT_VERSION:
        raise RunError(
            f"{path.name} uses checkpoint format {version}; this DDPM Studio reads up to {CHECKPOINT_VERSION}"
        )
    return tensors, metadata


def _looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2+ starts with 0x80; torch.save archives are zip files ("PK").

    A safetensors file starts with its header's length (8 bytes, little-endian), whose low byte is 0x80 for one
    header length in 256, then the JSON header's "{": such a file is not a pickle.
    """
    if len(data) > 8 and data[8:9] == b"{" and int.from_bytes(data[:8], "little") <= len(data) - 8:
        return False
    return data[:1] == b"\x80" or data[:2] == b"PK"


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header (8-byte little-endian length, then JSON)."""
    if len(data) < 8:
        raise ValueError("file too short")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError("header length exceeds the file")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not an object")
    return {str(k): str(v) for k, v in meta.items()}


def checkpoint_path(run_dir: str | os.PathLike[str], step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.safetensors"


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint, oldest first (temporary files are ignored)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _CHECKPOINT_RE.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_loadable_checkpoint(
    run_dir: str | os.PathLike[str],
) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest checkpoint that loads, skipping damaged ones (e.g. a disk that filled mid-write)."""
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            tensors, meta = load_checkpoint(path)
        except RunError:
            continue
        return path, tensors, meta
    return None


def load_latest_checkpoint(run_dir: str | os.PathLike[str]) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The newest checkpoint that loads, or a :class:`RunError` that tells "none yet" from "all damaged".

    A run folder whose checkpoints all fail to load (a truncated copy, a disk that filled) is not a run that was
    never trained: the message names the newest file and why it cannot be read.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise RunError(f"{run_dir} holds no checkpoint yet (train it first)")
    reasons = []
    for _, path in reversed(checkpoints):
        try:
            tensors, meta = load_checkpoint(path)
        except RunError as exc:
            reasons.append(str(exc))
            continue
        return path, tensors, meta
    older = f"; the {len(reasons) - 1} older one(s) cannot be read either" if len(reasons) > 1 else ""
    raise RunError(f"{run_dir} holds no loadable checkpoint: {CHECKPOINT_DIR}/{reasons[0]}{older}")


def prune_checkpoints(run_dir: str | os.PathLike[str], keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, and stale temporary files from crashed saves."""
    checkpoints = list_checkpoints(run_dir)
    for _, path in checkpoints[: max(0, len(checkpoints) - keep)]:
        path.unlink(missing_ok=True)
    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        for entry in folder.glob(".*.tmp"):
            entry.unlink(missing_ok=True)
