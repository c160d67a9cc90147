"""Tests of the data layer: toys, digits, shapes, image folders, array / CSV / IDX files and DataSet."""

from __future__ import annotations

import gzip
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from ddpm_studio.core.data import (
    BUILTIN_DATASETS,
    DEFAULT_DATASET,
    MIXTURE_DATASETS,
    TOY_DATASETS,
    DataError,
    DataSet,
    load_array_file,
    load_dataset,
    load_digits,
    load_idx,
    load_image_folder,
    make_shapes,
    make_toy,
)


def _solid(mode: str, colour: int | tuple[int, ...], size: tuple[int, int] = (40, 24)) -> Image.Image:
    return Image.new(mode, size, colour)


def _write_idx(path: Path, array: np.ndarray, type_code: int, compress: bool = False) -> None:
    """Write an IDX file by hand: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">")).tobytes()
    payload = header + big_endian
    path.write_bytes(gzip.compress(payload) if compress else payload)


def _png_bomb() -> bytes:
    """A valid-looking 100000 x 100000 PNG of a few dozen bytes: only the header claims the huge size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _save_npy(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / name
    np.save(path, array)
    return path


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_has_shape_dtype_and_is_deterministic_per_seed(name: str) -> None:
    points = make_toy(name, 500, seed=1)
    assert points.shape == (500, 2) and points.dtype == np.float32
    assert np.isfinite(points).all()
    np.testing.assert_array_equal(points, make_toy(name, 500, seed=1))
    assert not np.array_equal(points, make_toy(name, 500, seed=2))


def test_unknown_toy_raises_value_error_that_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="moons.*checkerboard"):
        make_toy("spiral", 10)


def test_ring_is_eight_gaussians_at_radius_two() -> None:
    points = make_toy("ring", 4000).astype(np.float64)
    radius = np.hypot(points[:, 0], points[:, 1])
    assert abs(radius.mean() - 2.0) < 0.02
    # Angular offset from the nearest of the 8 centres: about std / radius = 0.05 rad, never near pi/8.
    angle = np.arctan2(points[:, 1], points[:, 0])
    offset = (angle + np.pi / 8) % (np.pi / 4) - np.pi / 8
    assert 0.04 < offset.std() < 0.06
    assert np.abs(offset).max() < np.pi / 8 * 0.8
    modes = np.round(angle / (np.pi / 4)).astype(int) % 8
    assert np.bincount(modes, minlength=8).min() > 400  # every mode is populated (~500 each)


def test_circles_lie_on_radii_one_and_a_half() -> None:
    radius = np.hypot(*make_toy("circles", 2000).T)
    inner = radius < 0.75
    assert 0.4 < inner.mean() < 0.6
    assert abs(radius[inner].mean() - 0.5) < 0.01 and abs(radius[~inner].mean() - 1.0) < 0.01


def test_moons_lie_on_two_unit_half_circles() -> None:
    x, y = make_toy("moons", 2000).astype(np.float64).T
    upper = np.hypot(x + 0.5, y + 0.25)  # upper moon: unit circle about (-0.5, -0.25), y above its centre
    lower = np.hypot(x - 0.5, y - 0.25)  # lower moon: unit circle about (0.5, 0.25), y below its centre
    distance = np.minimum(np.abs(upper - 1.0), np.abs(lower - 1.0))
    assert np.quantile(distance, 0.99) < 0.2


def test_checkerboard_fills_only_the_even_cells() -> None:
    points = make_toy("checkerboard", 4000).astype(np.float64)
    assert points.min() >= -2.0 and points.max() <= 2.0
    cell = np.floor(points + 2.0).astype(int)
    assert ((cell[:, 0] + cell[:, 1]) % 2 == 0).all()
    assert len({tuple(c) for c in cell}) == 8


def test_swissroll_spans_the_expected_radii() -> None:
    radius = np.hypot(*make_toy("swissroll", 2000).T)
    assert radius.min() > 1.5 * np.pi / 5 - 0.2 and radius.max() < 4.5 * np.pi / 5 + 0.2


def test_digits_have_the_documented_shape_range_and_labels() -> None:
    images, labels = load_digits()
    assert images.shape == (1797, 1, 16, 16) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))


def test_digits_at_native_size_are_the_scaled_csv_values() -> None:
    images, _ = load_digits(size=8)
    allowed = set(np.rint(np.arange(17) * 255 / 16).astype(int).tolist())
    assert set(np.unique(images).tolist()) <= allowed
    # The first UCI digit is a 0: its top-left and centre pixels are empty, its left stroke is ink.
    assert images[0, 0, 0, 0] == 0 and images[0, 0, 3, 3] == 0 and images[0, 0, 3, 2] > 128


def test_shapes_are_deterministic_coloured_and_on_a_plain_background() -> None:
    images = make_shapes(24, size=16, seed=5)
    assert images.shape == (24, 3, 16, 16) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, make_shapes(24, size=16, seed=5))
    assert not np.array_equal(images, make_shapes(24, size=16, seed=6))
    for image in images.astype(int):
        saturation = image.max(axis=0) - image.min(axis=0)
        assert saturation.max() > 100  # a saturated shape is present
        colours, counts = np.unique(image.reshape(3, -1).T, axis=0, return_counts=True)
        background = colours[counts.argmax()]
        assert counts.max() >= 0.3 * 16 * 16 and background[0] == background[1] == background[2]


def test_builtin_registry_matches_the_sources() -> None:
    assert DEFAULT_DATASET in BUILTIN_DATASETS
    points = {name for name, kind in BUILTIN_DATASETS.items() if kind == "points"}
    assert points == set(TOY_DATASETS) | set(MIXTURE_DATASETS)
    assert BUILTIN_DATASETS["digits"] == BUILTIN_DATASETS["shapes"] == "images"


def test_load_dataset_digits_is_in_model_space_with_labels() -> None:
    data = load_dataset("digits")
    assert data.kind == "images" and data.data_shape == (1, 16, 16) and data.num_dims == 256
    assert len(data.train) + len(data.heldout) == 1797 and len(data.heldout) == 180
    assert data.train.dtype == torch.float32
    assert data.train.min() == -1.0 and data.train.max() == 1.0
    assert data.labels is not None and len(data.labels) == len(data.train)
    assert set(data.labels.tolist()) == set(range(10))


def test_load_dataset_shapes_uses_num_images_and_size() -> None:
    data = load_dataset("shapes", image_size=8, num_images=40, seed=2)
    assert data.data_shape == (3, 8, 8) and len(data.train) + len(data.heldout) == 40
    assert data.labels is None


def test_points_are_standardised_and_round_trip_to_the_raw_toy() -> None:
    data = load_dataset("ring", num_points=1000, seed=3)
    assert data.kind == "points" and data.data_shape == (2,) and data.num_dims == 2
    torch.testing.assert_close(data.train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train.std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    back = data.to_data_space(torch.cat([data.train, data.heldout])).double().numpy()
    raw = make_toy("ring", 1000, seed=3).astype(np.float64)
    np.testing.assert_allclose(back[np.lexsort(back.T)], raw[np.lexsort(raw.T)], atol=1e-5)


def test_log_scale_per_dim_converts_nats_per_dim_between_spaces() -> None:
    data = load_dataset("swissroll", num_points=600, seed=4)
    raw_train = data.to_data_space(data.train).double().numpy()
    assert data.log_scale_per_dim == pytest.approx(np.log(raw_train.std(axis=0)).mean(), abs=1e-5)
    # Density of N(0, I) in model space against the same Gaussian pushed into data space (independent: scipy).
    x = data.heldout.double().numpy()
    y = data.to_data_space(data.heldout).double().numpy()
    shift, scale = data.shift.double().numpy(), data.scale.double().numpy()
    nats_model = -stats.norm.logpdf(x).sum(axis=1) / 2
    nats_data = -stats.norm.logpdf(y, loc=shift, scale=scale).sum(axis=1) / 2
    np.testing.assert_allclose(nats_data, nats_model + data.log_scale_per_dim, atol=1e-4)


def test_split_is_seeded_and_holds_out_at_least_one_item() -> None:
    first, again = (
        load_dataset("moons", num_points=200, seed=7),
        load_dataset("moons", num_points=200, seed=7),
    )
    torch.testing.assert_close(first.train, again.train)
    torch.testing.assert_close(first.heldout, again.heldout)
    assert len(first.heldout) == 20
    tiny = load_dataset("moons", num_points=3, heldout_fraction=0.01)
    assert (len(tiny.train), len(tiny.heldout)) == (2, 1)
    with pytest.raises(DataError, match="at least 2"):
        load_dataset("moons", num_points=1)


def test_image_round_trip_to_uint8_and_clamping(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
    pixels[:, 0, 0, 0] = np.arange(50)  # a per-image id, to match images after the shuffle of the split
    data = load_dataset(_save_npy(tmp_path, "pixels.npy", pixels))
    assert data.data_shape == (3, 8, 8)
    ids = data.to_uint8_images(data.train)[:, 0, 0, 0]
    expected = torch.from_numpy(pixels[ids]).permute(0, 3, 1, 2).float() * (2 / 255) - 1  # MATH.md
    torch.testing.assert_close(data.train, expected)
    back = np.concatenate([data.to_uint8_images(data.train), data.to_uint8_images(data.heldout)])
    np.testing.assert_array_equal(back[np.argsort(back[:, 0, 0, 0])], pixels)
    overshoot = torch.tensor([-1.5, 1.5]).reshape(1, 1, 1, 2)
    assert data.to_data_space(overshoot).tolist() == [[[[-1.0, 1.0]]]]
    assert data.to_uint8_images(overshoot).ravel().tolist() == [0, 255]
    assert data.log_scale_per_dim == 0.0


def test_to_uint8_images_refuses_points() -> None:
    data = load_dataset("moons", num_points=50)
    with pytest.raises(ValueError, match="points"):
        data.to_uint8_images(data.train)


@pytest.mark.parametrize(
    ("layout", "convert"),
    [
        ("NHWC uint8", lambda p: p),
        ("NCHW float [0, 1]", lambda p: p.transpose(0, 3, 1, 2).astype(np.float32) / 255),
        ("NHWC float [-1, 1]", lambda p: p.astype(np.float64) / 127.5 - 1),
        ("NCHW float [0, 255]", lambda p: p.transpose(0, 3, 1, 2).astype(np.float32)),
    ],
)
def test_npy_image_layouts_and_ranges_give_the_same_pixels(tmp_path: Path, layout: str, convert) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(6, 4, 4, 3), dtype=np.uint8)
    pixels[0] = 0  # the [0, 1] / [-1, 1] / [0, 255] detection must not depend on the extremes being present
    pixels[1] = 255
    data = load_dataset(_save_npy(tmp_path, "x.npy", convert(pixels)), heldout_fraction=0.5)
    back = np.concatenate([data.to_uint8_images(data.train), data.to_uint8_images(data.heldout)])
    key = lambda a: np.lexsort(a.reshape(len(a), -1).T)  # noqa: E731 - sort images into a canonical order
    np.testing.assert_array_equal(back[key(back)], pixels[key(pixels)], err_msg=layout)


def test_grey_npy_keeps_small_even_squares_and_resizes_the_rest(tmp_path: Path) -> None:
    mnist_like = np.zeros((4, 28, 28), dtype=np.uint8)
    assert load_dataset(_save_npy(tmp_path, "a.npy", mnist_like)).data_shape == (1, 28, 28)
    assert load_dataset(_save_npy(tmp_path, "b.npy", np.zeros((4, 20, 30)))).data_shape == (1, 32, 32)
    assert load_dataset(_save_npy(tmp_path, "c.npy", np.zeros((4, 7, 7)))).data_shape == (1, 32, 32)
    assert load_dataset(tmp_path / "a.npy", image_size=8).data_shape == (1, 8, 8)


def test_npz_prefers_the_images_key(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, labels=np.arange(5), images=np.full((5, 4, 4), 255, dtype=np.uint8))
    assert load_array_file(path).shape == (5, 4, 4)
    assert load_dataset(path).data_shape == (1, 4, 4)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 3, 4, 5, 6)), r"x\.npy: expected shape \(N, 2\) points .*got \(10, 3, 4, 5, 6\)"),
        (np.zeros((10, 3)), r"got \(10, 3\)"),
        (np.zeros((10, 5, 5, 4)), r"got \(10, 5, 5, 4\)"),
        (np.array([[0.0, np.nan], [np.inf, 1.0], [2.0, 3.0]]), r"x\.npy contains 2 NaN/inf values"),
        (np.zeros((0, 2)), "holds no data"),
        (np.linspace(-3, 3, 64).reshape(4, 4, 4), r"span \[-3, 3\]"),
        (np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]]), "coordinate 0 .* constant"),
    ],
)
def test_bad_arrays_raise_one_line_data_errors(tmp_path: Path, array: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        load_dataset(_save_npy(tmp_path, "x.npy", array))
    assert "\n" not in str(caught.value)


def test_missing_path_and_unsupported_file_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder.*moons"):
        load_dataset(tmp_path / "nowhere.npy")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(tmp_path / "notes.txt")
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="broken.npy: not a valid .npy array file"):
        load_dataset(tmp_path / "broken.npy")


def _zip_with(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, data)
    return path


def test_files_that_are_not_arrays_are_named_as_such_and_pickle_is_never_suggested(tmp_path: Path) -> None:
    """numpy.load falls back to unpickling a file without its header; its error then suggests allow_pickle."""
    random_bytes = np.random.default_rng(0).bytes(500)
    good = _save_npy(tmp_path, "good.npy", np.zeros((8, 2)))
    np.savez(tmp_path / "good.npz", x=np.zeros((8, 2)))
    cases = {
        "random.npy": (random_bytes, r"random.npy: not a valid .npy array file \(expected an array saved with "
                       r"numpy.save; the header is missing\)"),
        "random.npz": (random_bytes, r"random.npz: not a valid .npz array file"),
        "zipish.npz": (b"PK" + random_bytes, r"zipish.npz: not a valid .npz array file"),
        "empty.npy": (b"", r"empty.npy: not a valid .npy array file .*the file is empty"),
        "cut.npy": (good.read_bytes()[:140], r"cut.npy: cannot read as .npy"),
        "cut.npz": ((tmp_path / "good.npz").read_bytes()[:100], r"cut.npz: the .npz archive is damaged or truncated"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=message) as caught:
            load_dataset(tmp_path / name)
        assert "pickle" not in str(caught.value) and "\n" not in str(caught.value), name
    _zip_with(tmp_path / "text.npz", "notes.txt", b"hello")
    with pytest.raises(DataError, match=r"text.npz: not a valid .npz array file \(its member 'notes.txt' is not"):
        load_dataset(tmp_path / "text.npz")


def test_object_arrays_are_refused_without_suggesting_to_unpickle_them(tmp_path: Path) -> None:
    objects = np.array([{"a": 1}, 2], dtype=object)
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=objects)
    for name in ("objects.npy", "objects.npz"):
        with pytest.raises(DataError, match=f"{name}: holds Python objects, not numbers") as caught:
            load_dataset(tmp_path / name)
        assert "allow_pickle" not in str(caught.value)


def test_csv_points_with_header_load_as_points(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("x,y\n0,1\n2,3\n\n# a comment\n4,5\n6,8\n")
    np.testing.assert_array_equal(load_array_file(path), [[0, 1], [2, 3], [4, 5], [6, 8]])
    data = load_dataset(path)
    assert data.kind == "points" and len(data.train) + len(data.heldout) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,1\n2,3\nabc,4\n", r"points\.csv: line 3 is not numeric"),
        ("x,y\n0,1\ny,z\n", "line 3 is not numeric"),
        ("0,1\n2,3,4\n", "line 2 has 3 values"),
        ("0,1,2\n3,4,5\n", r"got \(2, 3\)"),
        ("x,y\n", "holds no data"),
    ],
)
def test_bad_csv_raises_data_error_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "points.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trips(tmp_path: Path, compress: bool) -> None:
    images = np.random.default_rng(2).integers(0, 256, size=(5, 6, 7), dtype=np.uint8)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if compress else ""))
    _write_idx(path, images, 0x08, compress)
    np.testing.assert_array_equal(load_idx(path), images)
    data = load_dataset(path, image_size=8)
    assert data.data_shape == (1, 8, 8) and len(data.train) + len(data.heldout) == 5


def test_idx_multibyte_types_are_big_endian(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.25], [1e6, 0.0]], dtype=np.float32)
    _write_idx(tmp_path / "v.idx", values, 0x0D)
    loaded = load_idx(tmp_path / "v.idx")
    assert loaded.dtype == np.float32 and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, values)


def test_bad_idx_files_raise_data_errors(tmp_path: Path) -> None:
    (tmp_path / "bad-ubyte").write_bytes(b"\x08\x03\0\0hello")
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset(tmp_path / "bad-ubyte")
    _write_idx(tmp_path / "short-ubyte", np.zeros((3, 4, 4), dtype=np.uint8), 0x08)
    (tmp_path / "short-ubyte").write_bytes((tmp_path / "short-ubyte").read_bytes()[:-5])
    with pytest.raises(DataError, match=r"promises shape \(3, 4, 4\)"):
        load_dataset(tmp_path / "short-ubyte")
    _write_idx(tmp_path / "labels-idx1-ubyte", np.arange(4, dtype=np.uint8), 0x08)
    with pytest.raises(DataError, match="label file"):
        load_dataset(tmp_path / "labels-idx1-ubyte")


GOOD_RGB = (200, 10, 30)
GOOD_JPEG = (20, 120, 220)
GREY = 77
PALETTE_RGB = (10, 200, 30)


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """Seven good images in every awkward mode, plus four bad files and one ignored non-image."""
    folder = tmp_path / "messy"
    (folder / "sub").mkdir(parents=True)
    _solid("RGB", GOOD_RGB).save(folder / "a_rgb.png")
    _solid("RGB", GOOD_JPEG, (30, 50)).save(folder / "b_photo.jpg", quality=95)
    _solid("L", GREY).save(folder / "c_grey.png")
    Image.fromarray(np.full((20, 20), 257 * 100, dtype=np.uint16)).save(folder / "d_16bit.png")
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, *PALETTE_RGB] + [0] * 762)
    palette.save(folder / "e_palette.png")
    _solid("RGBA", (0, 0, 0, 128)).save(folder / "f_rgba.png")  # half-transparent black on white
    _solid("RGB", GOOD_RGB, (64, 64)).save(folder / "sub" / "g_nested.bmp")
    noisy = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(folder / "x_truncated.png")
    (folder / "x_truncated.png").write_bytes((folder / "x_truncated.png").read_bytes()[:2000])
    (folder / "y_empty.png").write_bytes(b"")
    (folder / "z_text.jpg").write_text("this is not a JPEG")
    (folder / "w_bomb.png").write_bytes(_png_bomb())
    (folder / "readme.txt").write_text("ignored: not an image extension")
    return folder


def test_folder_loads_good_images_with_correct_values(messy_folder: Path) -> None:
    images, skipped = load_image_folder(messy_folder, size=8)
    assert images.shape == (7, 3, 8, 8) and images.dtype == np.uint8  # colour present -> RGB
    centre = images[:, :, 4, 4].astype(int)  # every good image is a solid colour
    expected = [GOOD_RGB, None, (GREY,) * 3, (100,) * 3, PALETTE_RGB, (127,) * 3, GOOD_RGB]
    for got, want in zip(centre, expected, strict=True):
        if want is not None:
            assert tuple(got) == want
    np.testing.assert_allclose(centre[1], GOOD_JPEG, atol=4)  # lossy
    assert (images == images[:, :, :1, :1]).all()  # solid images stay solid after resizing
    assert sorted(Path(p).name for p, _ in skipped) == [
        "w_bomb.png",
        "x_truncated.png",
        "y_empty.png",
        "z_text.jpg",
    ]
    reasons = {Path(p).name: reason for p, reason in skipped}
    assert reasons["w_bomb.png"].startswith("too large")
    assert reasons["x_truncated.png"].startswith("corrupt or truncated")
    assert reasons["y_empty.png"] == "empty file (0 bytes)"
    assert reasons["z_text.jpg"] == "not an image Pillow can read"


def test_transparent_gif_is_composited_on_white(tmp_path: Path) -> None:
    gif = Image.new("P", (10, 10), 0)
    gif.putpalette([0, 0, 0, 250, 0, 0] + [0] * 762)
    gif.paste(1, (0, 0, 5, 10))  # left half red, right half the transparent index 0
    gif.save(tmp_path / "half.gif", transparency=0)
    images, _ = load_image_folder(tmp_path, size=10)
    assert tuple(images[0, :, 5, 1]) == (250, 0, 0) and tuple(images[0, :, 5, 8]) == (255, 255, 255)


def test_folder_channels_can_be_forced_to_grey(messy_folder: Path) -> None:
    images, _ = load_image_folder(messy_folder, size=4, channels=1)
    assert images.shape == (7, 1, 4, 4)
    assert images[0, 0, 0, 0] == round(0.299 * 200 + 0.587 * 10 + 0.114 * 30)  # ITU-R 601 luma
    assert images[2, 0, 0, 0] == GREY


def test_grey_only_folder_gives_one_channel(tmp_path: Path) -> None:
    _solid("L", 10).save(tmp_path / "a.png")
    Image.fromarray(np.full((9, 9), 65535, dtype=np.uint16)).save(tmp_path / "b.png")
    images, skipped = load_image_folder(tmp_path, size=6)
    assert images.shape == (2, 1, 6, 6) and skipped == []
    assert images[:, 0, 0, 0].tolist() == [10, 255]


def test_pixel_limit_skips_big_images_without_decoding(tmp_path: Path) -> None:
    _solid("RGB", GOOD_RGB, (20, 20)).save(tmp_path / "big.png")
    _solid("RGB", GOOD_RGB, (8, 8)).save(tmp_path / "small.png")
    images, skipped = load_image_folder(tmp_path, size=4, max_pixels=100)
    assert len(images) == 1 and skipped == [
        (str(tmp_path / "big.png"), "too large: 20x20 pixels (limit 100)")
    ]


def test_load_dataset_on_a_folder_reports_skipped_files_and_logs_once(
    messy_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ddpm_studio.core.data"):
        data = load_dataset(messy_folder, image_size=8)
    assert isinstance(data, DataSet) and data.name == "messy"
    assert data.data_shape == (3, 8, 8) and len(data.train) + len(data.heldout) == 7
    assert len(data.skipped) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "loaded 7 images, 4 files skipped" in warnings[0].getMessage()


def test_folder_default_size_is_32(tmp_path: Path) -> None:
    for i in range(3):
        _solid("RGB", (i, i, i), (50, 40)).save(tmp_path / f"{i}.png")
    assert load_dataset(tmp_path).data_shape == (3, 32, 32)


def test_empty_and_all_corrupt_folders_raise_data_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no PNG/JPEG"):
        load_dataset(empty)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "a.png").write_bytes(b"")
    (corrupt / "b.jpg").write_text("text")
    with pytest.raises(
        DataError, match=r"holds no readable images \(2 files skipped: a.png: empty file"
    ) as caught:
        load_dataset(corrupt)
    assert "\n" not in str(caught.value)
