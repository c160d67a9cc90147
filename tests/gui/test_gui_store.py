"""The studio's Qt-free containers and export helpers: compact trajectories, budgets, files written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.gui import export
from ddpm_studio.gui.trajectory_store import INITIAL_STEP, SampleSet, TrajectoryStore, scatter_bounds


def fill(store: TrajectoryStore, with_forward: bool = True) -> None:
    """x_T at t = T, then every kept step (as the sampling job records them), random contents."""
    rng = np.random.default_rng(0)
    T = store.num_steps
    for step in range(INITIAL_STEP, T):
        if not store.keeps(step):
            continue
        frame = lambda: rng.integers(0, 256, store.item_shape, dtype=np.uint8) if store.kind == "images" \
            else rng.normal(size=store.item_shape).astype(np.float32)  # noqa: E731
        t_fed = T - max(step, 0)
        store.append(step, t_fed, T - step - 1, frame(), frame(), frame() if with_forward else None)


def test_a_thousand_digit_steps_fit_in_about_fifty_megabytes():
    store = TrajectoryStore("images", 1000, (64, 16, 16, 1))
    assert store.stride == 1 and store.capacity == 1001  # x_T and every step
    assert store.nbytes == 3 * 1001 * 64 * 16 * 16
    assert store.nbytes < 64 * 2**20


def test_a_large_batch_is_thinned_to_the_budget_keeping_both_ends():
    store = TrajectoryStore("images", 1000, (64, 32, 32, 3), budget_bytes=100 * 2**20)
    assert store.stride > 1 and store.nbytes <= 100 * 2**20 + store.nbytes // store.capacity
    fill(store)
    assert store.complete
    assert store.steps[0] == INITIAL_STEP and store.steps[1] == 0 and store.steps[len(store) - 1] == 999
    assert len(store) == store.capacity


def test_frames_are_read_only_views_and_steps_must_increase():
    store = TrajectoryStore("points", 5, (10, 2), with_forward=False)
    fill(store, with_forward=False)
    frame = store.frame(-1)
    assert frame.step == 4 and frame.t_state == 0 and frame.forward is None
    with pytest.raises(ValueError):
        frame.x[0, 0] = 1.0
    with pytest.raises(ValueError):
        store.append(4, 1, 0, frame.x, frame.x0_hat)
    samples = store.final_samples("final", step=7)
    assert samples.kind == "points" and samples.data.shape == (10, 2) and samples.step == 7


def test_scatter_bounds_are_square_and_ignore_nan():
    points = np.array([[0.0, 0.0], [2.0, 1.0], [np.nan, 5.0]], np.float32)
    x0, x1, y0, y1 = scatter_bounds(points, None)
    assert all(isinstance(v, float) for v in (x0, x1, y0, y1))
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert x0 < 0.0 < 2.0 < x1


def test_exports_write_readable_files(tmp_path):
    store = TrajectoryStore("images", 12, (4, 8, 8, 1))
    fill(store)
    samples = store.final_samples("final", 3)
    export.export_grid_png(tmp_path / "grid.png", samples)
    export.export_single_png(tmp_path / "one.png", samples, 2)
    export.export_trajectory_gif(tmp_path / "traj.gif", store)
    export.export_samples_npz(tmp_path / "s.npz", samples, store)
    export.export_loss_csv(tmp_path / "loss.csv", [
        {"step": 5, "loss": 1.0, "mse": 1.0, "vlb": 2.0, "lr": 1e-3, "steps_per_sec": 9.0, "elapsed": 1.0,
         "bands": [1.0, None]},
    ])
    assert Image.open(tmp_path / "grid.png").size[0] >= 256
    assert Image.open(tmp_path / "one.png").size == (320, 320)
    assert Image.open(tmp_path / "traj.gif").n_frames >= 2
    loaded = np.load(tmp_path / "s.npz")
    assert loaded["samples"].shape == (4, 8, 8, 1) and list(loaded["trajectory_t"]) == list(range(12, -1, -1))
    assert (tmp_path / "loss.csv").read_text().splitlines()[1] == "5,1.0,1.0,2.0,0.001,9.0,1.0,1.0,"


def test_points_exports_scatter_over_the_data(tmp_path):
    store = TrajectoryStore("points", 6, (50, 2), reference=np.zeros((20, 2), np.float32))
    fill(store)
    frames = export.trajectory_frames(store)
    assert len(frames) == 7 and frames[0].shape[1] == 2 * export.SCATTER_SIZE_PX + export.GIF_GAP_PX
    with pytest.raises(ValueError, match="image data"):
        export.export_single_png(tmp_path / "x.png", SampleSet("points", store.x[0], None, "", 0), 0)


def test_export_format_from_filter_or_suffix(tmp_path):
    assert export.with_suffix(tmp_path / "a", export.FORMATS[0]) == tmp_path / "a.png"
    assert export.format_for(Path("x.csv")).key == "csv"
    assert export.format_for(Path("x"), export.FORMATS[1].name_filter).key == "gif"
    with pytest.raises(ValueError):
        export.format_for(Path("x.txt"))


def test_app_arguments(capsys):
    from ddpm_studio.gui.app import run_app

    assert run_app(["--help"]) == 0
    assert "--run DIR" in capsys.readouterr().out
    assert run_app(["--no-such-option"]) == 2
