"""A run's own copy of its 2-D points file, and the .npy file a drawing is saved as.

A run trained on a user's file names that file in ``config.json``; moved or deleted, the run could be sampled
but not continued. A points file is small (a drawing of 5,000 points is 80 kB), so the run folder keeps a copy
in ``data/`` beside its checkpoints; ``config.json`` still names the original (a resume compares the data spec,
and the original is what the user chose), and the copy stands in when the original is gone. Image folders are
not copied: they can be gigabytes.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import BUILTIN_DATASETS, DataSet, load_dataset
from ddpm_studio.core.io.runs import atomic_write_bytes

RUN_DATA_DIR = "data"
#: Larger files are not copied (a points file that large is an export, not a drawing or a course's data set).
MAX_KEPT_BYTES = 16 * 2**20
_POINT_FILE_SUFFIXES = (".npy", ".npz", ".csv")


def save_points(path: str | os.PathLike[str], points: np.ndarray) -> Path:
    """Write float64 (N, 2) ``points`` as a plain .npy file (atomically; never pickled)."""
    values = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 2)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return atomic_write_bytes(Path(path), buffer.getvalue())


def kept_copy_path(run_dir: str | os.PathLike[str], spec: str) -> Path:
    """Where the run folder keeps its copy of the data file ``spec``."""
    return Path(run_dir) / RUN_DATA_DIR / Path(spec).name


def keep_data_copy(run_dir: str | os.PathLike[str], spec: str) -> Path | None:
    """Copy the points file ``spec`` into ``run_dir/data/`` (once); the copy's path, or None when nothing is kept
    (a built-in data set, a folder, a file too large or of another kind, or one already inside the run)."""
    if spec in BUILTIN_DATASETS:
        return None
    source = Path(spec).expanduser()
    if source.suffix.lower() not in _POINT_FILE_SUFFIXES or not source.is_file():
        return None
    if source.stat().st_size > MAX_KEPT_BYTES:
        return None
    target = kept_copy_path(run_dir, spec)
    if target.exists() and target.resolve() == source.resolve():
        return target
    if target.is_file() and target.stat().st_size == source.stat().st_size and \
            target.read_bytes() == source.read_bytes():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)  # a crash leaves the old copy or the new one, never half of one
    return target


def stand_in_data(run_dir: str | os.PathLike[str], spec: str) -> Path | None:
    """The run's copy of ``spec`` when the original cannot be found any more; None when the original is there
    (or is a built-in name) or the run kept no copy."""
    if spec in BUILTIN_DATASETS or Path(spec).expanduser().exists():
        return None
    copy = kept_copy_path(run_dir, spec)
    return copy if copy.is_file() else None


def load_stand_in(run_dir: str | os.PathLike[str], config: RunConfig) -> DataSet | None:
    """The run's data loaded from its kept copy when the original file is gone (as the trainer would load the
    original: same seed, split and subset); None when the trainer can load the original itself."""
    copy = stand_in_data(run_dir, config.data.dataset)
    if copy is None:
        return None
    return load_dataset(copy, image_size=config.data.image_size, num_points=config.data.num_points,
                        num_images=config.data.num_images, seed=config.train.seed, subset=config.data.subset)
