"""Class labels of a user's data, for class-conditional training (MATH.md M34).

- an image folder whose images sit in sub-folders: the first sub-folder under the root is the class
  (``pets/cat/1.png`` and ``pets/dog/7.png``: two classes, in sorted name order), as torchvision's ImageFolder;
- an MNIST images file next to its labels file (``train-images-idx3-ubyte`` beside ``train-labels-idx1-ubyte``,
  ``t10k-images.idx3-ubyte`` beside ``t10k-labels.idx1-ubyte``, gzipped or not);
- an ``.npz`` with a ``labels`` array, one integer (or class name) per item, and optionally a ``class_names``
  array of strings, the name of each integer label value (``class_names[3]`` names label 3).

Labels are remapped to 0..K-1 in sorted order of their values (names), and the names are kept, so a folder's
``cat`` and ``dog`` become 0 and 1 and MNIST's digits stay 0..9. A source without labels gives None.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .files import load_idx
from .images import image_files

#: The .npz member that holds the labels, and the optional one that names integer label values.
NPZ_LABELS_KEY = "labels"
NPZ_NAMES_KEY = "class_names"


class LabelError(ValueError):
    """Labels that do not fit their items (count, type or sign); the message is one line."""


def encode(values: np.ndarray | list, name: str, count: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """(int64 labels 0..K-1, class names) from ``count`` raw values (integers or strings), in sorted value order."""
    raw = np.asarray(values)
    if raw.ndim != 1 or raw.shape[0] != count:
        raise LabelError(f"{name}: {raw.shape[0] if raw.ndim == 1 else raw.shape} labels for {count} items; "
                         "expected one label per item")
    if raw.dtype.kind not in "iuU":
        raise LabelError(f"{name}: labels must be integers (or class names), got dtype {raw.dtype}")
    if raw.dtype.kind in "iu" and raw.size and int(raw.min()) < 0:
        raise LabelError(f"{name}: labels must be >= 0, got {int(raw.min())}")
    names, codes = np.unique(raw, return_inverse=True)
    return codes.astype(np.int64), tuple(str(v) for v in names)


def folder_labels(folder: str | os.PathLike[str], skipped: list[tuple[str, str]]) -> tuple[np.ndarray, tuple] | None:
    """Labels of the images :func:`~ddpm_studio.core.data.images.load_image_folder` loaded from ``folder`` (its
    files in the same order, less the ``skipped`` ones): the first sub-folder of each. None unless every image sits
    in a sub-folder and there are at least two."""
    root = Path(folder)
    dropped = {path for path, _ in skipped}
    classes = [path.relative_to(root).parts for path in image_files(root) if str(path) not in dropped]
    if not classes or any(len(parts) < 2 for parts in classes) or len({parts[0] for parts in classes}) < 2:
        return None
    return encode([parts[0] for parts in classes], root.name, len(classes))


def idx_labels_path(images_path: Path) -> Path | None:
    """The labels file beside an MNIST images file (``images`` -> ``labels``, ``idx3`` -> ``idx1``), if it exists."""
    name = images_path.name
    if "images" not in name:
        return None
    candidate = images_path.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
    return candidate if candidate.is_file() else None


def _named(given: np.ndarray, values: tuple[str, ...], name: str) -> tuple[str, ...]:
    """The names of integer label ``values`` (as :func:`encode` gives them) read from an .npz's ``class_names``."""
    if given.ndim != 1 or given.dtype.kind != "U" or not all(value.isdigit() for value in values):
        raise LabelError(f"{name}: '{NPZ_NAMES_KEY}' must be a 1-D array of strings naming integer labels")
    if values and int(values[-1]) >= len(given):
        raise LabelError(f"{name}: '{NPZ_NAMES_KEY}' names {len(given)} classes but a label is {values[-1]}")
    return tuple(str(given[int(value)]) for value in values)


def file_labels(path: Path, count: int, idx: bool) -> tuple[np.ndarray, tuple] | None:
    """Labels of an IDX images file (``idx``: from its labels file) or of an ``.npz`` (its ``labels`` array);
    else None."""
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if NPZ_LABELS_KEY not in archive.files:
                return None
            values = archive[NPZ_LABELS_KEY]
            given = archive[NPZ_NAMES_KEY] if NPZ_NAMES_KEY in archive.files else None
        codes, names = encode(values, path.name, count)
        return codes, names if given is None else _named(given, names, path.name)
    labels_path = idx_labels_path(path) if idx else None
    if labels_path is None:
        return None
    return encode(load_idx(labels_path), labels_path.name, count)
