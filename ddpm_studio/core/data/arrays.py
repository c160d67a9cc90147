"""A user's file or folder read into a raw array, and image arrays brought to uint8 (N, C, H, W) pixels.

What :func:`~ddpm_studio.core.data.dataset.load_dataset` does before it splits and scales: pick the reader from the
path (a folder of images, an IDX file, a .npy / .npz / .csv array), view an image array as NCHW, bring its values
to the 8-bit grid the discrete decoder (MATH.md M16) assumes, and choose the side length it is resized to. Every
problem raises :class:`~ddpm_studio.core.data.errors.DataError` with one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .files import load_array_file, load_idx
from .images import load_image_folder

# User images keep their size when it is square, even (so a U-Net can halve it) and at most this ...
MAX_KEPT_IMAGE_SIZE = 64
# ... and are otherwise resized to this (also the default for a folder, whose images may all differ).
FALLBACK_IMAGE_SIZE = 32

_ARRAY_SUFFIXES = (".npy", ".npz", ".csv")
_SHAPE_EXPECTATION = "(N, 2) points or (N, H, W) / (N, H, W, C) / (N, C, H, W) images with C = 1 or 3"


def image_size_for(height: int, width: int, image_size: int | None) -> int:
    """The side length (height, width) images are resized to: ``image_size`` when given, else their own when
    square, even and at most MAX_KEPT_IMAGE_SIZE, else FALLBACK_IMAGE_SIZE."""
    if image_size is not None:
        return image_size
    keep = height == width and height <= MAX_KEPT_IMAGE_SIZE and height % 2 == 0
    return height if keep else FALLBACK_IMAGE_SIZE


def as_nchw(name: str, array: np.ndarray) -> np.ndarray:
    """View an image array as (N, C, H, W), C in {1, 3}, from (N, H, W), (N, H, W, C) or (N, C, H, W).

    A 4-D array whose axis 1 and axis 3 could both be channels (e.g. (N, 3, 5, 3)) is read as NCHW, PyTorch's
    layout.
    """
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        if array.shape[1] in (1, 3):
            return array
        if array.shape[3] in (1, 3):
            return array.transpose(0, 3, 1, 2)
    hint = " (a label file? pass the images file)" if array.ndim == 1 else ""
    raise DataError(f"{name}: expected shape {_SHAPE_EXPECTATION}, got {tuple(array.shape)}{hint}")


def to_pixels(name: str, images: np.ndarray) -> np.ndarray:
    """Bring image values to uint8 0..255, detecting the range from the values.

    uint8 / integers in 0..255 are pixels already. Floats are read as [0, 1] when all values lie there, else
    as [-1, 1] when they lie there, else as 0..255; then rounded to the 8-bit grid. (Floats meant as 0..255
    whose maximum is <= 1, i.e. a nearly black set, are therefore read as [0, 1].)
    """
    if images.dtype == np.uint8:
        return images
    if images.dtype == np.bool_:
        return images.astype(np.uint8) * 255
    low, high = float(images.min()), float(images.max())
    if images.dtype.kind in "iu":
        if low < 0 or high > 255:
            raise DataError(f"{name}: integer image values span [{low:g}, {high:g}]; expected 0..255")
        return images.astype(np.uint8)
    if low >= 0.0 and high <= 1.0:
        pixels = images.astype(np.float64) * 255.0
    elif low >= -1.0 and high <= 1.0:
        pixels = (images.astype(np.float64) + 1.0) * 127.5
    elif low >= 0.0 and high <= 255.0:
        pixels = images.astype(np.float64)
    else:
        raise DataError(
            f"{name}: image values span [{low:g}, {high:g}]; "
            "expected uint8 0..255 or floats in [0, 1], [-1, 1] or [0, 255]"
        )
    return np.rint(pixels).astype(np.uint8)


def is_idx(path: Path) -> bool:
    """MNIST-style names ('train-images-idx3-ubyte', 't10k-images.idx3-ubyte', '*.idx'), maybe with '.gz'."""
    base = path.name.lower().removesuffix(".gz")
    return "ubyte" in base or Path(base).suffix.startswith(".idx")


def read_path(path: Path, image_size: int | None) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Read a folder (uint8 NCHW images) or a file (its raw array); returns (array, skipped files)."""
    try:
        if path.is_dir():
            return load_image_folder(path, image_size or FALLBACK_IMAGE_SIZE)
        if is_idx(path):
            return load_idx(path), []
        if path.suffix.lower() not in _ARRAY_SUFFIXES:
            raise DataError(
                f"{path.name}: unsupported file type; expected a folder of images, a .npy, .npz or .csv "
                "file, or an IDX file (*-ubyte, optionally .gz)"
            )
        return load_array_file(path), []
    except DataError:
        raise
    except ValueError as exc:  # the readers' messages already name the file and fit on one line
        raise DataError(str(exc)) from exc
    except OSError as exc:  # e.g. permission denied, a file vanishing mid-read
        raise DataError(f"{path.name}: cannot read ({exc.strerror or exc})") from exc
