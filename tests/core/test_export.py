"""Export helpers: grids, upscaling, PNG/GIF/npz/CSV round trips through their readers, frame subsampling, scatter."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.core.io.export import (
    AXIS_COLOR,
    TrajectoryRecorder,
    image_grid,
    save_csv,
    save_gif,
    save_npz,
    save_png,
    scatter_image,
    subsample_indices,
    upscale_nearest,
)

BLUE = (31, 119, 180)
GREY = (200, 200, 200)
WHITE = (255, 255, 255)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _random_images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


# ------------------------------------------------------------------ image_grid
def test_grid_shape_and_tile_placement():
    # Five 4x3 grey tiles, tile i filled with i + 1 (never the pad value), in a default ceil(sqrt(5)) = 3 columns.
    images = np.stack([np.full((4, 3, 1), i + 1, dtype=np.uint8) for i in range(5)])
    grid = image_grid(images, padding=2, pad_value=255)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (3 + 2) + 2, 1)
    for i in range(5):
        top, left = 2 + (i // 3) * 6, 2 + (i % 3) * 5
        assert np.all(grid[top : top + 4, left : left + 3] == i + 1)
    # Everything else (borders, gaps, the empty sixth cell) is padding.
    assert np.count_nonzero(grid != 255) == 5 * 4 * 3
    assert np.all(grid[8:12, 12:15] == 255)


def test_grid_without_padding_is_a_plain_tiling(rng):
    images = _random_images(rng, (6, 5, 4, 3))
    grid = image_grid(images, ncols=3, padding=0)
    expected = np.concatenate([np.concatenate(list(images[r * 3 : r * 3 + 3]), axis=1) for r in range(2)], axis=0)
    np.testing.assert_array_equal(grid, expected)


def test_grid_caps_ncols_at_the_number_of_images(rng):
    images = _random_images(rng, (3, 2, 2, 1))
    assert image_grid(images, ncols=10, padding=1).shape == (1 * 3 + 1, 3 * 3 + 1, 1)


def test_grid_pad_value_fills_padding():
    images = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    grid = image_grid(images, padding=1, pad_value=7)
    assert grid.shape == (4, 4, 3)
    assert np.all(grid[0] == 7) and np.all(grid[:, -1] == 7) and np.all(grid[1:3, 1:3] == 0)


@pytest.mark.parametrize(
    "images",
    [np.zeros((2, 4, 4, 3), dtype=np.float32), np.zeros((2, 4, 4, 2), dtype=np.uint8), np.zeros((4, 4, 3), np.uint8)],
)
def test_grid_rejects_bad_input(images):
    with pytest.raises(ValueError):
        image_grid(images)


# ------------------------------------------------------------------ upscale_nearest
def test_upscale_nearest_repeats_each_pixel_in_a_block(rng):
    image = _random_images(rng, (3, 5, 3))
    up = upscale_nearest(image, 4)
    assert up.shape == (12, 20, 3) and up.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(up[:, :, channel], np.kron(image[:, :, channel], np.ones((4, 4), np.uint8)))


def test_upscale_by_one_is_identity_and_zero_is_refused(rng):
    image = _random_images(rng, (4, 4, 1))
    np.testing.assert_array_equal(upscale_nearest(image, 1), image)
    with pytest.raises(ValueError):
        upscale_nearest(image, 0)


# ------------------------------------------------------------------ PNG
@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_png_round_trip(tmp_path, rng, channels, mode):
    image = _random_images(rng, (7, 9, channels))
    path = save_png(tmp_path / "sub" / "grid.png", image)
    assert path == tmp_path / "sub" / "grid.png"
    with Image.open(path) as loaded:
        assert loaded.mode == mode
        pixels = np.asarray(loaded)
    np.testing.assert_array_equal(pixels.reshape(image.shape), image)
    # The atomic write leaves no temporary file behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["grid.png"]


# ------------------------------------------------------------------ GIF
def _gif_frames_and_durations(path) -> tuple[list[np.ndarray], list[int], int]:
    with Image.open(path) as gif:
        frames, durations = [], []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
            frames.append(np.asarray(gif.convert("RGB")))
        return frames, durations, gif.info.get("loop")


def test_gif_has_every_frame_and_holds_the_last(tmp_path):
    # Distinct flat colours: Pillow merges identical neighbours, and flat colours survive the palette exactly.
    colours = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 255, 255)]
    frames = [np.full((6, 8, 3), c, dtype=np.uint8) for c in colours]
    path = save_gif(tmp_path / "trajectory.gif", frames, duration_ms=50, loop=0, final_hold_ms=1000)
    loaded, durations, loop = _gif_frames_and_durations(path)
    assert len(loaded) == 6
    assert durations == [50] * 5 + [1050]
    assert loop == 0
    for frame, colour in zip(loaded, colours, strict=True):
        assert frame.shape == (6, 8, 3) and np.all(frame == colour)


def test_gif_accepts_a_grey_frame_array(tmp_path):
    frames = np.stack([np.full((5, 5, 1), 40 * i, dtype=np.uint8) for i in range(4)])
    loaded, _, _ = _gif_frames_and_durations(save_gif(tmp_path / "grey.gif", frames))
    assert len(loaded) == 4
    assert [int(f[0, 0, 0]) for f in loaded] == [0, 40, 80, 120]


def test_gif_rejects_mismatched_frames(tmp_path):
    with pytest.raises(ValueError, match="frame 1"):
        save_gif(tmp_path / "bad.gif", [np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])
    assert not (tmp_path / "bad.gif").exists()


# ------------------------------------------------------------------ npz and CSV
def test_npz_round_trip(tmp_path, rng):
    arrays = {
        "samples": rng.standard_normal((10, 2)).astype(np.float32),
        "steps": np.arange(5, dtype=np.int64),
        "images": _random_images(rng, (2, 4, 4, 1)),
    }
    path = save_npz(tmp_path / "out.npz", **arrays)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]
    with np.load(path) as loaded:
        assert sorted(loaded.files) == sorted(arrays)
        for name, value in arrays.items():
            assert loaded[name].dtype == value.dtype
            np.testing.assert_array_equal(loaded[name], value)


def test_csv_round_trip_with_missing_values(tmp_path):
    header = ["step", "loss", "sw"]
    rows = [[0, 1.0 / 3.0, None], [100, 0.125, 2.5e-7], [200, np.float64(0.1), None]]
    path = save_csv(tmp_path / "metrics.csv", header, rows)
    with open(path, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == header
    assert len(table) == 1 + len(rows)
    for written, row in zip(table[1:], rows, strict=True):
        assert int(written[0]) == row[0]
        for text, value in zip(written[1:], row[1:], strict=True):
            assert (text == "") if value is None else (float(text) == value)


def test_csv_rejects_a_row_of_the_wrong_length(tmp_path):
    with pytest.raises(ValueError, match="row 1"):
        save_csv(tmp_path / "bad.csv", ["a", "b"], [[1, 2], [3]])


# ------------------------------------------------------------------ subsample_indices
@pytest.mark.parametrize("num", [1, 2, 3, 10, 61, 100, 1000])
@pytest.mark.parametrize("max_frames", [2, 3, 7, 60, 100])
def test_subsample_indices_properties(num, max_frames):
    indices = subsample_indices(num, max_frames)
    assert len(indices) == min(num, max_frames)
    assert indices[0] == 0 and indices[-1] == num - 1
    assert all(isinstance(i, int) for i in indices)
    gaps = np.diff(indices)
    assert np.all(gaps > 0)
    # Evenly spread: with rounding, neighbouring gaps differ by at most one step.
    if len(gaps):
        assert gaps.max() - gaps.min() <= 1


def test_subsample_indices_edge_cases():
    assert subsample_indices(0, 10) == []
    assert subsample_indices(5, 5) == [0, 1, 2, 3, 4]
    assert subsample_indices(1001, 11) == list(range(0, 1001, 100))
    with pytest.raises(ValueError):
        subsample_indices(10, 1)


# ------------------------------------------------------------------ scatter_image
def _pixel(x: float, y: float, bounds: tuple[float, float, float, float], size: int) -> tuple[int, int]:
    """(row, column) of data point (x, y), from the mapping documented in scatter_image."""
    xmin, xmax, ymin, ymax = bounds
    column = round((x - xmin) / (xmax - xmin) * (size - 1))
    row = round((ymax - y) / (ymax - ymin) * (size - 1))
    return row, column


def test_scatter_draws_dots_where_points_are_with_y_up():
    bounds, size = (-1.0, 1.0, -1.0, 1.0), 101
    points = np.array([[0.5, -0.3], [-0.6, 0.7]])
    image = scatter_image(points, size=size, bounds=bounds, color=BLUE)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    for x, y in points:
        row, column = _pixel(x, y, bounds, size)
        assert tuple(image[row, column]) == BLUE
    # y up: the point with y = 0.7 is in the top half, y = -0.3 in the bottom half.
    assert _pixel(-0.6, 0.7, bounds, size)[0] < size // 2 < _pixel(0.5, -0.3, bounds, size)[0]
    # Away from the dots and the axes the canvas is white; the axes through 0 are light grey.
    assert tuple(image[10, 90]) == WHITE
    assert tuple(image[50, 10]) == AXIS_COLOR and tuple(image[90, 50]) == AXIS_COLOR


def test_scatter_draws_reference_points_behind_samples():
    bounds, size = (0.0, 10.0, 0.0, 10.0), 201
    background = np.array([[2.0, 2.0], [8.0, 8.0]])
    points = np.array([[8.0, 8.0]])
    image = scatter_image(points, size=size, background=background, bounds=bounds)
    assert tuple(image[_pixel(2.0, 2.0, bounds, size)]) == GREY
    assert tuple(image[_pixel(8.0, 8.0, bounds, size)]) == BLUE


def test_scatter_default_bounds_are_the_padded_square_extent():
    # Points span x in [-3, 7] and y in [-1, 5]: documented default = square of half-width 5 around the centre
    # (2, 2), widened by 5% on each side, so (-3.5, 7.5, -3.5, 7.5).
    points = np.array([[-3.0, 5.0], [7.0, -1.0]])
    size = 220
    image = scatter_image(points, size=size)
    for x, y in points:
        assert tuple(image[_pixel(x, y, (-3.5, 7.5, -3.5, 7.5), size)]) == BLUE
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    assert not np.any(np.all(border == BLUE, axis=-1))


def test_scatter_skips_non_finite_points():
    points = np.array([[0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0]])
    image = scatter_image(points, size=64, bounds=(-1.0, 1.0, -1.0, 1.0))
    assert np.count_nonzero(np.all(image == BLUE, axis=-1)) > 0


def test_trajectory_t_is_the_paper_timestep_of_each_kept_state():
    """Respaced ancestral sampling, K = 5 of T = 21: the states sit at the next visited timestep, x_0 at t = 0."""
    import torch

    from ddpm_studio.core.process.diffusion import GaussianDiffusion
    from ddpm_studio.core.process.schedule import make_betas
    from ddpm_studio.core.sampling import sample

    diffusion = GaussianDiffusion(make_betas("cosine", 21))
    recorder = TrajectoryRecorder([0, 1, 3, 4], lambda x: x.numpy())
    for record in sample(diffusion, lambda x, t: 0.5 * x, (3, 2), num_steps=5, generator=torch.manual_seed(0)):
        recorder.add(record)
    arrays = recorder.arrays()
    # linspace(0, 20, 5) visits 0-based 20, 15, 10, 5, 0, i.e. paper 21, 16, 11, 6, 1; index 2 is not kept
    assert list(arrays["trajectory_t_network"]) == [21, 16, 6, 1]
    assert list(arrays["trajectory_t"]) == [16, 11, 1, 0]
    abar = np.cumprod(1 - make_betas("cosine", 21).numpy())
    np.testing.assert_allclose(arrays["trajectory_abar"], [abar[15], abar[10], abar[0], 1.0])
    assert arrays["trajectory_x"].shape == (4, 3, 2) and arrays["trajectory_x0_hat"].shape == (4, 3, 2)
    assert TrajectoryRecorder([], np.asarray).arrays() == {}
