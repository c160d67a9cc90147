"""Read CIFAR-10's binary version (``cifar-10-binary.tar.gz``) straight from the archive, never unpickling.

The archive holds ``cifar-10-batches-bin/`` with ``data_batch_1.bin`` .. ``data_batch_5.bin`` (the training split,
10,000 images each), ``test_batch.bin`` and ``batches.meta.txt`` (the class names, one a line). Each record of a
batch is 3,073 bytes: the label (0..9), then 1,024 red, 1,024 green and 1,024 blue values of a 32x32 image in
row-major order (Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images", and the data set's page).

Members are read by name into memory; nothing is extracted to disk, so a member path cannot escape a folder.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

SIDE = 32
RECORD_BYTES = 1 + 3 * SIDE * SIDE
TRAIN_BATCHES = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
TEST_BATCHES = ("test_batch.bin",)
META = "batches.meta.txt"


def read_cifar_binary(path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """The splits and class names of a CIFAR-10 binary archive.

    Returns:
        ({"train": (pixels, labels), "test": (pixels, labels)}, class names), pixels uint8 (N, 3, 32, 32) and
        labels int64 (N,) in 0..K-1, K the number of class names.

    Raises:
        ValueError: not a gzipped tar, a batch missing, a batch whose length is not whole records, or a label
            without a class name; the message starts with the archive's name.
    """
    members = _read_members(path, (*TRAIN_BATCHES, *TEST_BATCHES, META))
    names = tuple(line.strip() for line in members[META].decode("utf-8", "replace").splitlines() if line.strip())
    splits = {}
    for split, batches in (("train", TRAIN_BATCHES), ("test", TEST_BATCHES)):
        pixels, labels = zip(*(_parse_batch(path.name, batch, members[batch]) for batch in batches))
        splits[split] = (np.concatenate(pixels), np.concatenate(labels))
        top = int(splits[split][1].max(initial=0))
        if top >= len(names):
            raise ValueError(f"{path.name}: a label is {top} but {META} names {len(names)} classes")
    return splits, names


def _read_members(path: Path, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of the members whose file names are ``wanted`` (wherever in the archive they sit)."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted and name not in found:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path.name}: not a readable .tar.gz archive ({' '.join(str(exc).split())})") from None
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(f"{path.name}: the archive lacks {', '.join(missing)}; expected CIFAR-10's binary version")
    return found


def _parse_batch(archive: str, batch: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One batch's (pixels uint8 (N, 3, 32, 32), labels int64 (N,)) from its records."""
    if not raw or len(raw) % RECORD_BYTES:
        raise ValueError(f"{archive}: {batch} holds {len(raw)} bytes, not a whole number of {RECORD_BYTES}-byte "
                         "records")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    pixels = records[:, 1:].reshape(-1, 3, SIDE, SIDE).copy()
    return pixels, records[:, 0].astype(np.int64)
