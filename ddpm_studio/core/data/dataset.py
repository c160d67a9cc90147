"""Turn a data-set spec (a built-in name or a path) into model-space tensors with a seeded held-out split.

Model space (what a diffusion model trains on):
- points, (N, 2): standardised per dimension with the training split's mean and standard deviation, so the
  unit-variance prior p(x_T) = N(0, I) (MATH.md M5) is the right scale for every toy and every user file;
- images, (N, C, H, W): x = 2 * pixel / 255 - 1 in [-1, 1] (MATH.md), with every source first brought to 8-bit
  pixels, so the values lie on the grid that the discrete decoder (M16) assumes.

Every problem with the user's input raises :class:`DataError` with one line that says what was wrong and what
is expected; a GUI can show ``str(error)`` as it is.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.core.catalog import BUILTIN_DATASETS, REMOTE_DATASETS

from .arrays import as_nchw, image_size_for, is_idx, to_pixels
from .arrays import read_path as _read_path  # by this name: tests wrap it to count the reads of a file
from .errors import DataError
from .images import load_digits, make_shapes, resize_images
from .labels import LabelError, file_labels, folder_labels
from .mixtures import MIXTURE_DATASETS, make_mixture
from .standard import read_standard
from .toys import TOY_CLASS_NAMES, TOY_DATASETS, TOY_NUM_CLASSES, make_labelled_toy

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "moons"

# Built-in image sets default to 16 x 16: big enough to read a digit or tell a triangle from a square, small
# enough that a U-Net trains in minutes on a laptop CPU.
DIGITS_DEFAULT_SIZE = 16
SHAPES_DEFAULT_SIZE = 16

# A second entropy word keeps the split's random stream apart from the generators' default_rng(seed).
_SPLIT_STREAM = 0x5E1D
# ... and a third keeps the training subset's draw apart from both.
_SUBSET_STREAM = 0x5B5E7


#: How far the points' x0 box (M23) reaches beyond the training data, as a share of its width on each side.
X0_BOX_MARGIN = 0.1


@dataclass
class DataSet:
    """A data set in model space, split into training and held-out parts.

    Shapes: points give ``train`` (N_train, 2), ``heldout`` (N_heldout, 2), ``shift`` and ``scale`` (2,);
    images give ``train`` (N_train, C, H, W) and ``heldout`` (N_heldout, C, H, W) in [-1, 1], with ``shift`` =
    0 and ``scale`` = 1 of shape (1,), unused.
    """

    name: str  # the built-in name, or the file / folder name
    kind: str  # "points" or "images"
    train: torch.Tensor  # float32, model space
    heldout: torch.Tensor  # float32, model space; never trained on (for likelihoods and sample metrics)
    shift: torch.Tensor  # points: model = (data - shift) / scale
    scale: torch.Tensor
    # (file, reason) for every unreadable image of a folder
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # int64 (N_train,), the class of each training item (digits, labelled toys, ...); None: unlabelled
    labels: torch.Tensor | None = None
    num_classes: int | None = None  # K when labelled (classes 0..K-1), else None
    # the name of each class (a folder's sub-folders, an .npz's label values, moons' "upper moon"), when known
    class_names: tuple[str, ...] | None = None
    # the items whose range x0_range() spans: a subset keeps its whole training split's box; None: ``train``
    range_items: torch.Tensor | None = None
    # the publisher's names of (train, heldout) for a standard set, ("train", "test"); None: a seeded draw
    split_names: tuple[str, str] | None = None

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one item: (2,) for points, (C, H, W) for images."""
        return tuple(self.train.shape[1:])

    @property
    def num_dims(self) -> int:
        """D, the number of values in one item (the divisor of bits/dim, MATH.md M17)."""
        return math.prod(self.data_shape)

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        """Map model-space values (..., *data_shape) back to data coordinates.

        Points: x * scale + shift (the inverse of the standardisation). Images: x clamped to [-1, 1], the
        valid pixel range, since a sampler can overshoot it slightly.
        """
        if self.kind == "points":
            return x * self.scale.to(x) + self.shift.to(x)
        return x.clamp(-1.0, 1.0)

    def to_uint8_images(self, x: torch.Tensor) -> np.ndarray:
        """Model-space images (N, C, H, W) to displayable uint8 pixels (N, H, W, C): round((x + 1) * 127.5).

        Values outside [-1, 1] are clipped first, so overshooting samples saturate instead of wrapping around.
        """
        if self.kind != "images":
            raise ValueError(f"{self.name} holds points, not images; to_uint8_images needs an image data set")
        pixels = ((x.detach().to("cpu", torch.float32).clamp(-1.0, 1.0) + 1.0) * 127.5).round()
        return pixels.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    def x0_range(self, margin: float = X0_BOX_MARGIN) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The box x0_hat is clipped to (M23) for points: the training data's per-coordinate range in model space,
        widened by ``margin`` times its width on each side, shapes (D,) and (D,). None for images ([-1, 1]).

        The margin leaves room for the tails of the distribution the training sample came from.
        """
        if self.kind != "points":
            return None
        items = self.train if self.range_items is None else self.range_items
        low = items.amin(dim=0)
        high = items.amax(dim=0)
        pad = margin * (high - low)
        return (low - pad).float(), (high + pad).float()

    @property
    def log_scale_per_dim(self) -> float:
        """Mean of log(scale) over dimensions: the log-Jacobian of the standardisation, per dimension.

        Since model = (data - shift) / scale, log p_data(y) = log p_model(x) - sum(log scale), so a negative
        log-likelihood in nats/dim converts as: nats/dim in data coordinates = nats/dim in model space + this.
        It is 0 for images (scale 1: their bits/dim are computed on the pixel grid directly).
        """
        return float(torch.log(self.scale.double()).mean())


def take_subset(dataset: DataSet, size: int, seed: int) -> DataSet:
    """The same data set with only ``size`` of its training items, drawn with ``seed``; held-out part unchanged.

    The items are the first ``size`` of one seeded permutation of the training split, so for one seed the subsets
    nest (the 10 items are among the 100): a teacher who trains on 10, 100 and all sees the data grow, not change.
    Points keep the standardisation and the x0 box (M23) of the whole training split, so every subset run lives
    in the same model space (and one training point still has a scale and a box). Labels follow their items.

    Raises:
        DataError: ``size`` is not an integer in 1..N_train.
    """
    num_train = int(dataset.train.shape[0])
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= num_train:
        raise DataError(
            f"{dataset.name}: a training subset of {size!r} items was asked for, but the training split holds "
            f"{num_train}; choose 1..{num_train}"
        )
    order = np.random.default_rng([seed, _SUBSET_STREAM]).permutation(num_train)
    keep = torch.from_numpy(np.sort(order[: int(size)]))
    return replace(
        dataset,
        train=dataset.train[keep].contiguous(),
        labels=None if dataset.labels is None else dataset.labels[keep].contiguous(),
        range_items=dataset.train if dataset.range_items is None else dataset.range_items,
    )


def _split_indices(n: int, heldout_fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation cut into (train, heldout) indices; the held-out part has at least one item."""
    if n < 2:
        raise DataError(f"{name}: holds {n} item{'s' if n != 1 else ''}; need at least 2 to hold one out")
    num_heldout = min(max(1, round(n * heldout_fraction)), n - 1)
    order = np.random.default_rng([seed, _SPLIT_STREAM]).permutation(n)
    return np.sort(order[num_heldout:]), np.sort(order[:num_heldout])


def _points_dataset(
    name: str, points: np.ndarray, seed: int, heldout_fraction: float, labels: np.ndarray | None = None,
    num_classes: int | None = None,
) -> DataSet:
    """Standardise (N, 2) points with the training split's statistics (float64, so the shift is exact)."""
    train_idx, heldout_idx = _split_indices(len(points), heldout_fraction, seed, name)
    values = points.astype(np.float64)
    shift = values[train_idx].mean(axis=0)
    scale = values[train_idx].std(axis=0)
    flat = np.flatnonzero(scale <= 1e-12 * np.maximum(1.0, np.abs(shift)))
    if flat.size:
        raise DataError(
            f"{name}: coordinate {flat[0]} of the training points is constant; cannot standardise it"
        )
    model = (values - shift) / scale
    return DataSet(
        name=name,
        kind="points",
        train=torch.from_numpy(model[train_idx].astype(np.float32)),
        heldout=torch.from_numpy(model[heldout_idx].astype(np.float32)),
        shift=torch.from_numpy(shift.astype(np.float32)),
        scale=torch.from_numpy(scale.astype(np.float32)),
        labels=None if labels is None else torch.from_numpy(labels[train_idx].astype(np.int64)),
        num_classes=None if labels is None else num_classes,
    )


def _images_dataset(
    name: str,
    pixels: np.ndarray,
    seed: int,
    heldout_fraction: float,
    labels: np.ndarray | None = None,
    skipped: list[tuple[str, str]] | None = None,
    num_classes: int | None = None,
) -> DataSet:
    """uint8 (N, C, H, W) pixels to [-1, 1] tensors, x = 2 * pixel / 255 - 1 (MATH.md)."""
    train_idx, heldout_idx = _split_indices(len(pixels), heldout_fraction, seed, name)
    model = torch.from_numpy(pixels).float() * (2.0 / 255.0) - 1.0
    return DataSet(
        name=name,
        kind="images",
        train=model[torch.from_numpy(train_idx)].contiguous(),
        heldout=model[torch.from_numpy(heldout_idx)].contiguous(),
        shift=torch.zeros(1),
        scale=torch.ones(1),
        skipped=list(skipped or []),
        labels=None if labels is None else torch.from_numpy(labels[train_idx].astype(np.int64)),
        num_classes=None if labels is None else num_classes or int(labels.max()) + 1,
    )


def _standard_dataset(name: str, image_size: int | None) -> DataSet:
    """A standard set (:mod:`.standard`) in model space: the official training split to train on, the official
    test split held out, both resized to ``image_size`` (None keeps 28 x 28 and 32 x 32), with their labels."""
    splits, class_names = read_standard(name)
    (train_pixels, train_labels), (test_pixels, _) = splits["train"], splits["test"]
    size = image_size_for(train_pixels.shape[2], train_pixels.shape[3], image_size)

    def model_space(pixels: np.ndarray) -> torch.Tensor:  # x = 2 * pixel / 255 - 1 (MATH.md)
        return torch.from_numpy(resize_images(pixels, size)).float() * (2.0 / 255.0) - 1.0

    return DataSet(
        name=name, kind="images", train=model_space(train_pixels).contiguous(),
        heldout=model_space(test_pixels).contiguous(), shift=torch.zeros(1), scale=torch.ones(1),
        labels=torch.from_numpy(train_labels), num_classes=len(class_names), class_names=class_names,
        split_names=("train", "test"),
    )


def _dataset_from_array(
    name: str, array: np.ndarray, image_size: int | None, seed: int, heldout_fraction: float,
    labels: np.ndarray | None = None,
) -> DataSet:
    """Validate a raw array from a file and build points or images from it."""
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name}: expected numbers, got dtype {array.dtype}")
    if array.ndim == 0 or array.size == 0:
        raise DataError(f"{name} holds no data (shape {tuple(array.shape)})")
    if array.dtype.kind == "f":
        num_bad = int(np.count_nonzero(~np.isfinite(array)))
        if num_bad:
            raise DataError(f"{name} contains {num_bad} NaN/inf values")
    classes = None if labels is None else int(labels.max()) + 1
    if array.ndim == 2 and array.shape[1] == 2:
        return _points_dataset(name, array, seed, heldout_fraction, labels, classes)
    images = as_nchw(name, array)
    pixels = to_pixels(name, images)
    size = image_size_for(pixels.shape[2], pixels.shape[3], image_size)
    return _images_dataset(name, resize_images(np.ascontiguousarray(pixels), size), seed, heldout_fraction,
                           labels=labels, num_classes=classes)


def load_dataset(
    spec: str | os.PathLike[str],
    image_size: int | None = None,
    num_points: int = 8192,
    num_images: int = 2048,
    seed: int = 0,
    heldout_fraction: float = 0.1,
    subset: int | None = None,
) -> DataSet:
    """Load a built-in data set or a file / folder into model space, with a seeded train / held-out split.

    Args:
        spec: a toy name (:data:`~ddpm_studio.core.data.toys.TOY_DATASETS`), "digits" (1797 UCI digits,
            default 16 x 16, grey), "shapes" (procedural shapes, default 16 x 16, RGB), a standard set fetched on
            first use ("mnist", "fashion-mnist", "cifar10": :mod:`.standard`, official train / test split), or a
            path to
            - a folder of PNG/JPEG/BMP/GIF/WebP images (recursive; unreadable files are skipped and listed in
              ``DataSet.skipped``; default size 32),
            - a .npy / .npz array: (N, 2) gives points; (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or
              3 gives images, as uint8 or as floats in [0, 1], [-1, 1] or [0, 255] (detected from the values),
            - a .csv of (x, y) points (an optional header line is skipped),
            - an IDX file (MNIST's '*-ubyte', optionally gzipped).
        image_size: side length of image sets. None keeps a file's size when it is square, even and at most
            64, and resizes anything else to 32 (short side to size, then centre crop). Ignored for points.
        num_points: total number of toy points (train + held-out). File points are used as they are.
        num_images: total number of "shapes" images. Other image sources are used in full.
        seed: seeds the toy / shapes generators and the split; the same arguments always give the same
            DataSet.
        heldout_fraction: share of items held out, in (0, 1); at least one item is held out and one kept.
        subset: keep only this many training items (seeded by ``seed``, after the split, so the held-out part is
            the same as without it; :func:`take_subset`); None keeps them all.

    Returns:
        A :class:`DataSet` (points standardised with the training split's mean and std; images in [-1, 1]).

    Raises:
        DataError: unknown name or missing path, unreadable or empty data, NaN/inf values, an unsupported
            shape, dtype or value range, or fewer than 2 items; a subset outside 1..N_train.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise DataError(f"held-out fraction must lie strictly between 0 and 1, got {heldout_fraction}")
    if image_size is not None and (not isinstance(image_size, (int, np.integer)) or image_size < 2):
        raise DataError(f"image size must be an integer >= 2, got {image_size!r}")
    spec_text = os.fspath(spec)

    if spec_text in TOY_DATASETS:
        points, labels = make_labelled_toy(spec_text, max(num_points, 0), seed)
        dataset = _points_dataset(
            spec_text, points, seed, heldout_fraction, labels, TOY_NUM_CLASSES.get(spec_text)
        )
        dataset.class_names = TOY_CLASS_NAMES.get(spec_text)
    elif spec_text in MIXTURE_DATASETS:
        points = make_mixture(spec_text, max(num_points, 0), seed)
        dataset = _points_dataset(spec_text, points, seed, heldout_fraction)
    elif spec_text == "digits":
        pixels, labels = load_digits(image_size or DIGITS_DEFAULT_SIZE)
        dataset = _images_dataset(spec_text, pixels, seed, heldout_fraction, labels=labels, num_classes=10)
        dataset.class_names = tuple(str(digit) for digit in range(10))
    elif spec_text == "shapes":
        pixels = make_shapes(max(num_images, 0), image_size or SHAPES_DEFAULT_SIZE, seed)
        dataset = _images_dataset(spec_text, pixels, seed, heldout_fraction)
    elif spec_text in REMOTE_DATASETS:
        dataset = _standard_dataset(spec_text, image_size)  # split as published: heldout_fraction does not apply
    else:
        path = Path(spec_text).expanduser()
        if not path.exists():
            raise DataError(
                f"{spec_text}: no such file or folder, and not a built-in data set "
                f"({', '.join(BUILTIN_DATASETS)})"
            )
        array, skipped = _read_path(path, image_size)
        try:  # the classes, where the source has them (M34)
            found = folder_labels(path, skipped) if path.is_dir() else file_labels(path, len(array), is_idx(path))
        except (LabelError, OSError) as exc:
            raise DataError(str(exc)) from exc
        labels, names = found if found is not None else (None, None)
        if path.is_dir():
            dataset = _images_dataset(path.name, array, seed, heldout_fraction, labels=labels, skipped=skipped,
                                      num_classes=None if names is None else len(names))
        else:
            dataset = _dataset_from_array(path.name, array, image_size, seed, heldout_fraction, labels)
        dataset.class_names = names
    if subset is not None:
        dataset = take_subset(dataset, subset, seed)

    logger.info(
        "data set %s: %s %s, %d train / %d held out",
        dataset.name,
        dataset.kind,
        dataset.data_shape,
        len(dataset.train),
        len(dataset.heldout),
    )
    return dataset
