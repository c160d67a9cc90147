"""Class labels of user data (core/data/labels.py): class sub-folders, MNIST label files, .npz ``labels``."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.core.data import DataError, load_dataset


def _png(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


def test_class_sub_folders_are_classes_in_name_order(tmp_path) -> None:
    for name, value, count in (("dog", 200, 6), ("cat", 50, 4)):
        for i in range(count):
            _png(tmp_path / "pets" / name / f"{i}.png", value)
    data = load_dataset(tmp_path / "pets", image_size=8, heldout_fraction=0.2)
    assert data.num_classes == 2 and data.class_names == ("cat", "dog")
    # each training image's label is its folder: cats are dark (50), dogs bright (200)
    brightness = data.train.mean(dim=(1, 2, 3))
    assert ((brightness > 0) == (data.labels == 1)).all()


def test_a_flat_folder_or_a_single_sub_folder_has_no_labels(tmp_path) -> None:
    for i in range(4):
        _png(tmp_path / "flat" / f"{i}.png", 10 * i)
        _png(tmp_path / "one" / "only" / f"{i}.png", 10 * i)
    assert load_dataset(tmp_path / "flat", image_size=8).labels is None
    assert load_dataset(tmp_path / "one", image_size=8).num_classes is None


def _idx(path, array: np.ndarray) -> None:
    dims = b"".join(struct.pack(">I", d) for d in array.shape)
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + dims + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_mnist_images_take_the_labels_file_beside_them(tmp_path) -> None:
    images = np.zeros((12, 8, 8), np.uint8)
    labels = np.arange(12) % 3
    images[:, 0, 0] = 80 * labels
    _idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    data = load_dataset(tmp_path / "train-images-idx3-ubyte.gz", heldout_fraction=0.25)
    assert data.num_classes == 3 and data.class_names == ("0", "1", "2")
    corner = ((data.train[:, 0, 0, 0] + 1) * 127.5).round()
    assert np.array_equal(corner.numpy(), 80 * data.labels.numpy())
    _idx(tmp_path / "t10k-images.idx3-ubyte", images)  # no labels file beside this one
    assert load_dataset(tmp_path / "t10k-images.idx3-ubyte").labels is None


def test_npz_labels_and_their_errors(tmp_path) -> None:
    points = np.random.default_rng(0).normal(size=(40, 2))
    np.savez(tmp_path / "pts.npz", data=points, labels=np.repeat([5, 9], 20))
    data = load_dataset(tmp_path / "pts.npz")
    assert data.kind == "points" and data.num_classes == 2 and data.class_names == ("5", "9")
    np.savez(tmp_path / "plain.npz", data=points)
    assert load_dataset(tmp_path / "plain.npz").labels is None
    np.save(tmp_path / "images.npy", np.zeros((4, 8, 8), np.uint8))  # an .npy named "images" is no IDX
    assert load_dataset(tmp_path / "images.npy").labels is None
    for bad, message in ((np.arange(39), "39 labels for 40 items"), (np.full(40, -1), "must be >= 0"),
                         (np.full(40, 0.5), "must be integers")):
        np.savez(tmp_path / "bad.npz", data=points, labels=bad)
        with pytest.raises(DataError, match=message):
            load_dataset(tmp_path / "bad.npz")


def test_npz_class_names_name_the_integer_labels(tmp_path) -> None:
    points = np.random.default_rng(1).normal(size=(30, 2))
    names = np.array(["setosa", "versicolor", "virginica"])
    np.savez(tmp_path / "iris.npz", data=points, labels=np.repeat([2, 0], 15), class_names=names)
    data = load_dataset(tmp_path / "iris.npz")
    assert data.num_classes == 2 and data.class_names == ("setosa", "virginica")  # labels 0 and 2, remapped 0, 1
    np.savez(tmp_path / "short.npz", data=points, labels=np.repeat([2, 0], 15), class_names=names[:2])
    with pytest.raises(DataError, match="names 2 classes but a label is 2"):
        load_dataset(tmp_path / "short.npz")
    np.savez(tmp_path / "numbers.npz", data=points, labels=np.repeat([2, 0], 15), class_names=np.arange(3))
    with pytest.raises(DataError, match="1-D array of strings"):
        load_dataset(tmp_path / "numbers.npz")


@pytest.mark.parametrize("name, names", [
    ("moons", ("upper moon", "lower moon")), ("circles", ("inner circle", "outer circle")),
    ("digits", tuple("0123456789")),
])
def test_built_in_labelled_sets_name_their_classes(name, names) -> None:
    data = load_dataset(name, num_points=200)
    assert data.class_names == names and data.num_classes == len(names)


def test_the_ring_names_each_mode_by_its_angle_and_unlabelled_toys_have_no_names() -> None:
    ring = load_dataset("ring", num_points=400)
    assert ring.class_names[0] == "mode 0 (0°)" and ring.class_names[2] == "mode 2 (90°)"
    # the class named "90°" really sits at the top of the ring: its points have the largest mean y
    raw = ring.to_data_space(ring.train)
    assert int(torch.stack([raw[ring.labels == k, 1].mean() for k in range(8)]).argmax()) == 2
    assert load_dataset("swissroll", num_points=200).class_names is None
