"""Hand-drawn 2-D data: the brush and eraser, a built-in start, the smallest usable drawing, and a run that keeps its
points file so it resumes, opens and trains after the original file is gone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ddpm_studio.cli import run_cli
from ddpm_studio.core.app.run_io import open_run, save_run
from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.data.drawn import (
    CANVAS_EXTENT,
    MIN_DRAWN_POINTS,
    START_DATASETS,
    dab,
    drawn_problem,
    erase,
    fit_to_canvas,
    starting_points,
)
from ddpm_studio.core.io.run_data import RUN_DATA_DIR, keep_data_copy, save_points, stand_in_data
from ddpm_studio.core.scores.verdict import MIN_HELDOUT
from ddpm_studio.core.training.trainer import Trainer


def drawing(count: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([dab((-1.5, 0.0), 0.6, count // 2, rng), dab((1.5, 1.0), 0.6, count - count // 2, rng)])


def test_a_dab_fills_its_disc_uniformly_and_stays_on_the_canvas():
    points = dab((1.0, -2.0), 0.5, 20_000, np.random.default_rng(1))
    distance = np.hypot(points[:, 0] - 1.0, points[:, 1] + 2.0)
    assert points.shape == (20_000, 2) and distance.max() <= 0.5
    # uniform on the disc: the inner half-radius holds a quarter of the points (area), not a half
    assert abs(np.mean(distance < 0.25) - 0.25) < 0.02
    rim = dab((CANVAS_EXTENT, CANVAS_EXTENT), 1.0, 500, np.random.default_rng(2))
    assert np.abs(rim).max() <= CANVAS_EXTENT
    assert dab((0.0, 0.0), 1.0, 0, np.random.default_rng(0)).shape == (0, 2)


def test_erase_removes_only_the_points_under_the_brush():
    points = np.array([[0.0, 0.0], [0.4, 0.0], [0.6, 0.0], [3.0, 3.0]])
    np.testing.assert_array_equal(erase(points, (0.0, 0.0), 0.5), [[0.6, 0.0], [3.0, 3.0]])
    assert len(erase(np.empty((0, 2)), (0.0, 0.0), 1.0)) == 0


@pytest.mark.parametrize("name", START_DATASETS)
def test_every_built_in_start_fits_the_canvas_with_its_proportions(name):
    points = starting_points(name, 400, seed=3)
    assert points.shape == (400, 2) and np.abs(points).max() <= CANVAS_EXTENT * 0.875 + 1e-9
    assert math.isclose(float(np.ptp(points, axis=0).max()), 2 * 0.875 * CANVAS_EXTENT, rel_tol=1e-9)


def test_fit_to_canvas_keeps_the_aspect_ratio():
    fitted = fit_to_canvas(np.array([[10.0, 100.0], [14.0, 101.0]]))
    np.testing.assert_allclose(np.ptp(fitted, axis=0), [3.5 * 2, 3.5 * 2 / 4])
    with pytest.raises(ValueError, match="unknown start 'nope'; choose one of moons"):
        starting_points("nope")


def test_too_few_points_are_refused_with_how_many_more():
    assert MIN_DRAWN_POINTS == math.ceil(MIN_HELDOUT / 0.1)  # the verdict's held-out floor at a 10 % split
    problem = drawn_problem(drawing(MIN_DRAWN_POINTS - 40))
    assert problem.startswith(f"{MIN_DRAWN_POINTS - 40} points drawn; a run needs at least {MIN_DRAWN_POINTS}")
    assert "Draw 40 more" in problem and "\n" not in problem
    assert drawn_problem(drawing(MIN_DRAWN_POINTS)) is None
    line = np.stack([np.linspace(-1, 1, 300), np.zeros(300)], axis=1)
    assert "same y" in drawn_problem(line)


def test_a_saved_drawing_loads_as_points_with_a_held_out_split_the_verdict_can_use(tmp_path):
    path = save_points(tmp_path / "mine.npy", drawing(MIN_DRAWN_POINTS))
    data = load_dataset(path)
    assert data.kind == "points" and data.name == "mine.npy"
    assert len(data.heldout) >= MIN_HELDOUT and len(data.train) + len(data.heldout) == MIN_DRAWN_POINTS


def tiny(data: str):
    config = default_config(data, "points")
    config.diffusion.num_timesteps = 30
    config.train.steps = 4
    config.train.batch_size = 32
    config.train.log_every = 2
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.early_stop = False
    return config


def test_a_run_keeps_its_points_file_and_opens_and_resumes_after_the_original_is_gone(tmp_path):
    original = save_points(tmp_path / "drawn" / "mine.npy", drawing())
    trainer = Trainer(tiny(str(original)))
    for _ in trainer.train():
        pass
    run = save_run(trainer, tmp_path / "run", [])
    copy = run / RUN_DATA_DIR / "mine.npy"
    assert copy.read_bytes() == original.read_bytes()
    heldout = trainer.dataset.heldout.clone()
    assert stand_in_data(run, str(original)) is None  # the original is still there: it is the data
    original.unlink()
    assert stand_in_data(run, str(original)) == copy
    opened = open_run(str(run))
    assert opened.trainer is not None and opened.warning is None, opened.warning
    assert opened.trainer.step == 4 and opened.config.data.dataset == str(original)  # config names the original
    assert np.array_equal(opened.dataset.heldout.numpy(), heldout.numpy())  # the same split as before
    # the CLI resumes it too
    assert run_cli(["train", "--out", str(run), "--resume", "--steps", "6"]) == 0
    assert Trainer(tiny(str(copy)), run_dir=tmp_path / "other").run_dir is not None


def test_only_small_points_files_outside_the_run_are_kept(tmp_path):
    assert keep_data_copy(tmp_path / "run", "moons") is None
    folder = tmp_path / "images"
    folder.mkdir()
    assert keep_data_copy(tmp_path / "run", str(folder)) is None
    assert keep_data_copy(tmp_path / "run", str(tmp_path / "missing.npy")) is None
    path = save_points(tmp_path / "p.npy", drawing())
    kept = keep_data_copy(tmp_path / "run", str(path))
    assert kept == tmp_path / "run" / RUN_DATA_DIR / "p.npy"
    assert keep_data_copy(tmp_path / "run", str(kept)) == kept  # the run's own copy is not copied onto itself
