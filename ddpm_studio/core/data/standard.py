"""The standard image sets by name (``mnist``, ``fashion-mnist``, ``cifar10``): fetched on first use into the cache,
checked against pinned SHA-256 checksums, read from their official formats, split as their publishers split them.

    splits, class_names = read_standard("mnist")   # {"train": (pixels, labels), "test": (pixels, labels)}

:func:`~ddpm_studio.core.data.dataset.load_dataset` trains on the official training split and holds out the
official test split (not a seeded draw from one pool, as for the other sources), so a score on it is comparable
with the literature's; ``DataSet.split_names`` says so. Labels come with every set, for class-conditional
training (MATH.md M34).

Every failure is a :class:`~ddpm_studio.core.data.errors.DataError` of one line naming the set, what failed and what
to do: set ``$DDPM_STUDIO_DATA_MIRROR``, or place the official files in the cache folder it names.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import remote as registry  # by module: CHECKSUMS is read at each use, so a test can replace the table
from .cache import CACHE_ENV, dataset_folder
from .cifar import read_cifar_binary
from .download import ChecksumMismatch, TransferFailed, fetch, partial_path, sha256_of
from .errors import DataError
from .files import load_idx
from .remote import MIRROR_ENV, REMOTE_SETS, RemoteSet, file_url

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"


def ensure_files(name: str) -> dict[str, Path]:
    """The verified official files of the set ``name`` in its cache folder, downloading the missing ones.

    Concurrent callers (the ranks of a torchrun job, two terminals) take turns on a lock file in the folder, so a
    file is downloaded once. A cached file is checked against its pinned SHA-256 on every use (0.6 s for
    CIFAR-10's 170 MB on a 2-core CPU), so a file placed by hand, or damaged on disk, is caught too.

    Raises:
        DataError: a download failed (what arrived stays as ``NAME.part``, continued next time) or a file does not
            match its checksum (the file is deleted).
    """
    remote = REMOTE_SETS[name]
    folder = dataset_folder(name)
    paths = {file: folder / file for file in remote.files}
    missing = [file for file, path in paths.items() if not path.is_file()]
    fresh: set[str] = set()
    if missing:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{name}: cannot create the cache folder {folder} ({exc.strerror or exc}); set "
                            f"{CACHE_ENV} to a folder you can write") from None
        with _folder_lock(folder / LOCK_NAME):
            for file in missing:
                if paths[file].is_file():  # another process fetched it while this one waited for the lock
                    continue
                _download(remote, file, paths[file])
                fresh.add(file)
    for file, path in paths.items():
        if file not in fresh:
            _verify_cached(remote, file, path)
    return paths


def cache_status(name: str) -> str:
    """"cached", "partly cached (k of n files)" or "not cached", from the files present (sizes, not checksums)."""
    remote = REMOTE_SETS[name]
    folder = dataset_folder(name)
    present = sum(
        1 for file in remote.files
        if (folder / file).is_file() and (folder / file).stat().st_size == registry.CHECKSUMS[name][file].size
    )
    if present == len(remote.files):
        return "cached"
    if present or any(partial_path(folder / file).is_file() for file in remote.files):
        return f"partly cached ({present} of {len(remote.files)} files)"
    return "not cached"


def read_standard(name: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """The official splits of the standard set ``name``, fetched first where needed.

    Returns:
        ({"train": (pixels, labels), "test": (pixels, labels)}, class names): pixels uint8 (N, C, H, W) as
        published, (1, 28, 28) for MNIST and Fashion-MNIST and (3, 32, 32) for CIFAR-10; labels int64 (N,) in
        0..K-1, K the number of class names. :func:`~ddpm_studio.core.data.dataset.load_dataset` turns them into
        a DataSet (train on "train", hold "test" out).

    Raises:
        DataError: see :func:`ensure_files`; or a file that passed its checksum but cannot be parsed (only a
            test's fixture or a changed checksum table can do that).
    """
    remote = REMOTE_SETS[name]
    paths = ensure_files(name)
    try:
        return _read(remote, paths)
    except ValueError as exc:
        raise DataError(f"{name}: {exc}") from None


# ------------------------------------------------------------------ reading
def _read(remote: RemoteSet, paths: dict[str, Path]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple]:
    """{"train": (pixels uint8 (N, C, H, W), labels int64 (N,)), "test": ...} and the class names."""
    if remote.layout == "cifar-binary":
        splits, names = read_cifar_binary(paths[remote.files[0]])
        return splits, names or remote.class_names
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = load_idx(paths[f"{prefix}-images-idx3-ubyte.gz"])
        labels = load_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"]).astype(np.int64)
        if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != (images.shape[0],):
            raise ValueError(f"the {split} files hold images {images.shape} {images.dtype} and labels {labels.shape}; "
                             "expected (N, H, W) bytes and N labels")
        if labels.size and not 0 <= int(labels.min()) <= int(labels.max()) < len(remote.class_names):
            raise ValueError(f"a {split} label lies outside 0..{len(remote.class_names) - 1}")
        splits[split] = (images[:, None], labels)
    return splits, remote.class_names


# ------------------------------------------------------------------ fetching
def _download(remote: RemoteSet, file: str, target: Path) -> None:
    """Fetch one official file, or raise the one-line DataError that says what to do instead."""
    url = file_url(remote, file)
    pinned = registry.CHECKSUMS[remote.name][file]
    logger.warning("%s: downloading %s (%.1f MB) from %s into %s", remote.name, file, pinned.size / 1e6, url,
                   target.parent)
    try:
        fetch(url, target, pinned)
    except TransferFailed as exc:
        kept = partial_path(target)
        resume = f" ({kept.name} is kept and continued next time)" if kept.is_file() else ""
        raise DataError(f"{remote.name}: downloading {file} from {url} failed: {exc}{resume}. {_fix(remote)}") from None
    except ChecksumMismatch as exc:
        pinned = registry.CHECKSUMS[remote.name][file]
        raise DataError(
            f"{remote.name}: {file} from {url} is not the published file ({exc}; expected SHA-256 "
            f"{pinned.sha256[:12]}..., {pinned.size} bytes), so it was deleted; run again to download it afresh, "
            f"or {_fix(remote, lower=True)}"
        ) from None


def _verify_cached(remote: RemoteSet, file: str, path: Path) -> None:
    """Refuse (and delete) a cached file that is not the pinned one."""
    pinned = registry.CHECKSUMS[remote.name][file]
    size = path.stat().st_size
    actual = sha256_of(path) if size == pinned.size else None
    if actual == pinned.sha256:
        return
    path.unlink(missing_ok=True)
    found = f"SHA-256 {actual[:12]}..." if actual else f"{size} bytes, not {pinned.size}"
    raise DataError(f"{remote.name}: the cached {path} is not the published file ({found}), so it was deleted; run "
                    f"again to download it afresh, or {_fix(remote, lower=True)}")


def _fix(remote: RemoteSet, lower: bool = False) -> str:
    """What a user without the download can do: a mirror, or the files placed by hand."""
    text = (f"Set {MIRROR_ENV} to a mirror (a base URL, or file:///folder, holding {remote.name}/FILE), or place "
            f"{', '.join(remote.files)} (from {remote.site}) in {dataset_folder(remote.name)}")
    return text[0].lower() + text[1:] if lower else text


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) while downloading; other processes wait their turn.

    The lock is the kernel's (released when its holder dies, so it is never stale); the file itself stays.
    """
    with open(path, "a+b") as handle:
        _lock(handle.fileno())
        try:
            yield
        finally:
            _unlock(handle.fileno())


if os.name == "nt":
    import msvcrt

    def _lock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)

    def _unlock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)

    def _unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
