"""Read a sample file (``ddpm-studio sample --out FILE.npz``) back into model space, for judging it."""

from __future__ import annotations

import os

import numpy as np
import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.data.files import load_array_file

#: The array a sample file holds its samples under (as ``sample --out`` writes it).
SAMPLES_KEY = "samples"


def load_sample_file(path: str | os.PathLike[str], dataset: DataSet) -> torch.Tensor:
    """The ``samples`` array of an .npz (or a bare .npy) in the model space of ``dataset``.

    Points: float (N, D) in the data's own coordinates -> (x - shift) / scale, float64 (N, D); NaN / inf kept
    (the verdict's ``finite`` lens counts them). Images: uint8 (N, H, W, C) pixels -> float32 (N, C, H, W) in
    [-1, 1] (MATH.md x = 2 p / 255 - 1).

    Raises:
        ValueError: unreadable file, no ``samples`` array, or a shape or dtype that does not fit the data set.
    """
    array = load_array_file(path, key=SAMPLES_KEY if os.fspath(path).lower().endswith(".npz") else None)
    name = os.path.basename(os.fspath(path))
    if dataset.kind == "points":
        dims = dataset.data_shape[0]
        if array.ndim != 2 or array.shape[1] != dims or not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"{name}: expected samples of shape (N, {dims}) as numbers, got "
                             f"{array.dtype} {array.shape}")
        values = torch.from_numpy(np.asarray(array, dtype=np.float64))
        return (values - dataset.shift.double()) / dataset.scale.double()
    channels, height, width = dataset.data_shape
    if array.dtype != np.uint8 or array.shape[1:] != (height, width, channels):
        raise ValueError(f"{name}: expected uint8 images of shape (N, {height}, {width}, {channels}) as "
                         f"'sample --out' writes them, got {array.dtype} {array.shape}")
    pixels = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    return pixels / 127.5 - 1.0
