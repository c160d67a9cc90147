"""Standard data sets by name (issue 31): downloaded from a loopback server (never the internet) into the cache,
verified against the pinned SHA-256 table (replaced here by the fixtures' checksums), resumed when a partial file
is there, refused in one line when offline or damaged, read from the official formats with the official split.

The fixtures are tiny files in the official formats, written by the test: IDX (gzipped) for MNIST and
Fashion-MNIST, the binary batches in a .tar.gz for CIFAR-10.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from loopback import LoopbackServer

from ddpm_studio.cli import run_cli
from ddpm_studio.core import catalog
from ddpm_studio.core.data import DataError, load_dataset, remote
from ddpm_studio.core.data import cache as data_cache
from ddpm_studio.core.data.remote import Checksum

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")
NUM_TRAIN, NUM_TEST = 24, 6
CIFAR_PER_BATCH, CIFAR_CLASSES = 3, ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck")


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (gzipped, as published) of a uint8 array."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def cifar_archive(rng: np.random.Generator) -> tuple[bytes, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A cifar-10-binary.tar.gz with CIFAR_PER_BATCH records per batch, and the (pixels, labels) it holds."""
    buffer = io.BytesIO()
    expected: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        add("batches.meta.txt", ("\n".join(CIFAR_CLASSES) + "\n\n").encode())
        for name, split in [*((f"data_batch_{i}.bin", "train") for i in range(1, 6)), ("test_batch.bin", "test")]:
            labels = rng.integers(0, 10, CIFAR_PER_BATCH, dtype=np.uint8)
            pixels = rng.integers(0, 256, (CIFAR_PER_BATCH, 3, 32, 32), dtype=np.uint8)
            records = np.concatenate([labels[:, None], pixels.reshape(CIFAR_PER_BATCH, -1)], axis=1)
            add(name, records.tobytes())
            expected[split].append((pixels, labels))
    splits = {split: (np.concatenate([p for p, _ in parts]), np.concatenate([lab for _, lab in parts]))
              for split, parts in expected.items()}
    return buffer.getvalue(), splits


@pytest.fixture
def mirror_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A mirror's folder with every standard set's fixture files; the pinned checksums table replaced by theirs,
    the cache moved into tmp_path. Returns what the files hold."""
    rng = np.random.default_rng(0)
    root = tmp_path / "mirror"
    table: dict[str, dict[str, Checksum]] = {}
    held: dict = {}
    for name in ("mnist", "fashion-mnist"):
        train = rng.integers(0, 256, (NUM_TRAIN, 28, 28), dtype=np.uint8)
        test = rng.integers(0, 256, (NUM_TEST, 28, 28), dtype=np.uint8)
        train_labels = np.arange(NUM_TRAIN, dtype=np.uint8) % 10
        test_labels = np.arange(NUM_TEST, dtype=np.uint8) % 10
        arrays = dict(zip(MNIST_FILES, (train, train_labels, test, test_labels)))
        contents = {file: idx_bytes(array) for file, array in arrays.items()}
        held[name] = arrays
        table[name] = _write(root / name, contents)
    archive, held["cifar10"] = cifar_archive(rng)
    table["cifar10"] = _write(root / "cifar10", {"cifar-10-binary.tar.gz": archive})
    monkeypatch.setattr(remote, "CHECKSUMS", table)
    monkeypatch.setenv(data_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(remote.MIRROR_ENV, raising=False)
    return {"root": root, "held": held, "cache": tmp_path / "cache" / "data"}


def _write(folder: Path, contents: dict[str, bytes]) -> dict[str, Checksum]:
    folder.mkdir(parents=True)
    for file, data in contents.items():
        (folder / file).write_bytes(data)
    return {file: Checksum(len(data), hashlib.sha256(data).hexdigest()) for file, data in contents.items()}


@pytest.fixture
def server(mirror_folder: dict, monkeypatch: pytest.MonkeyPatch):
    """The loopback server of the mirror folder, named by $DDPM_STUDIO_DATA_MIRROR."""
    with LoopbackServer(mirror_folder["root"]) as running:
        monkeypatch.setenv(remote.MIRROR_ENV, running.url)
        yield running


def cached_files(cache: Path) -> list[str]:
    """Every file under the cache, relative, sorted (lock files included)."""
    return sorted(str(path.relative_to(cache)) for path in cache.rglob("*") if path.is_file())


# ------------------------------------------------------------------ the table
def test_every_standard_set_has_pinned_checksums_and_the_catalog_names_them() -> None:
    assert tuple(remote.REMOTE_SETS) == catalog.REMOTE_DATASETS
    for name, remote_set in remote.REMOTE_SETS.items():
        assert set(remote.CHECKSUMS[name]) == set(remote_set.files)
        for checksum in remote.CHECKSUMS[name].values():
            assert checksum.size > 0 and len(checksum.sha256) == 64 and int(checksum.sha256, 16) >= 0
        assert catalog.BUILTIN_DATASETS[name] == "images"
    assert remote.REMOTE_SETS["cifar10"].files == ("cifar-10-binary.tar.gz",)  # the binary version: no pickles


def test_the_default_cache_is_the_platforms_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(data_cache.CACHE_ENV, raising=False)
    monkeypatch.setattr(data_cache.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_cache.dataset_folder("mnist") == tmp_path / "xdg" / "ddpm-studio" / "data" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_cache.cache_root() == Path.home() / ".cache" / "ddpm-studio"
    monkeypatch.setenv(data_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert data_cache.cache_root() == tmp_path / "mine"


# ------------------------------------------------------------------ download and read
def test_mnist_downloads_once_verifies_and_keeps_the_official_split_and_labels(server, mirror_folder) -> None:
    data = load_dataset("mnist")
    held = mirror_folder["held"]["mnist"]
    assert server.paths() == [f"mnist/{file}" for file in MNIST_FILES]
    assert data.kind == "images" and data.data_shape == (1, 28, 28)
    assert data.train.shape[0] == NUM_TRAIN and data.heldout.shape[0] == NUM_TEST  # the official split, in order
    assert data.split_names == ("train", "test")
    pixels = np.rint((data.train.numpy() + 1.0) * 127.5).astype(np.uint8)[:, 0]
    assert np.array_equal(pixels, held["train-images-idx3-ubyte.gz"])
    assert data.labels.tolist() == held["train-labels-idx1-ubyte.gz"].tolist()
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    assert cached_files(mirror_folder["cache"]) == sorted(["mnist/.lock", *(f"mnist/{f}" for f in MNIST_FILES)])
    again = load_dataset("mnist", subset=5, image_size=16)  # from the cache: no request
    assert len(server.requests) == 4
    assert again.train.shape == (5, 1, 16, 16) and again.heldout.shape == (NUM_TEST, 1, 16, 16)


def test_fashion_mnist_names_its_classes(server) -> None:
    data = load_dataset("fashion-mnist")
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert all(path.startswith("fashion-mnist/") for path in server.paths())


def test_cifar10_is_read_from_the_binary_batches(server, mirror_folder) -> None:
    data = load_dataset("cifar10")
    train_pixels, train_labels = mirror_folder["held"]["cifar10"]["train"]
    assert data.data_shape == (3, 32, 32) and data.train.shape[0] == 5 * CIFAR_PER_BATCH
    assert data.heldout.shape[0] == CIFAR_PER_BATCH
    assert np.array_equal(np.rint((data.train.numpy() + 1.0) * 127.5).astype(np.uint8), train_pixels)
    assert data.labels.tolist() == train_labels.tolist()
    assert data.class_names == CIFAR_CLASSES  # from batches.meta.txt
    assert server.paths() == ["cifar10/cifar-10-binary.tar.gz"]


def test_a_file_mirror_is_read_without_a_server(mirror_folder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(remote.MIRROR_ENV, mirror_folder["root"].as_uri())
    assert load_dataset("mnist").train.shape[0] == NUM_TRAIN


# ------------------------------------------------------------------ resume
def test_a_partial_download_continues_from_where_it_stopped(server, mirror_folder) -> None:
    file = "train-images-idx3-ubyte.gz"
    whole = (mirror_folder["root"] / "mnist" / file).read_bytes()
    folder = mirror_folder["cache"] / "mnist"
    folder.mkdir(parents=True)
    (folder / f"{file}.part").write_bytes(whole[:1000])
    assert load_dataset("mnist").train.shape[0] == NUM_TRAIN
    assert (f"mnist/{file}", "bytes=1000-") in server.requests  # only the rest was asked for
    assert (folder / file).read_bytes() == whole and not (folder / f"{file}.part").exists()


def test_a_broken_transfer_keeps_its_bytes_as_a_partial_file_never_as_the_cached_one(server, mirror_folder) -> None:
    file = "train-images-idx3-ubyte.gz"
    server.break_after[f"mnist/{file}"] = 700
    with pytest.raises(DataError) as failure:
        load_dataset("mnist")
    message = str(failure.value)
    assert "\n" not in message and message.startswith("mnist: downloading train-images-idx3-ubyte.gz")
    assert "700" in message and f"{file}.part is kept" in message
    folder = mirror_folder["cache"] / "mnist"
    assert not (folder / file).exists() and (folder / f"{file}.part").stat().st_size == 700
    load_dataset("mnist")  # the next run asks for the rest
    assert (f"mnist/{file}", "bytes=700-") in server.requests
    assert (folder / file).read_bytes() == (mirror_folder["root"] / "mnist" / file).read_bytes()


def test_a_server_that_ignores_the_range_sends_the_whole_file_again(server, mirror_folder) -> None:
    file = "t10k-labels-idx1-ubyte.gz"
    folder = mirror_folder["cache"] / "mnist"
    folder.mkdir(parents=True)
    (folder / f"{file}.part").write_bytes(b"x" * 10)  # would be wrong if appended to
    server.ignore_range = True
    load_dataset("mnist")
    assert (folder / file).read_bytes() == (mirror_folder["root"] / "mnist" / file).read_bytes()


# ------------------------------------------------------------------ refusals
def test_a_checksum_mismatch_is_refused_in_one_line_and_the_bad_file_removed(server, mirror_folder, capsys) -> None:
    served = mirror_folder["root"] / "mnist" / "t10k-images-idx3-ubyte.gz"
    damaged = bytearray(served.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte changed
    served.write_bytes(bytes(damaged))
    code = run_cli(["train", "--data", "mnist", "--out", str(mirror_folder["cache"].parent / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Traceback" not in "\n".join(err)
    assert err[-1].startswith("error: mnist: t10k-images-idx3-ubyte.gz from http://127.0.0.1")
    assert "is not the published file" in err[-1] and "deleted" in err[-1] and remote.MIRROR_ENV in err[-1]
    folder = mirror_folder["cache"] / "mnist"
    assert not (folder / "t10k-images-idx3-ubyte.gz").exists()
    assert not (folder / "t10k-images-idx3-ubyte.gz.part").exists()
    assert not (mirror_folder["cache"].parent / "run").exists()


def test_a_damaged_cached_file_is_refused_and_removed(server, mirror_folder) -> None:
    load_dataset("mnist")
    cached = mirror_folder["cache"] / "mnist" / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(b"not the labels")
    with pytest.raises(DataError, match=r"^mnist: the cached .*train-labels-idx1-ubyte.gz is not the published file"):
        load_dataset("mnist")
    assert not cached.exists()
    load_dataset("mnist")  # downloaded afresh
    assert server.paths().count("mnist/train-labels-idx1-ubyte.gz") == 2


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused, as offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_offline_is_one_line_naming_the_set_the_failure_and_the_fix(mirror_folder, monkeypatch, capsys) -> None:
    monkeypatch.setenv(remote.MIRROR_ENV, closed_port_url())
    code = run_cli(["train", "--data", "cifar10", "--out", str(mirror_folder["cache"].parent / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Traceback" not in "\n".join(err)
    line = err[-1]
    assert line.startswith("error: cifar10: downloading cifar-10-binary.tar.gz from http://127.0.0.1:")
    assert "refused" in line and remote.MIRROR_ENV in line
    assert f"place cifar-10-binary.tar.gz (from https://www.cs.toronto.edu/~kriz/) in {mirror_folder['cache']}" in line
    assert cached_files(mirror_folder["cache"]) == ["cifar10/.lock"]  # nothing half-written, the lock aside


def test_files_placed_by_hand_in_the_cache_are_used_without_a_download(mirror_folder, monkeypatch) -> None:
    monkeypatch.setenv(remote.MIRROR_ENV, closed_port_url())
    target = mirror_folder["cache"] / "fashion-mnist"
    target.mkdir(parents=True)
    for file in MNIST_FILES:
        (target / file).write_bytes((mirror_folder["root"] / "fashion-mnist" / file).read_bytes())
    assert load_dataset("fashion-mnist").train.shape[0] == NUM_TRAIN


# ------------------------------------------------------------------ the CLI
def test_data_list_shows_names_sizes_and_whether_cached(server, capsys) -> None:
    load_dataset("mnist")
    capsys.readouterr()
    assert run_cli(["data", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in catalog.REMOTE_DATASETS}
    assert set(rows) == set(catalog.REMOTE_DATASETS)
    assert rows["mnist"].rstrip().endswith("cached") and rows["cifar10"].rstrip().endswith("not cached")
    assert "60,000 train / 10,000 test" in rows["mnist"] and " MB" in rows["cifar10"]
    assert any("cache:" in line for line in lines)


def test_data_download_fetches_ahead_of_training(server, mirror_folder, capsys) -> None:
    assert run_cli(["data", "--download", "cifar10"]) == 0
    assert (mirror_folder["cache"] / "cifar10" / "cifar-10-binary.tar.gz").is_file()
    assert run_cli(["data", "--download", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_train_on_a_subset_of_mnist_conditionally(server, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = run_cli(["train", "--data", "mnist", "--subset", "8", "--conditional", "--image-size", "8",
                    "--steps", "2", "--batch-size", "4", "--T", "40", "--preview-every", "0", "--out", str(out),
                    "--quiet", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    import json

    config = json.loads((out / "config.json").read_text())
    assert config["data"]["dataset"] == "mnist" and config["data"]["subset"] == 8
    assert config["model"]["num_classes"] == 10
