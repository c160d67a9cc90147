"""Training snapshots (core/training/snapshots.py): cadence, fixed noise, pruning cap, atomic files, resume, flow."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.io.runs import read_metrics
from ddpm_studio.core.training.events import SnapshotTaken
from ddpm_studio.core.training.snapshots import (
    MAX_SNAPSHOTS,
    POINT_SAMPLES,
    Snapshot,
    SnapshotSeries,
    list_snapshot_files,
    read_snapshots,
    snapshot_interval,
    snapshot_path,
    take_snapshot,
)
from ddpm_studio.core.training.trainer import Trainer


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", num_points=512)


def tiny(steps: int = 20, process: str = "ddpm"):
    config = default_config("moons", "points", process)
    config.data.num_points = 512
    if process == "ddpm":
        config.diffusion.num_timesteps = 100
    config.train.steps, config.train.batch_size, config.train.log_every = steps, 64, 5
    config.train.preview_every, config.train.checkpoint_every, config.train.early_stop = 0, 0, False
    return config


@pytest.mark.parametrize("total, interval", [(3000, 100), (1000, 50), (4500, 200), (20_000, 500), (40, 5),
                                              (100_000, 5000)])
def test_the_interval_is_round_and_keeps_20_to_50(total, interval):
    assert snapshot_interval(total) == interval
    if total >= 1000:
        assert 20 <= total // interval <= 50


@pytest.mark.parametrize("total, interval", [(400, 50), (1000, 50), (40, 50), (3000, 100)])
def test_images_are_snapshot_no_more_often_than_every_50_steps(total, interval):
    assert snapshot_interval(total, "images") == interval


def test_a_run_snapshots_every_interval_into_readable_files(tmp_path, moons):
    trainer = Trainer(tiny(20), run_dir=tmp_path / "run", dataset=moons)
    events = [e for e in trainer.train() if isinstance(e, SnapshotTaken)]
    assert [e.step for e in events] == [5, 10, 15, 20]
    assert [step for step, _ in list_snapshot_files(tmp_path / "run")] == [5, 10, 15, 20]
    with np.load(events[-1].path, allow_pickle=False) as data:  # no object arrays: nothing to unpickle
        assert data["samples"].shape == (POINT_SAMPLES, 2) and data["samples"].dtype == np.float32
    read = read_snapshots(tmp_path / "run")
    assert [s.step for s in read] == [5, 10, 15, 20]
    assert np.array_equal(read[-1].samples, events[-1].snapshot.samples)
    assert np.isfinite(read[-1].samples).all() and read[-1].total_steps == 20
    assert not list((tmp_path / "run" / "snapshots").glob(".*.tmp"))  # written through temporary files


def test_the_fixed_noise_gives_the_same_samples_for_the_same_weights(moons):
    trainer = Trainer(tiny(5), dataset=moons)
    for _ in trainer.train():
        pass
    state = torch.get_rng_state()
    first = take_snapshot(trainer.pipeline(), 5, 5, 5, seed=0)
    second = take_snapshot(trainer.pipeline(), 5, 5, 5, seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the training stream is untouched
    assert np.array_equal(first.samples, second.samples)
    assert not np.array_equal(first.samples, take_snapshot(trainer.pipeline(), 5, 5, 5, seed=1).samples)
    # in memory (no run folder) the series holds them too: the studio scrubs an unsaved run
    assert trainer.snapshots.steps == [5] and trainer.snapshots.items[0].samples.shape == (POINT_SAMPLES, 2)


def test_snapshots_do_not_change_the_training(moons):
    with_snapshots = Trainer(tiny(20), dataset=moons)
    losses = [e.loss for e in with_snapshots.train() if hasattr(e, "loss")]
    without = Trainer(tiny(20), dataset=moons)
    without.snapshots.interval = 10**9  # only the last step's
    assert [e.loss for e in without.train() if hasattr(e, "loss")] == losses


def fake(step: int) -> Snapshot:
    return Snapshot(step, "points", np.full((4, 2), step, np.float32), None, 10, 10_000, 50, 0)


def test_the_series_is_pruned_to_its_cap_by_doubling_the_interval(tmp_path):
    series = SnapshotSeries(10)
    for step in range(1, 10 * (MAX_SNAPSHOTS + 5) + 1):
        if series.due(step, 10_000):  # as the trainer asks: on the series' grid, which coarsens when pruned
            series.write(tmp_path, fake(step), series.add(fake(step)))
    assert len(series.items) <= MAX_SNAPSHOTS and series.interval == 20
    off_grid = [s.step for s in series.items if s.step % 20]
    assert len(off_grid) <= 1 and series.items[-1].step == 640  # the newest at the prune may stay off the grid
    assert [step for step, _ in list_snapshot_files(tmp_path)] == series.steps  # pruned on disk too


def test_damaged_and_temporary_files_are_skipped(tmp_path):
    SnapshotSeries(10).write(tmp_path, fake(10))
    snapshot_path(tmp_path, 20).write_bytes(b"not a zip")
    (tmp_path / "snapshots" / ".step_00000030.npz.123.tmp").write_bytes(b"half")
    assert [s.step for s in read_snapshots(tmp_path)] == [10]


def test_a_resumed_run_continues_the_same_series(tmp_path, moons):
    straight = Trainer(tiny(20), run_dir=tmp_path / "straight", dataset=moons)
    for _ in straight.train():
        pass
    config = tiny(10)
    config.train.checkpoint_every = 10
    for _ in Trainer(config, run_dir=tmp_path / "resumed", dataset=moons).train():
        pass
    # a snapshot written after the checkpoint (a crash after it) is dropped and redone
    SnapshotSeries(5).write(tmp_path / "resumed", fake(15))
    resumed = Trainer(tiny(20), run_dir=tmp_path / "resumed", dataset=moons, resume=True)
    assert resumed.snapshots.steps == [5, 10] and resumed.snapshots.interval == 5  # the 10-step run's interval
    for _ in resumed.train():
        pass
    a, b = read_snapshots(tmp_path / "straight"), read_snapshots(tmp_path / "resumed")
    assert [s.step for s in a] == [s.step for s in b] == [5, 10, 15, 20]
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b, strict=True))  # bit for bit on the CPU
    assert read_metrics(tmp_path / "resumed")[-1]["step"] == 20


def test_a_run_saved_from_memory_writes_its_snapshots(tmp_path, moons):
    from ddpm_studio.core.app.run_io import open_run, save_run

    trainer = Trainer(tiny(10), dataset=moons)
    for _ in trainer.train():
        pass
    save_run(trainer, tmp_path / "saved", [])
    assert [s.step for s in read_snapshots(tmp_path / "saved")] == [5, 10]
    trainer.run_lock.release()
    assert [s.step for s in open_run(str(tmp_path / "saved")).snapshots] == [5, 10]


def test_a_flow_run_snapshots_through_its_own_sampler(tmp_path, moons):
    trainer = Trainer(tiny(10, "flow"), run_dir=tmp_path / "flow", dataset=moons)
    events = [e for e in trainer.train() if isinstance(e, SnapshotTaken)]
    assert [e.step for e in events] == [5, 10]
    assert events[-1].snapshot.num_steps == 50 and np.isfinite(events[-1].snapshot.samples).all()


def test_a_snapshot_keeps_the_middle_evaluations_x0_hat_by_m7(moons, tmp_path):
    """x0_hat at evaluation K // 2, recomputed by hand from the state before it (M7: x0 = (x_t - sqrt(1 - abar)
    eps) / sqrt(abar), clipped as the sampler clips, M23), and the noise level that state had; kept in the file."""
    config = tiny(10)
    config.diffusion.parameterization, config.diffusion.clip_x0 = "eps", False
    trainer = Trainer(config, dataset=moons)
    for _ in trainer.train():
        pass
    pipeline = trainer.pipeline()
    snapshot = take_snapshot(pipeline, 10, 5, 10, seed=3)
    records = list(pipeline.sample(POINT_SAMPLES, num_steps=snapshot.num_steps, seed=3))
    middle = snapshot.num_steps // 2
    before, at = records[middle - 1], records[middle]
    abar = float(pipeline.diffusion.alphas_cumprod[at.t])
    assert snapshot.x0_abar == pytest.approx(abar, rel=1e-6)
    assert 0.05 < abar < 0.95  # half-way down the chain: neither noise nor data
    with torch.no_grad():
        t = torch.full((POINT_SAMPLES,), at.t, dtype=torch.long)
        eps = pipeline.model()(before.x, t)
    x0 = (before.x - (1 - abar) ** 0.5 * eps) / abar ** 0.5
    expected = (x0 * pipeline.scale + pipeline.shift).numpy()
    assert snapshot.x0_hat.shape == snapshot.samples.shape == (POINT_SAMPLES, 2)
    assert np.allclose(snapshot.x0_hat, expected, atol=1e-4)
    path = tmp_path / "step.npz"
    path.write_bytes(snapshot.to_bytes())
    read = Snapshot.from_file(path)
    assert np.array_equal(read.x0_hat, snapshot.x0_hat) and read.x0_abar == snapshot.x0_abar


def test_a_snapshot_file_without_x0_hat_still_reads(tmp_path):
    old = Snapshot(5, "points", np.zeros((4, 2), np.float32), None, 5, 10, 3, 0)
    path = tmp_path / "old.npz"
    path.write_bytes(old.to_bytes())
    read = Snapshot.from_file(path)
    assert read.x0_hat is None and read.x0_abar is None and read.step == 5
