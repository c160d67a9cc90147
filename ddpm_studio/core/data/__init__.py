"""Data sources for the numeric core: 2-D toys, bundled digits, procedural shapes and the user's own files.

Most callers need only :func:`load_dataset`, which turns a name or a path into a :class:`DataSet` in model
space.
"""

from .dataset import (
    BUILTIN_DATASETS,
    DEFAULT_DATASET,
    DataError,
    DataSet,
    load_dataset,
    take_subset,
)
from .files import load_array_file, load_idx
from .images import load_digits, load_image_folder, make_shapes, resize_images
from .toys import TOY_DATASETS, make_toy

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_DATASET",
    "TOY_DATASETS",
    "DataError",
    "DataSet",
    "load_array_file",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_image_folder",
    "make_shapes",
    "make_toy",
    "resize_images",
    "take_subset",
]
