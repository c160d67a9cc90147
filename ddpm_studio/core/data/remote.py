"""The standard data sets fetched on first use: their official files, sizes, SHA-256 checksums and download sites.

Nothing here touches the network or numpy: :mod:`.download` fetches a file, :mod:`.standard` reads a set.

The checksums are pinned here, not fetched, so that a download is checked against what the data's publishers
released, whatever mirror served it. They are copied from TensorFlow Datasets' URL checksum files (each lists the
official URL, its size in bytes and its SHA-256), github.com/tensorflow/datasets:

- ``tensorflow_datasets/url_checksums/mnist.txt`` (commit 31f1255e57e519a6c004f0b097a2f5cfcf0dde7d)
- ``tensorflow_datasets/url_checksums/fashion_mnist.txt`` (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5)
- ``tensorflow_datasets/url_checksums/cifar10.txt`` (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5)

``$DDPM_STUDIO_DATA_MIRROR`` replaces every set's site by one base URL (``https://``, ``http://`` or ``file://``)
under which each set has a folder of its own name: ``MIRROR/mnist/train-images-idx3-ubyte.gz``,
``MIRROR/cifar10/cifar-10-binary.tar.gz`` (MNIST and Fashion-MNIST name their files alike, so they cannot share
one folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The environment variable naming a mirror's base URL.
MIRROR_ENV = "DDPM_STUDIO_DATA_MIRROR"


@dataclass(frozen=True)
class Checksum:
    """What an official file must be: its length in bytes and the hex SHA-256 of its content."""

    size: int
    sha256: str


@dataclass(frozen=True)
class RemoteSet:
    """One standard data set: where its files come from and how to read them."""

    name: str  # the name of --data and the Setup list
    title: str  # how people write it
    site: str  # the official base URL; a file's URL is site + its name
    files: tuple[str, ...]  # the official file names, as downloaded
    layout: str  # "idx" (MNIST's four IDX files) or "cifar-binary" (CIFAR-10's binary batches in a .tar.gz)
    shape: tuple[int, int, int]  # (C, H, W) of one image as published
    split_sizes: tuple[int, int]  # items in the official (train, test) splits
    class_names: tuple[str, ...]  # the label values 0..K-1, named (CIFAR-10's also come with its archive)


#: The pinned checksums: set name -> official file name -> Checksum (the sources are cited in the module docstring).
#: Tests replace this table with their fixture files' checksums.
CHECKSUMS: dict[str, dict[str, Checksum]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": Checksum(
            9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": Checksum(
            28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": Checksum(
            1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": Checksum(
            4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": Checksum(
            26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": Checksum(
            29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": Checksum(
            4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": Checksum(
            5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "cifar10": {
        "cifar-10-binary.tar.gz": Checksum(
            170052171, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    },
}

_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz")

REMOTE_SETS: dict[str, RemoteSet] = {
    "mnist": RemoteSet(
        name="mnist", title="MNIST",
        # Google's copy, which TensorFlow Datasets downloads: yann.lecun.com now often refuses robots (HTTP 403)
        site="https://storage.googleapis.com/cvdf-datasets/mnist/",
        files=_MNIST_FILES, layout="idx", shape=(1, 28, 28), split_sizes=(60_000, 10_000),
        class_names=tuple(str(digit) for digit in range(10)),
    ),
    "fashion-mnist": RemoteSet(
        name="fashion-mnist", title="Fashion-MNIST",
        site="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # plain http: the checksum guards it
        files=_MNIST_FILES, layout="idx", shape=(1, 28, 28), split_sizes=(60_000, 10_000),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
    ),
    "cifar10": RemoteSet(
        name="cifar10", title="CIFAR-10",
        site="https://www.cs.toronto.edu/~kriz/",
        # the binary version: the "python version" is pickles, and DDPM Studio never unpickles a file
        files=("cifar-10-binary.tar.gz",), layout="cifar-binary", shape=(3, 32, 32), split_sizes=(50_000, 10_000),
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
}

def mirror() -> str | None:
    """The mirror's base URL from ``$DDPM_STUDIO_DATA_MIRROR`` (None when unset or empty)."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    return base or None


def file_url(remote: RemoteSet, file_name: str) -> str:
    """Where to download ``file_name`` of ``remote``: the mirror's folder of the set when a mirror is set, else
    the official site."""
    base = mirror()
    if base is None:
        return remote.site + file_name
    return f"{base.rstrip('/')}/{remote.name}/{file_name}"


def total_size(name: str) -> int:
    """Bytes to download for the set ``name`` (all its files, as pinned)."""
    return sum(checksum.size for checksum in CHECKSUMS[name].values())
